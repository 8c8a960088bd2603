"""The fault-injector interface: small hooks the runner calls at fixed points of a GRPO step.

An injector is an object with an ``onset_step`` and a ``strength``; it is *active* at steps ``>= onset_step``
while ``enabled``. The runner calls every hook of every injector, in order, on every step; a hook of an inactive
injector (or one it does not override) returns its input unchanged. Injectors hold no hidden state except where
the fault itself is a memory (``delayed_credit``), so they can be added, removed, re-parameterised or disabled
between steps (the remediation loop does exactly that).

Hook points (what flows through them):
- ``sampling(params, ctx)``: the :class:`~faultwise.rft.policy.SamplingParams` the sampler uses this step.
- ``tool_result(result, rng, ctx)``: each calculator result before it becomes an observation.
- ``rewards(rewards, ctx)``: the per-trajectory rewards given to GRPO (true correctness is kept apart).
- ``advantages(adv, rewards, ctx)``: the per-trajectory advantages after GRPO's group normalisation.
- ``trainer(trainer, ctx)``: optimisation attributes of the live trainer (KL coefficient, entropy coefficient).
- ``loss(loss, ctx)``: the scalar training loss before backward.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from faultwise.rft.records import FAMILY_OF


@dataclass
class StepContext:
    """What a hook may know about the step: its index, the group layout and a per-step RNG."""

    step: int
    group_size: int
    rng: np.random.Generator
    scale_rewards: str = "group"
    problems: list[Any] = field(default_factory=list)
    completions: list[str] = field(default_factory=list)


class Injector:
    """Base class: every hook is the identity. Subclasses set ``fault_type`` and override what they corrupt."""

    fault_type: str = "none"

    def __init__(self, strength: str, onset_step: int = 1):
        if strength not in ("easy", "hard"):
            raise ValueError(f"strength must be easy or hard, not {strength!r}")
        if onset_step < 1:
            raise ValueError("onset_step counts from 1")
        self.strength = strength
        self.onset_step = onset_step
        self.enabled = True

    @property
    def family(self) -> str:
        return FAMILY_OF[self.fault_type]

    def active(self, step: int) -> bool:
        return self.enabled and step >= self.onset_step

    def pick(self, easy, hard):
        """The parameter for this injector's strength."""
        return easy if self.strength == "easy" else hard

    # hooks ------------------------------------------------------------------------------------------------
    def sampling(self, params, ctx: StepContext):
        return params

    def tool_result(self, result, rng: np.random.Generator, ctx: StepContext):
        return result

    def rewards(self, rewards: np.ndarray, ctx: StepContext) -> np.ndarray:
        return rewards

    def advantages(self, adv: np.ndarray, rewards: np.ndarray, ctx: StepContext) -> np.ndarray:
        return adv

    def trainer(self, trainer, ctx: StepContext) -> None:
        return None

    def loss(self, loss, ctx: StepContext):
        return loss

    def describe(self) -> dict:
        return {"fault_type": self.fault_type, "strength": self.strength, "onset_step": self.onset_step}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(strength={self.strength!r}, onset_step={self.onset_step})"


def group_stats(rewards: np.ndarray, group_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-trajectory group mean and std, as GRPO computes them (std over the group, unbiased)."""
    g = rewards.reshape(-1, group_size)
    mean = np.repeat(g.mean(axis=1), group_size)
    std = np.repeat(g.std(axis=1, ddof=1) if group_size > 1 else np.zeros(len(g)), group_size)
    return mean, std


def grpo_advantages(
    rewards: np.ndarray, baseline: np.ndarray, std: np.ndarray, scale_rewards: str
) -> np.ndarray:
    """GRPO's advantage against a given baseline, with its normalisation choice."""
    adv = rewards - baseline
    if scale_rewards != "none":
        adv = adv / (std + 1e-4)
    return adv
