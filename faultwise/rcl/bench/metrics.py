"""Accuracy of a ranking against the truth: AC@k, Avg@5, MRR, overall and per fault type.

A case whose true cause is not in the ranked list is a miss (rank ``None``): it counts 0 in every AC@k and
in MRR, so a method cannot look better by answering less.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, Field


class CaseResult(BaseModel):
    """One scored case: what was true, what was answered, where the truth landed."""

    case_id: str
    fault_type: str
    level: str = Field(description="the level the case is scored at: pod | service | node")
    truth: str
    ranked: list[str] = Field(description="answers at that level, best first (top 10 kept)")
    rank: int | None = Field(description="1-based rank of the truth in the full list; None = miss")
    seconds: float = Field(description="wall time of the method's ranking (loading is counted apart)")
    llm: dict | None = Field(None, description="LLM calls, tokens, cache hits, fallbacks of this case")


class FaultTypeScore(BaseModel):
    cases: int
    ac1: float
    ac3: float


class BenchSummary(BaseModel):
    """The document ``faultwise rcl bench ... --json`` prints."""

    cases: int
    ac1: float
    ac3: float
    ac5: float
    avg5: float
    mrr: float
    by_fault_type: dict[str, FaultTypeScore]
    seconds_per_case: float


def rank_of(truth: str, ranked: Sequence[str]) -> int | None:
    """1-based position of ``truth`` in ``ranked`` (first occurrence), ``None`` if absent."""
    for i, name in enumerate(ranked, start=1):
        if name == truth:
            return i
    return None


def ac_at(ranks: Sequence[int | None], k: int) -> float:
    """Share of cases whose truth is within the top ``k`` (misses count as failures)."""
    if not ranks:
        return 0.0
    return sum(1 for r in ranks if r is not None and r <= k) / len(ranks)


def avg_at(ranks: Sequence[int | None], k: int = 5) -> float:
    """Avg@k: the mean of AC@1 .. AC@k."""
    return sum(ac_at(ranks, j) for j in range(1, k + 1)) / k


def mrr(ranks: Sequence[int | None]) -> float:
    """Mean reciprocal rank; a miss contributes 0."""
    if not ranks:
        return 0.0
    return sum(1.0 / r for r in ranks if r is not None) / len(ranks)


def summarize(results: Sequence[CaseResult]) -> BenchSummary:
    """Overall and per-fault-type scores of scored cases (figures rounded to 4 decimals)."""
    ranks = [r.rank for r in results]
    by_type: dict[str, list[int | None]] = {}
    for r in results:
        by_type.setdefault(r.fault_type, []).append(r.rank)
    seconds = sum(r.seconds for r in results) / len(results) if results else 0.0
    return BenchSummary(
        cases=len(results),
        ac1=round(ac_at(ranks, 1), 4),
        ac3=round(ac_at(ranks, 3), 4),
        ac5=round(ac_at(ranks, 5), 4),
        avg5=round(avg_at(ranks, 5), 4),
        mrr=round(mrr(ranks), 4),
        by_fault_type={
            t: FaultTypeScore(cases=len(rs), ac1=round(ac_at(rs, 1), 4), ac3=round(ac_at(rs, 3), 4))
            for t, rs in sorted(by_type.items())
        },
        seconds_per_case=round(seconds, 3),
    )
