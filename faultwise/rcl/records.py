"""Typed records that cross the boundaries of the method: agent evidence, reports, candidates.

These are pydantic models so that an LLM reasoner can be asked for exactly these shapes (JSON schema) and
so that the CLI can print them as JSON without hand-written serialisers.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

FaultType = Literal[
    "cpu",  # cpu contention / saturation: slow own processing, cpu metrics up
    "memory",  # memory pressure / leak / OOM
    "network_delay",  # callers wait on the edge into the component, its own processing is normal
    "network_loss",  # packet loss / corruption: retries, timeouts, connection errors
    "exception",  # code exception: error logs with stack traces, failed spans
    "error_return",  # wrong/failed return value: error responses without a crash
    "pod_failure",  # the instance is gone or restarting: missing spans, connection refused
    "node_fault",  # the host: several pods on one node degrade together
    "latency",  # slow, cause not further distinguishable
    "unknown",
]
FAULT_TYPES: tuple[str, ...] = FaultType.__args__  # type: ignore[attr-defined]

Level = Literal["pod", "service", "node"]


class SelfEvidence(BaseModel):
    """What one Dedicated Agent concluded about its own span from its bounded context (self-verification)."""

    span_id: str
    service: str
    pod: str
    node: str = ""
    operation: str
    is_abnormal: bool
    has_error: bool = Field(description="the span itself failed (status) or carries an error")
    has_error_logs: bool
    has_metric_anomaly: bool
    latency_score: float = Field(0.0, description="robust z of the span's duration against its operation")
    self_time_score: float = Field(0.0, description="robust z of the span's own processing time")
    gap_score: float = Field(0.0, description="robust z of the client->server gap (network wait) into it")
    metric_score: float = Field(0.0, description="strongest metric deviation of its pod/node")
    log_score: float = Field(0.0, description="strength of new error/warning log templates")
    log_pattern_score: float = Field(
        0.0, description="part of log_score shown by the span's own lines (not its pod's error rate)"
    )
    key_symptoms: list[str] = Field(default_factory=list)
    hypothesis: FaultType = "unknown"
    down_pods: list[str] = Field(
        default_factory=list, description="callee pods that stopped answering its calls"
    )
    score: float = Field(0.0, description="how strongly this span is itself a cause, 0..1")


class AgentReport(BaseModel):
    """The consolidated report an agent sends its parent after merging its children's reports."""

    span_id: str
    root_cause_span: str | None = Field(None, description="itself, a descendant, or None")
    component: str | None = Field(None, description="pod of the root-cause span")
    service: str | None = None
    node: str | None = None
    fault_type: FaultType = "unknown"
    reason: str = ""
    confidence: float = 0.0
    path: list[str] = Field(default_factory=list, description="span ids from this span down to the cause")
    failed: bool = Field(False, description="this span itself failed (error status)")


class Candidate(BaseModel):
    """One ranked answer: the component, its level, the fault type, and the evidence an SRE can check."""

    component: str
    level: Level
    fault_type: FaultType = "unknown"
    score: float
    rationale: str
    evidence: list[str] = Field(default_factory=list)
    service: str = ""
