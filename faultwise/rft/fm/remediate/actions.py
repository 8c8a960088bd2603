"""What to change for each diagnosis: a remediation action through an operator's levers, or a stop.

An action is a set of changes to the run's declared configuration
(:class:`faultwise.rft.faultbench.RunConfig`: learning rate, KL coefficient, entropy coefficient, clip range,
temperature, length limit, reward normalisation, data filters, the declared fallback reward function), applied
after rolling back to a checkpoint saved before the fault's estimated onset; or a stop with a named cause. An
action never touches the fault: it does not know where the fault sits, reads no hook's state and adds no hook
(the pipeline guards of :mod:`faultwise.rft.fm.remediate.guards` are an opt-in extra, ``use_guards``, kept out of
every headline figure). The second attempt starts over from the run's first step with both attempts' changes
(each computed from the run's own settings); then the loop escalates.
Environment faults (the tool or the episode boundary is broken) cannot be trained around: the action is to stop
and name the cause.

:func:`generic_action` is the control the bench compares with: on any diagnosis, roll back and halve the
learning rate.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

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
    rationale: str
    cause: str | None = None


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
        "reward_hacking": (
            {**fallback, "beta": _scaled(s, "beta", 2.0, lo=0.05)},
            ["reward_range"],
            "the grader is exploitable: swap in the declared fallback, pull towards the reference (KL x2)",
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
            {
                "epsilon": _scaled(s, "epsilon", 0.5, lo=0.05),
                "learning_rate": _scaled(s, "learning_rate", 0.25),
            },
            ["coefficients"],
            "the policy runs away from the reference: much smaller steps, tighter clip range",
        ),
        "update_freeze": (
            {"learning_rate": _scaled(s, "learning_rate", 2.0)},
            [],
            "the update vanished: larger steps",
        ),
        "entropy_collapse": (
            {
                "temperature": _scaled(s, "temperature", 1.3),
                "entropy_coef": max(float(s.get("entropy_coef", 0.0)), 0.01),
                **lr,
            },
            ["coefficients"],
            "more exploration (temperature x1.3, entropy bonus), slower updates",
        ),
        "value_mismatch": ({**lr}, ["advantages"], "the credit signal is off: slower updates"),
        "advantage_instability": (
            {"epsilon": _scaled(s, "epsilon", 0.5, lo=0.05), **lr},
            ["advantages"],
            "unstable advantages: tighter clip range, slower updates",
        ),
        "delayed_credit": ({**lr}, ["advantages"], "the credit signal is off: slower updates"),
        "unknown": (lr, [], "unrecognised anomaly: roll back and take smaller steps"),
    }
    return table.get(fault, table["unknown"])


ENVIRONMENT_CAUSES: dict[str, str] = {
    "tool_call_error": "the calculator tool fails (tool calls return errors); fix or restart the tool server "
    "(mitigation until then: tool retries and dropping trajectories with tool errors)",
    "observation_corruption": "the calculator returns wrong results without an error flag (corrupted "
    "observations); fix the tool before training on its outputs",
    "termination_error": "the environment ends episodes right after tool observations (wrong done flag); fix "
    "the episode boundary (mitigation: drop environment-terminated trajectories)",
}


def _escalate(fault_type: str, attempt: int) -> Action:
    return Action(
        kind="stop",
        fault_type=fault_type,
        attempt=attempt,
        cause=f"{fault_type} persisted after two remediations",
        rationale="escalate: keep the last healthy checkpoint and stop for a human",
    )


def plan_action(fault_type: str, settings: dict[str, Any], attempt: int, use_guards: bool = False) -> Action:
    """The action for a diagnosed fault at this attempt (1 = first try, 2 = second try, 3+ = escalate).
    ``use_guards`` adds the opt-in pipeline guards (an oracle on FaultBench: never in a headline figure)."""
    if fault_type in ENVIRONMENT_CAUSES:
        return Action(
            kind="stop",
            fault_type=fault_type,
            attempt=attempt,
            cause=ENVIRONMENT_CAUSES[fault_type],
            rationale=f"environment fault ({FAMILY_OF[fault_type]}): no training change can fix it",
        )
    if attempt > 2:
        return _escalate(fault_type, attempt)
    changes, guards, why = _changes(fault_type, settings)
    return Action(
        kind="retrain",
        fault_type=fault_type,
        attempt=attempt,
        changes=changes,
        guards=guards if use_guards else [],
        rationale=why,
    )


def generic_action(
    fault_type: str, settings: dict[str, Any], attempt: int, use_guards: bool = False
) -> Action:
    """The generic control: whatever the diagnosis, roll back and halve the learning rate (twice), then stop."""
    if attempt > 2:
        return _escalate(fault_type, attempt)
    return Action(
        kind="retrain",
        fault_type=fault_type,
        attempt=attempt,
        changes={"learning_rate": _scaled(settings, "learning_rate", 0.5)},
        rationale="generic: roll back and halve the learning rate",
    )
