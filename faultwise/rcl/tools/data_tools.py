"""Data tools: the only way an agent sees telemetry beyond its own span.

Each tool answers for one component and the incident window, returns a small typed record, and is capped in
size, so an agent's context stays bounded however large the incident is. Everything heavy (timings,
templates, metric statistics) is computed once, vectorised, when the tools are built; a call is then a
dictionary lookup (microseconds), whatever the size of the incident.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from faultwise.rcl.profile.graph import add_timings
from faultwise.rcl.profile.log_rules import linked_lines, rule_counts, rules_table, with_templates
from faultwise.rcl.profile.normal import MIN_PATTERN_SPANS, NormalProfile
from faultwise.rcl.profile.stats import binomial_z, robust_z
from faultwise.rcl.telemetry.levels import (
    error_lines_per_pod,
    is_error_line,
    is_warning_or_error_level,
    names_trouble,
)
from faultwise.rcl.telemetry.schema import Telemetry

MAX_ITEMS = 5  # cap on list items a tool returns
DOUBTED_RULE_WEIGHT = 0.5  # a code-path rule some normal period broke speaks at half strength


class TimingEvidence(BaseModel):
    """The span's timings; ``*_shift_z`` say whether its operation as a whole (all its spans on this pod in
    the incident window) runs slower than normal, which separates a real fault from one slow span."""

    duration_us: float
    self_us: float | None
    gap_us: float | None
    latency_z: float = 0.0
    self_z: float = 0.0
    gap_z: float = 0.0
    baseline_duration_us: float | None = None
    baseline_self_us: float | None = None
    baseline_gap_us: float | None = None
    self_exceeds_p95: bool = False
    gap_exceeds_p95: bool = False
    op_self_shift_z: float = 0.0
    op_gap_shift_z: float = 0.0
    op_error_shift_z: float = 0.0
    gap_blames_caller: bool = Field(
        False,
        description="the caller's calls into many callees slowed alike: the wait is the caller's, not the edge's",
    )
    caller_overhead_z: float = Field(
        0.0, description="for a client span: how broadly its pod's outgoing calls slowed"
    )
    unanswered_call: bool = Field(
        False, description="a client call no server span answered, though one normally does"
    )
    absent_callees: list[str] = Field(
        default_factory=list,
        description="pods that normally answer this call and sent no span in the incident window",
    )
    unanswered_z: float = Field(
        0.0, description="how much more often than normal its operation's calls go unanswered"
    )
    suspect_callees: list[str] = Field(
        default_factory=list, description="usual callees whose share of answers fell most"
    )


class LogEvidence(BaseModel):
    lines: int = 0
    error_lines: int = 0
    new_error_templates: list[str] = Field(default_factory=list)
    new_templates: list[str] = Field(default_factory=list)
    missing_templates: list[str] = Field(default_factory=list)
    new_error_z: float = Field(
        0.0, description="strongest over-representation of an error-like template it carries"
    )
    new_z: float = Field(0.0, description="strongest over-representation of another template it carries")
    missing_z: float = Field(0.0, description="strongest under-representation of a template it lacks")
    pod_error_rate_z: float = Field(
        0.0, description="how far its pod's rate of error lines rose above normal"
    )
    pattern_known: bool = False


class MetricDeviation(BaseModel):
    entity: str
    metric: str
    baseline_mean: float
    incident_mean: float
    z: float


class MetricEvidence(BaseModel):
    entity: str
    deviations: list[MetricDeviation] = Field(default_factory=list)
    max_abs_z: float = 0.0
    available: bool = False


class OperationStats(BaseModel):
    service: str
    operation: str
    incident_spans: int
    baseline_spans: int
    incident_error_rate: float
    incident_median_duration_us: float | None
    baseline_median_duration_us: float | None


def _drop_branch_shifts(
    tab: pd.DataFrame, errorish: np.ndarray
) -> tuple[pd.DataFrame, set[tuple[str, str, str]]]:
    """Remove template shifts that a change of request mix explains: within one operation, usual lines that
    went missing while other *known*, non-error lines of it rose by about as much. The requests took another
    normal branch of the code (other input data), which is workload, not a fault; a fault leaves a deficit
    that no normal line makes up for, or new error lines (kept). Also returns the (service, operation,
    template) of the lines whose drop the shift explains."""
    benign = ~errorish & (tab["pb"].to_numpy() > 0) & (tab["z"].to_numpy() > 0)
    rise = tab[benign].groupby(["service", "operation"])["excess"].sum()
    drop = (-tab[tab["z"] < 0]["excess"]).groupby([tab["service"], tab["operation"]]).sum()
    shifted = {key for key, d in drop.items() if rise.get(key, 0.0) >= 0.5 * d}
    if not shifted:
        return tab, set()
    in_shift = np.array([(a, b) in shifted for a, b in zip(tab["service"], tab["operation"], strict=True)])
    fell = tab[in_shift & (tab["z"].to_numpy() < 0)]
    explained = {
        (str(a), str(b), str(t))
        for a, b, t in zip(fell["service"], fell["operation"], fell["template"], strict=True)
    }
    return tab[~(in_shift & ((tab["z"].to_numpy() < 0) | benign))], explained


@dataclass
class DataTools:
    """Tools over one incident, measured against a :class:`NormalProfile`."""

    telemetry: Telemetry
    baseline: NormalProfile
    metric_baseline: pd.DataFrame | None = None
    window_us: tuple[int, int] | None = None
    spans: pd.DataFrame = field(init=False)
    _log_evidence: dict[str, LogEvidence | None] = field(
        init=False, default_factory=dict
    )  # assembled on demand
    _metric_stats: dict[str, list[MetricDeviation]] = field(init=False, default_factory=dict)
    _op_incident: pd.DataFrame = field(init=False)
    pod_node: dict[str, str] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self._carried: dict[str, set[str]] = {}
        self._over: dict[tuple[str, str, str], tuple[bool, float]] = {}
        self._under: dict[tuple[str, str], list[tuple[str, float]]] = {}
        self._cut: dict[tuple[str, str], dict[str, list[tuple[str, float]]]] = {}  # op -> a -> [(b, z)]
        self._log_op: dict[str, tuple[str, str]] = {}
        self._error_lines: dict[str, int] = {}
        spans = add_timings(self.telemetry.spans)
        if self.window_us is None:
            self.window_us = self.telemetry.time_range_us()
        self.spans = self._score_timings(spans)
        self.pod_node = self.telemetry.pod_nodes()
        self._pod_error_z: dict[str, float] = {}
        if self.telemetry.logs is not None and len(self.telemetry.logs):
            self._build_log_evidence(with_templates(self.telemetry.logs))
            self._build_pod_error_rates(self.telemetry.logs)
        if self.telemetry.metrics is not None and len(self.telemetry.metrics):
            self._build_metric_stats(self.telemetry.metrics)
        g = self.spans.groupby(["service", "operation"], sort=False)
        self._op_incident = pd.DataFrame(
            {"n": g.size(), "err": g["is_error"].mean(), "dur": g["duration_us"].median()}
        )
        self._row = pd.Series(np.arange(len(self.spans)), index=self.spans["span_id"].to_numpy())
        self._row = self._row[~self._row.index.duplicated()].to_dict()
        self._pod_of = dict(
            zip(self.spans["span_id"].astype(str), self.spans["pod"].astype(str), strict=True)
        )
        self._cols = {
            c: self.spans[c].to_numpy(dtype=float)
            for c in (
                "duration_us",
                "self_us",
                "gap_us",
                "dur_z",
                "self_z",
                "gap_z",
                "base_dur_med",
                "base_self_med",
                "base_gap_med",
                "self_exceeds",
                "gap_exceeds",
                "op_self_shift_z",
                "op_gap_shift_z",
                "op_err_shift_z",
                "gap_blames_caller",
                "caller_overhead_z",
                "unanswered",
                "unanswered_z",
            )
        }

    # ---------------------------------------------------------------- building
    def _score_timings(self, spans: pd.DataFrame) -> pd.DataFrame:
        key = pd.MultiIndex.from_frame(spans[["service", "operation"]])
        st = self.baseline.op_stats.reindex(key)
        for col, name in (("duration_us", "dur"), ("self_us", "self"), ("gap_us", "gap")):
            med = st[f"{name}_med"].to_numpy(dtype=float)
            mad = st[f"{name}_mad"].to_numpy(dtype=float)
            z = robust_z(spans[col].to_numpy(dtype=float), med, mad)
            spans[f"{name}_z"] = np.nan_to_num(z, nan=0.0, posinf=50.0, neginf=-50.0)
            spans[f"base_{name}_med"] = med
        in_window = self._in_window(spans)
        grp = [spans["pod"], spans["operation"]]
        for name in ("self", "gap"):
            p95 = st[f"{name}_p95"].to_numpy(dtype=float)
            val = spans[f"{name}_us"].to_numpy(dtype=float)
            exceed = np.nan_to_num(val > p95 * 1.05 + 100.0, nan=0.0).astype(bool)
            has = ~np.isnan(val) & ~np.isnan(p95)
            spans[f"{name}_exceeds"] = exceed & has
            k = pd.Series(np.where(in_window, exceed & has, False)).groupby(grp).transform("sum").to_numpy()
            n = pd.Series(np.where(in_window, has, False)).groupby(grp).transform("sum").to_numpy()
            z = binomial_z(k, n, 0.05)
            spans[f"op_{name}_shift_z"] = np.where(in_window, z, 0.0)
        self._attribute_gaps(spans, in_window)
        self._find_unanswered_calls(spans, in_window)
        base_err = st["err_rate"].to_numpy(dtype=float)
        k = (
            pd.Series(np.where(in_window, spans["is_error"].to_numpy(), False))
            .groupby(grp)
            .transform("sum")
            .to_numpy()
        )
        n = pd.Series(in_window).groupby(grp).transform("sum").to_numpy()
        z = binomial_z(k, n, np.nan_to_num(base_err, nan=0.0))
        spans["op_err_shift_z"] = np.where(in_window, z, 0.0)
        return spans

    @staticmethod
    def _attribute_gaps(spans: pd.DataFrame, in_window: np.ndarray) -> None:
        """Decide whose a longer client->server wait is. Waits that grew on the calls from one pod into
        *many* callees point at the caller (its own CPU, threads or client stack); waits that grew only on
        calls into one callee point at that callee (its network or queue)."""
        has_gap = spans["gap_us"].notna().to_numpy() & in_window
        e = pd.DataFrame(
            {
                "caller": spans["parent_pod"].to_numpy()[has_gap],
                "callee": spans["pod"].to_numpy()[has_gap],
                "x": spans["gap_exceeds"].to_numpy()[has_gap],
            }
        )
        broad: dict[str, float] = {}
        if len(e):
            g = e.groupby(["caller", "callee"])["x"].agg(["sum", "size"])
            g["z"] = binomial_z(g["sum"].to_numpy(), g["size"].to_numpy(), 0.05)
            g = g[g["size"] >= 3]
            for caller, grp in g.groupby(level=0):
                shifted = int((grp["z"] >= 3).sum())
                if shifted >= 2 and shifted >= 0.5 * len(grp):
                    broad[str(caller)] = float(grp["z"].median())
        caller = spans["parent_pod"].astype(str)
        spans["gap_blames_caller"] = caller.map(lambda c: c in broad).to_numpy() & has_gap
        spans["caller_overhead_z"] = np.where(
            spans["client_like"].to_numpy() & in_window,
            spans["pod"].astype(str).map(broad).fillna(0.0).to_numpy(),
            0.0,
        )

    def _find_unanswered_calls(self, spans: pd.DataFrame, in_window: np.ndarray) -> None:
        """Client calls left without an answering server span, more often than normal: the callee is
        unreachable. Pods that used to answer and sent nothing in the window are *absent* (down); otherwise
        the suspects are the usual callee pods whose share of the answered calls dropped most (lossy)."""
        active = set(spans.loc[in_window, "pod"].astype(str))
        client = in_window & (spans["kind"].astype(str).str.lower() == "client").to_numpy()
        cand = client & (spans["n_children"].to_numpy() == 0)
        self._absent: dict[str, list[str]] = {}
        self._suspects: dict[str, list[str]] = {}
        unanswered = np.zeros(len(spans), dtype=bool)
        unanswered_z = np.zeros(len(spans))
        if cand.any():
            keys = list(zip(spans["service"].astype(str), spans["operation"].astype(str), strict=True))
            calls = pd.Series(client).groupby([spans["service"], spans["operation"]]).sum()
            missed = pd.Series(cand).groupby([spans["service"], spans["operation"]]).sum()
            answered = self._answered_by_pod(spans, client)
            op_z: dict[tuple[str, str], float] = {}
            op_suspects: dict[tuple[str, str], list[str]] = {}
            for i in np.flatnonzero(cand):
                key = keys[i]
                known = self.baseline.callee_pods.get(key)
                if not known:
                    continue
                unanswered[i] = True
                if key not in op_z:
                    base = self.baseline.unanswered_share.get(key, 0.0)
                    op_z[key] = float(
                        binomial_z(
                            np.array([missed.get(key, 0)]), np.array([calls.get(key, 0)]), np.array([base])
                        )[0]
                    )
                    total = sum(known.values())
                    now = answered.get(key, {})
                    now_total = max(sum(now.values()), 1)
                    drop = {p: known[p] / total - now.get(p, 0) / now_total for p in known}
                    op_suspects[key] = sorted(known, key=lambda p: -drop[p])
                unanswered_z[i] = op_z[key]
                sid = str(spans["span_id"].iat[i])
                gone = sorted(p for p in known if p not in active)
                if gone:
                    self._absent[sid] = gone
                self._suspects[sid] = op_suspects[key]
        spans["unanswered"] = unanswered
        spans["unanswered_z"] = unanswered_z

    @staticmethod
    def _answered_by_pod(spans: pd.DataFrame, client: np.ndarray) -> dict[tuple[str, str], dict[str, int]]:
        """In the window: for each client operation, how many of its calls each callee pod answered."""
        key = spans["trace_id"].astype(str) + "\x1f" + spans["span_id"].astype(str)
        caller = pd.DataFrame(
            {
                "service": spans["service"].to_numpy()[client],
                "operation": spans["operation"].to_numpy()[client],
            },
            index=key.to_numpy()[client],
        )
        caller = caller[~caller.index.duplicated()]
        pkey = (spans["trace_id"].astype(str) + "\x1f" + spans["parent_id"].astype(str)).to_numpy()
        hit = pd.Index(caller.index).get_indexer(pkey)
        ok = hit >= 0
        if not ok.any():
            return {}
        rows = caller.iloc[hit[ok]]
        counts = (
            pd.DataFrame(
                {
                    "service": rows["service"].to_numpy(),
                    "operation": rows["operation"].to_numpy(),
                    "pod": spans["pod"].to_numpy()[ok],
                }
            )
            .groupby(["service", "operation", "pod"])
            .size()
        )
        out: dict[tuple[str, str], dict[str, int]] = {}
        for (a, b, pod), n in counts.items():
            out.setdefault((str(a), str(b)), {})[str(pod)] = int(n)
        return out

    def _in_window(self, spans: pd.DataFrame) -> np.ndarray:
        lo, hi = self.window_us
        first = spans.groupby("trace_id")["start_us"].transform("min")
        return ((first >= lo) & (first <= hi)).to_numpy()

    def _build_log_evidence(self, logs: pd.DataFrame) -> None:
        """Templates whose share among an operation's spans shifted significantly against the baseline:
        over-represented ones a span carries are *new* to it, under-represented ones it lacks are *missing*."""
        win = self.spans[self._in_window(self.spans)]
        linked = linked_lines(win, logs)
        if not len(linked):
            return
        linked["is_err"] = is_warning_or_error_level(linked["level"])
        op_n = win.groupby(["service", "operation"]).size()
        pairs = linked.drop_duplicates(["span_id", "template"])
        k = pairs.groupby(["service", "operation", "template"]).agg(
            k=("span_id", "size"), err=("is_err", "max")
        )
        rows = []
        for (svc, op, tmpl), r in k.iterrows():
            rows.append((svc, op, tmpl, r["k"], bool(r["err"])))
        # templates expected of the operation but absent from the window entirely
        for svc, op in op_n.index:
            for tmpl in self.baseline.op_templates.get((str(svc), str(op)), {}):
                if (svc, op, tmpl) not in k.index:
                    rows.append((svc, op, tmpl, 0, False))
        tab = pd.DataFrame(rows, columns=["service", "operation", "template", "k", "err"])
        tab["n"] = [int(op_n.get((a, b), 0)) for a, b in zip(tab["service"], tab["operation"], strict=True)]
        nb = np.array(
            [
                self.baseline.op_logged_spans.get((str(a), str(b)), 0)
                for a, b in zip(tab["service"], tab["operation"], strict=True)
            ]
        )
        pb = np.array(
            [
                self.baseline.op_templates.get((str(a), str(b)), {}).get(str(t), 0.0)
                for a, b, t in zip(tab["service"], tab["operation"], tab["template"], strict=True)
            ]
        )
        p0 = (pb * nb + 0.5) / (nb + 1.0)
        tab["z"] = binomial_z(tab["k"].to_numpy(), tab["n"].to_numpy(), p0)
        tab["excess"] = tab["k"] - tab["n"] * p0
        tab["pb"] = pb
        tab = tab[(nb >= MIN_PATTERN_SPANS) & (tab["z"].abs() >= 3.0)]
        errorish = tab["err"].to_numpy() | names_trouble(tab["template"])
        tab, explained = _drop_branch_shifts(tab, errorish)
        errorish = tab["err"].to_numpy() | names_trouble(tab["template"])
        over = {
            (r.service, r.operation, r.template): (bool(e), float(r.z))
            for r, e in zip(tab.itertuples(), errorish, strict=True)
            if r.z > 0
        }
        under: dict[tuple[str, str], list[tuple[str, float]]] = {}
        for r in tab[tab["z"] < 0].itertuples():
            under.setdefault((r.service, r.operation), []).append((r.template, float(r.z)))
        # keep the raw pieces; a span's LogEvidence is assembled only when an agent asks (see span_logs)
        carried: dict[str, set[str]] = {}
        for sid, tmpl in zip(pairs["span_id"].tolist(), pairs["template"].tolist(), strict=True):
            carried.setdefault(str(sid), set()).add(str(tmpl))
        self._carried, self._over, self._under = carried, over, under
        self._cut = self._cut_paths(pairs, explained)
        self._log_op = dict(
            zip(
                win["span_id"].astype(str).tolist(),
                zip(win["service"].tolist(), win["operation"].tolist(), strict=True),
                strict=True,
            )
        )
        err = linked[is_error_line(linked)].groupby("span_id").size()
        self._error_lines = {str(k): int(v) for k, v in err.items()}

    def _cut_paths(
        self, pairs: pd.DataFrame, explained: set[tuple[str, str, str]]
    ) -> dict[tuple[str, str], dict[str, list[tuple[str, float]]]]:
        """Code paths cut short: a line that reliably followed another within a span of the operation now
        often fails to (the request left the path between the two statements, e.g. on an exception).
        Lines whose drop a change of request mix already explains (``explained``) are left out."""
        if not self.baseline.op_follow or not len(pairs):
            return {}
        tab = rule_counts(rules_table(self.baseline.op_follow), pairs)
        tab = tab[tab["n_a"] > 0]  # rules whose first line the window shows
        if not len(tab):
            return {}
        tab["z"] = binomial_z(tab["k_ab"].to_numpy(), tab["n_a"].to_numpy(), tab["p"].to_numpy())
        doubted = self.baseline.op_follow_doubted
        if doubted:
            keys = zip(tab["service"], tab["operation"], tab["a"], tab["b"], strict=True)
            tab["z"] *= np.array([DOUBTED_RULE_WEIGHT if k in doubted else 1.0 for k in keys])
        out: dict[tuple[str, str], dict[str, list[tuple[str, float]]]] = {}
        for r in tab[tab["z"] <= -3.0].itertuples(index=False):
            if (str(r.service), str(r.operation), str(r.b)) in explained:
                continue
            out.setdefault((str(r.service), str(r.operation)), {}).setdefault(str(r.a), []).append(
                (str(r.b), float(r.z))
            )
        return out

    def _cut_missing(self, svc: str, op: str, has: set[str] | tuple) -> list[tuple[float, str]]:
        """(strength, template) of lines this span lacks although a line it carries normally brings them."""
        rules = self._cut.get((svc, op))
        if not rules:
            return []
        return [(-z, b) for a in has for b, z in rules.get(a, ()) if b not in has]

    def _assemble_log_evidence(self, sid: str) -> LogEvidence | None:
        key = self._log_op.get(sid)
        if key is None:
            return None
        svc, op = key
        has = self._carried.get(sid, set())
        over = self._over
        new_err = sorted(
            ((over[(svc, op, t)][1], t) for t in has if (svc, op, t) in over and over[(svc, op, t)][0]),
            reverse=True,
        )
        new = sorted(
            ((over[(svc, op, t)][1], t) for t in has if (svc, op, t) in over and not over[(svc, op, t)][0]),
            reverse=True,
        )
        missing = sorted(
            [(-z, t) for t, z in self._under.get((svc, op), []) if t not in has]
            + self._cut_missing(svc, op, has),
            reverse=True,
        )
        if not (new_err or new or missing or has):
            return None
        return LogEvidence(
            lines=len(has),
            error_lines=self._error_lines.get(sid, 0),
            new_error_templates=[t for _, t in new_err],
            new_templates=[t for _, t in new],
            missing_templates=[t for _, t in missing],
            new_error_z=new_err[0][0] if new_err else 0.0,
            new_z=new[0][0] if new else 0.0,
            missing_z=missing[0][0] if missing else 0.0,
            pattern_known=self.baseline.op_logged_spans.get((svc, op), 0) >= MIN_PATTERN_SPANS,
        )

    def log_strengths(self, span_ids: list[str]) -> np.ndarray:
        """Per span, the strongest log-pattern shift (z) it shows, without assembling records: for selection."""
        out = np.zeros(len(span_ids))
        if not self._log_op:
            return out
        for i, sid in enumerate(span_ids):
            key = self._log_op.get(sid)
            if key is None:
                continue
            svc, op = key
            has = self._carried.get(sid, ())
            best = 0.0
            for t in has:
                hit = self._over.get((svc, op, t))
                if hit is not None:
                    best = max(best, hit[1] if hit[0] else 0.5 * hit[1])
            for t, z in self._under.get((svc, op), ()):
                if t not in has:
                    best = max(best, -z)
            for strength, _ in self._cut_missing(svc, op, has):
                best = max(best, strength)
            out[i] = best
        return out

    def _build_pod_error_rates(self, logs: pd.DataFrame) -> None:
        """Poisson z of each pod's error lines in the window against its normal rate (expectation floored
        at one line, so a pod needs several new errors to stand out)."""
        if not self.baseline.log_seconds:
            return
        lo, hi = self.window_us
        win = logs[(logs["ts_us"] >= lo) & (logs["ts_us"] <= hi)]
        if not len(win):
            return
        seconds = max((hi - lo) / 1e6, 1.0)
        for pod, k in error_lines_per_pod(win).items():
            expected = max(self.baseline.pod_error_lines_per_s.get(str(pod), 0.0) * seconds, 1.0)
            self._pod_error_z[str(pod)] = float((k - expected) / np.sqrt(expected))

    def _build_metric_stats(self, metrics: pd.DataFrame) -> None:
        lo, hi = self.window_us
        m = metrics.dropna(subset=["value"])
        ts_us = m["ts_s"].to_numpy() * 1e6
        inc = m[(ts_us >= lo) & (ts_us <= hi)]
        if self.metric_baseline is not None and len(self.metric_baseline):
            base = self.metric_baseline.dropna(subset=["value"])
        else:  # the period before the incident (up to 30 minutes)
            base = m[(ts_us < lo) & (ts_us >= lo - 30 * 60 * 1e6)]
        if not len(inc) or not len(base):
            return
        b = base.groupby(["entity", "metric"])["value"].agg(["mean", "std", "count"])
        i = inc.groupby(["entity", "metric"])["value"].mean().rename("inc")
        j = b.join(i, how="inner")
        j = j[j["count"] >= 2]
        scale = j["std"].fillna(0.0) + 0.05 * j["mean"].abs() + 1e-9
        j["z"] = (j["inc"] - j["mean"]) / scale
        j = j.replace([np.inf, -np.inf], np.nan).dropna(subset=["z"])
        for ent, grp in j.groupby(level=0):
            grp = grp.reindex(grp["z"].abs().sort_values(ascending=False).index)
            self._metric_stats[str(ent)] = [
                MetricDeviation(
                    entity=str(ent),
                    metric=str(met),
                    baseline_mean=float(r["mean"]),
                    incident_mean=float(r["inc"]),
                    z=float(np.clip(r["z"], -1e3, 1e3)),
                )
                for (_, met), r in grp.iterrows()
            ]

    # ---------------------------------------------------------------- tools
    def span_timing(self, span_id: str) -> TimingEvidence:
        i = int(self._row[span_id])
        c = self._cols

        def f(name: str) -> float | None:
            v = c[name][i]
            return None if v != v else float(v)  # NaN check without pandas

        return TimingEvidence(
            duration_us=float(c["duration_us"][i]),
            self_us=f("self_us"),
            gap_us=f("gap_us"),
            latency_z=float(c["dur_z"][i]),
            self_z=float(c["self_z"][i]),
            gap_z=float(c["gap_z"][i]),
            baseline_duration_us=f("base_dur_med"),
            baseline_self_us=f("base_self_med"),
            baseline_gap_us=f("base_gap_med"),
            self_exceeds_p95=bool(c["self_exceeds"][i]),
            gap_exceeds_p95=bool(c["gap_exceeds"][i]),
            op_self_shift_z=float(c["op_self_shift_z"][i]),
            op_gap_shift_z=float(c["op_gap_shift_z"][i]),
            op_error_shift_z=float(c["op_err_shift_z"][i]),
            gap_blames_caller=bool(c["gap_blames_caller"][i]),
            caller_overhead_z=float(c["caller_overhead_z"][i]),
            unanswered_call=bool(c["unanswered"][i]),
            absent_callees=self._absent.get(span_id, [])[:MAX_ITEMS],
            unanswered_z=float(c["unanswered_z"][i]),
            suspect_callees=self._suspects.get(span_id, [])[:MAX_ITEMS],
        )

    def span_logs(self, span_id: str) -> LogEvidence:
        ev = self._log_evidence.get(span_id)
        if ev is None and span_id not in self._log_evidence:
            ev = self._log_evidence[span_id] = self._assemble_log_evidence(span_id)
        pod_z = self._pod_error_z.get(self._pod_of.get(span_id, ""), 0.0)
        if ev is None:
            return LogEvidence(pod_error_rate_z=pod_z)
        return ev.model_copy(
            update={
                "pod_error_rate_z": pod_z,
                "new_error_templates": ev.new_error_templates[:MAX_ITEMS],
                "new_templates": ev.new_templates[:MAX_ITEMS],
                "missing_templates": ev.missing_templates[:MAX_ITEMS],
            }
        )

    def metric_deviations(self, entity: str) -> MetricEvidence:
        devs = self._metric_stats.get(entity)
        if devs is None:
            return MetricEvidence(entity=entity)
        top = devs[:MAX_ITEMS]
        return MetricEvidence(
            entity=entity, deviations=top, max_abs_z=abs(top[0].z) if top else 0.0, available=True
        )

    def node_of(self, pod: str) -> str:
        return self.pod_node.get(pod, "")

    def operation_stats(self, service: str, operation: str) -> OperationStats:
        key = (service, operation)
        inc = self._op_incident.loc[key] if key in self._op_incident.index else None
        base = self.baseline.op_stats.loc[key] if key in self.baseline.op_stats.index else None
        return OperationStats(
            service=service,
            operation=operation,
            incident_spans=int(inc["n"]) if inc is not None else 0,
            baseline_spans=int(base["n"]) if base is not None else 0,
            incident_error_rate=float(inc["err"]) if inc is not None else 0.0,
            incident_median_duration_us=float(inc["dur"]) if inc is not None else None,
            baseline_median_duration_us=float(base["dur_med"]) if base is not None else None,
        )
