"""The normal profile every deviation is measured against, fitted on a fault-free window.

Per operation (service, operation): robust location/scale (median, MAD) of duration, own processing time
and client->server gap, and the log pattern its spans normally emit (share of spans carrying each
template). Per client operation: which pods answer it and how often it goes unanswered. Per pod: its rate of
error lines.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from faultwise.rcl.profile.graph import add_timings
from faultwise.rcl.profile.templates import template_of
from faultwise.rcl.telemetry.levels import error_lines_per_pod

OpKey = tuple[str, str]

#: Fewest baseline spans of an operation before its log pattern is trusted.
MIN_PATTERN_SPANS = 10
#: A log line "follows" another when a span that logs the first almost always logs the second too; fewest
#: spans with the first line, and least share, before that is taken as a rule of the code path.
MIN_FOLLOW_SPANS = 5
MIN_FOLLOW_SHARE = 0.9


def robust_z(x: np.ndarray, med: np.ndarray, mad: np.ndarray, floor_us: float = 100.0) -> np.ndarray:
    """Deviation in robust standard units; the scale never drops below 10 % of the median plus a floor,
    so that near-constant baselines do not turn jitter into alarms."""
    scale = 1.4826 * mad + 0.1 * np.abs(med) + floor_us
    return (x - med) / scale


def callee_pods(timed: pd.DataFrame) -> dict[OpKey, dict[str, int]]:
    """For each client-like operation, the pods (on other pods than the caller) that answered its calls."""
    client = timed[timed["client_like"].to_numpy()]
    if not len(client):
        return {}
    ckey = client["trace_id"].astype(str) + "\x1f" + client["span_id"].astype(str)
    who = pd.DataFrame(
        {"service": client["service"].to_numpy(), "operation": client["operation"].to_numpy()},
        index=ckey.to_numpy(),
    )
    who = who[~who.index.duplicated()]
    pkey = timed["trace_id"].astype(str) + "\x1f" + timed["parent_id"].astype(str)
    answered = timed.assign(pkey=pkey.to_numpy())[
        pkey.isin(who.index).to_numpy() & (timed["parent_pod"] != timed["pod"]).to_numpy()
    ]
    if not len(answered):
        return {}
    callers = who.loc[answered["pkey"].to_numpy()]
    counts = (
        pd.DataFrame(
            {
                "service": callers["service"].to_numpy(),
                "operation": callers["operation"].to_numpy(),
                "pod": answered["pod"].to_numpy(),
            }
        )
        .groupby(["service", "operation", "pod"])
        .size()
    )
    out: dict[OpKey, dict[str, int]] = {}
    for (svc, op, pod), n in counts.items():
        out.setdefault((str(svc), str(op)), {})[str(pod)] = int(n)
    return out


def follow_counts(pairs: pd.DataFrame) -> pd.DataFrame:
    """For spans of one operation: how many carry template ``a`` (``n_a``) and how many of those also carry
    ``b`` (``k_ab``). ``pairs`` holds one row per (span_id, service, operation, template)."""
    cols = ["span_id", "service", "operation", "template"]
    if not len(pairs):
        return pd.DataFrame(columns=["service", "operation", "a", "b", "k_ab", "n_a"])
    p = pairs[cols]
    both = p.merge(p[["span_id", "template"]], on="span_id", suffixes=("_a", "_b"))
    both = both[both["template_a"] != both["template_b"]]
    k = both.groupby(["service", "operation", "template_a", "template_b"]).size().rename("k_ab")
    n = spans_per_template(p).rename("n_a")
    out = k.reset_index().merge(
        n.reset_index().rename(columns={"template": "template_a"}), on=["service", "operation", "template_a"]
    )
    return out.rename(columns={"template_a": "a", "template_b": "b"})


RULE_KEYS = ["service", "operation", "a", "b"]


def rules_table(rules: dict[OpKey, dict[tuple[str, str], float]]) -> pd.DataFrame:
    """The rules as rows (service, operation, a, b, p)."""
    rows = [(svc, op, a, b, p) for (svc, op), rs in rules.items() for (a, b), p in rs.items()]
    return pd.DataFrame(rows, columns=[*RULE_KEYS, "p"])


def rule_counts(table: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """``table`` with, in the spans of ``pairs``, how many carry ``a`` (``n_a``) and how many of those also
    ``b`` (``k_ab``); zero where none does."""
    k = follow_counts(pairs)[[*RULE_KEYS, "k_ab"]]
    n = spans_per_template(pairs).rename("n_a").reset_index().rename(columns={"template": "a"})
    t = table.merge(k, on=RULE_KEYS, how="left").merge(n, on=["service", "operation", "a"], how="left")
    return t.assign(k_ab=t["k_ab"].fillna(0).to_numpy(), n_a=t["n_a"].fillna(0).to_numpy())


def follow_rules(pairs: pd.DataFrame) -> dict[OpKey, dict[tuple[str, str], float]]:
    """Pairs of log lines where the second reliably accompanies the first within a span of an operation:
    the steps of one code path. Smoothed share ``(k + 0.5) / (n + 1)``."""
    c = follow_counts(pairs)
    c = c[c["n_a"] >= MIN_FOLLOW_SPANS]
    share = (c["k_ab"] + 0.5) / (c["n_a"] + 1.0)
    c = c[share >= MIN_FOLLOW_SHARE].assign(p=share[share >= MIN_FOLLOW_SHARE])
    out: dict[OpKey, dict[tuple[str, str], float]] = {}
    for r in c.itertuples(index=False):
        out.setdefault((str(r.service), str(r.operation)), {})[(str(r.a), str(r.b))] = float(r.p)
    return out


def linked_lines(spans: pd.DataFrame, logs: pd.DataFrame) -> pd.DataFrame:
    """Log lines that name a span of ``spans``, with that span's service and operation."""
    return logs[logs["span_id"] != ""].merge(
        spans[["span_id", "service", "operation"]].drop_duplicates("span_id"),
        on="span_id",
        suffixes=("_log", ""),
    )


