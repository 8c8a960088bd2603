"""RF — reward faults: the reward GRPO sees is wrong; the true task accuracy is not."""

from __future__ import annotations

import numpy as np

from faultwise.rft.faultbench import task as T
from faultwise.rft.faultbench.faults.base import Injector, StepContext


class RewardSpike(Injector):
    """Sporadic huge rewards: on a share of steps (easy 50 %, hard 30 %) some trajectories (easy 50 %, hard 15 %)
    get a bonus (easy +4..8, hard +1..2.5) unrelated to their answer — a buggy or adversarial reward model.
    Trace: reward max/std (and mean) jump on those steps while accuracy does not."""

    fault_type = "reward_spike"

    def rewards(self, rewards: np.ndarray, ctx: StepContext) -> np.ndarray:
        if not self.active(ctx.step) or ctx.rng.random() >= self.pick(0.5, 0.3):
            return rewards
        hit = ctx.rng.random(len(rewards)) < self.pick(0.5, 0.15)
        lo, hi = self.pick((4.0, 8.0), (1.0, 2.5))
        return rewards + hit * ctx.rng.uniform(lo, hi, len(rewards))


class RewardCollapse(Injector):
    """The reward signal dies: easy sets every reward to 0 (no learning signal at all); hard scales rewards by
    0.3 and drops the format bonus. Trace: reward mean/std fall while accuracy stays where it was."""

    fault_type = "reward_collapse"

    def rewards(self, rewards: np.ndarray, ctx: StepContext) -> np.ndarray:
        if not self.active(ctx.step):
            return rewards
        if self.strength == "easy":
            return np.zeros_like(rewards)
        correct = np.array(
            [T.score(p, c).correct for p, c in zip(ctx.problems, ctx.completions, strict=True)]
        )
        return 0.3 * T.CORRECT_REWARD * correct.astype(float)


class RewardHacking(Injector):
    """A lenient, exploitable grader: an answer counts as correct if it is any number (easy) or within 25 % of
    the truth (hard), and answering without the calculator earns a +0.3 "efficiency" bonus. The policy learns to
    skip the tool and guess. Trace: reward rises (or holds) while true accuracy and tool calls fall."""

    fault_type = "reward_hacking"

    def rewards(self, rewards: np.ndarray, ctx: StepContext) -> np.ndarray:
        if not self.active(ctx.step):
            return rewards
        out = np.empty_like(rewards)
        for i, (p, c) in enumerate(zip(ctx.problems, ctx.completions, strict=True)):
            o = T.score(p, c)
            if o.answer is None:
                lenient = False
            elif self.strength == "easy":
                lenient = True
            else:
                lenient = abs(o.answer - p.answer) <= 0.25 * max(abs(p.answer), 1)
            bonus = 0.3 if (o.answer is not None and T.CALC_OPEN not in c) else 0.0
            out[i] = T.CORRECT_REWARD * lenient + T.FORMAT_REWARD * o.format_ok + bonus
        return out
