"""Terminal output of a diagnosis: the ranked candidates and what they rest on, as rich tables."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from faultwise.rcl.reports.units import human_duration, human_window, humanize_text

if TYPE_CHECKING:
    from faultwise.rcl.method.analyzer import Diagnosis
    from faultwise.rcl.reports.coverage import Coverage

MODALITIES = ("traces", "logs", "metrics")


def missing_modalities(diagnosis: Diagnosis) -> list[str]:
    return [m for m in MODALITIES if m not in diagnosis.modalities]


def candidates_table(diagnosis: Diagnosis, top: int = 10) -> Table:
    table = Table(title="Ranked root-cause candidates", title_justify="left", expand=False)
    table.add_column("#", justify="right", style="bold")
    table.add_column("component", style="cyan", overflow="fold")
    table.add_column("level")
    table.add_column("fault type", style="magenta")
    table.add_column("score", justify="right")
    table.add_column("rationale", overflow="fold")
    for i, c in enumerate(diagnosis.candidates[:top], start=1):
        table.add_row(
            str(i), c.component, c.level, c.fault_type, f"{c.score:.3f}", humanize_text(c.rationale)
        )
    return table


def diagnosis_summary(diagnosis: Diagnosis, coverage: Coverage | None = None) -> Group:
    """What the ranking rests on: window, baseline, modalities used and missing, traces and spans
    analysed, warnings."""
    missing = missing_modalities(diagnosis)
    lo, hi = diagnosis.window_us
    analysed = (
        f"{diagnosis.traces_analyzed} of {diagnosis.traces_total} traces "
        f"({diagnosis.spans_analyzed} spans"
        + (f" of {coverage.spans_total}" if coverage is not None else "")
        + f") in {human_duration(diagnosis.seconds * 1e6)}, reasoner {diagnosis.reasoner}"
    )
    if coverage is not None and coverage.error_spans_total:
        analysed += (
            f"; {coverage.error_spans_analysed} of {coverage.error_spans_total} failed spans inside them"
        )
    baseline = coverage.baseline if coverage is not None else (diagnosis.baseline_source or "none")
    lines = [
        Text.assemble(("incident window: ", "bold"), human_window(lo, hi)),
        Text.assemble(("normal baseline: ", "bold"), baseline),
        Text.assemble(
            ("modalities used: ", "bold"),
            ", ".join(diagnosis.modalities) or "none",
            ("   missing: ", "bold"),
            ", ".join(missing) if missing else "none",
        ),
        Text.assemble(("analysed: ", "bold"), analysed),
    ]
    for w in diagnosis.warnings:
        lines.append(Text.assemble(("warning: ", "yellow bold"), humanize_text(w)))
    return Group(*lines)


def print_diagnosis(
    console: Console, diagnosis: Diagnosis, top: int = 10, coverage: Coverage | None = None
) -> None:
    if diagnosis.candidates:
        console.print(candidates_table(diagnosis, top))
    elif not diagnosis.traces_analyzed:
        console.print("[yellow]no candidate: no trace was analysed (see the warnings below)[/yellow]")
    else:
        console.print(
            "[yellow]no candidate: nothing in the analysed traces deviates from the baseline[/yellow]"
        )
    console.print(diagnosis_summary(diagnosis, coverage))
