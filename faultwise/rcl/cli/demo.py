"""``faultwise demo``: a synthetic incident generated, diagnosed and reported, with no input needed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from faultwise.errors import InputError
from faultwise.rcl.cli.inputs import diagnose_inputs, load_inputs
from faultwise.rcl.method.analyzer import RCLConfig

#: The demo's incident: a fault the method must localise from timing alone, fixed so every run is the same.
DEMO_SEED = 7
DEMO_FAULT = "network_delay"


def demo(
    out: Annotated[
        Path, typer.Option("--out", help="Folder for the telemetry files and report.html.")
    ] = Path("faultwise-demo"),
) -> None:
    """Generate a realistic synthetic incident, diagnose it, print the ranked causes, write the HTML report."""
    from faultwise.rcl.reports.html import ReportTruth, write_html
    from faultwise.rcl.reports.table import print_diagnosis
    from faultwise.rcl.simulate import SynthConfig, generate_incident, write_incident_otlp

    if out.exists() and not out.is_dir():
        raise InputError(out, "exists and is not a folder")
    console = Console()
    console.print(f"[bold]Generating[/bold] a synthetic incident ({DEMO_FAULT}, seed {DEMO_SEED}) ...")
    inc = generate_incident(SynthConfig(fault_type=DEMO_FAULT, seed=DEMO_SEED))
    files = write_incident_otlp(inc, out)
    truth = inc.truth
    from faultwise.io import atomic_write_text

    atomic_write_text(out / "truth.json", truth.model_dump_json(indent=2) + "\n")
    console.print(
        f"wrote {len(inc.incident.spans)} incident spans, {len(inc.incident.logs)} log lines and "
        f"{len(inc.incident.metrics)} metric samples (plus a fault-free baseline) as OTLP JSON to {out}/"
    )

    inputs = load_inputs(
        [files["traces"]],
        [files["logs"]],
        [files["metrics"]],
        [files["baseline"]],
        [files["baseline_logs"]],
        [files["baseline_metrics"]],
    )
    diagnosis, coverage = diagnose_inputs(inputs, RCLConfig(), show_progress=True)
    print_diagnosis(console, diagnosis, top=5, coverage=coverage)

    level_ranked = [c.component for c in diagnosis.candidates if c.level == truth.level]
    rank = level_ranked.index(truth.component) + 1 if truth.component in level_ranked else None
    verdict = f"ranked #{rank} among {truth.level} candidates" if rank else "not among the candidates"
    console.print(
        f"[bold green]ground truth:[/bold green] {truth.fault_type} on {truth.level} {truth.component} "
        f"(service {truth.service or '-'}) — {verdict}"
    )
    report = write_html(
        out / "report.html",
        diagnosis,
        title=f"faultwise demo: synthetic {truth.fault_type} incident",
        incident=inputs.incident,
        normal=inputs.baseline,
        coverage=coverage,
        truth=ReportTruth(truth.component, truth.level, truth.fault_type),
    )
    console.print(f"[bold]report:[/bold] {report}")
    console.print(
        "re-run the diagnosis yourself: faultwise rcl diagnose "
        f"--traces {files['traces']} --logs {files['logs']} --metrics {files['metrics']} "
        f"--baseline {files['baseline']} --baseline-logs {files['baseline_logs']} "
        f"--baseline-metrics {files['baseline_metrics']} --html {out / 'report.html'}"
    )
