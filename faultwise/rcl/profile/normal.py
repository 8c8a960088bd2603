"""The normal profile every deviation is measured against, fitted on a fault-free window.

Per operation (service, operation): robust location/scale (median, MAD) of duration, own processing time
and client->server gap, and the log pattern its spans normally emit (share of spans carrying each
template). Per client operation: which pods answer it and how often it goes unanswered. Per parent
operation: the child calls its spans make (:mod:`~faultwise.rcl.profile.calls`). Per pod: its rate of error
lines.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from faultwise.rcl.profile.calls import child_call_counts, parent_rows
from faultwise.rcl.profile.graph import add_timings
from faultwise.rcl.profile.log_rules import linked_lines, segment_rules, spans_per_template, with_templates
from faultwise.rcl.profile.stats import log_ratios
from faultwise.rcl.telemetry.levels import error_lines_per_pod

OpKey = tuple[str, str]

#: Fewest normal spans of an operation before its log pattern is trusted.
MIN_PATTERN_SPANS = 10

#: Fewest normal spans of an operation before its spans join the pooled ratios to the median (with one or
#: two, every span is its own median).
MIN_POOLED_SPANS = 3


def client_calls(spans: pd.DataFrame, callee_pods: Mapping[OpKey, object]) -> np.ndarray:
    """Which spans are calls to another pod: declared client spans, and spans of an operation whose spans
    answered calls on another pod in the normal traces (``callee_pods``). The second reads the kind from the
    shape of normal traces, so a call left unanswered (no child at all) is still known as a call where the
    format records no span kinds (Nezha, some Zipkin and Jaeger exports)."""
    declared = (spans["kind"].astype(str).str.lower() == "client").to_numpy()
    if not callee_pods:
        return declared
    ops = pd.MultiIndex.from_arrays([spans["service"].astype(str), spans["operation"].astype(str)])
    return declared | ops.isin(pd.MultiIndex.from_tuples(list(callee_pods)))


def callee_pods(timed: pd.DataFrame) -> dict[OpKey, dict[str, int]]:
    """For each client-like operation, the pods (on other pods than the caller) that answered its calls."""
    client_like = timed["client_like"].to_numpy(dtype=bool)
    if not client_like.any():
        return {}
    prow = parent_rows(timed)
    pod = timed["pod"].to_numpy()
    answered = prow >= 0
    answered[answered] &= client_like[prow[answered]]
    answered &= timed["parent_pod"].to_numpy() != pod
    if not answered.any():
        return {}
    caller = prow[answered]
    counts = (
        pd.DataFrame(
            {
                "service": timed["service"].to_numpy()[caller],
                "operation": timed["operation"].to_numpy()[caller],
                "pod": pod[answered],
            }
        )
        .groupby(["service", "operation", "pod"])
        .size()
    )
    out: dict[OpKey, dict[str, int]] = {}
    for (svc, op, p), n in counts.items():
        out.setdefault((str(svc), str(op)), {})[str(p)] = int(n)
    return out


def _covered_seconds(ts_us: pd.Series) -> float:
    """Seconds a (possibly gappy, e.g. baseline + pre-window) series of timestamps covers, minute by minute."""
    if not len(ts_us):
        return 0.0
    return float(pd.unique(ts_us.to_numpy() // 60_000_000).size * 60)


@dataclass
class NormalProfile:
    """Normal behaviour, fitted once per incident from a fault-free window."""

    op_stats: pd.DataFrame  # index (service, operation); n, *_med, *_mad for duration/self/gap
    op_templates: dict[OpKey, dict[str, float]] = field(default_factory=dict)
    op_logged_spans: dict[OpKey, int] = field(default_factory=dict)
    callee_pods: dict[OpKey, dict[str, int]] = field(default_factory=dict)  # client op -> pods answering it
    pod_error_lines_per_s: dict[str, float] = field(default_factory=dict)
    unanswered_share: dict[OpKey, float] = field(default_factory=dict)  # client op -> share left unanswered
    op_follow: dict[OpKey, dict[tuple[str, str], float]] = field(
        default_factory=dict
    )  # see log_rules.follow_rules
    op_follow_doubted: set[tuple[str, str, str, str]] = field(
        default_factory=set
    )  # see log_rules.segment_rules
    child_calls: pd.DataFrame | None = None  # see calls.child_call_counts
    log_seconds: float = 0.0  # length of the period the log rates were measured over
    window_us: tuple[int, int] = (0, 0)
    # every normal span's own time / gap over its operation's median (ln, sorted): all operations pooled,
    # and per operation
    pooled_log_ratios: dict[str, np.ndarray] = field(default_factory=dict)
    op_log_ratios: dict[str, dict[OpKey, np.ndarray]] = field(default_factory=dict)

    @classmethod
    def fit(cls, spans: pd.DataFrame, logs: pd.DataFrame | None = None) -> NormalProfile:
        """``logs`` may hold several normal periods, told apart by a ``segment`` column (e.g. a reference
        window and the minutes before the incident); see :func:`segment_rules`."""
        timed = spans if "self_us" in spans.columns else add_timings(spans)
        g = timed.groupby(["service", "operation"], sort=False)
        stats = {"n": g.size(), "err_rate": g["is_error"].mean()}
        for col, name in (("duration_us", "dur"), ("self_us", "self"), ("gap_us", "gap")):
            med = g[col].median()
            mad = (
                timed[col] - timed.groupby(["service", "operation"], sort=False)[col].transform("median")
            ).abs()
            stats[f"{name}_med"] = med
            stats[f"{name}_mad"] = mad.groupby([timed["service"], timed["operation"]], sort=False).median()
        for col, name in (("self_us", "self"), ("gap_us", "gap")):
            stats[f"{name}_p95"] = g[col].quantile(0.95)
        op_stats = pd.DataFrame(stats)
        start = int(timed["start_us"].min()) if len(timed) else 0
        end = int((timed["start_us"] + timed["duration_us"]).max()) if len(timed) else 0
        base = cls(op_stats=op_stats, window_us=(start, end))
        enough = g["start_us"].transform("size").to_numpy() >= MIN_POOLED_SPANS
        for col, name in (("self_us", "self"), ("gap_us", "gap")):
            r = log_ratios(timed[col].to_numpy(dtype=float), g[col].transform("median").to_numpy(dtype=float))
            has = ~np.isnan(r)
            base.pooled_log_ratios[name] = np.sort(r[enough & has])
            per_op = pd.Series(r[has]).groupby(
                [timed["service"].to_numpy()[has], timed["operation"].to_numpy()[has]]
            )
            base.op_log_ratios[name] = {(str(a), str(b)): np.sort(v.to_numpy()) for (a, b), v in per_op}
        base.callee_pods = callee_pods(timed)
        base.child_calls = child_call_counts(timed)
        client = timed[client_calls(timed, base.callee_pods)]
        if len(client):
            share = (client["n_children"] == 0).groupby([client["service"], client["operation"]]).mean()
            base.unanswered_share = {(str(a), str(b)): float(v) for (a, b), v in share.items()}
        if logs is not None and len(logs):
            base._fit_logs(timed, logs if "template" in logs.columns else with_templates(logs))
        return base

    def tail_share(self, name: str, log_ratio: np.ndarray, ops: list[OpKey] | None = None) -> np.ndarray:
        """How often a normal span lies at least ``log_ratio`` above its operation's median (``name``:
        "self" or "gap"): among the normal spans of every operation pooled, counted as ``(1 + k) / (1 + n)``
        so that never seen is not impossible, or, with ``ops``, among each operation's own normal spans
        where they reached that far more often. Pooled, it speaks for an operation with too few normal
        spans of its own (a wait 300 times its median is rare everywhere); the operation's own spans keep a
        heavy-tailed operation from looking rare."""
        r = np.asarray(log_ratio, dtype=float)
        pool = self.pooled_log_ratios.get(name, np.empty(0))
        share = (1.0 + len(pool) - np.searchsorted(pool, r, side="left")) / (1.0 + len(pool))
        if ops is None:
            return share
        own_of = self.op_log_ratios.get(name, {})
        for i, op in enumerate(ops):
            own = own_of.get(op)
            if own is not None and len(own):
                share[i] = max(share[i], (len(own) - np.searchsorted(own, r[i], side="left")) / len(own))
        return share

    def _fit_logs(self, spans: pd.DataFrame, logs: pd.DataFrame) -> None:
        self.log_seconds = max(_covered_seconds(logs["ts_us"]), 1.0)
        for pod, n in error_lines_per_pod(logs).items():
            self.pod_error_lines_per_s[str(pod)] = n / self.log_seconds
        pairs = linked_lines(spans, logs).drop_duplicates(["span_id", "template"])
        if not len(pairs):
            return
        self.op_follow, self.op_follow_doubted = segment_rules(pairs)
        # denominators: all spans of an operation whose service logs at all (a span may log nothing)
        op_n = spans.groupby(["service", "operation"]).size()
        counts = spans_per_template(pairs)
        for (svc, op, tmpl), n in counts.items():
            key = (str(svc), str(op))
            self.op_templates.setdefault(key, {})[str(tmpl)] = n / max(int(op_n.get(key, 0)), 1)
        logging_services = set(logs["service"].astype(str))
        for key, n in op_n.items():
            if str(key[0]) in logging_services:
                self.op_logged_spans[(str(key[0]), str(key[1]))] = int(n)
