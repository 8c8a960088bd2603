"""Generated incidents of every injectable fault type, scored at the truth's level (pod, service or node).

A method sees the incident window, the fault-free window and the declared start (the injection time unless
the config's realism puts an onset error on it); the truth is used only to
score. Generating an incident counts as loading it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence

from faultwise.rcl.bench.cases import US_PER_S, BenchCase
from faultwise.rcl.simulate import INJECTABLE_FAULTS, SynthConfig, generate_incident


def synthetic_plan(
    seeds: int, fault_types: Sequence[str] | None = None, base: SynthConfig | None = None
) -> list[SynthConfig]:
    """One config per (fault type, seed), seeds 0..seeds-1, other fields from ``base``."""
    base = base or SynthConfig()
    types = list(fault_types) if fault_types else list(INJECTABLE_FAULTS)
    fields = base.model_dump()
    return [
        SynthConfig(**{**fields, "fault_type": ft, "seed": seed}) for ft in types for seed in range(seeds)
    ]


def synthetic_cases(plan: Sequence[SynthConfig]) -> Iterator[BenchCase]:
    """Each planned incident generated when its turn comes."""
    for cfg in plan:
        t0 = time.perf_counter()
        inc = generate_incident(cfg)
        truth = inc.truth
        yield BenchCase(
            case_id=f"{cfg.fault_type}-seed{cfg.seed}",
            fault_type=truth.fault_type,
            level=truth.level,
            truth=truth.component,
            incident=inc.incident,
            normal=inc.normal,
            start_us=int(truth.start_ts_s * US_PER_S),  # the declared start (off the onset with realism)
            load_seconds=round(time.perf_counter() - t0, 3),
        )
