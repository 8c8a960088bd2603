"""Run several methods side by side on the same cases: each case is loaded once, every method ranks it, and
each method is scored with the same metrics (:mod:`faultwise.rcl.bench.metrics`).

Time per case is the method's own ranking time; loading the case is counted once, apart
(``load_seconds_per_case``), because all methods share it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, Field
from rich.table import Table

from faultwise.rcl.bench.metrics import BenchSummary, CaseResult, rank_of, ranked_candidates, summarize
from faultwise.rcl.compare.base import Method
from faultwise.rcl.telemetry.schema import Telemetry


@dataclass(frozen=True)
class BenchCase:
    """One labelled incident, loaded: what every method sees, plus the truth used only to score."""

    case_id: str
    fault_type: str
    level: str
    truth: str
    incident: Telemetry
    baseline: Telemetry | None
    start_us: int | None
    load_seconds: float = 0.0


class MethodsReport(BaseModel):
    """The document ``faultwise rcl bench ... --methods ... --json`` prints."""

    cases: int
    level: str
    load_seconds_per_case: float
    methods: dict[str, BenchSummary] = Field(description="per method, in the order run")
    results: dict[str, list[CaseResult]] = Field(description="per method, every scored case")


def score_case(case: BenchCase, method: Method) -> CaseResult:
    """Rank one loaded case with one method and score it at the truth's level."""
    t0 = time.perf_counter()
    candidates = method.rank(case.incident, case.baseline, case.start_us)
    seconds = time.perf_counter() - t0
    ranked = ranked_candidates(candidates, case.level)
    return CaseResult(
        case_id=case.case_id,
        fault_type=case.fault_type,
        level=case.level,
        truth=case.truth,
        ranked=ranked[:10],
        rank=rank_of(case.truth, ranked),
        seconds=round(seconds, 3),
    )


def run_methods(
    cases: Iterable[BenchCase],
    methods: Sequence[Method],
    on_case: Callable[[BenchCase, dict[str, CaseResult]], None] | None = None,
) -> tuple[dict[str, list[CaseResult]], list[float]]:
    """Every method on every case (cases are consumed one at a time, so only one is in memory)."""
    results: dict[str, list[CaseResult]] = {m.name: [] for m in methods}
    loads: list[float] = []
    for case in cases:
        loads.append(case.load_seconds)
        scored = {m.name: score_case(case, m) for m in methods}
        for name, r in scored.items():
            results[name].append(r)
        if on_case:
            on_case(case, scored)
    return results, loads


def methods_report(results: dict[str, list[CaseResult]], loads: Sequence[float], level: str) -> MethodsReport:
    cases = len(loads)
    return MethodsReport(
        cases=cases,
        level=level,
        load_seconds_per_case=round(sum(loads) / cases, 3) if cases else 0.0,
        methods={name: summarize(rs) for name, rs in results.items()},
        results=results,
    )


def methods_table(report: MethodsReport) -> Table:
    """One row per method: AC@1/3/5, Avg@5, MRR and seconds per case."""
    table = Table(
        title=f"{report.cases} cases, scored at {report.level} level "
        f"(loading {report.load_seconds_per_case:.2f} s/case, shared)",
        title_justify="left",
    )
    table.add_column("method", style="cyan")
    for col in ("AC@1", "AC@3", "AC@5", "Avg@5", "MRR", "s/case"):
        table.add_column(col, justify="right")
    for name, s in report.methods.items():
        table.add_row(
            name,
            f"{s.ac1:.3f}",
            f"{s.ac3:.3f}",
            f"{s.ac5:.3f}",
            f"{s.avg5:.3f}",
            f"{s.mrr:.3f}",
            f"{s.seconds_per_case:.2f}",
        )
    return table


def fault_type_table(report: MethodsReport) -> Table:
    """One row per fault type (cases in brackets), one column per method: ``AC@1/AC@3``."""
    types: dict[str, int] = {}
    for s in report.methods.values():
        for t, fs in s.by_fault_type.items():
            types[t] = fs.cases
    table = Table(title="per fault type: AC@1/AC@3", title_justify="left")
    table.add_column("fault type (cases)", style="magenta")
    for name in report.methods:
        table.add_column(name, justify="right")
    for t, n in sorted(types.items()):
        row = [f"{t} ({n})"]
        for s in report.methods.values():
            fs = s.by_fault_type.get(t)
            row.append(f"{fs.ac1:.2f}/{fs.ac3:.2f}" if fs else "-")
        table.add_row(*row)
    return table


def table_width(report: MethodsReport) -> int:
    """Columns needed so the per-fault-type table does not wrap (rich assumes 80 off a terminal)."""
    return max(100, 24 + sum(max(len(n), 9) + 3 for n in report.methods))
