"""Accounting of one run's LLM use: what it cost, what was escalated, and where it had to fall back."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

PER_CASE_KEYS = (
    "calls",
    "prompt_tokens",
    "completion_tokens",
    "cached_prompt_tokens",
    "cache_hits",
    "fallbacks",
    "questions_in_doubt",
    "questions_asked",
    "questions_over_budget",
    "escalated_spans",
    "budget_calls_used",
    "budget_tokens_used",
)


class StageFallbacks(BaseModel):
    """Agent decisions of one stage that the embedded reasoner made because the LLM failed for good."""

    count: int = 0
    first_error: str = Field("", description="the first failure's message (the others are counted only)")


class LadderStep(BaseModel):
    """One step down a capability ladder, taken once for the whole client."""

    ladder: str = Field(description="response_format | tool_calling")
    from_rung: str
    to_rung: str
    status: int | None = Field(None, description="HTTP status of the refusal")
    message: str = Field("", description="what the server said (cut to 200 characters)")


class Prices(BaseModel):
    """Prices per million tokens, to turn token counts into money (currency as given)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input_per_mtok: float = Field(0.0, ge=0, description="price of a million prompt tokens")
    output_per_mtok: float = Field(0.0, ge=0, description="price of a million completion tokens")

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return round(
            (prompt_tokens * self.input_per_mtok + completion_tokens * self.output_per_mtok) / 1e6, 6
        )


class LLMUsage(BaseModel):
    """Counters shared by every call of one run (one event loop thread, so no locking is needed)."""

    calls: int = Field(0, description="requests answered by the endpoint (cache hits excluded)")
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_prompt_tokens: int = Field(
        0, description="prompt tokens the server reports as served from its prompt cache"
    )
    cache_hits: int = Field(0, description="requests answered from our on-disk answer cache, at no cost")
    failed_calls: int = Field(0, description="requests that failed for good")
    retries: int = Field(0, description="retries after timeouts, 429 and 503-like overload")
    repairs: int = Field(0, description="repair retries after an answer that did not validate")
    format_downgrades: int = Field(
        0, description="steps down the json_schema -> json_object -> prompt ladder"
    )
    ladder: list[LadderStep] = Field(
        default_factory=list, description="each step down a ladder, with what the server said"
    )
    prompted_tool_rounds: int = Field(0, description="tool rounds run through the prompted fallback")
    tool_calls: int = 0
    skipped_consolidations: int = Field(
        0, description="normal spans with no blamed descendant: reported normal without a call"
    )
    max_prompt_chars: int = Field(0, description="largest request (all messages) in characters")
    fallbacks: int = Field(0, description="agent decisions made by the embedded reasoner instead")
    fallbacks_by_stage: dict[str, StageFallbacks] = Field(
        default_factory=dict, description="verify | consolidate | synthesize: count and first message"
    )
    questions_in_doubt: int = Field(
        0, description="distinct decisions the escalation rule found in doubt (identical ones once)"
    )
    questions_asked: int = Field(0, description="of those, the ones the model was asked")
    questions_over_budget: int = Field(
        0, description="in doubt, but decided by the embedded reasoner because the budget was spent"
    )
    answers_reused: int = Field(
        0, description="spans that took the answer of an identical question asked for another span"
    )
    escalated_spans: int = Field(0, description="span decisions (verify or consolidate) made by the model")
    budget_calls_used: int = Field(0, description="requests sent (retries included), summed over incidents")
    budget_tokens_used: int = Field(0, description="tokens spent, summed over incidents")
    incidents_over_budget: int = Field(
        0,
        description="incidents in which a doubtful decision was left to the embedded reasoner for want "
        "of budget",
    )

    def record_fallback(self, span_id: str, stage: str, error: BaseException) -> None:
        self.fallbacks += 1
        entry = self.fallbacks_by_stage.setdefault(stage, StageFallbacks())
        entry.count += 1
        if not entry.first_error:
            entry.first_error = f"{span_id}: {str(error)[:200]}"

    def record_step(
        self, ladder: str, from_rung: str, to_rung: str, status: int | None, message: str
    ) -> None:
        self.ladder.append(
            LadderStep(
                ladder=ladder, from_rung=from_rung, to_rung=to_rung, status=status, message=message[:200]
            )
        )

    def summary(self, prices: Prices | None = None) -> dict:
        """The ``"llm"`` block of ``diagnose --json`` (with ``cost`` when prices are given)."""
        doc = self.model_dump(mode="json")
        if prices is not None:
            doc["cost"] = {
                **prices.model_dump(),
                "total": prices.cost(self.prompt_tokens, self.completion_tokens),
            }
        return doc

    def add(self, other: LLMUsage) -> None:
        """Fold another run's counters into this one (bench totals)."""
        for name in type(self).model_fields:
            if name == "ladder":
                self.ladder.extend(s for s in other.ladder if s not in self.ladder)
            elif name == "fallbacks_by_stage":
                for stage, f in other.fallbacks_by_stage.items():
                    mine = self.fallbacks_by_stage.setdefault(stage, StageFallbacks())
                    mine.count += f.count
                    mine.first_error = mine.first_error or f.first_error
            elif name == "max_prompt_chars":
                self.max_prompt_chars = max(self.max_prompt_chars, other.max_prompt_chars)
            else:
                setattr(self, name, getattr(self, name) + getattr(other, name))


def usage_since(before: LLMUsage, now: LLMUsage, prices: Prices | None = None) -> dict:
    """What one case cost: the difference of two snapshots of a run's counters."""
    out: dict = {k: getattr(now, k) - getattr(before, k) for k in PER_CASE_KEYS}
    if prices is not None:
        out["cost"] = prices.cost(out["prompt_tokens"], out["completion_tokens"])
    return out
