"""Our own method, and its ablations, behind the same :class:`~faultwise.rcl.compare.base.Method` interface."""

from __future__ import annotations

from dataclasses import dataclass, field

from faultwise.rcl.llm.usage import LLMUsage
from faultwise.rcl.method.analyzer import Diagnosis, RCLAgent, RCLConfig
from faultwise.rcl.reasoners.base import Reasoner
from faultwise.rcl.telemetry.schema import Telemetry


@dataclass
class RCLMethod:
    """:class:`RCLAgent` under a bench name, with its config and reasoner (``None``: the embedded one)."""

    name: str = "rcl"
    config: RCLConfig = field(default_factory=RCLConfig)
    reasoner: Reasoner | None = None

    def __post_init__(self) -> None:
        self.agent = RCLAgent(self.config, reasoner=self.reasoner)

    @property
    def usage(self) -> LLMUsage | None:
        """The LLM reasoner's counters (``None`` for the embedded reasoner)."""
        return getattr(self.agent.reasoner, "usage", None)

    def find_root_causes(
        self, incident: Telemetry, normal: Telemetry | None = None, start_us: int | None = None
    ) -> Diagnosis:
        return self.agent.find_root_causes(incident, normal, start_us=start_us)
