"""OD — optimisation-dynamics faults: the update itself goes wrong."""

from __future__ import annotations

from faultwise.rft.faults.base import Injector, StepContext


class KLExplosion(Injector):
    """The KL term's sign is flipped (``beta`` becomes -easy 2.0 / -hard 0.5, times 1 + the run's beta): the
    objective now *rewards* drifting from the reference policy, as with a sign bug in a KL controller.
    Uses the trainer's ``beta`` attribute (TRL reads it every loss). Trace: KL grows fast, entropy and accuracy
    move away from the normal runs."""

    fault_type = "kl_explosion"

    def trainer(self, trainer, ctx: StepContext) -> None:
        # The runner resets ``beta`` to the run's healthy value before the hooks of every step.
        if self.active(ctx.step):
            trainer.beta = -self.pick(2.0, 0.5) * (1 + trainer.beta)


class UpdateFreeze(Injector):
    """The update is lost: the loss is multiplied by 0 on every active step (easy) or on half of them (hard), as
    with a detached graph or a zeroed scaler. Gradients are exactly zero. Trace: grad norm 0 on frozen steps, KL
    and accuracy stop moving."""

    fault_type = "update_freeze"

    def loss(self, loss, ctx: StepContext):
        if not self.active(ctx.step):
            return loss
        if self.strength == "easy" or ctx.rng.random() < 0.5:
            return loss * 0.0
        return loss


class EntropyCollapse(Injector):
    """A negative entropy bonus (TRL's ``entropy_coef`` set to -easy 1.0 / -hard 0.25): the loss pays the
    policy to become deterministic, as with a sign error in the exploration bonus. Trace: entropy falls fast,
    completions within a group become identical (reward std falls)."""

    fault_type = "entropy_collapse"

    def trainer(self, trainer, ctx: StepContext) -> None:
        # The runner resets ``entropy_coef`` (and enables TRL's entropy term) before the hooks of every step.
        if self.active(ctx.step):
            trainer.entropy_coef = trainer.entropy_coef - self.pick(1.0, 0.25)
