"""``faultwise rcl ...`` commands and ``faultwise demo``.

Every problem with the user's input is an :class:`InputError` (the root ``main`` prints it as one line);
machine-readable output (``--json``) is the only thing on stdout then, progress goes to stderr, and files
are written atomically.
"""

from __future__ import annotations

import functools
import inspect
import json
import math
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar, get_type_hints

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from faultwise.errors import InputError
from faultwise.rcl.bench.cases import MODALITY_SETS, BenchCase, parse_modalities, with_modalities
from faultwise.rcl.bench.metrics import CaseResult, summarize
from faultwise.rcl.bench.report import (
    cases_table,
    fault_type_table,
    methods_report,
    methods_table,
    summary_table,
    table_width,
)
from faultwise.rcl.bench.runner import BenchRun, method_usage, run_bench
from faultwise.rcl.compare import Method, MethodSettings, make_methods, registered_methods
from faultwise.rcl.llm.usage import LLMUsage, Prices
from faultwise.rcl.method.analyzer import Diagnosis, RCLAgent, RCLConfig
from faultwise.rcl.reports.coverage import Coverage, describe_coverage
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


def diagnose_inputs(
    inputs: Inputs, config: RCLConfig, show_progress: bool, reasoner=None
) -> tuple[Diagnosis, Coverage]:
    """The diagnosis, and what it covered (whose notes on what was not analysed join its warnings)."""
    with progress_bar(show_progress, "diagnosing traces") as update:
        diagnosis = RCLAgent(config, reasoner=reasoner).find_root_causes(
            inputs.incident, inputs.baseline, start_us=inputs.start_us, progress=update
        )
    return diagnosis, describe_coverage(diagnosis, inputs.incident)


def diagnosis_document(diagnosis: Diagnosis, inputs: Inputs, coverage: Coverage | None = None) -> dict:
    """The ``--json`` document: the diagnosis (candidates and metadata), what it covered (spans and traces
    analysed, the baseline, the error spans seen) and where the data came from."""
    doc = diagnosis.model_dump(mode="json")
    doc["sources"] = dict(inputs.incident.sources)
    if inputs.baseline is not None:
        doc["baseline_sources"] = dict(inputs.baseline.sources)
    doc["missing_modalities"] = [m for m in ("traces", "logs", "metrics") if m not in diagnosis.modalities]
    if coverage is not None:
        doc["coverage"] = coverage.model_dump(mode="json")
    return doc


def _at_least_one(option: str, value: int) -> None:
    """Range checks here rather than in typer, so a bad value is one line like every other input error."""
    if value < 1:
        raise InputError(option, f"must be at least 1, got {value}")


M = TypeVar("M", bound=BaseModel)
_BOUNDS = {
    "greater_than_equal": ("at least", "ge"),
    "greater_than": ("greater than", "gt"),
    "less_than_equal": ("at most", "le"),
    "less_than": ("less than", "lt"),
}


def checked_config(model: type[M], flags: dict[str, str], **values: object) -> M:
    """A config model built from option values: a value the model refuses (out of its bounds, not one of
    its choices) is one line naming the flag, so the bounds live in the model, not here."""
    try:
        return model(**values)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err["loc"] else ""
        bound = _BOUNDS.get(err["type"])
        problem = (
            f"must be {bound[0]} {err['ctx'][bound[1]]}, got {err['input']}"
            if bound
            else f"{err['msg'].lower()}, got {err['input']!r}"
        )
        raise InputError(flags.get(field, field), problem) from None


def rcl_config(concurrency: int, max_traces: int | None) -> RCLConfig:
    """The analyzer's config from ``--concurrency`` and ``--max-traces``."""
    values: dict[str, object] = {"concurrency": concurrency}
    if max_traces is not None:
        values["max_traces"] = max_traces
    return checked_config(RCLConfig, {"concurrency": "--concurrency", "max_traces": "--max-traces"}, **values)


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