def spans_per_template(pairs: pd.DataFrame) -> pd.Series:
    """How many spans of each (service, operation) carry each template (``pairs``: one row per span and
    template)."""
    return pairs.groupby(["service", "operation", "template"]).size()


def _segment_rules(
    pairs: pd.DataFrame,
) -> tuple[dict[OpKey, dict[tuple[str, str], float]], set[tuple[str, str, str, str]]]:
    """Code-path rules of the normal periods, and the ones some period broke (doubted).

    The first segment is the reference (the declared fault-free window, or the only one); its rules count
    even where the pooled data disagrees. A rule another period breaks may be workload drift (a cache
    warming up, another request mix) or a fault already running before the alarm: it is kept, doubted."""
    pooled = follow_rules(pairs)
    if "segment" not in pairs.columns or pairs["segment"].nunique() < 2:
        return pooled, set()
    first = pairs["segment"].min()
    rules = follow_rules(pairs[pairs["segment"] == first])
    for key, rs in pooled.items():
        rules.setdefault(key, {}).update(rs)
    table = rules_table(rules)
    if not len(table):
        return rules, set()
    broken = np.zeros(len(table), dtype=bool)
    for _, seg in pairs.groupby("segment"):
        t = rule_counts(table, seg)
        k_ab, n_a = t["k_ab"].to_numpy(), t["n_a"].to_numpy()
        broken |= (n_a >= MIN_FOLLOW_SPANS) & ((k_ab + 0.5) / (n_a + 1.0) < MIN_FOLLOW_SHARE)
    doubted = {tuple(map(str, r)) for r in table[broken][RULE_KEYS].itertuples(index=False)}
    return rules, doubted  # type: ignore[return-value]


def _covered_seconds(ts_us: pd.Series) -> float:
    """Seconds a (possibly gappy, e.g. baseline + pre-window) series of timestamps covers, minute by minute."""
    if not len(ts_us):
        return 0.0
    return float(pd.unique(ts_us.to_numpy() // 60_000_000).size * 60)


def binomial_z(k: np.ndarray, n: np.ndarray, p0: np.ndarray) -> np.ndarray:
    """How far ``k`` successes of ``n`` lie above the rate ``p0`` expected from the baseline, in standard
    units; ``p0`` is kept inside (0.5 %, 99.5 %) so that never-seen events still need several occurrences."""
    p0 = np.clip(np.asarray(p0, dtype=float), 0.005, 0.995)
    n = np.asarray(n, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (np.asarray(k, dtype=float) - n * p0) / np.sqrt(n * p0 * (1 - p0))
    return np.nan_to_num(z, nan=0.0, posinf=50.0, neginf=-50.0)


def with_templates(logs: pd.DataFrame) -> pd.DataFrame:
    """Logs with a ``template`` column (memoised per distinct message)."""
    out = logs.copy()
    uniq = pd.unique(out["message"].astype(str))
    mapping = {m: template_of(m) for m in uniq}
    out["template"] = out["message"].astype(str).map(mapping)
    return out


@dataclass
class Baseline:
    """Normal behaviour, fitted once per incident from a fault-free window."""

    op_stats: pd.DataFrame  # index (service, operation); n, *_med, *_mad for duration/self/gap
    op_templates: dict[OpKey, dict[str, float]] = field(default_factory=dict)
    op_logged_spans: dict[OpKey, int] = field(default_factory=dict)
    callee_pods: dict[OpKey, dict[str, int]] = field(default_factory=dict)  # client op -> pods answering it
    pod_error_lines_per_s: dict[str, float] = field(default_factory=dict)
    unanswered_share: dict[OpKey, float] = field(default_factory=dict)  # client op -> share left unanswered
    op_follow: dict[OpKey, dict[tuple[str, str], float]] = field(default_factory=dict)  # see follow_rules
    op_follow_doubted: set[tuple[str, str, str, str]] = field(default_factory=set)  # see _segment_rules
    log_seconds: float = 0.0  # length of the period the log rates were measured over
    window_us: tuple[int, int] = (0, 0)

    @classmethod
    def fit(cls, spans: pd.DataFrame, logs: pd.DataFrame | None = None) -> Baseline:
        """``logs`` may hold several normal periods, told apart by a ``segment`` column (e.g. a reference
        window and the minutes before the incident); see :func:`_segment_rules`."""
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
        base.callee_pods = callee_pods(timed)
        client = timed[(timed["kind"].astype(str).str.lower() == "client").to_numpy()]
        if len(client):
            share = (client["n_children"] == 0).groupby([client["service"], client["operation"]]).mean()
            base.unanswered_share = {(str(a), str(b)): float(v) for (a, b), v in share.items()}
        if logs is not None and len(logs):
            base._fit_logs(timed, logs if "template" in logs.columns else with_templates(logs))
        return base

    def _fit_logs(self, spans: pd.DataFrame, logs: pd.DataFrame) -> None:
        self.log_seconds = max(_covered_seconds(logs["ts_us"]), 1.0)
        for pod, n in error_lines_per_pod(logs).items():
            self.pod_error_lines_per_s[str(pod)] = n / self.log_seconds
        pairs = linked_lines(spans, logs).drop_duplicates(["span_id", "template"])
        if not len(pairs):
            return
        self.op_follow, self.op_follow_doubted = _segment_rules(pairs)
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
