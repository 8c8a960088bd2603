"""What a bench run prints: one method's cases and scores, or several methods side by side, as a JSON
document or rich tables."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, Field
from rich.table import Table
from rich.text import Text

from faultwise.rcl.bench.metrics import BenchSummary, CaseResult, summarize


class MethodsReport(BaseModel):
    """The document ``faultwise rcl bench ... --methods ... --json`` prints."""

    cases: int
    level: str
    load_seconds_per_case: float
    methods: dict[str, BenchSummary] = Field(description="per method, in the order run")
    results: dict[str, list[CaseResult]] = Field(description="per method, every scored case")


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


def cases_table(results: Sequence[CaseResult]) -> Table:
    table = Table(title="Cases", title_justify="left")
    table.add_column("case")
    table.add_column("fault type", style="magenta")
    table.add_column("truth", style="cyan", overflow="fold")
    table.add_column("rank", justify="right")
    table.add_column("top 3 answers", overflow="fold")
    table.add_column("s", justify="right")
    for r in results:
        rank = (
            Text(str(r.rank), style="green" if r.rank == 1 else "yellow") if r.rank else Text("miss", "red")
        )
        table.add_row(r.case_id, r.fault_type, r.truth, rank, ", ".join(r.ranked[:3]), f"{r.seconds:.1f}")
    return table


def summary_table(summary: BenchSummary, level: str) -> Table:
    table = Table(title=f"Scores ({level} level)", title_justify="left")
    for col in ("fault type", "cases", "AC@1", "AC@3", "AC@5", "Avg@5", "MRR"):
        table.add_column(col, justify="left" if col == "fault type" else "right")
    for ft, s in summary.by_fault_type.items():
        table.add_row(ft, str(s.cases), f"{s.ac1:.3f}", f"{s.ac3:.3f}", "", "", "")
    table.add_row(
        Text("all", style="bold"),
        str(summary.cases),
        f"{summary.ac1:.3f}",
        f"{summary.ac3:.3f}",
        f"{summary.ac5:.3f}",
        f"{summary.avg5:.3f}",
        f"{summary.mrr:.3f}",
        style="bold",
    )
    table.caption = f"{summary.seconds_per_case:.2f} s per case"
    return table