LLMBudgetOpt = Annotated[
    int | None,
    typer.Option(
        "--llm-budget",
        help="LLM requests one incident may send (retries and repairs included; 0: no limit) [default: 60].",
    ),
]
LLMTokenBudgetOpt = Annotated[
    int | None,
    typer.Option(
        "--llm-token-budget", help="Prompt + completion tokens one incident may spend (0: no limit)."
    ),
]
LLMEscalateOpt = Annotated[
    str | None,
    typer.Option(
        "--llm-escalate",
        help="doubt: ask the model only where the embedded verdict is in doubt [default]; all: every span.",
    ),
]
LLMPriceInOpt = Annotated[
    float | None, typer.Option("--llm-price-in", help="Price of a million prompt tokens (adds llm.cost).")
]
LLMPriceOutOpt = Annotated[
    float | None,
    typer.Option("--llm-price-out", help="Price of a million completion tokens (adds llm.cost)."),
]


def llm_prices(price_in: float | None, price_out: float | None) -> Prices | None:
    """The price table from ``--llm-price-in`` / ``--llm-price-out`` (``None`` when neither is given)."""
    if price_in is None and price_out is None:
        return None
    return checked_config(
        Prices,
        {"input_per_mtok": "--llm-price-in", "output_per_mtok": "--llm-price-out"},
        input_per_mtok=price_in or 0.0,
        output_per_mtok=price_out or 0.0,
    )


def llm_document(reasoner, prices: Prices | None = None, graphs: list | None = None) -> dict | None:
    """The ``"llm"`` block of the JSON output (None with the embedded reasoner): counters, budget, cost,
    and how many decisions the LLM and the embedded reasoner made."""
    if reasoner is None:
        return None
    from faultwise.rcl.reasoners.llm import decided_counts

    doc = reasoner.report(prices)
    if graphs is not None:
        doc["decisions"] = decided_counts(graphs)
    return doc


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

    _check_output(html)
    if html is not None:
        check_report_path(html)  # an unwritable report path fails now, before any work
    _at_least_one("--top", top)
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


# --- faultwise rcl inject --------------------------------------------------------------------------------

#: Trace formats that record no status: failures injected into them show as timing and structure only.
STATUSLESS_FORMATS = ("nezha-traces",)


def parse_params(items: list[str] | None) -> dict[str, float | int | str | None]:
    """``--param NAME=VALUE`` (repeatable): numbers become numbers, ``none`` None, anything else text."""
    out: dict[str, float | int | str | None] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise InputError("--param", f"expected NAME=VALUE, got {item!r}")
        text = value.strip()
        parsed: float | int | str | None
        if text.lower() in ("none", "null"):
            parsed = None
        else:
            try:
                parsed = int(text)
            except ValueError:
                try:
                    parsed = float(text)
                except ValueError:
                    parsed = text
        out[name.strip()] = parsed
    return out


def _sniffed(paths: list[Path] | None, fmt: str) -> str:
    """The sniffed format of the first file (``""`` when none is given)."""
    from faultwise.rcl.telemetry import sniff_format

    if not paths:
        return ""
    return sniff_format(paths[0]) if fmt == "auto" else fmt


