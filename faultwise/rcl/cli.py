"""``faultwise rcl ...`` commands and ``faultwise demo``.

Every problem with the user's input is an :class:`InputError` (the root ``main`` prints it as one line);
machine-readable output (``--json``) is the only thing on stdout then, progress goes to stderr, and files
are written atomically.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from faultwise.errors import InputError
from faultwise.rcl.method.analyzer import Diagnosis, RCLAgent, RCLConfig
from faultwise.rcl.telemetry import FAMILIES, FORMATS, Telemetry, load_telemetry

app = typer.Typer(
    help="Root cause localization for microservice incidents.", no_args_is_help=True, add_completion=False
)
bench_app = typer.Typer(help="Score the method on labelled incidents.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")

US_PER_S = 1_000_000
DEMO_SEED = 7
DEMO_FAULT = "network_delay"


# --- shared pieces ---------------------------------------------------------------------------------------


def parse_start_us(text: str) -> int:
    """``--start``: unix seconds (``1674981784`` or ``1674981784.5``) or an ISO 8601 time; an ISO time
    without a zone is UTC. Returns microseconds since the epoch."""
    value = text.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise InputError("--start", f"not an ISO 8601 time or unix seconds: {text!r}") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return int(round(when.timestamp() * US_PER_S))
    if not math.isfinite(seconds) or seconds < 0:
        raise InputError("--start", f"not a valid unix time: {text!r}")
    return int(round(seconds * US_PER_S))


def check_format(fmt: str) -> str:
    if fmt != "auto" and fmt not in FAMILIES and fmt not in FORMATS:
        raise InputError("--format", f"unknown format {fmt!r}; use auto or one of {', '.join(FAMILIES)}")
    return fmt


def _none_if_empty(paths: list[Path] | None) -> list[Path] | None:
    return list(paths) if paths else None


@dataclass
class Inputs:
    """What ``diagnose`` loaded: the incident, an optional fault-free baseline, the alarm time."""

    incident: Telemetry
    baseline: Telemetry | None
    start_us: int | None


def load_inputs(
    traces: list[Path] | None,
    logs: list[Path] | None = None,
    metrics: list[Path] | None = None,
    baseline: list[Path] | None = None,
    baseline_logs: list[Path] | None = None,
    baseline_metrics: list[Path] | None = None,
    start: str | None = None,
    fmt: str = "auto",
) -> Inputs:
    """Load the files exactly as ``faultwise rcl diagnose`` does (the demo goes through here too)."""
    if not traces:
        raise InputError("--traces", "at least one trace file is required")
    check_format(fmt)
    if (baseline_logs or baseline_metrics) and not baseline:
        raise InputError("--baseline", "--baseline-logs/--baseline-metrics need --baseline traces")
    start_us = parse_start_us(start) if start is not None else None
    incident = load_telemetry(traces, _none_if_empty(logs), _none_if_empty(metrics), fmt)
    base = None
    if baseline:
        base = load_telemetry(baseline, _none_if_empty(baseline_logs), _none_if_empty(baseline_metrics), fmt)
    if start_us is not None:
        lo, hi = incident.time_range_us()
        if start_us >= hi:
            raise InputError(
                "--start",
                f"{start!r} is after the last span of the traces (which end at {hi / US_PER_S:.0f} unix s)",
            )
    return Inputs(incident, base, start_us)


@contextmanager
def progress_bar(enabled: bool, label: str) -> Iterator[Callable[[int, int], None]]:
    """A rich bar on stderr, or a no-op callback when ``enabled`` is false (``--json``)."""
    if not enabled:
        yield lambda done, total: None
        return
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    with progress:
        task = progress.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        yield update


def diagnose_inputs(inputs: Inputs, config: RCLConfig, show_progress: bool, reasoner=None) -> Diagnosis:
    with progress_bar(show_progress, "diagnosing traces") as update:
        return RCLAgent(config, reasoner=reasoner).find_root_causes(
            inputs.incident, inputs.baseline, start_us=inputs.start_us, progress=update
        )


def diagnosis_document(diagnosis: Diagnosis, inputs: Inputs) -> dict:
    """The ``--json`` document: the diagnosis (candidates and metadata) plus where the data came from."""
    doc = diagnosis.model_dump(mode="json")
    doc["sources"] = dict(inputs.incident.sources)
    if inputs.baseline is not None:
        doc["baseline_sources"] = dict(inputs.baseline.sources)
    doc["missing_modalities"] = [m for m in ("traces", "logs", "metrics") if m not in diagnosis.modalities]
    return doc


def _at_least_one(option: str, value: int) -> None:
    """Range checks here rather than in typer, so a bad value is one line like every other input error."""
    if value < 1:
        raise InputError(option, f"must be at least 1, got {value}")


def _check_output(path: Path | None) -> None:
    if path is not None and path.is_dir():
        raise InputError(path, "is a directory, expected an output file name")


# --- LLM reasoner options (diagnose and bench) -------------------------------------------------------------

ReasonerOpt = Annotated[
    str,
    typer.Option("--reasoner", help="embedded (statistical, offline) or llm (OpenAI-compatible endpoint)."),
]
ConcurrencyOpt = Annotated[int, typer.Option("--concurrency", help="Agent steps (LLM calls) run at once.")]
LLMBaseUrlOpt = Annotated[
    str | None,
    typer.Option("--llm-base-url", help="Endpoint, e.g. http://localhost:8000/v1 [FAULTWISE_LLM_BASE_URL]."),
]
LLMModelOpt = Annotated[str | None, typer.Option("--llm-model", help="Model name [FAULTWISE_LLM_MODEL].")]
LLMConfigOpt = Annotated[
    Path | None,
    typer.Option("--llm-config", help="TOML or JSON file of LLM settings [FAULTWISE_LLM_CONFIG]."),
]


def llm_document(reasoner) -> dict | None:
    """The ``"llm"`` block of the JSON output (None with the embedded reasoner)."""
    return None if reasoner is None else reasoner.usage.summary()


# --- faultwise rcl diagnose ------------------------------------------------------------------------------

TracesOpt = Annotated[list[Path] | None, typer.Option("--traces", help="Trace file (repeatable, required).")]
LogsOpt = Annotated[list[Path] | None, typer.Option("--logs", help="Log file (repeatable).")]
MetricsOpt = Annotated[
    list[Path] | None, typer.Option("--metrics", help="Metric file or Nezha metric folder (repeatable).")
]


@app.command()
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
    cache: Annotated[bool, typer.Option("--cache/--no-cache", help="Reuse cached LLM answers.")] = False,
) -> None:
    """Rank the likely root causes of an incident from its traces (and logs and metrics where given).

    Without --baseline or --start, the first third of the traces' time range is taken as normal.
    """
    from faultwise.rcl.reasoners.factory import build_reasoner, check_answered

    _check_output(html)
    _at_least_one("--top", top)
    _at_least_one("--concurrency", concurrency)
    if max_traces is not None:
        _at_least_one("--max-traces", max_traces)
    agent_reasoner = build_reasoner(reasoner, llm_base_url, llm_model, None, llm_config, cache)
    inputs = load_inputs(traces, logs, metrics, baseline, baseline_logs, baseline_metrics, start, fmt)
    config = RCLConfig(concurrency=concurrency)
    if max_traces is not None:
        config = RCLConfig(concurrency=concurrency, max_traces=max_traces)
    diagnosis = diagnose_inputs(inputs, config, show_progress=not json_out, reasoner=agent_reasoner)
    if agent_reasoner is not None:
        check_answered(agent_reasoner)
        if agent_reasoner.usage.fallbacks:
            diagnosis.warnings.append(
                f"LLM failed for good on {agent_reasoner.usage.fallbacks} agent decision(s); "
                "the embedded reasoner made those (see llm.fallback_agents in --json)"
            )
    if html is not None:
        from faultwise.rcl.reports.html import write_html

        write_html(html, diagnosis, sources=inputs.incident.sources)
    if json_out:
        doc = diagnosis_document(diagnosis, inputs)
        if agent_reasoner is not None:
            doc["llm"] = llm_document(agent_reasoner)
        typer.echo(json.dumps(doc, indent=2))
        return
    from faultwise.rcl.reports.table import print_diagnosis

    console = Console()
    print_diagnosis(console, diagnosis, top)
    if html is not None:
        console.print(f"[bold]report:[/bold] {html}")


# --- faultwise rcl bench ---------------------------------------------------------------------------------


def _print_bench(results, summary, level: str, json_out: bool, reasoner=None) -> None:
    if json_out:
        doc = summary.model_dump(mode="json")
        if reasoner is not None:  # what the LLM cost, in total and per case
            cases = [{"case_id": r.case_id, **(r.llm or {})} for r in results]
            doc["llm"] = {**llm_document(reasoner), "cases": cases}
        typer.echo(json.dumps(doc, indent=2))
        return
    from faultwise.rcl.reports.table import cases_table, summary_table

    console = Console()
    console.print(cases_table(results))
    console.print(summary_table(summary, level))


BenchCacheOpt = Annotated[
    bool, typer.Option("--cache/--no-cache", help="Reuse cached LLM answers (a re-run costs nothing).")
]
BenchMaxTracesOpt = Annotated[
    int | None, typer.Option("--max-traces", help="Most anomalous traces to diagnose per case.")
]
MethodsOpt = Annotated[
    str | None,
    typer.Option(
        "--methods",
        help="Compare methods side by side: all, baselines, ablations or comma-separated names "
        "(rcl, random, self-time, log-errors, metric-dev, pagerank, rcl-no-logs, rcl-no-metrics, "
        "rcl-no-graph, rcl-levels).",
    ),
]


def _bench_methods(cases, n_cases: int, spec: str, level: str, json_out: bool, label: str) -> None:
    """Every named method on each case (loaded once); one table, or one JSON document per method."""
    from faultwise.rcl.bench.methods import (
        fault_type_table,
        methods_report,
        methods_table,
        run_methods,
        table_width,
    )
    from faultwise.rcl.compare import make_methods

    methods = make_methods(spec)
    done = 0
    with progress_bar(not json_out, label) as update:
        update(0, n_cases)

        def on_case(_case, _scored) -> None:
            nonlocal done
            done += 1
            update(done, n_cases)

        results, loads = run_methods(cases, methods, on_case=on_case)
    report = methods_report(results, loads, level)
    if json_out:
        typer.echo(json.dumps(report.model_dump(mode="json"), indent=2))
        return
    console = Console()
    if not console.is_terminal:
        console = Console(width=table_width(report))
    console.print(methods_table(report))
    console.print(fault_type_table(report))


def _bench_setup(reasoner, concurrency, base_url, model, config_file, cache, max_traces):
    """RCLConfig and reasoner of ``bench nezha|synthetic`` (the LLM options apply to the rcl method)."""
    from faultwise.rcl.reasoners.factory import build_reasoner

    _at_least_one("--concurrency", concurrency)
    config = RCLConfig(concurrency=concurrency)
    if max_traces is not None:
        _at_least_one("--max-traces", max_traces)
        config = RCLConfig(concurrency=concurrency, max_traces=max_traces)
    return config, build_reasoner(reasoner, base_url, model, None, config_file, cache)


@bench_app.command("nezha")
def bench_nezha(
    root: Annotated[Path, typer.Argument(help="Folder with cases.csv beside rca_data/ and construct_data/.")],
    json_out: Annotated[
        bool, typer.Option("--json", help="Print only the scores as one JSON document.")
    ] = False,
    limit: Annotated[int | None, typer.Option("--limit", help="Run only the first N cases.")] = None,
    cases: Annotated[
        str | None, typer.Option("--cases", help="Comma-separated case ids to run (cases.csv order).")
    ] = None,
    methods: MethodsOpt = None,
    reasoner: ReasonerOpt = "embedded",
    concurrency: ConcurrencyOpt = 16,
    llm_base_url: LLMBaseUrlOpt = None,
    llm_model: LLMModelOpt = None,
    llm_config: LLMConfigOpt = None,
    cache: BenchCacheOpt = True,
    max_traces: BenchMaxTracesOpt = None,
) -> None:
    """Diagnose every case of a Nezha-layout folder; score AC@1/3/5, Avg@5 and MRR at service level."""
    from faultwise.rcl.bench.metrics import summarize
    from faultwise.rcl.bench.nezha import nezha_bench_cases, run_nezha, select_cases

    config, agent_reasoner = _bench_setup(
        reasoner, concurrency, llm_base_url, llm_model, llm_config, cache, max_traces
    )
    ids = [c.strip() for c in cases.split(",") if c.strip()] if cases else None
    chosen = select_cases(root, ids, limit)
    if methods is not None:
        _bench_methods(
            nezha_bench_cases(root, chosen), len(chosen), methods, "service", json_out, "nezha cases"
        )
        return
    finished: list = []
    with progress_bar(not json_out, "nezha cases") as update:
        update(0, len(chosen))

        def on_case(result) -> None:
            finished.append(result)
            update(len(finished), len(chosen))

        results = run_nezha(root, chosen, config, on_case=on_case, reasoner=agent_reasoner)
    _print_bench(results, summarize(results), "service", json_out, agent_reasoner)


@bench_app.command("synthetic")
def bench_synthetic(
    seeds: Annotated[int, typer.Option("--seeds", help="Incidents per fault type (seeds 0..N-1).")] = 3,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print only the scores as one JSON document.")
    ] = False,
    fault_types: Annotated[
        str | None, typer.Option("--fault-types", help="Comma-separated subset of the injectable faults.")
    ] = None,
    requests_per_s: Annotated[
        float | None, typer.Option("--requests-per-s", help="Traffic of the generated system (default 20).")
    ] = None,
    methods: MethodsOpt = None,
    reasoner: ReasonerOpt = "embedded",
    concurrency: ConcurrencyOpt = 16,
    llm_base_url: LLMBaseUrlOpt = None,
    llm_model: LLMModelOpt = None,
    llm_config: LLMConfigOpt = None,
    cache: BenchCacheOpt = True,
    max_traces: BenchMaxTracesOpt = None,
) -> None:
    """Generate incidents of every injectable fault type and score the method at the truth's level."""
    from faultwise.rcl.bench.metrics import summarize
    from faultwise.rcl.bench.synthetic import run_synthetic, synthetic_bench_cases, synthetic_plan
    from faultwise.rcl.simulate import INJECTABLE_FAULTS, SynthConfig

    _at_least_one("--seeds", seeds)
    config, agent_reasoner = _bench_setup(
        reasoner, concurrency, llm_base_url, llm_model, llm_config, cache, max_traces
    )
    types = [t.strip() for t in fault_types.split(",") if t.strip()] if fault_types else None
    unknown = [t for t in types or [] if t not in INJECTABLE_FAULTS]
    if unknown:
        raise InputError("--fault-types", f"unknown {', '.join(unknown)}; use {', '.join(INJECTABLE_FAULTS)}")
    if requests_per_s is not None and not (0 < requests_per_s <= 2000):
        raise InputError("--requests-per-s", f"must be in (0, 2000], got {requests_per_s}")
    base = SynthConfig() if requests_per_s is None else SynthConfig(requests_per_s=requests_per_s)
    plan = synthetic_plan(seeds, types, base)
    if methods is not None:
        _bench_methods(
            synthetic_bench_cases(plan), len(plan), methods, "truth's", json_out, "synthetic incidents"
        )
        return
    finished: list = []
    with progress_bar(not json_out, "synthetic incidents") as update:
        update(0, len(plan))

        def on_case(result) -> None:
            finished.append(result)
            update(len(finished), len(plan))

        results = run_synthetic(plan, config, on_case=on_case, reasoner=agent_reasoner)
    _print_bench(results, summarize(results), "truth's", json_out, agent_reasoner)


