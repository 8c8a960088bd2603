"""The fault-injector interface: small hooks the runner calls at fixed points of a GRPO step.

An injector is an object with an ``onset_step`` and a ``strength``; it is *active* at steps ``>= onset_step``
while ``enabled``. The runner calls every hook of every injector, in order, on every step; a hook of an inactive
injector (or one it does not override) returns its input unchanged. Injectors hold no hidden state except where
the fault itself is a memory (``delayed_credit``), so they can be added, removed, re-parameterised or disabled
between steps (the remediation loop does exactly that).

Hook points (what flows through them):
- ``sampling(params, ctx)``: the :class:`~faultwise.rft.faultbench.policy.SamplingParams` the sampler uses
  this step.
- ``tool_result(result, rng, ctx)``: each calculator result before it becomes an observation.
- ``rewards(rewards, ctx)``: the per-trajectory rewards given to GRPO (true correctness is kept apart).
- ``advantages(adv, rewards, ctx)``: the per-trajectory advantages after GRPO's group normalisation.
- ``trainer(trainer, ctx)``: optimisation attributes of the live trainer (KL coefficient, entropy coefficient).
- ``loss(loss, ctx)``: the scalar training loss before backward.

Every subclass declares its ``fault_type`` (one of :data:`~faultwise.rft.records.FAULT_TYPES`, or ``"none"``
for hooks that inject no fault, such as remediation guards); the class is checked when it is defined, and a
fault injector registers itself in :data:`INJECTORS`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import numpy as np

from faultwise.errors import InputError
from faultwise.rft.records import FAMILY_OF, FAULT_TYPES

if TYPE_CHECKING:
    from faultwise.rft.faultbench.policy import SamplingParams, ToolResult

STRENGTHS: tuple[str, ...] = ("easy", "hard")
INJECTORS: dict[
    str, type[Injector]
] = {}  # fault type -> its injector class, filled as the classes are defined
LossT = TypeVar("LossT")  # the trainer's loss (a torch scalar tensor; a float in tests)
ParamT = TypeVar("ParamT")


class TrainerKnobs(Protocol):
    """The optimisation attributes of a live trainer that hooks may change (TRL ``GRPOTrainer`` has them)."""

    beta: float
    entropy_coef: float


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
    """Base class: every hook is the identity. Subclasses set ``fault_type`` and override what they corrupt.

    Args:
        strength: ``"easy"`` (a visible fault) or ``"hard"`` (a subtle one).
        onset_step: first step (counting from 1) at which the fault is active.

    Example::

        inj = make_injector("reward_spike", "hard", onset_step=10)
        rewards = inj.rewards(rewards, ctx)  # identity before step 10 or once ``inj.enabled = False``
    """

    fault_type: str = "none"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.fault_type == "none":  # a hook that injects no fault (e.g. a remediation guard)
            return
        if cls.fault_type not in FAULT_TYPES:
            raise TypeError(f"{cls.__name__}: fault_type {cls.fault_type!r} is not one of FAULT_TYPES")
        if cls.fault_type in INJECTORS:
            raise TypeError(
                f"{cls.__name__}: fault type {cls.fault_type!r} already has an injector "
                f"({INJECTORS[cls.fault_type].__name__})"
            )
        INJECTORS[cls.fault_type] = cls

    def __init__(self, strength: str, onset_step: int = 1) -> None:
        if strength not in STRENGTHS:
            raise InputError("strength", f"must be easy or hard, not {strength!r}")
        if onset_step < 1:
            raise InputError("onset_step", f"counts from 1, not {onset_step}")
        self.strength = strength
        self.onset_step = onset_step
        self.enabled = True

    @property
    def family(self) -> str:
        """The fault family (``RF``, ``PG``, ``OD``, ``CA``, ``TE``)."""
        return FAMILY_OF[self.fault_type]

    def active(self, step: int) -> bool:
        """Whether the fault acts at ``step``."""
        return self.enabled and step >= self.onset_step

    def pick(self, easy: ParamT, hard: ParamT) -> ParamT:
        """The parameter for this injector's strength."""
        return easy if self.strength == "easy" else hard

    # hooks ------------------------------------------------------------------------------------------------
    def sampling(self, params: SamplingParams, ctx: StepContext) -> SamplingParams:
        """The sampling parameters of this step."""
        return params

    def tool_result(self, result: ToolResult, rng: np.random.Generator, ctx: StepContext) -> ToolResult:
        """One calculator result, before it becomes an observation."""
        return result

    def rewards(self, rewards: np.ndarray, ctx: StepContext) -> np.ndarray:
        """The per-trajectory rewards given to GRPO."""
        return rewards

    def advantages(self, adv: np.ndarray, rewards: np.ndarray, ctx: StepContext) -> np.ndarray:
        """The per-trajectory advantages after GRPO's group normalisation."""
        return adv

    def trainer(self, trainer: TrainerKnobs, ctx: StepContext) -> None:
        """Change optimisation attributes of the live trainer (reset to the run's settings every step)."""
        return None

    def loss(self, loss: LossT, ctx: StepContext) -> LossT:
        """The scalar training loss before backward."""
        return loss

    def describe(self) -> dict[str, Any]:
        """What this injector is, as a small JSON-able dict."""
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
