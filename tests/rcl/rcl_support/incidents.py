"""Generated incidents for the tests, each generated once per test run (they are read, never changed)."""

from __future__ import annotations

from functools import lru_cache

from faultwise.rcl.simulate import SynthConfig, SynthIncident, generate_incident

#: The one small preset: a few thousand spans, fast to diagnose, the faults still plain to see.
SMALL = SynthConfig(normal_s=30, incident_s=30, requests_per_s=5)


@lru_cache(maxsize=32)
def small_incident(fault_type: str = "cpu", seed: int = 0) -> SynthIncident:
    """A small incident of the :data:`SMALL` preset."""
    return generate_incident(SynthConfig(**{**SMALL.model_dump(), "fault_type": fault_type, "seed": seed}))


@lru_cache(maxsize=32)
def full_incident(fault_type: str = "cpu", seed: int = 0) -> SynthIncident:
    """An incident of the generator's default size (a minute of normal traffic, a minute of incident)."""
    return generate_incident(SynthConfig(fault_type=fault_type, seed=seed))
