"""Terminal output of a diagnosis: the ranked candidates and what they rest on, as rich tables."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from faultwise.rcl.method.analyzer import Diagnosis

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
        table.add_row(str(i), c.component, c.level, c.fault_type, f"{c.score:.3f}", c.rationale)
    return table


def diagnosis_summary(diagnosis: Diagnosis) -> Group:
    """What the ranking rests on: modalities used and missing, traces analysed, baseline, warnings."""
    missing = missing_modalities(diagnosis)
    lines = [
        Text.assemble(
            ("modalities used: ", "bold"),
            ", ".join(diagnosis.modalities) or "none",
            ("   missing: ", "bold"),
            ", ".join(missing) if missing else "none",
        ),
        Text.assemble(
            ("analysed: ", "bold"),
            f"{diagnosis.traces_analyzed} of {diagnosis.traces_total} traces "
            f"({diagnosis.spans_analyzed} spans) in {diagnosis.seconds:.2f} s, reasoner {diagnosis.reasoner}",
        ),
        Text.assemble(("normal baseline: ", "bold"), diagnosis.baseline_source or "-"),
    ]
    for w in diagnosis.warnings:
        lines.append(Text.assemble(("warning: ", "yellow bold"), w))
    return Group(*lines)


def print_diagnosis(console: Console, diagnosis: Diagnosis, top: int = 10) -> None:
    if diagnosis.candidates:
        console.print(candidates_table(diagnosis, top))
    else:
        console.print("[yellow]no candidate: nothing in the incident deviates from the baseline[/yellow]")
    console.print(diagnosis_summary(diagnosis))
