"""The embedded statistical reasoner: offline, fast, deterministic.

Evidence strengths are turned into [0, 1] scores with one saturating curve, ``1 - exp(-(z - z0) / s)``, and
combined as independent signals (noisy-or). A timing shift may score by its size instead, where that is
larger (:func:`shift_strength`): its count cannot grow on few calls, however long they wait, so its size is
made sure by the count or by how far out the slow calls lie, whichever is surer. Consolidation
follows the SRE's rule of thumb: symptoms that propagate upwards (errors, changed log patterns, latency) are
blamed on the deepest abnormal descendant; a span keeps the blame only when its *own* processing time or the
network edge into it is abnormal beyond what its children explain.
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from faultwise.rcl.reasoners.base import no_cause_report, self_report
from faultwise.rcl.records import AgentReport, Candidate, FaultType, SelfEvidence
from faultwise.rcl.telemetry.schema import Span, service_of_pod
from faultwise.rcl.tools import ScopedTools

_CPU_WORDS = ("cpu", "load", "throttl")
_MEM_WORDS = ("mem", "heap", "gc", "oom", "rss")
_NET_WORDS = ("network", "net_", "bytes", "packet", "tcp", "retrans", "drop")
#: Fault types that cut a code path (and so a span's calls): a caller's cut below one of them is its echo.
_CODE_PATH_FAULTS = ("exception", "error_return")
_EXC_WORDS = ("exception", "traceback", "stack", "panic", "fatal", "caused by")


def saturate(z: float, z0: float = 3.0, scale: float = 3.0) -> float:
    """Map a deviation to [0, 1): 0 up to ``z0``, then rising with ``scale``."""
    if not math.isfinite(z) or z <= z0:
        return 0.0
    return 1.0 - math.exp(-(z - z0) / scale)


def saturate_many(z: np.ndarray, z0: float = 3.0, scale: float = 3.0) -> np.ndarray:
    """:func:`saturate` over an array at once (an infinite z saturates to 1 here; the tools never give one)."""
    with np.errstate(over="ignore"):  # far below z0 the curve's exp overflows; np.where drops those values
        return np.where(z > z0, 1.0 - np.exp(-(np.nan_to_num(z) - z0) / scale), 0.0)


def shift_strength(
    z: float, effect: float, c: EmbeddedConfig, tail_z: float = 0.0, min_effect: float = 0.0
) -> float:
    """A timing shift's score: its size, given it is real (``z`` the confidence from the count of slow
    spans, ``tail_z`` the one from how far out they lie, ``effect`` the size). With ``min_effect`` the count
    alone scores in full only for a shift at least that large (less in proportion)."""
    by_count = saturate(z, c.z0, c.z_scale)
    if min_effect > 0:
        by_count *= min(1.0, max(effect, 0.0) / min_effect)
    if c.effect_scale is None:
        return by_count
    sure = max(z, tail_z) if c.tail_confidence else z
    by_size = saturate(sure, c.z0, c.confidence_scale) * (1.0 - math.exp(-max(effect, 0.0) / c.effect_scale))
    return max(by_count, by_size)


def shift_strength_many(
    z: np.ndarray,
    effect: np.ndarray,
    c: EmbeddedConfig,
    tail_z: np.ndarray | None = None,
    min_effect: float = 0.0,
) -> np.ndarray:
    """:func:`shift_strength` over arrays at once."""
    by_count = saturate_many(z, c.z0, c.z_scale)
    if min_effect > 0:
        by_count = by_count * np.minimum(1.0, np.maximum(np.nan_to_num(effect), 0.0) / min_effect)
    if c.effect_scale is None:
        return by_count
    sure = np.maximum(z, tail_z) if c.tail_confidence and tail_z is not None else z
    size = 1.0 - np.exp(-np.maximum(np.nan_to_num(effect), 0.0) / c.effect_scale)
    return np.maximum(by_count, saturate_many(sure, c.z0, c.confidence_scale) * size)


def _sureness(z: float, tail_z: float, c: EmbeddedConfig) -> str:
    """The evidence line's confidence: the count's z, and how far out the slow spans lie where that is surer."""
    if c.tail_confidence and tail_z > z:
        return f"z={z:.1f}, this far out z={tail_z:.1f}"
    return f"z={z:.1f}"


def noisy_or(*ps: float) -> float:
    out = 1.0
    for p in ps:
        out *= 1.0 - max(0.0, min(1.0, p))
    return 1.0 - out


class EmbeddedConfig(BaseModel):
    """Knobs of the embedded reasoner (general defaults; nothing here is tuned to one dataset).

    Evidence strengths (z) become scores in [0, 1) by ``1 - exp(-(z - z0) / z_scale)`` above ``z0``; the
    label-free trace selection scores traces with the same curve and weights, so that changing them changes
    which traces are diagnosed too. Which modalities are used is the analyzer's choice
    (:class:`~faultwise.rcl.method.analyzer.RCLConfig`), not the reasoner's.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    z0: float = Field(3.0, ge=0, description="deviation (z) up to which evidence scores nothing")
    z_scale: float = Field(10.0, gt=0, description="z above z0 over which a score rises to 63 %")
    effect_scale: float | None = Field(
        2.0,
        gt=0,
        description="a timing shift scores by its size too: 1 - exp(-effect / effect_scale) times its "
        "confidence (z on ``confidence_scale``), where the count alone (z on z_scale) scores less; effect "
        "= the slow spans' excess over the normal median relative to a whole request's normal time (2.0: "
        "the request takes three times as long, 63 %; twice as long, 39 %). A count grows with traffic, "
        "not size: ten calls each delayed by a second cannot make it confident. None: the count alone",
    )
    confidence_scale: float = Field(
        3.0,
        gt=0,
        description="z above z0 over which the confidence that a timing shift is real rises to 63 % (its "
        "size is scored apart: the confidence only gates it)",
    )
    tail_confidence: bool = Field(
        True,
        description="a timing shift is also sure by how far out its slow spans lie, against all normal spans "
        "pooled (``op_*_tail_z``), not only by how many exceed the operation's own p95: few calls of a "
        "rarely used operation cannot make a count sure, however long they wait. False: the count alone",
    )
    wait_min_effect: float = Field(
        0.01,
        ge=0,
        description="a shift of the network wait into a span scores by its count in full only when it adds "
        "at least this share of a request's normal time (0.01: 1 %; less in proportion): many calls each "
        "waiting a millisecond longer inside a 200 ms request are sure, not large; 0: no such floor",
    )
    abnormal_at: float = Field(0.1, ge=0, le=1, description="score from which a span is abnormal")
    missing_log: float = Field(
        1.0, ge=0, le=1, description="weight of a usual line that vanished, against a new error line (1.0)"
    )
    new_log: float = Field(0.5, ge=0, le=1, description="weight of an over-represented non-error line")
    metric_support: float = Field(
        0.3, ge=0, le=1, description="weight of a metric shift, which only supports other evidence"
    )
    keep_self_ratio: float = Field(
        1.5, ge=0, description="own local evidence must beat the blamed child's confidence by this factor"
    )
    call_structure: float = Field(
        0.5,
        ge=0,
        le=1,
        description="weight of a change in the span's own child calls (a usual call vanished or a new one "
        "appeared, op-wide), against a new error line (1.0): the traces-only trace of a cut code path; "
        "0.5 chosen on the real cases and the TrainTicket replay bench together (at 1.0 the replayed cpu "
        "and network faults lose rank 1 to other services' call-mix changes)",
    )
    call_share_change: float = Field(
        0.25,
        gt=0,
        le=1,
        description="share points (0..1) by which a child call's share of its parent operation's spans "
        "must fall (vanished) or rise (new) to count at all: the effect-size floor of the structural "
        "signal, its z (above z0) the confidence",
    )
    call_count: float = Field(
        0.25,
        ge=0,
        le=1,
        description="weight of a changed number of calls to one child (a loop ran more or fewer times), "
        "less specific than a call that vanished",
    )
    similar_factor: float = Field(
        4.0,
        ge=1,
        description="two extra waits (microseconds above normal) are alike within this factor: a wait into "
        "a callee that grew on few of its callers' calls far more than on the others' is the callers' "
        "(1: off)",
    )
    median_z: float | None = Field(
        None,
        description="how surely (one-sided z; 1.645 is 5 %) more than half of an operation's window spans "
        "must lie above its normal median for its timing shift to count: a tail that fattened while the "
        "median held is drift, not a fault. Off (None) by default: on the real and replayed cases it gains "
        "nothing, and a real cpu contention on a rarely called service shows only in the tail",
    )
    callee_down: float = Field(
        0.9, ge=0, le=1, description="score of a call unanswered by pods that sent no span in the window"
    )
    pod_error_rate: float = Field(
        0.5,
        ge=0,
        le=1,
        description="weight of the pod-wide error-line rate (the same for all its spans: less specific "
        "than a span's own lines)",
    )
    selection_new_log_z: float = Field(
        0.5,
        ge=0,
        le=1,
        description="trace selection: factor on the z of an over-represented non-error line, applied "
        "before the curve (the agents weigh it after, by new_log)",
    )


