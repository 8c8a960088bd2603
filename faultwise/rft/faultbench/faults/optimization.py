"""OD — optimisation-dynamics faults: the update itself goes wrong."""

from __future__ import annotations

from typing import TYPE_CHECKING

from faultwise.rft.faultbench.faults.base import Injector, LossT, StepContext, TrainerKnobs

if TYPE_CHECKING:
    from faultwise.rft.faultbench.policy import SamplingParams


class KLExplosion(Injector):
    """The KL term's sign is flipped (``beta`` becomes -easy 2.0 / -hard 0.5, times 1 + the run's beta): the
    objective now *rewards* drifting from the reference policy, as with a sign bug in a KL controller.
    Uses the trainer's ``beta`` attribute (TRL reads it every loss). Trace: KL grows fast, entropy and accuracy
    move away from the normal runs."""

    fault_type = "kl_explosion"

    def trainer(self, trainer: TrainerKnobs, ctx: StepContext) -> None:
        # The runner resets ``beta`` to the run's healthy value before the hooks of every step.
        if self.active(ctx.step):
            trainer.beta = -self.pick(2.0, 0.5) * (1 + trainer.beta)


class UpdateFreeze(Injector):
    """The update is lost: the loss is multiplied by 0 on every active step (easy) or on half of them (hard), as
    with a detached graph or a zeroed scaler. Gradients are exactly zero. Trace: grad norm 0 on frozen steps, KL
    and accuracy stop moving."""

    fault_type = "update_freeze"

    def loss(self, loss: LossT, ctx: StepContext) -> LossT:
        if not self.active(ctx.step):
            return loss
        if self.strength == "easy" or ctx.rng.random() < 0.5:
            return loss * 0.0
        return loss


class EntropyCollapse(Injector):
    """Exploration is switched off: the sampling temperature is scaled by easy 0.35 / hard 0.65, and the entropy
    bonus gets the wrong sign (TRL's ``entropy_coef`` -easy 8 / -hard 2), so the loss pays the policy to become
    deterministic. (TRL scores log-probs at the temperature fixed at trainer init, so the measured entropy
    falls only as the policy itself sharpens.) Trace: entropy falls, completions within a group become alike
    (reward std and the advantage-reward correlation fall)."""

    fault_type = "entropy_collapse"

    def sampling(self, params: SamplingParams, ctx: StepContext) -> SamplingParams:
        if not self.active(ctx.step):
            return params
        return params.model_copy(update={"temperature": params.temperature * self.pick(0.35, 0.65)})

    def trainer(self, trainer: TrainerKnobs, ctx: StepContext) -> None:
        # The runner resets ``entropy_coef`` (TRL's entropy term on) before each step's hooks.
        if self.active(ctx.step):
            trainer.entropy_coef = trainer.entropy_coef - self.pick(8.0, 2.0)
