"""Options and checks that several ``faultwise rcl`` commands share: range checks as one-line errors,
config models built from flags, the LLM reasoner options and the LLM block of the JSON output."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, TypeVar

import typer
from pydantic import BaseModel, ValidationError

from faultwise.errors import InputError
from faultwise.rcl.llm.usage import Prices
from faultwise.rcl.method.analyzer import RCLConfig


def at_least_one(option: str, value: int) -> None:
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


def check_output_file(path: Path | None) -> None:
    if path is not None and path.is_dir():
        raise InputError(path, "is a directory, expected an output file name")


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


TracesOpt = Annotated[list[Path] | None, typer.Option("--traces", help="Trace file (repeatable, required).")]
LogsOpt = Annotated[list[Path] | None, typer.Option("--logs", help="Log file (repeatable).")]
MetricsOpt = Annotated[
    list[Path] | None, typer.Option("--metrics", help="Metric file or Nezha metric folder (repeatable).")
]
