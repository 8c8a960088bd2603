"""The case loop every bench shares: one agent, cases one after another, LLM usage accounted per case."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from faultwise.rcl.bench.metrics import CaseResult
from faultwise.rcl.llm.usage import usage_since
from faultwise.rcl.method.analyzer import RCLAgent

T = TypeVar("T")


def run_cases(
    items: Iterable[T],
    run_one: Callable[[T, RCLAgent], CaseResult],
    agent: RCLAgent,
    on_case: Callable[[CaseResult], None] | None = None,
) -> list[CaseResult]:
    """Run ``run_one`` on each item (each case already runs its agents in parallel)."""
    usage = getattr(agent.reasoner, "usage", None)  # the LLM reasoner's counters
    results = []
    for item in items:
        before = usage.model_copy() if usage is not None else None
        result = run_one(item, agent)
        if usage is not None:
            result.llm = usage_since(before, usage)
        results.append(result)
        if on_case:
            on_case(result)
    return results
