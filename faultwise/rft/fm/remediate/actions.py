"""What to change for each diagnosis: a remediation action on the run's settings, or a stop.

An action is a set of changes to :class:`faultwise.rft.faultbench.RunConfig` fields (the knobs the runner pushes
into the live trainer) plus pipeline guards (:mod:`faultwise.rft.fm.remediate.guards`), applied after rolling
back to a checkpoint saved before the fault's onset. The second attempt starts over from the run's first step
with both attempts' changes (each computed from the run's own settings). Where an action compensates for a
fault rather than removing it (``TOLERATED``), it names the signals that will keep showing the fault, so the
verification judges recovery on the others.
Environment faults (the tool or the episode boundary is broken) cannot be trained around: the action is to
stop and report the cause; a reward pipeline that lost its signal likewise gets one try, then a stop.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from faultwise.rft.fm.remediate.guards import REWARD_SIGNALS
from faultwise.rft.records import FAMILY_OF

# Largest reward a correct, well-formatted answer can earn on the task: the reward guard clips to it.
MAX_VALID_REWARD = 1.2


class Action(BaseModel):
    """One remediation step: ``retrain`` with ``changes`` from the rollback point, or ``stop`` with a cause."""

    kind: Literal["retrain", "stop"]
    fault_type: str
    attempt: int
    changes: dict[str, Any] = Field(default_factory=dict)
    guards: list[str] = Field(
        default_factory=list, description="pipeline guards to switch on (fm.remediate.guards)"
    )
    tolerate: list[str] = Field(
        default_factory=list,
        description="signals the fault keeps distorting after this action compensates for it: the verification "
        "after the rollback ignores them and judges recovery on the rest (learning, generation, KL, tools)",
    )
    rationale: str
    cause: str | None = None


def _scaled(
    settings: dict[str, Any], name: str, factor: float, lo: float | None = None, as_int: bool = False
) -> float | int:
    v = float(settings[name]) * factor
    if lo is not None:
        v = max(v, lo)
    return int(round(v)) if as_int else v


# fault type -> (setting changes, guards, why)
def _changes(fault: str, s: dict[str, Any]) -> tuple[dict[str, Any], list[str], str]:
    lr = {"learning_rate": _scaled(s, "learning_rate", 0.5)}
    table: dict[str, tuple[dict, list[str], str]] = {
        "reward_spike": ({}, ["reward_range"], "drop trajectories whose reward is outside the valid range"),
        "reward_collapse": (
            {"scale_rewards": "batch"},
            [],
            "normalise the weakened reward over the batch (its scale, not its ranking, was lost)",
        ),
        "reward_hacking": (
            {"beta": _scaled(s, "beta", 4.0, lo=0.05), **lr},
            ["reward_range"],
            "drop out-of-range (bonus) rewards, pull the policy towards the reference (KL x4), slower updates",
        ),
        "empty_response": ({}, ["sampling"], "restore the declared generation config (stop-token handling)"),
        "repetition_collapse": ({}, ["sampling"], "restore the declared generation config (no repeat bias)"),
        "length_too_short": (
            {"max_completion_length": _scaled(s, "max_completion_length", 1.25, as_int=True)},
            ["sampling"],
            "enforce (and raise) the length limit that cuts answers off",
        ),
        "length_too_long": ({**lr}, ["sampling"], "restore stop tokens so answers can end, slower updates"),
        "kl_explosion": (
            {"beta": _scaled(s, "beta", 2.0, lo=0.05), "epsilon": _scaled(s, "epsilon", 0.5, lo=0.05), **lr},
            ["coefficients"],
            "fixed, doubled KL coefficient, tighter clip range, smaller steps",
        ),
        "update_freeze": (
            {"learning_rate": _scaled(s, "learning_rate", 2.0)},
            [],
            "the update vanished: larger steps",
        ),
        "entropy_collapse": (
            {"temperature": _scaled(s, "temperature", 1.2), **lr},
            ["coefficients"],
            "non-negative entropy bonus, more exploration, slower updates",
        ),
        "value_mismatch": (
            {},
            ["advantages"],
            "recompute advantages against the group mean (GRPO's baseline)",
        ),
        "advantage_instability": (
            {"epsilon": _scaled(s, "epsilon", 0.5, lo=0.05)},
            ["advantages"],
            "recompute group-normalised advantages, tighter clip range",
        ),
        "delayed_credit": ({}, ["advantages"], "recompute advantages from this step's own rewards"),
        "unknown": (lr, [], "unrecognised anomaly: roll back and take smaller steps"),
    }
    return table.get(fault, table["unknown"])


# Faults an action compensates for rather than removes: the symptom stays in these signals (a weakened reward
# still looks weak; a lost update still has a zero gradient), so the verification judges the rest.
TOLERATED: dict[str, frozenset[str]] = {
    "reward_collapse": REWARD_SIGNALS | {"advantage_std", "traj_advantage_abs_mean"},
    "update_freeze": frozenset({"grad_norm", "policy_loss", "clip_ratio"}),
}

ENVIRONMENT_CAUSES: dict[str, str] = {
    "tool_call_error": "the calculator tool fails (tool calls return errors); fix or restart the tool server "
    "(mitigation until then: tool retries and dropping trajectories with tool errors)",
    "observation_corruption": "the calculator returns wrong results without an error flag (corrupted "
    "observations); fix the tool before training on its outputs",
    "termination_error": "the environment ends episodes right after tool observations (wrong done flag); fix "
    "the episode boundary (mitigation: drop environment-terminated trajectories)",
}


def plan_action(fault_type: str, settings: dict[str, Any], attempt: int) -> Action:
    """The action for a diagnosed fault at this attempt (1 = first try, 2 = second try, 3+ = escalate)."""
    if fault_type in ENVIRONMENT_CAUSES:
        return Action(
            kind="stop",
            fault_type=fault_type,
            attempt=attempt,
            cause=ENVIRONMENT_CAUSES[fault_type],
            rationale=f"environment fault ({FAMILY_OF[fault_type]}): no training change can fix it",
        )
    if attempt > 2:
        return Action(
            kind="stop",
            fault_type=fault_type,
            attempt=attempt,
            cause=f"{fault_type} persisted after two remediations",
            rationale="escalate: keep the last healthy checkpoint and stop for a human",
        )
    changes, guards, why = _changes(fault_type, settings)
    return Action(
        kind="retrain",
        fault_type=fault_type,
        attempt=attempt,
        changes=changes,
        guards=guards,
        tolerate=sorted(TOLERATED.get(fault_type, ())),
        rationale=why,
    )
