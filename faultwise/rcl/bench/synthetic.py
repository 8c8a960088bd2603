"""Run the method over generated incidents of every injectable fault type, scored at the truth's level.

The truth names a pod, a service or a node; the diagnosis is scored at that level (see
:func:`faultwise.rcl.bench.metrics.ranked_at_level`). The method sees the incident window, the fault-free
window as its baseline and the injection time; the truth is used only to score.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence

from faultwise.rcl.bench.loop import run_cases
from faultwise.rcl.bench.methods import BenchCase
from faultwise.rcl.bench.metrics import CaseResult, rank_of, ranked_at_level
from faultwise.rcl.method.analyzer import RCLAgent, RCLConfig
from faultwise.rcl.reasoners.base import Reasoner
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


def run_synthetic_case(cfg: SynthConfig, agent: RCLAgent) -> CaseResult:
    """Generate, diagnose and score one incident (generation time is not counted)."""
    inc = generate_incident(cfg)
    truth = inc.truth
    t0 = time.perf_counter()
    diagnosis = agent.find_root_causes(inc.incident, inc.normal, start_us=int(truth.inject_ts_s * 1e6))
    seconds = time.perf_counter() - t0
    ranked = ranked_at_level(diagnosis, truth.level)
    return CaseResult(
        case_id=f"{cfg.fault_type}-seed{cfg.seed}",
        fault_type=truth.fault_type,
        level=truth.level,
        truth=truth.component,
        ranked=ranked[:10],
        rank=rank_of(truth.component, ranked),
        seconds=round(seconds, 3),
    )


def run_synthetic(
    plan: Sequence[SynthConfig],
    config: RCLConfig | None = None,
    on_case: Callable[[CaseResult], None] | None = None,
    reasoner: Reasoner | None = None,
) -> list[CaseResult]:
    agent = RCLAgent(config or RCLConfig(), reasoner=reasoner)
    return run_cases(plan, run_synthetic_case, agent, on_case)


def synthetic_bench_cases(plan: Sequence[SynthConfig]) -> Iterator[BenchCase]:
    """Each planned incident generated once (generation counts as loading), scored at the truth's level."""
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
            baseline=inc.normal,
            start_us=int(truth.inject_ts_s * 1e6),
            load_seconds=round(time.perf_counter() - t0, 3),
        )
