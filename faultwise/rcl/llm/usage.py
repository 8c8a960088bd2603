"""Accounting of one run's LLM use: what it cost and where it had to fall back."""

from __future__ import annotations

from pydantic import BaseModel, Field

MAX_LISTED_FALLBACKS = 50


class AgentFallback(BaseModel):
    """One agent decision the embedded reasoner made because the LLM failed for good."""

    span_id: str
    stage: str = Field(description="verify | consolidate | synthesize")
    error: str


class LLMUsage(BaseModel):
    """Counters shared by every call of one run (one event loop thread, so no locking is needed)."""

    calls: int = Field(0, description="requests answered by the endpoint (cache hits excluded)")
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cache_hits: int = 0
    failed_calls: int = Field(0, description="requests that failed for good after retries")
    retries: int = 0
    repairs: int = Field(0, description="repair retries after an answer that did not validate")
    format_downgrades: int = Field(
        0, description="steps down the json_schema -> json_object -> prompt ladder"
    )
    prompted_tool_rounds: int = Field(0, description="tool rounds run through the prompted fallback")
    tool_calls: int = 0
    skipped_consolidations: int = Field(
        0, description="normal spans with no blamed descendant: reported normal without a call"
    )
    max_prompt_chars: int = Field(0, description="largest request (all messages) in characters")
    fallbacks: int = Field(0, description="agent decisions made by the embedded reasoner instead")
    fallback_agents: list[AgentFallback] = Field(default_factory=list)

    def record_fallback(self, span_id: str, stage: str, error: BaseException) -> None:
        self.fallbacks += 1
        if len(self.fallback_agents) < MAX_LISTED_FALLBACKS:
            self.fallback_agents.append(AgentFallback(span_id=span_id, stage=stage, error=str(error)[:200]))

    def summary(self) -> dict:
        """The ``"llm"`` block of ``diagnose --json``."""
        return self.model_dump(mode="json")

    def add(self, other: LLMUsage) -> None:
        """Fold another run's counters into this one (bench totals)."""
        for name in type(self).model_fields:
            if name == "fallback_agents":
                continue
            if name == "max_prompt_chars":
                self.max_prompt_chars = max(self.max_prompt_chars, other.max_prompt_chars)
            else:
                setattr(self, name, getattr(self, name) + getattr(other, name))


def usage_since(before: LLMUsage, now: LLMUsage) -> dict:
    """What one case cost: the difference of two snapshots of a run's counters."""
    keys = ("calls", "prompt_tokens", "completion_tokens", "cache_hits", "fallbacks")
    return {k: getattr(now, k) - getattr(before, k) for k in keys}