@app.command("inject")
def inject_command(
    traces: TracesOpt = None,
    logs: LogsOpt = None,
    metrics: MetricsOpt = None,
    fault: Annotated[
        str | None,
        typer.Option(
            "--fault",
            help="network_delay | network_loss | cpu_contention | cpu_hog | exception | error_return | "
            "pod_failure (docs/rcl-replay.md says what each imitates).",
        ),
    ] = None,
    target: Annotated[
        str | None, typer.Option("--target", help="A pod, service or node of the traces.")
    ] = None,
    strength: Annotated[str, typer.Option("--strength", help="easy | hard (the parameter preset).")] = "easy",
    start: Annotated[
        str | None,
        typer.Option(
            "--start",
            help="Onset: ISO 8601 (UTC if no zone) or unix seconds; default a third into the traces.",
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of every random draw.")] = 0,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", help="NAME=VALUE replacing a parameter of the preset (repeatable)."),
    ] = None,
    statuses: Annotated[
        str,
        typer.Option(
            "--statuses",
            help="How failures are recorded: auto | http | grpc | plain | none (auto: none for formats "
            "without a status, such as Nezha traces; else as the spans' own codes).",
        ),
    ] = "auto",
    fmt: Annotated[
        str, typer.Option("--format", help=f"auto (sniff each file) or one of: {', '.join(FAMILIES)}.")
    ] = "auto",
    out: Annotated[
        Path | None, typer.Option("--out", help="Folder to write the incident and label.json to.")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the label as JSON, nothing else.")] = False,
) -> None:
    """Inject a physically modelled fault into fault-free telemetry: writes the incident (fault-free before the
    onset) in the input's format where a writer exists, else canonical CSV, and label.json."""
    from faultwise.rcl.inject import InjectConfig, inject, write_injection

    if not traces:
        raise InputError("--traces", "at least one fault-free trace file is required")
    if out is None:
        raise InputError("--out", "an output folder is required")
    if fault is None:
        raise InputError("--fault", "required (network_delay, network_loss, cpu_contention, cpu_hog, ...)")
    if target is None:
        raise InputError("--target", "required: a pod, service or node of the traces")
    if out.exists() and not out.is_dir():
        raise InputError(out, "exists and is not a folder")
    check_format(fmt)
    start_us = parse_start_us(start) if start is not None else None
    trace_format = _sniffed(traces, fmt)
    if statuses == "auto" and trace_format in STATUSLESS_FORMATS:
        statuses = "none"
    config = checked_config(
        InjectConfig,
        {
            "fault": "--fault",
            "target": "--target",
            "strength": "--strength",
            "start_us": "--start",
            "seed": "--seed",
            "statuses": "--statuses",
        },
        fault=fault,
        target=target,
        strength=strength,
        start_us=start_us,
        seed=seed,
        params=parse_params(param),
        statuses=statuses,
    )
    normal = load_telemetry(traces, _none_if_empty(logs), _none_if_empty(metrics), fmt)
    try:
        injection = inject(normal, config)
    except InputError as exc:  # the library names its parameters; the user knows them as flags
        raise InputError(_flag_of(exc.source), exc.problem) from None
    written = write_injection(
        injection,
        out,
        trace_format,
        _sniffed(logs, "auto"),
        _sniffed(metrics, "auto"),
    )
    if json_out:
        typer.echo(json.dumps(injection.label.model_dump(mode="json"), indent=2, sort_keys=True))
        return
    label = injection.label
    console = Console()
    console.print(
        f"[bold]{label.fault}[/bold] ({label.strength}) on {label.level} [cyan]{label.target}[/cyan] "
        f"from {label.onset_utc}"
    )
    effect = ", ".join(f"{k} {v}" for k, v in label.effect.items() if v)
    console.print(f"effect: {effect}")
    for what, path in written.items():
        console.print(f"{what}: {path}")


def _flag_of(source: str) -> str:
    """The flag a library parameter name stands for (other sources, e.g. file names, as they are)."""
    if source in ("target", "start"):
        return f"--{source}"
    if source == "operation" or source.startswith("param "):
        return f"--param {source.removeprefix('param ')}"
    return source


# --- faultwise rcl bench ---------------------------------------------------------------------------------

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
        help="Compare methods side by side: all, comparisons, ablations or comma-separated names "
        f"({', '.join(registered_methods())}). The LLM options apply to the rcl methods.",
    ),
]


ModalitiesOpt = Annotated[
    str,
    typer.Option(
        "--modalities",
        help=f"Give every method only these modalities of each case: {' | '.join(MODALITY_SETS)} "
        "(traces: what a user with only a trace collector has).",
    ),
]


@dataclass(frozen=True)
class BenchSettings:
    """What every bench command takes besides its dataset: how the rcl methods run, and which modalities
    of each case every method sees."""

    methods: MethodSettings = MethodSettings()
    modalities: tuple[str, ...] = MODALITY_SETS["all"]
    llm_budget: dict[str, int | None] | None = None  # the LLM budget per incident (None: embedded)
    prices: Prices | None = None


