"""TE — tool/environment faults: the calculator or the episode boundary misbehaves."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from faultwise.rft.faultbench import task as T
from faultwise.rft.faultbench.faults.base import Injector, StepContext

if TYPE_CHECKING:
    from faultwise.rft.faultbench.policy import ToolResult


class ToolCallError(Injector):
    """The calculator fails (returns ``ERR``) on easy 80 % / hard 25 % of calls, like a flaky tool server.
    Trace: tool errors per trajectory up, accuracy of tool users down."""

    fault_type = "tool_call_error"

    def tool_result(self, result: ToolResult, rng: np.random.Generator, ctx: StepContext) -> ToolResult:
        if self.active(ctx.step) and rng.random() < self.pick(0.8, 0.25):
            return replace(result, text=T.TOOL_ERROR_TEXT, ok=False)
        return result


class ObservationCorruption(Injector):
    """The calculator answers silently wrong (no error flag): easy 90 % of results offset by 1..30, hard 30 %
    of results with their last digit changed. Trace: accuracy of tool users down while tool errors stay 0."""

    fault_type = "observation_corruption"

    def tool_result(self, result: ToolResult, rng: np.random.Generator, ctx: StepContext) -> ToolResult:
        if not (self.active(ctx.step) and result.ok and rng.random() < self.pick(0.9, 0.3)):
            return result
        if self.strength == "easy":
            value = int(result.text) + int(rng.integers(1, 31)) * (1 if rng.random() < 0.5 else -1)
            return replace(result, text=str(value))
        last = result.text[-1]
        other = str((int(last) + int(rng.integers(1, 10))) % 10)
        return replace(result, text=result.text[:-1] + other)


class TerminationError(Injector):
    """The environment ends the episode right after a tool observation (easy 80 %, hard 30 % of calls), before
    the policy can answer — a wrong done flag. Trace: tool-using episodes end unanswered, accuracy and reward
    down, length of those episodes short."""

    fault_type = "termination_error"

    def tool_result(self, result: ToolResult, rng: np.random.Generator, ctx: StepContext) -> ToolResult:
        if self.active(ctx.step) and rng.random() < self.pick(0.8, 0.3):
            return replace(result, terminate=True)
        return result
