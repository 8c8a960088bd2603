"""The one bench runner: every method on every case of any dataset, each case loaded once.

A dataset yields :class:`~faultwise.rcl.bench.cases.BenchCase` records (one in memory at a time); each method
answers ``find_root_causes(incident, normal, start_us)`` and is scored at the truth's level with the same
metrics (:mod:`faultwise.rcl.bench.metrics`). A case's time is the method's own; loading is counted once,
apart, because all methods share it. A method with an LLM reasoner gets its calls and tokens per case.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from faultwise.rcl.bench.cases import BenchCase
from faultwise.rcl.bench.metrics import CaseResult, rank_of
from faultwise.rcl.compare.base import Method
from faultwise.rcl.llm.usage import LLMUsage, usage_since
from faultwise.rcl.records import names_at_level


def method_usage(method: Method) -> LLMUsage | None:
    """The LLM counters of a method that reasons with an LLM (``None`` otherwise)."""
    usage = getattr(method, "usage", None)
    return usage if isinstance(usage, LLMUsage) else None


def score_case(case: BenchCase, method: Method) -> CaseResult:
    """Rank one loaded case with one method and score it at the truth's level."""
    usage = method_usage(method)
    before = usage.model_copy() if usage is not None else None
    t0 = time.perf_counter()
    ranking = method.find_root_causes(case.incident, case.normal, case.start_us)
    seconds = time.perf_counter() - t0
    ranked = names_at_level(ranking.candidates, case.level)
    return CaseResult(
        case_id=case.case_id,
        fault_type=case.fault_type,
        level=case.level,
        truth=case.truth,
        ranked=ranked[:10],
        rank=rank_of(case.truth, ranked),
        seconds=round(seconds, 3),
        llm=usage_since(before, usage) if usage is not None else None,
    )


@dataclass
class BenchRun:
    """Per method (in the order run), every scored case; and each case's loading time."""

    results: dict[str, list[CaseResult]] = field(default_factory=dict)
    load_seconds: list[float] = field(default_factory=list)


def run_bench(
    cases: Iterable[BenchCase],
    methods: Sequence[Method],
    on_case: Callable[[BenchCase, dict[str, CaseResult]], None] | None = None,
) -> BenchRun:
    """Every method on every case, cases one after another (each case already runs its agents in parallel)."""
    run = BenchRun(results={m.name: [] for m in methods})
    for case in cases:
        run.load_seconds.append(case.load_seconds)
        scored = {m.name: score_case(case, m) for m in methods}
        for name, r in scored.items():
            run.results[name].append(r)
        if on_case:
            on_case(case, scored)
    return run
