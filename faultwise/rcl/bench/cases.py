"""A benchmark case: one labelled incident, loaded, as every dataset yields it and every method sees it."""

from __future__ import annotations

from dataclasses import dataclass

from faultwise.rcl.telemetry.schema import Telemetry

US_PER_S = 1_000_000


@dataclass(frozen=True)
class BenchCase:
    """What every method sees (the incident, optional fault-free telemetry of the same system, the incident
    start), plus the truth used only to score, at ``level`` (pod | service | node)."""

    case_id: str
    fault_type: str
    level: str
    truth: str
    incident: Telemetry
    normal: Telemetry | None
    start_us: int | None
    load_seconds: float = 0.0
