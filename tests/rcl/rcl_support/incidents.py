"""Generated incidents for the tests, each generated once per test run (they are read, never changed)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from faultwise.rcl.simulate import SynthConfig, SynthIncident, generate_incident
from faultwise.rcl.telemetry.schema import SPAN_COLUMNS, conform

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


def one_span_traces(
    durations_us: dict[str, np.ndarray], t0_us: int, service: str | None = None
) -> pd.DataFrame:
    """One single-span trace per duration, 1 ms apart, key by key: each key an operation of ``service`` (on its
    pod ``<service>-1``), or, without ``service``, a service of its own (pod ``<key>-0``, operation
    ``handle``)."""
    rows = [
        dict(trace_id=f"{t0_us}-{key}-{i}", span_id=f"{t0_us}-{key}-{i}", parent_id="",
             service=service or key, pod=f"{service}-1" if service else f"{key}-0",
             operation=key if service else "handle", kind="server",
             start_us=t0_us + 1_000 * (i + 1_000 * j), duration_us=int(d))
        for j, (key, ds) in enumerate(durations_us.items())
        for i, d in enumerate(ds)
    ]  # fmt: skip
    df = pd.DataFrame(rows).assign(node="", is_error=False, status_code="")
    return conform(df, SPAN_COLUMNS, "test", "spans")
