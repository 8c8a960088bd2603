"""Our own method, and its ablations, behind the same :class:`~faultwise.rcl.compare.base.Method` interface."""

from __future__ import annotations

from dataclasses import dataclass, field

from faultwise.rcl.method.analyzer import RCLAgent, RCLConfig
from faultwise.rcl.records import Candidate
from faultwise.rcl.telemetry.schema import Telemetry


@dataclass
class RCLMethod:
    name: str = "rcl"
    config: RCLConfig = field(default_factory=RCLConfig)

    def __post_init__(self) -> None:
        self._agent = RCLAgent(self.config)

    def rank(self, incident: Telemetry, baseline: Telemetry | None, start_us: int | None) -> list[Candidate]:
        return self._agent.find_root_causes(incident, baseline, start_us=start_us).candidates
