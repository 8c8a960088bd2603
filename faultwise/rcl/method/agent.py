"""The Dedicated Agent: one per span, with a bounded context (its span and its scoped tools)."""

from __future__ import annotations

from dataclasses import dataclass

from faultwise.rcl.reasoners.base import Reasoner
from faultwise.rcl.records import AgentReport, SelfEvidence
from faultwise.rcl.telemetry.schema import Span
from faultwise.rcl.tools import ScopedTools


@dataclass
class DedicatedAgent:
    span: Span
    tools: ScopedTools
    reasoner: Reasoner
    evidence: SelfEvidence | None = None

    async def verify(self) -> SelfEvidence:
        """Self-state verification from the agent's own evidence only."""
        self.evidence = await self.reasoner.verify(self.span, self.tools)
        return self.evidence

    async def consolidate(self, children: list[AgentReport]) -> AgentReport:
        """Merge the children's compact reports with the agent's own evidence into one report upwards."""
        assert self.evidence is not None, "verify() must run before consolidate()"
        return await self.reasoner.consolidate(self.span, self.evidence, children)
