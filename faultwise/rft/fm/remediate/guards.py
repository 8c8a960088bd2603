"""Guards: remediation hooks that enforce an invariant of the training pipeline, placed after every other hook.

They plug into the FaultBench runner's hook chain (the same interface as fault injectors, see
:mod:`faultwise.rft.faultbench.faults.base`) but never label a step as faulty. Each one enforces a property any healthy
GRPO run has, whatever broke it — they do not know or undo a specific injector:

* ``reward_range`` — rewards outside the task's valid range (or non-finite) are corrupted: they are replaced by
  their group's mean valid reward, so those trajectories get zero advantage instead of steering the update.
* ``advantages`` — advantages are recomputed from the rewards with GRPO's group normalisation (the run's
  ``scale_rewards``), discarding a corrupted advantage/baseline pipeline.
* ``coefficients`` — the KL coefficient is pinned to at least the configured value and the entropy bonus to
  non-negative (a fixed-coefficient fallback for a misbehaving adaptive controller).
* ``sampling`` — the sampler runs with the declared generation config: no logit biases on stop/repeat
  tokens, stop tokens allowed, the configured length limit.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from faultwise.rft.faultbench.faults.base import (
    Injector,
    StepContext,
    TrainerKnobs,
    group_stats,
    grpo_advantages,
)

if TYPE_CHECKING:
    from faultwise.rft.faultbench.config import RunConfig
    from faultwise.rft.faultbench.policy import SamplingParams

GUARDS: tuple[str, ...] = ("advantages", "reward_range", "coefficients", "sampling")  # application order

# Signals a guard rewrites by design: once it is on they describe the guard, not the pipeline's health, so the
# verification after a rollback ignores them (task accuracy, entropy, KL, lengths, tools still count).
# Signals computed from the rewards themselves.
REWARD_SIGNALS = frozenset(
    {
        "reward_mean",
        "reward_std",
        "reward_accuracy_gap",
        "traj_reward_incorrect_mean",
        "traj_reward_max",
        "traj_return_reward_gap",
    }
)

REWRITTEN_SIGNALS: dict[str, frozenset[str]] = {
    "reward_range": REWARD_SIGNALS,
    "advantages": frozenset(
        {"advantage_mean", "advantage_std", "traj_advantage_abs_mean", "adv_reward_corr"}
    ),
    "coefficients": frozenset(),
    "sampling": frozenset(),
}


def rewritten_signals(names: Iterable[str]) -> set[str]:
    """The signals the named guards rewrite by design (verification ignores them)."""
    names = list(names)
    return set().union(*(REWRITTEN_SIGNALS.get(n, frozenset()) for n in names)) if names else set()


class Guard(Injector):
    """A hook in the runner's pipeline that enforces an invariant; never labels a step as faulty."""

    fault_type = "none"
    name = "guard"

    def __init__(self, settings: RunConfig) -> None:
        super().__init__("easy", 1)
        self.settings = settings  # the live RunConfig the controller applies

    def active(self, step: int) -> bool:  # never marks a step as fault-active in the records
        return False

    @property
    def family(self) -> str:
        return "guard"

    def describe(self) -> dict[str, Any]:
        return {"guard": self.name}


class RewardRangeGuard(Guard):
    """Rewards outside ``[0, max_reward]`` (or non-finite) become their group's mean valid reward."""

    name = "reward_range"

    def __init__(self, settings: RunConfig, max_reward: float) -> None:
        super().__init__(settings)
        self.max_reward = max_reward

    def rewards(self, rewards: np.ndarray, ctx: StepContext) -> np.ndarray:
        """Corrupted rewards become their group's mean valid reward: zero advantage, group statistics intact."""
        r = np.asarray(rewards, dtype=float)
        bad = ~np.isfinite(r) | (r < -1e-9) | (r > self.max_reward + 1e-9)
        if not bad.any():
            return r
        g = ctx.group_size if ctx.group_size and len(r) % ctx.group_size == 0 else len(r)
        rr, bb = r.reshape(-1, g).copy(), bad.reshape(-1, g)
        for i in range(len(rr)):
            ok = ~bb[i]
            rr[i, bb[i]] = rr[i, ok].mean() if ok.any() else 0.0
        return rr.reshape(-1)


class AdvantageGuard(Guard):
    """Advantages recomputed from the rewards with GRPO's group normalisation."""

    name = "advantages"

    def advantages(self, adv: np.ndarray, rewards: np.ndarray, ctx: StepContext) -> np.ndarray:
        r = np.nan_to_num(np.asarray(rewards, dtype=float))
        mean, std = group_stats(r, ctx.group_size)
        return grpo_advantages(r, mean, std, ctx.scale_rewards)


class CoefficientGuard(Guard):
    """KL coefficient at least the configured one, entropy bonus non-negative."""

    name = "coefficients"

    def trainer(self, trainer: TrainerKnobs, ctx: StepContext) -> None:
        trainer.beta = max(float(getattr(trainer, "beta", 0.0)), self.settings.beta)
        if hasattr(trainer, "entropy_coef"):
            trainer.entropy_coef = max(float(trainer.entropy_coef), 0.0)


class SamplingGuard(Guard):
    """The sampler runs with the declared generation config."""

    name = "sampling"

    def sampling(self, params: SamplingParams, ctx: StepContext) -> SamplingParams:
        """Only the declared knobs survive (temperature, length limit); every other field is its default."""
        return type(params)(
            temperature=params.temperature,
            max_new_tokens=max(params.max_new_tokens, self.settings.max_completion_length),
        )


def make_guards(names: Iterable[str], settings: RunConfig, max_reward: float) -> list[Guard]:
    """The named guards, in their fixed application order (:data:`GUARDS`)."""
    names = set(names)
    out: list[Guard] = []
    for name in GUARDS:  # fixed order: recompute advantages before dropping out-of-range trajectories
        if name not in names:
            continue
        if name == "reward_range":
            out.append(RewardRangeGuard(settings, max_reward))
        elif name == "advantages":
            out.append(AdvantageGuard(settings))
        elif name == "coefficients":
            out.append(CoefficientGuard(settings))
        else:
            out.append(SamplingGuard(settings))
    return out