@bench_app.command("rcaeval")
def bench_rcaeval(
    root: Annotated[
        Path, typer.Argument(help="Folder of RCAEval RE2/RE3 cases: <system>/<service>_<fault>/<n>/.")
    ],
    json_out: Annotated[
        bool, typer.Option("--json", help="Print only the scores as one JSON document.")
    ] = False,
    limit: Annotated[int | None, typer.Option("--limit", help="Run only the first N cases.")] = None,
    methods: MethodsOpt = None,
) -> None:
    """Diagnose every RCAEval case folder (truth from the folder name); score at service level."""
    from faultwise.rcl.bench.metrics import summarize
    from faultwise.rcl.bench.rcaeval import rcaeval_bench_cases, run_rcaeval, select_rcaeval_cases

    chosen = select_rcaeval_cases(root, limit)
    if methods is not None:
        _bench_methods(
            rcaeval_bench_cases(chosen), len(chosen), methods, "service", json_out, "rcaeval cases"
        )
        return
    finished: list = []
    with progress_bar(not json_out, "rcaeval cases") as update:
        update(0, len(chosen))

        def on_case(result) -> None:
            finished.append(result)
            update(len(finished), len(chosen))

        results = run_rcaeval(chosen, on_case=on_case)
    _print_bench(results, summarize(results), "service", json_out)


