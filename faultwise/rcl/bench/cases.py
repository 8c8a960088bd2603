"""A benchmark case: one labelled incident, loaded, as every dataset yields it and every method sees it."""

from __future__ import annotations

from dataclasses import dataclass, replace

from faultwise.errors import InputError
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


#: The modality sets a bench can restrict every case to: what a user with only a trace collector has, traces
#: with infrastructure metrics, or everything the dataset holds.
MODALITY_SETS: dict[str, tuple[str, ...]] = {
    "traces": ("traces",),
    "traces,metrics": ("traces", "metrics"),
    "traces,logs": ("traces", "logs"),
    "all": ("traces", "logs", "metrics"),
}


def parse_modalities(text: str, source: str = "modalities") -> tuple[str, ...]:
    """``traces``, ``traces,metrics``, ``traces,logs`` or ``all`` (order and spaces ignored) -> the set."""
    parts = {p.strip() for p in text.split(",") if p.strip()}
    for name, modalities in MODALITY_SETS.items():
        if parts in ({name}, set(modalities)):
            return modalities
    raise InputError(source, f"unknown modality set {text!r}; use one of {' | '.join(MODALITY_SETS)}")


def _keep(telemetry: Telemetry | None, modalities: tuple[str, ...]) -> Telemetry | None:
    if telemetry is None:
        return None
    sources = {k: v for k, v in telemetry.sources.items() if k in modalities}
    return Telemetry(
        telemetry.spans,
        telemetry.logs if "logs" in modalities else None,
        telemetry.metrics if "metrics" in modalities else None,
        sources,
    )


def with_modalities(case: BenchCase, modalities: tuple[str, ...]) -> BenchCase:
    """The case as a user with only ``modalities`` would have it: the other modalities are removed from the
    incident and from the normal telemetry, so every method (comparisons included) sees the same data."""
    if set(modalities) >= {"traces", "logs", "metrics"}:
        return case
    return replace(case, incident=_keep(case.incident, modalities), normal=_keep(case.normal, modalities))
