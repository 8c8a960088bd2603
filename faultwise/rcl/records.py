"""Typed records that cross the boundaries of the method: agent evidence, reports, candidates, rankings and
the evidence graph of a trace.

These are pydantic models so that an LLM reasoner can be asked for exactly these shapes (JSON schema) and
so that the CLI can print them as JSON without hand-written serialisers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
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

#: who made an agent's decision: the embedded reasoner (its verdict was clear), the LLM (the decision was in
#: doubt and the model was asked), or the embedded reasoner although the decision was in doubt, because
#: the LLM budget was spent or the model failed for good
DecidedBy = Literal["embedded", "llm", "embedded_over_budget", "embedded_llm_failed"]


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
    structure_score: float = Field(
        0.0, description="strength of the change in its own child calls (usual calls vanished, new calls)"
    )
    key_symptoms: list[str] = Field(default_factory=list)
    hypothesis: FaultType = "unknown"
    down_pods: list[str] = Field(
        default_factory=list, description="callee pods that stopped answering its calls"
    )
    score: float = Field(0.0, description="how strongly this span is itself a cause, 0..1")
    decided_by: DecidedBy = Field("embedded", description="who judged the verdict (is_abnormal)")


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
    decided_by: DecidedBy = Field("embedded", description="who made this consolidation")


class Candidate(BaseModel):
    """One ranked answer: the component, its level, the fault type, and the evidence an SRE can check."""

    component: str
    level: Level
    fault_type: FaultType = "unknown"
    score: float
    rationale: str
    evidence: list[str] = Field(default_factory=list)
    service: str = ""


def names_at_level(candidates: Sequence[Candidate], level: str) -> list[str]:
    """The components named at one level, best first, without repeats.

    ``service``: service candidates, and pod candidates as their service (nodes skipped); ``pod`` and
    ``node``: candidates of exactly that level (an answer at another level does not name the component).
    """
    if level not in ("pod", "service", "node"):
        raise ValueError(f"unknown level {level!r}")
    out: list[str] = []
    for c in candidates:
        if level == "service":
            if c.level == "node":
                continue
            name = c.component if c.level == "service" else c.service
        elif c.level == level:
            name = c.component
        else:
            continue
        if name and name not in out:
            out.append(name)
    return out


class Ranking(BaseModel):
    """What every root-cause method answers (``find_root_causes``): ranked candidates, best first.
    :class:`~faultwise.rcl.method.analyzer.Diagnosis` is the analyzer's, with what the ranking rests on."""

    candidates: list[Candidate]

    def services(self) -> list[str]:
        """Services in rank order (pod candidates map to their service; nodes are skipped)."""
        return names_at_level(self.candidates, "service")


@dataclass
class EvidenceGraph:
    """Nodes are spans with their agent's :class:`SelfEvidence`; edges are parent -> child calls.

    ``reports`` holds each agent's consolidated report; ``root_reports`` the reports of the trace roots,
    which are the recursion's conclusions for this trace.
    """

    trace_id: str
    nodes: dict[str, SelfEvidence] = field(default_factory=dict)
    edges: list[tuple[str, str]] = field(default_factory=list)
    reports: dict[str, AgentReport] = field(default_factory=dict)
    roots: list[str] = field(default_factory=list)
    trace_anomaly: float = 0.0

    def __repr__(self) -> str:
        # compact on purpose: asyncio (3.11) formats the repr of a finished task's result when it installs
        # its SIGINT handler, and a full repr of thousands of typed nodes costs seconds
        return f"EvidenceGraph(trace_id={self.trace_id!r}, nodes={len(self.nodes)}, edges={len(self.edges)})"

    @property
    def root_reports(self) -> list[AgentReport]:
        return [self.reports[r] for r in self.roots if r in self.reports]

    def abnormal(self) -> list[SelfEvidence]:
        return [n for n in self.nodes.values() if n.is_abnormal]

    def pruned(self) -> EvidenceGraph:
        """Abnormal nodes and the paths from them to the roots: what a final reasoner needs to see."""
        parent = {c: p for p, c in self.edges}
        keep: set[str] = set()
        for n in self.abnormal():
            sid = n.span_id
            while sid and sid not in keep:
                keep.add(sid)
                sid = parent.get(sid, "")
        return EvidenceGraph(
            trace_id=self.trace_id,
            nodes={k: v for k, v in self.nodes.items() if k in keep},
            edges=[(p, c) for p, c in self.edges if p in keep and c in keep],
            reports={k: v for k, v in self.reports.items() if k in keep},
            roots=[r for r in self.roots if r in keep],
            trace_anomaly=self.trace_anomaly,
        )

    def to_dict(self) -> dict:
        return {
            "trace_id": self.trace_id,
            "nodes": [n.model_dump() for n in self.nodes.values()],
            "edges": [list(e) for e in self.edges],
            "root_reports": [r.model_dump() for r in self.root_reports],
        }
