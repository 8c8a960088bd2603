"""Data tools: the only way an agent sees telemetry beyond its own span.

Each tool answers for one component and the incident window, returns a small typed record
(:mod:`faultwise.rcl.tools.records`), and is capped in size, so an agent's context stays bounded however large
the incident is. Everything heavy is computed once, vectorised, when the tools are built, by focused
modules: :mod:`~faultwise.rcl.tools.timing` (timing and error shifts), :mod:`~faultwise.rcl.tools.structure`
(whose a wait is, unanswered calls), :mod:`~faultwise.rcl.tools.logs` (log-pattern shifts, cut code paths,
pod error rates) and :mod:`~faultwise.rcl.tools.metrics` (metric shifts). A call is then a dictionary lookup
(microseconds), whatever the size of the incident.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from faultwise.rcl.profile.graph import add_timings
from faultwise.rcl.profile.log_rules import with_templates
from faultwise.rcl.profile.normal import NormalProfile
from faultwise.rcl.telemetry.schema import Telemetry
from faultwise.rcl.tools.logs import LogShifts, pod_error_rates
from faultwise.rcl.tools.metrics import metric_shifts
from faultwise.rcl.tools.records import (
    MAX_ITEMS,
    CallShift,
    LogEvidence,
    MetricEvidence,
    OperationStats,
    StructureEvidence,
    TimingEvidence,
)
from faultwise.rcl.tools.structure import (
    MIN_SHARE_CHANGE,
    SIMILAR_FACTOR,
    CallShifts,
    UnansweredCalls,
    attribute_gaps,
    find_call_shifts,
    find_unanswered_calls,
)
from faultwise.rcl.tools.timing import in_window, score_error_shift, score_timings

#: The per-span figures a timing record is read from (a float column each, looked up by row).
_TIMING_COLUMNS = (
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
    "op_self_effect",
    "op_gap_effect",
    "op_self_tail_z",
    "op_gap_tail_z",
    "op_err_shift_z",
    "gap_blames_caller",
    "caller_overhead_z",
    "unanswered",
    "unanswered_z",
)


#: The structural evidence of a span that shows no shift (shared: records are not changed by readers).
_NO_SHIFT = StructureEvidence()


@dataclass
class DataTools:
    """Tools over one incident, measured against a :class:`NormalProfile`.

    ``metric_normal`` is fault-free metric data (without it, the metrics before the window are normal);
    ``window_us`` the incident window (default: the whole incident); ``call_shift_z`` the confidence (z) a
    change of an operation's child calls needs to be reported (the reasoner's ``z0``) and
    ``call_share_change`` the share points it must move (see :func:`find_call_shifts`); ``similar_factor``
    within which two extra waits count as alike (see :func:`attribute_gaps`); ``median_z`` how surely an
    operation's median must have moved for its timing shift to count (see :func:`score_timings`). ``spans``
    is the incident's span table with every derived timing figure, for the label-free trace selection and
    the synthesis.
    """

    telemetry: Telemetry
    profile: NormalProfile
    metric_normal: pd.DataFrame | None = None
    window_us: tuple[int, int] | None = None
    call_shift_z: float = 3.0
    call_share_change: float = MIN_SHARE_CHANGE
    similar_factor: float = SIMILAR_FACTOR
    median_z: float | None = None
    spans: pd.DataFrame = field(init=False)
    pod_node: dict[str, str] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        spans = add_timings(self.telemetry.spans)
        if self.window_us is None:
            self.window_us = self.telemetry.time_range_us()
        window = in_window(spans, self.window_us)
        score_timings(spans, self.profile, window, self.median_z)
        attribute_gaps(spans, window, self.similar_factor)
        self._unanswered: UnansweredCalls = find_unanswered_calls(spans, window, self.profile)
        score_error_shift(spans, self.profile, window)
        self._calls: CallShifts = find_call_shifts(
            spans, window, self.profile, self.call_shift_z, self.call_share_change
        )
        self.spans = spans
        self.pod_node = self.telemetry.pod_nodes()
        self._logs = LogShifts(self.profile)
        self._pod_error_z: dict[str, float] = {}
        logs = self.telemetry.logs
        if logs is not None and len(logs):
            self._logs = LogShifts.build(self.profile, spans[window], with_templates(logs))
            self._pod_error_z = pod_error_rates(self.profile, logs, self.window_us)
        self._log_evidence: dict[str, LogEvidence | None] = {}  # assembled on demand
        # one (frozen) record per entity: every span of a pod asks for the same one
        self._metric_evidence: dict[str, MetricEvidence] = {}
        metrics = self.telemetry.metrics
        if metrics is not None and len(metrics):
            for entity, shifts in metric_shifts(metrics, self.metric_normal, self.window_us).items():
                top = shifts[:MAX_ITEMS]
                self._metric_evidence[entity] = MetricEvidence(
                    entity=entity, deviations=top, max_abs_z=abs(top[0].z) if top else 0.0, available=True
                )
        g = spans.groupby(["service", "operation"], sort=False)
        self._op_incident = pd.DataFrame(
            {"n": g.size(), "err": g["is_error"].mean(), "dur": g["duration_us"].median()}
        )
        row = pd.Series(np.arange(len(spans)), index=spans["span_id"].to_numpy())
        self._row = row[~row.index.duplicated()].to_dict()
        self._pod_of = dict(zip(spans["span_id"].astype(str), spans["pod"].astype(str), strict=True))
        self._cols = {c: spans[c].to_numpy(dtype=float) for c in _TIMING_COLUMNS}

    # ---------------------------------------------------------------- the agents' tools
    def span_timing(self, span_id: str) -> TimingEvidence:
        """The span's timings against its operation's normal ones, and its operation's shifts."""
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
            op_self_effect=float(c["op_self_effect"][i]),
            op_gap_effect=float(c["op_gap_effect"][i]),
            op_self_tail_z=float(c["op_self_tail_z"][i]),
            op_gap_tail_z=float(c["op_gap_tail_z"][i]),
            op_error_shift_z=float(c["op_err_shift_z"][i]),
            gap_blames_caller=bool(c["gap_blames_caller"][i]),
            caller_overhead_z=float(c["caller_overhead_z"][i]),
            unanswered_call=bool(c["unanswered"][i]),
            absent_callees=self.absent_callees(span_id)[:MAX_ITEMS],
            unanswered_z=float(c["unanswered_z"][i]),
            suspect_callees=self._unanswered.suspects.get(span_id, [])[:MAX_ITEMS],
        )

    def span_structure(self, span_id: str) -> StructureEvidence:
        """The span's child calls against its operation's usual ones: usual calls it lacks that its operation
        lost, new calls it makes, changed call counts, and (for a span showing any) its duration against
        the normal median."""
        i = int(self._row[span_id])
        if not self._calls.shows_any(i):
            return _NO_SHIFT  # the common case, without building a record per span
        med = self._cols["base_dur_med"][i]
        ratio = None if med != med or med <= 0 else round(float(self._cols["duration_us"][i] / med), 4)
        return self._calls.evidence(i, ratio)

    def call_shifts(self, service: str, operation: str) -> list[CallShift]:
        """How the child calls of one operation changed in the window, strongest first (capped)."""
        return list(self._calls.by_operation.get((service, operation), []))[:MAX_ITEMS]

    def structure_strengths(self) -> np.ndarray:
        """Per span row of :attr:`spans`, the strongest structural shift (z) it shows (vanished or new call;
        zero for most spans), for the trace selection."""
        z = np.zeros(len(self.spans))
        for d in (self._calls.vanished, self._calls.new):
            for i, items in d.items():
                z[i] = max(z[i], max(v for v, _ in items))
        return z

    def span_logs(self, span_id: str) -> LogEvidence:
        """The span's log lines against its operation's normal pattern (lists capped), and its pod's
        error-line rate."""
        ev = self._log_evidence.get(span_id)
        if ev is None and span_id not in self._log_evidence:
            ev = self._log_evidence[span_id] = self._logs.evidence(span_id)
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

    def metric_shifts(self, entity: str) -> MetricEvidence:
        """The entity's strongest metric shifts (pod, node or service); ``available`` is false without
        metrics for it."""
        return self._metric_evidence.get(entity) or MetricEvidence(entity=entity)

    def node_of(self, pod: str) -> str:
        """The node hosting ``pod`` ("" where the telemetry does not say)."""
        return self.pod_node.get(pod, "")

    def operation_stats(self, service: str, operation: str) -> OperationStats:
        """Incident-window against normal statistics of one operation."""
        key = (service, operation)
        inc = self._op_incident.loc[key] if key in self._op_incident.index else None
        ops = self.profile.op_stats
        base = ops.loc[key] if key in ops.index else None
        return OperationStats(
            service=service,
            operation=operation,
            incident_spans=int(inc["n"]) if inc is not None else 0,
            baseline_spans=int(base["n"]) if base is not None else 0,
            incident_error_rate=float(inc["err"]) if inc is not None else 0.0,
            incident_median_duration_us=float(inc["dur"]) if inc is not None else None,
            baseline_median_duration_us=float(base["dur_med"]) if base is not None else None,
        )

    # ---------------------------------------------------------------- whole-incident views
    def absent_callees(self, span_id: str) -> list[str]:
        """For an unanswered client span: the pods that normally answer its calls and sent no span in the
        window (uncapped; empty for any other span)."""
        return list(self._unanswered.absent.get(span_id, []))

    def log_strengths(self, span_ids: Sequence[str], new_template_weight: float) -> np.ndarray:
        """Per span, the strongest log-pattern shift (z) it shows, without assembling records (see
        :meth:`faultwise.rcl.tools.logs.LogShifts.strengths`)."""
        return self._logs.strengths(list(span_ids), new_template_weight)

    def pod_error_rates(self) -> Mapping[str, float]:
        """Per pod with error lines in the window: how far its error-line rate rose above normal (Poisson z)."""
        return dict(self._pod_error_z)
