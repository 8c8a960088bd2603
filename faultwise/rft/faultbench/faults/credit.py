"""CA — credit-assignment faults: the advantages GRPO trains on are wrong."""

from __future__ import annotations

import numpy as np

from faultwise.rft.faultbench.faults.base import Injector, StepContext, group_stats, grpo_advantages


class ValueMismatch(Injector):
    """GRPO has no critic; its baseline is the group mean reward. Here the baseline is biased upwards by easy 0.5
    / hard 0.15 reward units plus noise (sd = a third of the bias), like a miscalibrated value estimate: most
    trajectories get negative advantages. Groups whose rewards are all equal are normalised by 1 instead of
    their zero std. Trace: advantage mean shifts below 0, entropy rises (probability mass pushed off samples)."""

    fault_type = "value_mismatch"

    def advantages(self, adv: np.ndarray, rewards: np.ndarray, ctx: StepContext) -> np.ndarray:
        if not self.active(ctx.step):
            return adv
        mean, std = group_stats(rewards, ctx.group_size)
        bias = self.pick(0.5, 0.15)
        baseline = (
            mean + bias + ctx.rng.normal(0.0, bias / 3, len(mean) // ctx.group_size).repeat(ctx.group_size)
        )
        std = np.where(std > 1e-6, std, 1.0 - 1e-4)
        return grpo_advantages(rewards, baseline, std, ctx.scale_rewards)


class AdvantageInstability(Injector):
    """Heavy-tailed multiplicative noise on the advantages (log-normal, sd easy 1.5 / hard 0.6) with random
    sign flips (easy 30 %, hard 10 %), as from an unstable normaliser. Trace: advantage std and grad norm up,
    learning noisier."""

    fault_type = "advantage_instability"

    def advantages(self, adv: np.ndarray, rewards: np.ndarray, ctx: StepContext) -> np.ndarray:
        if not self.active(ctx.step):
            return adv
        scale = np.exp(ctx.rng.normal(0.0, self.pick(1.5, 0.6), len(adv)))
        flips = np.where(ctx.rng.random(len(adv)) < self.pick(0.3, 0.1), -1.0, 1.0)
        return adv * scale * flips


class DelayedCredit(Injector):
    """Credit arrives one step late: each affected group (easy all, hard 40 %) is trained with the advantages of
    the previous step's batch at the same positions, so credit lands on the wrong trajectories (zeros on the
    first step). Trace: the advantage–reward correlation collapses and learning stalls."""

    fault_type = "delayed_credit"

    def __init__(self, strength: str, onset_step: int = 1) -> None:
        super().__init__(strength, onset_step)
        self._previous: np.ndarray | None = None

    def advantages(self, adv: np.ndarray, rewards: np.ndarray, ctx: StepContext) -> np.ndarray:
        previous, self._previous = self._previous, adv.copy()
        if not self.active(ctx.step):
            return adv
        stale = previous if previous is not None and len(previous) == len(adv) else np.zeros_like(adv)
        groups = len(adv) // ctx.group_size
        hit = (ctx.rng.random(groups) < self.pick(1.0, 0.4)).repeat(ctx.group_size)
        return np.where(hit, stale, adv)
