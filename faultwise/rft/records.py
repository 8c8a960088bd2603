"""Typed records of RFT-FaultBench and of any monitored RL fine-tuning run.

The same records feed the benchmark files (``steps.jsonl``, ``trajectories.parquet``, ``registry.csv``), the
detector, the diagnoser and the readers of other frameworks' logs (verl, TRL, OpenRLHF), so every signal
has one name here. Optional fields are ``None`` when a framework does not log them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

Strength = Literal["easy", "hard", "none"]

FAULT_FAMILIES: dict[str, tuple[str, ...]] = {
    "RF": ("reward_spike", "reward_collapse", "reward_hacking"),
    "PG": ("empty_response", "repetition_collapse", "length_too_short", "length_too_long"),
    "OD": ("kl_explosion", "update_freeze", "entropy_collapse"),
    "CA": ("value_mismatch", "advantage_instability", "delayed_credit"),
    "TE": ("tool_call_error", "observation_corruption", "termination_error"),
}
FAULT_TYPES: tuple[str, ...] = tuple(t for types in FAULT_FAMILIES.values() for t in types)
FAMILY_OF: dict[str, str] = {t: fam for fam, types in FAULT_FAMILIES.items() for t in types}


def first_problem(exc: ValidationError) -> str:
    """The first problem of a validation error as one line: ``field.path: message``."""
    e = exc.errors()[0]
    loc = ".".join(str(x) for x in e.get("loc", ()))
    return f"{loc}: {e.get('msg')}" if loc else str(e.get("msg"))


class StepRecord(BaseModel):
    """One optimizer step of a run: the training-dynamics signals, and the injected label when known."""

    model_config = ConfigDict(extra="allow")

    step: int = Field(ge=0)
    reward_mean: float | None = None
    reward_std: float | None = None
    kl: float | None = None
    entropy: float | None = None
    policy_loss: float | None = None
    grad_norm: float | None = None
    learning_rate: float | None = None
    response_length_mean: float | None = None
    response_length_max: float | None = None
    clip_ratio: float | None = None
    tool_calls_per_traj: float | None = None
    tool_errors_per_traj: float | None = None
    advantage_mean: float | None = None
    advantage_std: float | None = None
    repetition_ratio_mean: float | None = None
    empty_ratio: float | None = None
    task_accuracy: float | None = Field(None, description="true task accuracy, independent of the reward")
    wall_time_s: float | None = None
    # label (benchmark runs only)
    fault_type: str = "none"
    fault_family: str = "none"
    strength: Strength = "none"
    fault_active: bool = False


class TrajectoryRecord(BaseModel):
    """One sampled completion (episode) of a step."""

    model_config = ConfigDict(extra="allow")

    step: int = Field(ge=0)
    index: int = Field(ge=0, description="position of the trajectory within its step")
    reward: float
    correct: bool = Field(description="true task correctness, not the (possibly faulty) reward")
    response_length: int = Field(ge=0)
    advantage: float
    return_: float = Field(alias="return")
    repetition_ratio: float
    unique_token_ratio: float
    tool_calls: int = Field(ge=0)
    tool_errors: int = Field(ge=0)
    is_empty: bool
    is_short: bool
    is_long: bool
    in_loss: bool = Field(
        True, description="whether the completion entered the loss (False: a data filter left it out)"
    )
    fault_type: str = "none"
    strength: Strength = "none"


class RunInfo(BaseModel):
    """One row of ``registry.csv``: a run and its injected fault (or ``none``)."""

    run_id: str
    family: str = "none"
    fault_type: str = "none"
    strength: Strength = "none"
    onset_step: int = Field(0, ge=0, description="first step at which the fault is active (0 = none)")
    seed: int
    task_group: str = "arithmetic"
    steps: int = Field(gt=0)
    trajectories_per_step: int = Field(gt=0)
    config: str = Field("{}", description="JSON of the run's hyperparameters")
