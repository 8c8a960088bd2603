"""PG — policy-generation faults: the sampler produces degenerate completions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from faultwise.rft.faultbench.faults.base import Injector, StepContext

if TYPE_CHECKING:
    from faultwise.rft.faultbench.policy import SamplingParams


class EmptyResponse(Injector):
    """A share of completions (easy 60 %, hard 15 %) is ended at the first position (end-of-sequence forced),
    as from a broken chat template or a stop sequence that matches at once. Trace: empty ratio and short flags
    rise, response length and reward fall."""

    fault_type = "empty_response"

    def sampling(self, params: SamplingParams, ctx: StepContext) -> SamplingParams:
        if not self.active(ctx.step):
            return params
        return params.model_copy(update={"empty_fraction": max(params.empty_fraction, self.pick(0.6, 0.15))})


class RepetitionCollapse(Injector):
    """A bonus on the logit of the previous token (easy +5, hard +2) — an inverted repetition penalty: the
    sampler loops on one token. Trace: repetition ratio up, unique-token ratio down, length up, reward down."""

    fault_type = "repetition_collapse"

    def sampling(self, params: SamplingParams, ctx: StepContext) -> SamplingParams:
        if not self.active(ctx.step):
            return params
        return params.model_copy(update={"repeat_bias": params.repeat_bias + self.pick(5.0, 2.0)})


class LengthTooShort(Injector):
    """The generation length limit is misconfigured too low (easy 6 tokens, hard 10): tool-using answers are
    cut off before they close. Trace: max length capped, truncated (short) completions, accuracy down."""

    fault_type = "length_too_short"

    def sampling(self, params: SamplingParams, ctx: StepContext) -> SamplingParams:
        if not self.active(ctx.step):
            return params
        return params.model_copy(update={"max_new_tokens": min(params.max_new_tokens, self.pick(6, 10))})


class LengthTooLong(Injector):
    """End-of-sequence is suppressed for a share of trajectories (easy all, hard 35 %) — a stop token that never
    matches: completions run to the length limit. Trace: length mean/max up, long flags, reward down."""

    fault_type = "length_too_long"

    def sampling(self, params: SamplingParams, ctx: StepContext) -> SamplingParams:
        if not self.active(ctx.step):
            return params
        return params.model_copy(
            update={"eos_ban_fraction": max(params.eos_ban_fraction, self.pick(1.0, 0.35))}
        )
