"""What to change for each diagnosis: a remediation action through an operator's levers, or a stop.

An action is a set of changes to the run's declared configuration
(:class:`faultwise.rft.faultbench.RunConfig`: learning rate, KL coefficient, entropy coefficient, clip range,
temperature, length limit, reward normalisation, data filters, the declared fallback reward function), applied
after rolling back to a checkpoint saved before the fault's estimated onset; or a stop with a named cause. An
action never touches the fault: it does not know where the fault sits, reads no hook's state and adds no hook
(the pipeline guards of :mod:`faultwise.rft.fm.remediate.guards` are an opt-in extra, ``use_guards``, kept out of
every headline figure). The second attempt starts over from the run's first step and compounds the first
(computed from the settings as the first left them); then the loop escalates.

Many actions work around a cause they cannot remove (a data filter leaves degenerate completions out of the
loss; a slower update damps a bad credit signal), so the fault's own symptoms stay: each such action declares
the signals it *tolerates*, and the verification judges the run on the others — above all the reward of the
completions it trains on and the entropy, which no action tolerates, and the KL, which only the rebased
reference of a KL explosion's action tolerates (it changes what the KL measures). Faults no setting reaches (a
broken tool or episode boundary, an update that vanished on every step) are stopped with the cause named,
keeping the last healthy checkpoint.

A vanished update (gradients exactly zero) is trained through on a run lengthened to the operator's step budget
(:class:`RunCourse`): that makes up updates lost on *some* steps (an intermittent detached loss, a loss scaler
skipping steps); where every update after the alarm vanishes, no setting reaches it, and the loop stops at the
rollback point. (Lengthening the runs whose updates an action slows, until they reach the declared training
progress, was tried twice on two development seeds each, the second time with the retry judged at its progress:
it remediated no more runs (15 of 28 without, 14 with), so the other actions keep the declared length.)

:func:`generic_action` is the control the bench compares with: on any diagnosis, roll back and halve the
learning rate.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from faultwise.rft.faultbench.task import REWARD_RANGE
from faultwise.rft.records import FAMILY_OF

# Largest reward a correct, well-formatted answer can earn on the task (its declared range): the reward guard
# clips to it.
MAX_VALID_REWARD = REWARD_RANGE[1]

# What the sampler produced: a data filter leaves degenerate completions in the batch (out of the loss), so
# these stay off-normal while the filter works.
GENERATION_SIGNALS: frozenset[str] = frozenset(
    {
        "response_length_mean",
        "response_length_max",
        "empty_ratio",
        "short_ratio",
        "long_ratio",
        "repetition_ratio_mean",
        "unique_token_ratio_mean",
        "format_ratio",
        "traj_unique_token_ratio",
        "traj_short_ratio",
        "traj_long_ratio",
    }
)
# The advantages the update used, and the policy loss (in GRPO the advantage-weighted ratio): a filter zeroes
# some advantages on purpose, and a credit fault an operator can only damp (slower updates) keeps them off-normal.
ADVANTAGE_SIGNALS: frozenset[str] = frozenset(
    {"advantage_mean", "advantage_std", "traj_advantage_abs_mean", "adv_reward_corr", "policy_loss"}
)
FILTER_TOLERATES = GENERATION_SIGNALS | ADVANTAGE_SIGNALS


class Action(BaseModel):
    """One remediation step: ``retrain`` with ``changes`` from the rollback point, or ``stop`` with a cause."""

    kind: Literal["retrain", "stop"]
    fault_type: str
    attempt: int
    changes: dict[str, Any] = Field(default_factory=dict)
    guards: list[str] = Field(
        default_factory=list, description="pipeline guards to switch on (fm.remediate.guards)"
    )
    tolerates: list[str] = Field(
        default_factory=list,
        description="signals the action leaves off-normal by design (it works around the cause): verification "
        "ignores them and judges the run on the rest — the reward it trains on, KL, entropy",
    )
    rationale: str
    cause: str | None = None
    from_first_step: bool = Field(
        False,
        description="start over from the run's first step, not from the last healthy checkpoint: the fault builds "
        "up over many steps before it is flagged, so its estimated onset comes late and a checkpoint after the "
        "start may already hold it",
    )
    verify_updates: bool = Field(
        False,
        description="verification also needs some update to go through after the rollback (a gradient norm "
        "not 0 on every step): lengthening a run whose every update vanishes trains nothing",
    )


class RunCourse(BaseModel):
    """What an action may size itself on besides the current settings: the operator's declared steps and
    step budget."""

    declared_steps: int = Field(gt=0, description="optimizer steps the operator declared")
    max_steps_factor: float = Field(
        2.0,
        ge=1,
        description="the operator's compute budget: a remediated run trains at most this many times the "
        "declared steps",
    )

    @property
    def max_steps(self) -> int:
        """The most steps the budget allows."""
        return int(self.declared_steps * self.max_steps_factor)


def _scaled(
    settings: dict[str, Any], name: str, factor: float, lo: float | None = None, as_int: bool = False
) -> float | int:
    v = float(settings[name]) * factor
    if lo is not None:
        v = max(v, lo)
    return int(round(v)) if as_int else v


# fault type -> (setting changes, guards an opt-in user may add, why). The changes are operator levers only.
def _changes(fault: str, s: dict[str, Any]) -> tuple[dict[str, Any], list[str], str]:
    lr = {"learning_rate": _scaled(s, "learning_rate", 0.5)}
    fallback = {"reward_fallback": True}
    table: dict[str, tuple[dict, list[str], str]] = {
        "reward_spike": (
            fallback,
            ["reward_range"],
            "the grader is the suspect: swap in the declared fallback",
        ),
        "reward_collapse": (fallback, [], "the grader lost its signal: swap in the declared fallback"),
        # once the exploitable grader is out of the loop nothing pulls the policy off the task, and a stronger
        # KL anchor only slows learning it (KL x2 beside the fallback, measured on 20 runs of six seeds: 10
        # remediated with it, 14 without, none lost; doing nothing was within tolerance on 5)
        "reward_hacking": (
            fallback,
            ["reward_range"],
            "the grader is exploitable: swap in the declared fallback",
        ),
        "empty_response": (
            {"drop_degenerate": True},
            ["sampling"],
            "leave empty completions out of the loss (data filter)",
        ),
        "repetition_collapse": (
            {"drop_degenerate": True, **lr},
            ["sampling"],
            "leave repetitive completions out of the loss (data filter), slower updates",
        ),
        "length_too_short": (
            {
                "mask_truncated_completions": True,
                "max_completion_length": _scaled(s, "max_completion_length", 1.25, as_int=True),
            },
            ["sampling"],
            "mask truncated completions out of the loss, raise the length limit",
        ),
        "length_too_long": (
            {"mask_truncated_completions": True},
            ["sampling"],
            "mask completions that never end out of the loss",
        ),
        "kl_explosion": (
            {"ref_sync_steps": 1, **lr},
            ["coefficients"],
            "the KL term drives the policy away from its reference instead of holding it: rebase the reference "
            "on the policy every step (TRL's sync_ref_model), so the KL term can no longer steer the update, and "
            "take smaller steps",
        ),
        "entropy_collapse": (
            {
                "temperature": _scaled(s, "temperature", 1.3),
                "entropy_coef": max(2 * float(s.get("entropy_coef", 0.0)), 0.01),
                **lr,
            },
            ["coefficients"],
            "more exploration (temperature x1.3, an entropy bonus or twice it), slower updates",
        ),
        "value_mismatch": ({**lr}, ["advantages"], "the credit signal is off: slower updates"),
        # no clip range: with one update per batch (TRL's num_iterations=1, every supervised run) the policy
        # ratio is 1 at the update and the clip never binds (clip fraction 0 on every bench step)
        "advantage_instability": (
            {**lr},
            ["advantages"],
            "unstable advantages: slower updates, so each one averages the noise over more steps",
        ),
        "delayed_credit": ({**lr}, ["advantages"], "the credit signal is off: slower updates"),
        "unknown": (lr, [], "unrecognised anomaly: roll back and take smaller steps"),
    }
    return table.get(fault, table["unknown"])


# What each action works around rather than removes (see Action.tolerates).
# A credit fault an operator can only damp keeps the gradient (the advantage-weighted score) off-normal too.
CREDIT_TOLERATES = ADVANTAGE_SIGNALS | {"grad_norm"}
# A reference rebased every step changes what the logged KL measures (the drift of one step, about 0, not the
# drift since the warm start), and with it the policy loss, which holds the KL term: neither is comparable with a
# normal run's any more, so neither can judge the action.
REBASED_REFERENCE_TOLERATES = frozenset({"kl", "policy_loss"})
TOLERATES: dict[str, frozenset[str]] = {
    "kl_explosion": REBASED_REFERENCE_TOLERATES,
    "empty_response": FILTER_TOLERATES,
    "repetition_collapse": FILTER_TOLERATES,
    "length_too_short": FILTER_TOLERATES,
    "length_too_long": FILTER_TOLERATES,
    "value_mismatch": CREDIT_TOLERATES,
    "advantage_instability": CREDIT_TOLERATES,
    "delayed_credit": CREDIT_TOLERATES,
}

# Updates that vanish on some steps stay lost on those steps after the run is lengthened (their gradient norm is
# 0): verification judges the run on the rest, and on whether any update went through.
LOST_UPDATE_TOLERATES = frozenset({"grad_norm"})

# Faults that build up over many steps before a monitor flags them (a KL divergence growing step by step): the
# retry starts over from the run's first step. Measured on the KL explosions of eight development seeds (24 runs,
# `ours` arm): resuming from the checkpoint before the estimated onset remediated 18, starting over 22.
FROM_FIRST_STEP: frozenset[str] = frozenset({"kl_explosion"})

# Training faults no setting reaches: the honest action is to stop, keep the last healthy checkpoint, and say why.
STOP_CAUSES: dict[str, str] = {
    "update_freeze": "the update vanished (gradients exactly zero): a detached loss or a zeroed loss scale in "
    "the training code; no setting multiplies a zero back, so the run stops at its last healthy checkpoint",
}

ENVIRONMENT_CAUSES: dict[str, str] = {
    "tool_call_error": "the calculator tool fails (tool calls return errors); fix or restart the tool server "
    "(mitigation until then: tool retries and dropping trajectories with tool errors)",
    "observation_corruption": "the calculator returns wrong results without an error flag (corrupted "
    "observations); fix the tool before training on its outputs",
    "termination_error": "the environment ends episodes right after tool observations (wrong done flag); fix "
    "the episode boundary (mitigation: drop environment-terminated trajectories)",
}


def _stop(fault_type: str, attempt: int, cause: str, rationale: str) -> Action:
    return Action(kind="stop", fault_type=fault_type, attempt=attempt, cause=cause, rationale=rationale)


def _escalate(fault_type: str, attempt: int) -> Action:
    return _stop(
        fault_type,
        attempt,
        f"{fault_type} persisted after two remediations",
        "escalate: keep the last healthy checkpoint and stop for a human",
    )


def _make_up_lost_updates(attempt: int, course: RunCourse) -> Action:
    """Train through an update that vanished: lengthen the run to the budget; verified only if some update
    went through (see ``Action.verify_updates``)."""
    return Action(
        kind="retrain",
        fault_type="update_freeze",
        attempt=attempt,
        changes={"steps": course.max_steps},
        tolerates=sorted(LOST_UPDATE_TOLERATES),
        verify_updates=True,
        rationale="the update vanished (gradients exactly zero): if it vanishes on some steps only (an "
        "intermittent detached loss, a loss scaler skipping steps) the others still train, so lengthen the run "
        f"to {course.max_steps} steps to make up the lost updates; if every update after the rollback vanishes, "
        "stop",
    )


def vanished_update_stop(attempt: int) -> Action:
    """The stop after a run was trained through a vanished update and no update went through."""
    why = "no update went through on the lengthened run: no setting of the run's configuration reaches it"
    return _stop("update_freeze", attempt, STOP_CAUSES["update_freeze"], why)


def plan_action(
    fault_type: str,
    settings: dict[str, Any],
    attempt: int,
    use_guards: bool = False,
    course: RunCourse | None = None,
) -> Action:
    """The action for a diagnosed fault at this attempt (1 = first try, 2 = second try, 3+ = escalate).

    ``settings`` are the run's settings as they stand (after earlier attempts' changes), so a second try
    compounds the first (half the learning rate again); a try that would change nothing is the supervisor's
    cue to escalate. ``use_guards`` adds the opt-in pipeline guards (an oracle on FaultBench: never in a
    headline figure). ``course`` (the declared steps and the step budget) lets a vanished update be trained
    through on a longer run; without it that fault stops the run at once."""
    if fault_type in ENVIRONMENT_CAUSES:
        why = f"environment fault ({FAMILY_OF[fault_type]}): no training change can fix it"
        return _stop(fault_type, attempt, ENVIRONMENT_CAUSES[fault_type], why)
    if fault_type == "update_freeze" and course is not None and attempt <= 2:
        return _make_up_lost_updates(attempt, course)
    if fault_type in STOP_CAUSES:
        why = "a fault in the training code: no lever of the run's configuration reaches it"
        return _stop(fault_type, attempt, STOP_CAUSES[fault_type], why)
    if attempt > 2:
        return _escalate(fault_type, attempt)
    changes, guards, why = _changes(fault_type, settings)
    return Action(
        kind="retrain",
        fault_type=fault_type,
        attempt=attempt,
        changes=changes,
        guards=guards if use_guards else [],
        tolerates=sorted(TOLERATES.get(fault_type, ())),
        from_first_step=fault_type in FROM_FIRST_STEP,
        rationale=why + ("; start over from the first step" if fault_type in FROM_FIRST_STEP else ""),
    )


def generic_action(
    fault_type: str,
    settings: dict[str, Any],
    attempt: int,
    use_guards: bool = False,
    course: RunCourse | None = None,
) -> Action:
    """The generic control: whatever the diagnosis, roll back and halve the learning rate (twice), then stop
    (the run keeps its declared length: ``course`` is not used)."""
    if attempt > 2:
        return _escalate(fault_type, attempt)
    return Action(
        kind="retrain",
        fault_type=fault_type,
        attempt=attempt,
        changes={"learning_rate": _scaled(settings, "learning_rate", 0.5)},
        rationale="generic: roll back and halve the learning rate",
    )