@bench_app.command("aiops2022")
def bench_aiops2022(
    root: Annotated[
        Path, typer.Argument(help="A cloudbed-day folder, or a folder of them (groundtruth.csv each).")
    ],
    json_out: Annotated[
        bool, typer.Option("--json", help="Print only the scores as one JSON document.")
    ] = False,
    methods: MethodsOpt = None,
    before_s: Annotated[int, typer.Option("--before-s", help="Normal period before each fault.")] = 600,
    after_s: Annotated[int, typer.Option("--after-s", help="Window after each fault.")] = 600,
) -> None:
    """Each ground-truth fault of AIOps-2022 cloudbed folders, scored at the fault's level (node|pod|service)."""
    from faultwise.rcl.bench.aiops2022 import aiops2022_bench_cases, find_beds

    _at_least_one("--before-s", before_s)
    _at_least_one("--after-s", after_s)
    beds = find_beds(root)
    cases = list(aiops2022_bench_cases(beds, before_s, after_s))
    if not cases:
        raise InputError(root, "no ground-truth fault has spans in its window")
    _bench_methods(iter(cases), len(cases), methods or "rcl", "fault's", json_out, "aiops2022 faults")


# --- faultwise demo --------------------------------------------------------------------------------------


def demo(
    out: Annotated[
        Path, typer.Option("--out", help="Folder for the telemetry files and report.html.")
    ] = Path("faultwise-demo"),
) -> None:
    """Generate a realistic synthetic incident, diagnose it, print the ranked causes, write the HTML report."""
    from faultwise.rcl.reports.html import ReportTruth, write_html
    from faultwise.rcl.reports.table import print_diagnosis
    from faultwise.rcl.simulate import SynthConfig, generate_incident
    from faultwise.rcl.telemetry import writers

    if out.exists() and not out.is_dir():
        raise InputError(out, "exists and is not a folder")
    console = Console()
    console.print(f"[bold]Generating[/bold] a synthetic incident ({DEMO_FAULT}, seed {DEMO_SEED}) ...")
    inc = generate_incident(SynthConfig(fault_type=DEMO_FAULT, seed=DEMO_SEED))
    files = {
        "traces": out / "traces.otlp.jsonl",
        "logs": out / "logs.otlp.jsonl",
        "metrics": out / "metrics.otlp.jsonl",
        "baseline": out / "baseline-traces.otlp.jsonl",
        "baseline_logs": out / "baseline-logs.otlp.jsonl",
        "baseline_metrics": out / "baseline-metrics.otlp.jsonl",
    }
    writers.write_otlp_traces(inc.incident.spans, files["traces"])
    writers.write_otlp_logs(inc.incident.logs, files["logs"])
    writers.write_otlp_metrics(inc.incident.metrics, files["metrics"])
    writers.write_otlp_traces(inc.normal.spans, files["baseline"])
    writers.write_otlp_logs(inc.normal.logs, files["baseline_logs"])
    writers.write_otlp_metrics(inc.normal.metrics, files["baseline_metrics"])
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
    diagnosis = diagnose_inputs(inputs, RCLConfig(), show_progress=True)
    print_diagnosis(console, diagnosis, top=5)

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
        sources=inputs.incident.sources,
        truth=ReportTruth(truth.component, truth.level, truth.fault_type),
    )
    console.print(f"[bold]report:[/bold] {report}")
    console.print(
        "re-run the diagnosis yourself: faultwise rcl diagnose "
        f"--traces {files['traces']} --logs {files['logs']} --metrics {files['metrics']} "
        f"--baseline {files['baseline']} --baseline-logs {files['baseline_logs']} "
        f"--baseline-metrics {files['baseline_metrics']} --html {out / 'report.html'}"
    )
