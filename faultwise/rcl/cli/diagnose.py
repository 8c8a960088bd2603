"""``faultwise rcl diagnose``: rank the likely root causes of one incident."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from faultwise.rcl.cli.inputs import diagnose_inputs, diagnosis_document, load_inputs
from faultwise.rcl.cli.options import (
    ConcurrencyOpt,
    LLMBaseUrlOpt,
    LLMBudgetOpt,
    LLMConfigOpt,
    LLMEscalateOpt,
    LLMModelOpt,
    LLMPriceInOpt,
    LLMPriceOutOpt,
    LLMTokenBudgetOpt,
    LogsOpt,
    MetricsOpt,
    ReasonerOpt,
    TracesOpt,
    at_least_one,
    check_output_file,
    llm_document,
    llm_prices,
    rcl_config,
)
from faultwise.rcl.telemetry import FAMILIES


def diagnose(
    traces: TracesOpt = None,
    logs: LogsOpt = None,
    metrics: MetricsOpt = None,
    baseline: Annotated[
        list[Path] | None,
        typer.Option("--baseline", help="Traces of a fault-free period of the same system (repeatable)."),
    ] = None,
    baseline_logs: Annotated[
        list[Path] | None, typer.Option("--baseline-logs", help="Logs of the fault-free period.")
    ] = None,
    baseline_metrics: Annotated[
        list[Path] | None, typer.Option("--baseline-metrics", help="Metrics of the fault-free period.")
    ] = None,
    start: Annotated[
        str | None,
        typer.Option(
            "--start",
            help="Incident start (alarm time): ISO 8601 (UTC if no zone) or unix seconds. "
            "Spans before it join the normal baseline.",
        ),
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", help=f"auto (sniff each file) or one of: {', '.join(FAMILIES)}.")
    ] = "auto",
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON document, nothing else.")] = False,
    html: Annotated[Path | None, typer.Option("--html", help="Write the self-contained HTML report.")] = None,
    top: Annotated[int, typer.Option("--top", help="Candidates shown in the table.")] = 10,
    max_traces: Annotated[
        int | None, typer.Option("--max-traces", help="Most anomalous traces to diagnose.")
    ] = None,
    reasoner: ReasonerOpt = "embedded",
    concurrency: ConcurrencyOpt = 16,
    llm_base_url: LLMBaseUrlOpt = None,
    llm_model: LLMModelOpt = None,
    llm_config: LLMConfigOpt = None,
    llm_budget: LLMBudgetOpt = None,
    llm_token_budget: LLMTokenBudgetOpt = None,
    llm_escalate: LLMEscalateOpt = None,
    llm_price_in: LLMPriceInOpt = None,
    llm_price_out: LLMPriceOutOpt = None,
    cache: Annotated[bool, typer.Option("--cache/--no-cache", help="Reuse cached LLM answers.")] = False,
) -> None:
    """Rank the likely root causes of an incident from its traces (and logs and metrics where given).

    Without --baseline or --start, the first third of the traces' time range is taken as normal.
    """
    from faultwise.rcl.reasoners.factory import (
        build_reasoner,
        check_answered,
        llm_warnings,
        reasoner_config,
    )
    from faultwise.rcl.reports.html import check_report_path

    check_output_file(html)
    if html is not None:
        check_report_path(html)  # an unwritable report path fails now, before any work
    at_least_one("--top", top)
    config = rcl_config(concurrency, max_traces)
    prices = llm_prices(llm_price_in, llm_price_out)
    agent_reasoner = build_reasoner(
        reasoner,
        llm_base_url,
        llm_model,
        None,
        llm_config,
        cache,
        config=reasoner_config(llm_budget, llm_token_budget, llm_escalate),
    )
    inputs = load_inputs(traces, logs, metrics, baseline, baseline_logs, baseline_metrics, start, fmt)
    diagnosis, coverage = diagnose_inputs(inputs, config, show_progress=not json_out, reasoner=agent_reasoner)
    if agent_reasoner is not None:
        check_answered(agent_reasoner)
        diagnosis.warnings.extend(llm_warnings(agent_reasoner))
    # the diagnosis is printed first: a report that cannot be written after all (disk full) is one error
    # line and exit code 2, and the JSON or the table has still reached stdout
    if json_out:
        doc = diagnosis_document(diagnosis, inputs, coverage)
        if agent_reasoner is not None:
            doc["llm"] = llm_document(agent_reasoner, prices, diagnosis.graphs)
        typer.echo(json.dumps(doc, indent=2))
    else:
        from faultwise.rcl.reports.table import print_diagnosis

        print_diagnosis(Console(), diagnosis, top, coverage)
    if html is not None:
        from faultwise.rcl.reports.html import write_html

        write_html(html, diagnosis, incident=inputs.incident, normal=inputs.baseline, coverage=coverage)
        if not json_out:
            Console().print(f"[bold]report:[/bold] {html}")
