"""Building the LLM reasoner from command-line settings, and refusing a run the endpoint never answered."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from faultwise.errors import InputError
from faultwise.rcl.llm.cache import ResponseCache, default_cache_dir
from faultwise.rcl.llm.client import LLMClient
from faultwise.rcl.llm.config import load_llm_config
from faultwise.rcl.reasoners.embedded import EmbeddedConfig, EmbeddedReasoner
from faultwise.rcl.reasoners.llm import LLMReasoner, LLMReasonerConfig

REASONERS = ("embedded", "llm")
NO_LIMIT = 0  # --llm-budget 0 / --llm-token-budget 0: no limit


def reasoner_config(
    budget_calls: int | None = None, budget_tokens: int | None = None, escalate: str | None = None
) -> LLMReasonerConfig:
    """The LLM reasoner's config from ``--llm-budget``, ``--llm-token-budget`` (0 = no limit, ``None`` = the
    default) and ``--llm-escalate``; a bad value is one line naming the flag."""
    values: dict[str, object] = {}
    for name, flag, value in (
        ("budget_calls", "--llm-budget", budget_calls),
        ("budget_tokens", "--llm-token-budget", budget_tokens),
    ):
        if value is None:
            continue
        if value < 0:
            raise InputError(flag, f"must be at least 0 (0: no limit), got {value}")
        values[name] = None if value == NO_LIMIT else value
    if escalate is not None:
        values["escalation"] = {"mode": escalate}
    try:
        return LLMReasonerConfig.model_validate(values)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise InputError("--llm-escalate", f"{err['msg'].lower()}, got {err['input']!r}") from None


def build_reasoner(
    kind: str,
    base_url: str | None = None,
    model: str | None = None,
    api_key: str | None = None,
    config_file: Path | None = None,
    cache: bool = False,
    embedded: EmbeddedConfig | None = None,
    config: LLMReasonerConfig | None = None,
) -> LLMReasoner | None:
    """``None`` for the embedded reasoner (the analyzer's default); an :class:`LLMReasoner` otherwise."""
    if kind not in REASONERS:
        raise InputError("--reasoner", f"unknown reasoner {kind!r}; use {' or '.join(REASONERS)}")
    if kind == "embedded":
        return None
    cfg = load_llm_config({"base_url": base_url, "model": model, "api_key": api_key}, config_file)
    client = LLMClient(cfg, cache=ResponseCache(default_cache_dir()) if cache else None)
    return LLMReasoner(client, fallback=EmbeddedReasoner(embedded), config=config)


def check_answered(reasoner: LLMReasoner) -> None:
    """A run in which every request failed is not an LLM diagnosis: say why in one line."""
    u = reasoner.usage
    if u.fallbacks and u.calls == 0 and u.cache_hits == 0:
        first = next((f.first_error for f in u.fallbacks_by_stage.values() if f.first_error), "no answer")
        why = first.split(": ", 1)[-1]
        raise InputError(reasoner.client.config.base_url, f"the LLM endpoint never answered ({why})")


def llm_warnings(reasoner: LLMReasoner) -> list[str]:
    """What a diagnosis with the LLM reasoner should say about itself: ladder steps, fallbacks, budget."""
    u = reasoner.usage
    out = [
        f"the endpoint refused {s.ladder} {s.from_rung} (HTTP {s.status}: {s.message}); using {s.to_rung} "
        "for the rest of the run"
        for s in u.ladder
    ]
    if u.fallbacks:
        out.append(
            f"LLM failed for good on {u.fallbacks} agent decision(s); the embedded reasoner made those "
            "(see llm.fallbacks_by_stage in --json)"
        )
    if u.questions_over_budget:
        limits = reasoner.config
        budget = ", ".join(
            f"{v} {unit}"
            for v, unit in ((limits.budget_calls, "calls"), (limits.budget_tokens, "tokens"))
            if v is not None
        )
        out.append(
            f"the LLM budget ({budget} per incident) ran out: {u.questions_over_budget} decision(s) in doubt "
            "were left to the embedded reasoner"
        )
    return out
