"""The typed records the data tools answer with: small, capped, JSON-ready (an LLM agent reads them)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

#: Cap on the list items a tool returns.
MAX_ITEMS = 5


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
    op_self_effect: float = Field(
        0.0,
        description="what its operation's slow spans add to a request: their excess over the normal median, "
        "relative to a whole request's normal time (or the operation's, if longer); 1.0 = twice as long",
    )
    op_gap_effect: float = Field(0.0, description="the same for the network wait into the span")
    op_self_tail_z: float = Field(
        0.0,
        description="how unlikely its operation's slow spans are by how far out they lie (a z that holds on "
        "few calls: a normal span of any operation is that many times its median this rarely)",
    )
    op_gap_tail_z: float = Field(0.0, description="the same for the network wait into the span")
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
    """The span's log lines against its operation's normal pattern, and its pod's error-line rate."""

    lines: int = Field(0, description="distinct templates the span's lines fall into")
    error_lines: int = Field(0, description="error lines (ERROR level or naming an error) the span logged")
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


class MetricShift(BaseModel):
    """How far one metric of one entity (pod, node or service) moved in the incident window against its
    normal mean, in units of its normal spread."""

    model_config = ConfigDict(frozen=True)

    entity: str
    metric: str
    baseline_mean: float
    incident_mean: float
    z: float


class MetricEvidence(BaseModel):
    """The strongest metric shifts of one entity in the incident window (empty where it has no metrics).
    Frozen: every span of a pod is handed the same record."""

    model_config = ConfigDict(frozen=True)

    entity: str
    deviations: list[MetricShift] = Field(default_factory=list)
    max_abs_z: float = 0.0
    available: bool = False


class OperationStats(BaseModel):
    """Incident-window against normal statistics of one operation."""

    service: str
    operation: str
    incident_spans: int
    baseline_spans: int
    incident_error_rate: float
    incident_median_duration_us: float | None
    baseline_median_duration_us: float | None


class CallShift(BaseModel):
    """One change in the calls a parent operation makes on one pod, incident window against normal.

    ``kind`` is ``vanished`` (a usual child call is missing from many of the parent's spans), ``new`` (a
    call its spans rarely or never made appears) or ``count`` (spans that make the call make it a different
    number of times). Shares are of the parent operation's spans that make the call; ``z`` is the
    count-based confidence (binomial for shares, Poisson for counts) and ``effect`` the size of the change
    (share points for vanished/new, ratio of calls per span for count).
    """

    kind: str = Field(description="vanished, new or count")
    service: str
    operation: str
    pod: str = Field(description="the pod whose spans of the operation changed")
    child_service: str
    child_operation: str
    z: float
    effect: float
    normal_share: float
    incident_share: float
    normal_calls_per_span: float = Field(0.0, description="calls per parent span that makes the call")
    incident_calls_per_span: float = 0.0
    parent_spans: int = Field(description="spans of the parent operation in the incident window")


class StructureEvidence(BaseModel):
    """How the span's own child calls differ from its operation's usual ones (traces only, no logs needed):
    the traces-only counterpart of usual log lines that vanished."""

    vanished_calls: list[str] = Field(
        default_factory=list,
        description="usual child calls (service:operation) this span did not make, while its operation "
        "lost them in the window",
    )
    new_calls: list[str] = Field(
        default_factory=list, description="child calls this span made that its operation normally does not"
    )
    count_calls: list[str] = Field(
        default_factory=list, description="child calls whose number per span changed for its operation"
    )
    vanished_z: float = Field(0.0, description="strongest confidence of a vanished call this span lacks")
    new_z: float = Field(0.0, description="strongest confidence of a new call this span makes")
    count_z: float = Field(0.0, description="strongest confidence of a changed call count in this span")
    duration_ratio: float | None = Field(
        None,
        description="the span's duration over its operation's normal median (below 1: it returned early)",
    )
