"""The reasoner interface: what decides inside each Dedicated Agent.

The coordinator, tools, records and synthesis are shared; only these three decisions are pluggable. The
embedded statistical reasoner is the default; an LLM reasoner implements the same interface. Methods are
async so that remote reasoners run many agents concurrently under the coordinator's bound.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

from faultwise.rcl.records import AgentReport, Candidate, FaultType, SelfEvidence
from faultwise.rcl.telemetry.schema import Span
from faultwise.rcl.tools import ScopedTools

if TYPE_CHECKING:
    from faultwise.rcl.records import EvidenceGraph


def self_report(span: Span, node: str, fault_type: FaultType, confidence: float, reason: str) -> AgentReport:
    """The report of a span that blames itself (every reasoner builds it the same way)."""
    return AgentReport(
        span_id=span.span_id,
        failed=span.is_error,
        root_cause_span=span.span_id,
        component=span.pod,
        service=span.service,
        node=node,
        fault_type=fault_type,
        confidence=confidence,
        path=[span.span_id],
        reason=reason,
    )


def no_cause_report(span: Span, reason: str) -> AgentReport:
    """The report of a span that finds no abnormal span below or at itself."""
    return AgentReport(span_id=span.span_id, failed=span.is_error, confidence=0.0, reason=reason)


@runtime_checkable
class Reasoner(Protocol):
    name: str

    async def verify(self, span: Span, tools: ScopedTools) -> SelfEvidence:
        """Self-state verification: is this span itself abnormal, and what does its own evidence suggest?"""
        ...

    async def consolidate(self, span: Span, own: SelfEvidence, children: list[AgentReport]) -> AgentReport:
        """Merge the children's reports with the agent's own evidence into the report for its parent."""
        ...

    async def synthesize(self, ranked: list[Candidate], graphs: list[EvidenceGraph]) -> list[Candidate]:
        """Final say over the statistically ranked candidates (re-rank, re-type, explain)."""
        ...