#: The options every bench command takes, declared once (name, annotated type, default).
_BENCH_OPTIONS: list[tuple[str, Any, Any]] = [
    ("modalities", ModalitiesOpt, "all"),
    ("reasoner", ReasonerOpt, "embedded"),
    ("concurrency", ConcurrencyOpt, 16),
    ("llm_base_url", LLMBaseUrlOpt, None),
    ("llm_model", LLMModelOpt, None),
    ("llm_config", LLMConfigOpt, None),
    ("cache", BenchCacheOpt, True),
    ("max_traces", BenchMaxTracesOpt, None),
    ("llm_budget", LLMBudgetOpt, None),
    ("llm_token_budget", LLMTokenBudgetOpt, None),
    ("llm_escalate", LLMEscalateOpt, None),
    ("llm_price_in", LLMPriceInOpt, None),
    ("llm_price_out", LLMPriceOutOpt, None),
]


def _bench_settings(
    modalities: str,
    reasoner: str,
    concurrency: int,
    llm_base_url: str | None,
    llm_model: str | None,
    llm_config: Path | None,
    cache: bool,
    max_traces: int | None,
    llm_budget: int | None,
    llm_token_budget: int | None,
    llm_escalate: str | None,
    llm_price_in: float | None,
    llm_price_out: float | None,
) -> BenchSettings:
    """The modality set, and the analyzer's config and reasoner for every rcl method of a bench (checked before
    any case loads); each rcl method gets a reasoner of its own, so that its LLM calls are counted apart."""
    from faultwise.rcl.reasoners.factory import build_reasoner, reasoner_config

    config = rcl_config(concurrency, max_traces)
    llm = reasoner_config(llm_budget, llm_token_budget, llm_escalate)
    prices = llm_prices(llm_price_in, llm_price_out)
    first = build_reasoner(
        reasoner, llm_base_url, llm_model, None, llm_config, cache, config=llm
    )  # a bad setting fails here, once
    return BenchSettings(
        methods=MethodSettings(
            config=config,
            reasoner=lambda: build_reasoner(
                reasoner, llm_base_url, llm_model, None, llm_config, cache, config=llm
            ),
        ),
        modalities=parse_modalities(modalities, "--modalities"),
        llm_budget=None
        if first is None
        else {"calls_per_incident": llm.budget_calls, "tokens_per_incident": llm.budget_tokens},
        prices=prices,
    )


def with_reasoner_options(command: Callable[..., None]) -> Callable[..., None]:
    """Give a bench command the shared options (declared once, above) and hand it their result as
    ``settings``: a checked :class:`BenchSettings`."""
    names = [name for name, _, _ in _BENCH_OPTIONS]

    @functools.wraps(command)
    def run(**values: Any) -> None:
        settings = _bench_settings(**{n: values.pop(n) for n in names})
        command(**values, settings=settings)

    own = [p for p in inspect.signature(command, eval_str=True).parameters.values() if p.name != "settings"]
    extra = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
        for name, annotation, default in _BENCH_OPTIONS
    ]
    run.__signature__ = inspect.Signature([*own, *extra])  # type: ignore[attr-defined]
    hints = {k: v for k, v in get_type_hints(command, include_extras=True).items() if k != "settings"}
    run.__annotations__ = {**hints, **{name: annotation for name, annotation, _ in _BENCH_OPTIONS}}
    return run


def _llm_block(usage: LLMUsage, settings: BenchSettings, results: list[CaseResult] | None = None) -> dict:
    """What the LLM cost a bench method: totals, budget per incident, money, and per case when given."""
    doc = {**usage.summary(settings.prices), "budget": settings.llm_budget}
    if results is not None:
        doc["cases"] = [{"case_id": r.case_id, **_case_cost(r.llm, settings.prices)} for r in results]
    return doc


def _case_cost(llm: dict | None, prices: Prices | None) -> dict:
    if not llm or prices is None:
        return dict(llm or {})
    return {**llm, "cost": prices.cost(llm.get("prompt_tokens", 0), llm.get("completion_tokens", 0))}


