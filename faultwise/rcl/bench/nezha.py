"""Run the method over every case of a Nezha-layout folder and score it at service level.

The labels of ``cases.csv`` (root cause, fault type) are read only to score; the method sees the case's
telemetry, its fault-free baseline and the injection time (the incident's alarm time).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from faultwise.errors import InputError
from faultwise.rcl.bench.loop import run_cases
from faultwise.rcl.bench.methods import BenchCase
from faultwise.rcl.bench.metrics import CaseResult, rank_of, ranked_at_level
from faultwise.rcl.method.analyzer import RCLAgent, RCLConfig
from faultwise.rcl.reasoners.base import Reasoner
from faultwise.rcl.telemetry import NezhaCase, load_nezha_case, read_nezha_cases

US_PER_S = 1_000_000


def select_cases(
    root: str | Path, case_ids: Sequence[str] | None = None, limit: int | None = None
) -> list[NezhaCase]:
    """The cases to run, in ``cases.csv`` order; unknown ids are a one-line error."""
    cases = read_nezha_cases(root)
    if case_ids:
        known = {c.case_id for c in cases}
        unknown = [c for c in case_ids if c not in known]
        if unknown:
            raise InputError(Path(root) / "cases.csv", f"no case(s) {', '.join(unknown)}")
        wanted = set(case_ids)
        cases = [c for c in cases if c.case_id in wanted]
    if limit is not None:
        if limit < 1:
            raise InputError("--limit", f"must be at least 1, got {limit}")
        cases = cases[:limit]
    return cases


def run_case(root: str | Path, case: NezhaCase, agent: RCLAgent) -> CaseResult:
    """Load and diagnose one case, then score it against its label."""
    t0 = time.perf_counter()
    incident, baseline = load_nezha_case(root, case)
    diagnosis = agent.find_root_causes(incident, baseline, start_us=case.inject_unix_utc * US_PER_S)
    seconds = time.perf_counter() - t0
    ranked = ranked_at_level(diagnosis, "service")
    return CaseResult(
        case_id=case.case_id,
        fault_type=case.fault_type,
        level="service",
        truth=case.root_cause_service,
        ranked=ranked[:10],
        rank=rank_of(case.root_cause_service, ranked),
        seconds=round(seconds, 3),
    )


def run_nezha(
    root: str | Path,
    cases: Sequence[NezhaCase],
    config: RCLConfig | None = None,
    on_case: Callable[[CaseResult], None] | None = None,
    reasoner: Reasoner | None = None,
) -> list[CaseResult]:
    """Diagnose ``cases`` one after another (each case already runs its agents in parallel)."""
    agent = RCLAgent(config or RCLConfig(), reasoner=reasoner)
    return run_cases(cases, lambda case, a: run_case(root, case, a), agent, on_case)


def nezha_bench_cases(root: str | Path, cases: Sequence[NezhaCase]) -> Iterator[BenchCase]:
    """Each case loaded once, for :func:`faultwise.rcl.bench.methods.run_methods` (scored at service level)."""
    for case in cases:
        t0 = time.perf_counter()
        incident, baseline = load_nezha_case(root, case)
        yield BenchCase(
            case_id=case.case_id,
            fault_type=case.fault_type,
            level="service",
            truth=case.root_cause_service,
            incident=incident,
            baseline=baseline,
            start_us=case.inject_unix_utc * US_PER_S,
            load_seconds=round(time.perf_counter() - t0, 3),
        )
