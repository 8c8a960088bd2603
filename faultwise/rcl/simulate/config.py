"""Typed records of the synthetic incident generator: what to generate, and what was generated."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from faultwise.rcl.records import FaultType, Level
from faultwise.rcl.simulate.realism import Realism
from faultwise.rcl.simulate.topology import Topology
from faultwise.rcl.telemetry.schema import Telemetry

InjectableFault = Literal[
    "cpu",
    "memory",
    "network_delay",
    "network_loss",
    "exception",
    "error_return",
    "early_return",
    "pod_failure",
    "node_fault",
]
INJECTABLE_FAULTS: tuple[str, ...] = InjectableFault.__args__  # type: ignore[attr-defined]

Strength = Literal["easy", "hard"]


class SynthConfig(BaseModel):
    """What to generate. Same config (seed included) => identical tables."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    n_services: int = Field(
        12, ge=3, le=40, description="services, the entry gateway and the db-like leaf included"
    )
    min_pods_per_service: int = Field(1, ge=1, le=8)
    max_pods_per_service: int = Field(3, ge=1, le=8)
    n_nodes: int = Field(4, ge=1, le=64)
    requests_per_s: float = Field(20.0, gt=0, le=2000)
    normal_s: float = Field(60.0, gt=0, description="length of the fault-free baseline window")
    incident_s: float = Field(60.0, gt=0, description="length of the window after injection")
    fault_type: InjectableFault = "cpu"
    fault_target: str | None = Field(
        None,
        description="pod, service or node name; None = chosen from the seed (a pod; a node for node_fault)",
    )
    strength: Strength = "easy"
    seed: int = 0
    scrape_interval_s: float = Field(10.0, gt=0, description="metric scrape period")
    start_ts_s: float = Field(1_700_000_000.0, description="epoch seconds where the normal window starts")
    realism: Realism = Field(
        default_factory=Realism,
        description="what real incidents carry besides the fault (all off by default)",
    )


class GroundTruth(BaseModel):
    """The injected cause, for scoring only (the method never sees it)."""

    component: str = Field(description="pod, service or node name, per level")
    level: Level
    service: str = Field(description="service of the component; '' for a node fault")
    node: str = Field(description="node of the component ('' when a service spans several nodes)")
    fault_type: FaultType
    strength: Strength
    inject_ts_s: float
    end_ts_s: float = Field(
        description="when the fault stopped (end of the incident window unless it recovered)"
    )
    declared_ts_s: float | None = Field(
        None, description="when the incident was declared (the start a method is given); None: at the onset"
    )
    drift_service: str = Field("", description="the unrelated service whose query tail drifted ('' none)")
    handler_services: list[str] = Field(
        default_factory=list, description="services that record a handler span beside each client call"
    )
    vanished_service: str = Field("", description="the unrelated service that briefly answered no call")
    vanished_ts_s: float | None = Field(None, description="when it vanished")

    @property
    def start_ts_s(self) -> float:
        """The start a method is given: the declared time, else the onset."""
        return self.inject_ts_s if self.declared_ts_s is None else self.declared_ts_s


@dataclass
class SynthIncident:
    """A generated incident: fault-free baseline, the window after injection, and the truth."""

    config: SynthConfig
    topology: Topology
    normal: Telemetry
    incident: Telemetry
    truth: GroundTruth