def _print_one_method(
    results: list[CaseResult], level: str, json_out: bool, usage: LLMUsage | None, settings: BenchSettings
) -> None:
    summary = summarize(results)
    modalities = settings.modalities
    if json_out:
        doc = {**summary.model_dump(mode="json"), "modalities": list(modalities)}
        if usage is not None:  # what the LLM cost, in total and per case
            doc["llm"] = _llm_block(usage, settings, results)
        typer.echo(json.dumps(doc, indent=2))
        return
    console = Console()
    console.print(cases_table(results))
    console.print(summary_table(summary, level))
    console.print(f"modalities given to the method: {', '.join(modalities)}")


def _print_methods(
    run: BenchRun, methods: list[Method], level: str, json_out: bool, settings: BenchSettings
) -> None:
    report = methods_report(run.results, run.load_seconds, level)
    modalities = settings.modalities
    if json_out:
        doc = {**report.model_dump(mode="json"), "modalities": list(modalities)}
        usage = {m.name: _llm_block(u, settings) for m in methods if (u := method_usage(m)) is not None}
        if usage:  # what the LLM cost each method, in total (per case: results.*.llm)
            doc["llm"] = usage
        typer.echo(json.dumps(doc, indent=2))
        return
    console = Console()
    if not console.is_terminal:
        console = Console(width=table_width(report))
    console.print(methods_table(report))
    console.print(fault_type_table(report))
    console.print(f"modalities given to every method: {', '.join(modalities)}")


def _run_bench(
    cases: Iterable[BenchCase],
    n_cases: int,
    spec: str | None,
    settings: BenchSettings,
    label: str,
    level: str,
    json_out: bool,
    side_by_side: bool | None = None,
) -> None:
    """Every method ``spec`` names (default: rcl alone) on each case, with one progress bar; one method
    prints its cases and scores, several a side-by-side table (or the matching JSON document)."""
    methods = make_methods(spec or "rcl", settings.methods)
    done = 0
    with progress_bar(not json_out, label) as update:
        update(0, n_cases)

        def on_case(_case: BenchCase, _scored: dict[str, CaseResult]) -> None:
            nonlocal done
            done += 1
            update(done, n_cases)

        run = run_bench((with_modalities(c, settings.modalities) for c in cases), methods, on_case=on_case)
    if side_by_side is None:
        side_by_side = spec is not None
    if side_by_side:
        _print_methods(run, methods, level, json_out, settings)
    else:
        _print_one_method(run.results[methods[0].name], level, json_out, method_usage(methods[0]), settings)


@bench_app.command("nezha")
@with_reasoner_options
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
    settings: BenchSettings | None = None,
) -> None:
    """Diagnose every case of a Nezha-layout folder; score AC@1/3/5, Avg@5 and MRR at service level."""
    from faultwise.rcl.bench.nezha import nezha_cases, select_cases

    settings = settings or BenchSettings()
    ids = [c.strip() for c in cases.split(",") if c.strip()] if cases else None
    chosen = select_cases(root, ids, limit)
    _run_bench(nezha_cases(root, chosen), len(chosen), methods, settings, "nezha cases", "service", json_out)


@bench_app.command("synthetic")
@with_reasoner_options
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
    settings: BenchSettings | None = None,
) -> None:
    """Generate incidents of every injectable fault type and score the method at the truth's level."""
    from faultwise.rcl.bench.synthetic import synthetic_cases, synthetic_plan
    from faultwise.rcl.simulate import INJECTABLE_FAULTS, SynthConfig

    _at_least_one("--seeds", seeds)
    settings = settings or BenchSettings()
    types = [t.strip() for t in fault_types.split(",") if t.strip()] if fault_types else None
    unknown = [t for t in types or [] if t not in INJECTABLE_FAULTS]
    if unknown:
        raise InputError("--fault-types", f"unknown {', '.join(unknown)}; use {', '.join(INJECTABLE_FAULTS)}")
    traffic = {} if requests_per_s is None else {"requests_per_s": requests_per_s}
    base = checked_config(SynthConfig, {"requests_per_s": "--requests-per-s"}, **traffic)
    plan = synthetic_plan(seeds, types, base)
    _run_bench(
        synthetic_cases(plan), len(plan), methods, settings, "synthetic incidents", "truth's", json_out
    )