class EmbeddedReasoner:
    """Statistical reasoner behind the :class:`~faultwise.rcl.reasoners.base.Reasoner` interface."""

    name = "embedded"

    def __init__(self, config: EmbeddedConfig | None = None):
        self.config = config or EmbeddedConfig()

    async def verify(self, span: Span, tools: ScopedTools) -> SelfEvidence:
        return self.verify_sync(span, tools)

    def verify_sync(self, span: Span, tools: ScopedTools) -> SelfEvidence:
        c = self.config
        t = tools.timing()
        # a span is abnormal in time only if it is slow itself AND its operation is slow as a whole
        s_self = (
            shift_strength(t.op_self_shift_z, t.op_self_effect, c, t.op_self_tail_z)
            if t.self_exceeds_p95
            else 0.0
        )
        s_gap = (
            shift_strength(t.op_gap_shift_z, t.op_gap_effect, c, t.op_gap_tail_z, c.wait_min_effect)
            if t.gap_exceeds_p95 and not t.gap_blames_caller
            else 0.0
        )
        # a client span of a pod whose outgoing calls all slowed: the pod's own (client-side) processing
        s_self = max(s_self, saturate(t.caller_overhead_z, c.z0, c.z_scale))
        s_err = saturate(t.op_error_shift_z, c.z0, c.z_scale) if span.is_error else 0.0
        symptoms: list[str] = []
        if t.caller_overhead_z and s_self:
            symptoms.append(f"its calls into several services all wait longer (z={t.caller_overhead_z:.1f})")
        elif s_self:
            symptoms.append(
                f"own processing {t.self_us:.0f}us vs normal {t.baseline_self_us or 0:.0f}us (its "
                f"operation's slow spans add {100 * t.op_self_effect:.0f} % to a request, "
                f"{_sureness(t.op_self_shift_z, t.op_self_tail_z, c)})"
            )
        if s_gap:
            symptoms.append(
                f"network wait into it {t.gap_us:.0f}us vs normal {t.baseline_gap_us or 0:.0f}us (its "
                f"operation's slow waits add {100 * t.op_gap_effect:.0f} % to a request, "
                f"{_sureness(t.op_gap_shift_z, t.op_gap_tail_z, c)})"
            )
        if span.is_error:
            symptoms.append(f"span failed (status {span.status_code or 'error'})")

        exc_like = False
        lg = tools.logs()  # empty without logs (the analyzer leaves them out for a no-logs run)
        has_error_logs = lg.error_lines > 0
        parts = [
            saturate(lg.new_error_z, c.z0, c.z_scale),
            c.missing_log * saturate(lg.missing_z, c.z0, c.z_scale),
            c.new_log * saturate(lg.new_z, c.z0, c.z_scale),
            c.pod_error_rate * saturate(lg.pod_error_rate_z, c.z0, c.z_scale),
        ]
        if saturate(lg.pod_error_rate_z, c.z0, c.z_scale):
            symptoms.append(f"its pod logs errors above its normal rate (z={lg.pod_error_rate_z:.1f})")
        if lg.new_error_templates:
            symptoms.append(
                f"error log over-represented (z={lg.new_error_z:.1f}): {lg.new_error_templates[0]}"
            )
            exc_like = any(w in x.lower() for x in lg.new_error_templates for w in _EXC_WORDS)
        if lg.missing_templates:
            symptoms.append(f"usual log missing (z={lg.missing_z:.1f}): {lg.missing_templates[0]}")
        if lg.new_templates:
            symptoms.append(f"unusual log (z={lg.new_z:.1f}): {lg.new_templates[0]}")
        s_log = noisy_or(*parts)
        s_pattern = noisy_or(*parts[:3])  # what this span's own lines show, without the pod-wide rate

        st = tools.structure()  # the span's own child calls against its operation's usual ones
        s_struct = noisy_or(
            c.call_structure * saturate(max(st.vanished_z, st.new_z), c.z0, c.z_scale),
            c.call_count * saturate(st.count_z, c.z0, c.z_scale),
        )
        shorter = st.duration_ratio is not None and st.duration_ratio < 1.0
        if st.vanished_calls and saturate(st.vanished_z, c.z0, c.z_scale):
            symptoms.append(
                f"usual call(s) missing (z={st.vanished_z:.1f}): {', '.join(st.vanished_calls[:2])}"
                + (f"; returned early ({st.duration_ratio:.2f} of normal duration)" if shorter else "")
            )
        if st.new_calls and saturate(st.new_z, c.z0, c.z_scale):
            symptoms.append(f"unusual call(s) (z={st.new_z:.1f}): {', '.join(st.new_calls[:2])}")
        if st.count_calls and saturate(st.count_z, c.z0, c.z_scale):
            symptoms.append(f"call count changed (z={st.count_z:.1f}): {st.count_calls[0]}")

        top_metric = ""
        pm, nm = tools.pod_metrics(), tools.node_metrics()  # empty without metrics
        best = max((pm, nm), key=lambda m: m.max_abs_z)
        s_metric = saturate(best.max_abs_z, c.z0, 5.0)
        if s_metric and best.deviations:
            d = best.deviations[0]
            top_metric = d.metric.lower()
            symptoms.append(
                f"{d.entity} {d.metric} {d.baseline_mean:.3g} -> {d.incident_mean:.3g} (z={d.z:.1f})"
            )

        # a call nobody answered, into pods that went silent: the callee is down
        s_down, down = 0.0, []
        if t.unanswered_call and t.absent_callees:  # a call nobody answered, into pods that went silent
            s_down, down = c.callee_down, t.absent_callees
            symptoms.insert(0, f"call unanswered; {', '.join(down[:3])} sent no span in the window")
        elif t.unanswered_call and saturate(t.unanswered_z, c.z0, c.z_scale) and t.suspect_callees:
            s_down, down = saturate(t.unanswered_z, c.z0, c.z_scale), t.suspect_callees[:1]
            symptoms.insert(
                0, f"calls go unanswered more than normal (z={t.unanswered_z:.1f}); suspect {down[0]}"
            )
        score = noisy_or(s_self, s_gap, s_err, s_log, s_down, s_struct)
        if score > 0:
            score = noisy_or(score, c.metric_support * s_metric)
        hypothesis = self._hypothesis(s_self, s_gap, s_err, noisy_or(s_log, s_struct), exc_like, top_metric)
        if hypothesis == "error_return" and s_struct > s_log and not shorter and st.new_calls:
            hypothesis = "exception"  # a new call (e.g. an error handler) rather than an early return
        if s_down:  # the failed, unanswered call is explained by the callee
            hypothesis = "pod_failure" if t.absent_callees else "network_loss"
        return SelfEvidence(
            span_id=span.span_id,
            service=span.service,
            pod=span.pod,
            node=tools.node(),
            operation=span.operation,
            is_abnormal=score >= c.abnormal_at,
            has_error=span.is_error,
            has_error_logs=has_error_logs,
            has_metric_anomaly=s_metric > 0,
            latency_score=round(t.latency_z, 3),
            self_time_score=round(s_self, 4),
            gap_score=round(s_gap, 4),
            metric_score=round(s_metric, 4),
            log_score=round(s_log, 4),
            log_pattern_score=round(s_pattern, 4),
            structure_score=round(s_struct, 4),
            key_symptoms=symptoms[:5],
            hypothesis=hypothesis,
            score=round(score, 4),
            down_pods=down,
        )

    @staticmethod
    def _hypothesis(
        s_self: float, s_gap: float, s_err: float, s_log: float, exc_like: bool, metric: str
    ) -> FaultType:
        strongest = max(("self", s_self), ("gap", s_gap), ("err", max(s_err, s_log)), key=lambda kv: kv[1])
        if strongest[1] <= 0:
            return "unknown"
        if strongest[0] == "gap":
            return "network_delay"
        if strongest[0] == "self":
            if any(w in metric for w in _MEM_WORDS):
                return "memory"
            if any(w in metric for w in _CPU_WORDS) or not metric:
                return "cpu"
            return "latency"
        return "exception" if exc_like else "error_return"

    async def consolidate(self, span: Span, own: SelfEvidence, children: list[AgentReport]) -> AgentReport:
        return self.consolidate_sync(span, own, children)

    def consolidate_sync(self, span: Span, own: SelfEvidence, children: list[AgentReport]) -> AgentReport:
        c = self.config
        blamed = [r for r in children if r.root_cause_span is not None]
        if span.is_error:  # a failure propagates up the chain of failed calls: follow it first
            failed = [r for r in blamed if r.failed and r.confidence >= c.abnormal_at]
            blamed = failed or blamed
        best = max(blamed, key=lambda r: r.confidence, default=None)
        local = max(own.self_time_score, own.gap_score)
        if best is not None and not best.failed:
            # a call that succeeded did not hand its trouble up: the shift of this span's own lines is its own
            local = max(local, own.log_pattern_score)
        if best is not None and best.fault_type not in _CODE_PATH_FAULTS:
            # like with like: a caller that lost calls because its callee's code path was cut is a victim;
            # its own cut code path counts against a callee blamed for something else
            local = max(local, own.structure_score)
        own_score = own.score if own.is_abnormal else 0.0
        if (
            best is not None
            and best.confidence >= c.abnormal_at
            and not (local > best.confidence * c.keep_self_ratio)
        ):
            conf = noisy_or(best.confidence, 0.2 * own_score)  # a consistent symptom upstream supports it
            return best.model_copy(
                update={
                    "span_id": span.span_id,
                    "failed": span.is_error,
                    "confidence": round(conf, 4),
                    "path": [span.span_id, *best.path],
                    "reason": best.reason
                    if own_score == 0
                    else f"{best.reason}; upstream {span.service} shows it too",
                }
            )
        if own.is_abnormal and own.hypothesis in ("pod_failure", "network_loss") and own.down_pods:
            down = own.down_pods[0]
            return AgentReport(
                span_id=span.span_id,
                failed=span.is_error,
                root_cause_span=span.span_id,
                component=down,
                service=service_of_pod(down),
                fault_type=own.hypothesis,
                confidence=own.score,
                path=[span.span_id],
                reason="; ".join(own.key_symptoms[:3]),
            )
        if own.is_abnormal:
            reason = "; ".join(own.key_symptoms[:3]) or "abnormal"
            return self_report(span, own.node, own.hypothesis, own.score, reason)
        return no_cause_report(span, "normal, and no abnormal descendant")

    async def synthesize(self, ranked: list[Candidate], graphs: list) -> list[Candidate]:
        return ranked
