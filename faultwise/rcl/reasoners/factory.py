"""Building the LLM reasoner from command-line settings, and refusing a run the endpoint never answered."""

from __future__ import annotations

from pathlib import Path

from faultwise.errors import InputError
from faultwise.rcl.llm.cache import ResponseCache, default_cache_dir
from faultwise.rcl.llm.client import LLMClient
from faultwise.rcl.llm.config import load_llm_config
from faultwise.rcl.reasoners.embedded import EmbeddedConfig, EmbeddedReasoner
from faultwise.rcl.reasoners.llm import LLMReasoner

REASONERS = ("embedded", "llm")


def build_reasoner(
    kind: str,
    base_url: str | None = None,
    model: str | None = None,
    api_key: str | None = None,
    config_file: Path | None = None,
    cache: bool = False,
    embedded: EmbeddedConfig | None = None,
) -> LLMReasoner | None:
    """``None`` for the embedded reasoner (the analyzer's default); an :class:`LLMReasoner` otherwise."""
    if kind not in REASONERS:
        raise InputError("--reasoner", f"unknown reasoner {kind!r}; use {' or '.join(REASONERS)}")
    if kind == "embedded":
        return None
    cfg = load_llm_config({"base_url": base_url, "model": model, "api_key": api_key}, config_file)
    client = LLMClient(cfg, cache=ResponseCache(default_cache_dir()) if cache else None)
    return LLMReasoner(client, fallback=EmbeddedReasoner(embedded))


def check_answered(reasoner: LLMReasoner) -> None:
    """A run in which every request failed is not an LLM diagnosis: say why in one line."""
    u = reasoner.usage
    if u.fallbacks and u.calls == 0 and u.cache_hits == 0:
        why = u.fallback_agents[0].error if u.fallback_agents else "no answer"
        raise InputError(reasoner.client.config.base_url, f"the LLM endpoint never answered ({why})")