@bench_app.command("rcaeval")
@with_reasoner_options
def bench_rcaeval(
    root: Annotated[
        Path, typer.Argument(help="Folder of RCAEval RE2/RE3 cases: <system>/<service>_<fault>/<n>/.")
    ],
    json_out: Annotated[
        bool, typer.Option("--json", help="Print only the scores as one JSON document.")
    ] = False,
    limit: Annotated[int | None, typer.Option("--limit", help="Run only the first N cases.")] = None,
    methods: MethodsOpt = None,
    settings: BenchSettings | None = None,
) -> None:
    """Diagnose every RCAEval case folder (truth from the folder name); score at service level."""
    from faultwise.rcl.bench.rcaeval import rcaeval_cases, select_rcaeval_cases

    settings = settings or BenchSettings()
    chosen = select_rcaeval_cases(root, limit)
    _run_bench(rcaeval_cases(chosen), len(chosen), methods, settings, "rcaeval cases", "service", json_out)


@bench_app.command("aiops2022")
@with_reasoner_options
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
    settings: BenchSettings | None = None,
) -> None:
    """Each ground-truth fault of AIOps-2022 cloudbed folders, scored at the fault's level (node|pod|service);
    printed side by side even for one method."""
    from faultwise.rcl.bench.aiops2022 import aiops2022_cases, find_beds

    _at_least_one("--before-s", before_s)
    _at_least_one("--after-s", after_s)
    settings = settings or BenchSettings()
    beds = find_beds(root)
    cases = list(aiops2022_cases(beds, before_s, after_s))
    if not cases:
        raise InputError(root, "no ground-truth fault has spans in its window")
    _run_bench(
        cases, len(cases), methods, settings, "aiops2022 faults", "fault's", json_out, side_by_side=True
    )


@bench_app.command("replay")
@with_reasoner_options
def bench_replay(
    sources: Annotated[
        list[Path],
        typer.Argument(
            help="A Nezha-layout folder (its fault-free minutes), or fault-free trace files (or a folder of them)."
        ),
    ],
    faults: Annotated[
        str, typer.Option("--faults", help="all, or comma-separated fault models (see rcl inject --fault).")
    ] = "all",
    strengths: Annotated[str, typer.Option("--strengths", help="Comma-separated: easy, hard.")] = "easy,hard",
    targets: Annotated[int, typer.Option("--targets", help="Target services drawn per seed.")] = 10,
    seeds: Annotated[int, typer.Option("--seeds", help="Seeds 0..N-1, each drawing its own targets.")] = 1,
    min_calls: Annotated[
        int, typer.Option("--min-calls", help="Calls into a service after the onset it needs to be a target.")
    ] = 5,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print only the scores as one JSON document.")
    ] = False,
    methods: MethodsOpt = None,
    settings: BenchSettings | None = None,
) -> None:
    """Inject every fault model at every strength into fault-free telemetry (targets drawn from the seed) and
    score the methods per fault type and strength, at service level."""
    from faultwise.rcl.bench.replay import replay_cases, replay_plan, replay_sources
    from faultwise.rcl.inject import FAULTS, STRENGTHS

    for option, value in (("--targets", targets), ("--seeds", seeds), ("--min-calls", min_calls)):
        _at_least_one(option, value)
    settings = settings or BenchSettings()
    chosen_faults = _choices("--faults", faults, FAULTS)
    chosen_strengths = _choices("--strengths", strengths, STRENGTHS)
    found = replay_sources(sources)
    plan = replay_plan(found, chosen_faults, chosen_strengths, targets, seeds, min_calls)
    _run_bench(
        replay_cases(found, plan), len(plan), methods, settings, "replayed faults", "service", json_out, True
    )


def _choices(option: str, text: str, known: tuple[str, ...]) -> list[str]:
    """``all`` or comma-separated names out of ``known``; an unknown name is one line."""
    if text.strip() == "all":
        return list(known)
    names = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise InputError(
            option, f"unknown {', '.join(unknown) or 'empty list'}; use all or {', '.join(known)}"
        )
    return names


# --- faultwise demo --------------------------------------------------------------------------------------


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
