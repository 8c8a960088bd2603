"""How every ``faultwise rcl bench`` command runs: the options they share, declared once, and the run of
the chosen methods over the cases with one progress bar and one output (table or JSON)."""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, get_type_hints

import typer
from rich.console import Console

from faultwise.progress import progress_bar
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
    ReasonerOpt,
    llm_prices,
    rcl_config,
)
from faultwise.rcl.compare import Method, MethodSettings, make_methods, registered_methods
from faultwise.rcl.llm.usage import LLMUsage, Prices

BenchCacheOpt = Annotated[
    bool, typer.Option("--cache/--no-cache", help="Reuse cached LLM answers (a re-run costs nothing).")
]
BenchMaxTracesOpt = Annotated[
    int | None, typer.Option("--max-traces", help="Most anomalous traces to diagnose per case.")
]
BenchJsonOpt = Annotated[bool, typer.Option("--json", help="Print only the scores as one JSON document.")]
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


def run_methods(
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
