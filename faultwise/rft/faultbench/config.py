"""The configuration of one bench run: its hyperparameters (the remediation knobs among them) and its fault."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from faultwise.rft.faultbench import task as T
from faultwise.rft.faultbench.policy import PolicyConfig
from faultwise.rft.records import FAMILY_OF, FAULT_TYPES, RunInfo

# task group -> the declared range of its reward function
TASK_REWARD_RANGES: dict[str, tuple[float, float]] = {"arithmetic": T.REWARD_RANGE}


def declared_reward_range(task_group: str) -> tuple[float, float] | None:
    """The declared reward range of a task group's reward function (None: not declared)."""
    return TASK_REWARD_RANGES.get(task_group)


def trainer_setup_of(config_json: str) -> dict[str, float]:
    """The trainer setup (:meth:`RunConfig.trainer_setup`) of a run config's JSON, as ``registry.csv`` and
    ``run.json`` store it; empty when it is not a readable run config."""
    try:
        return RunConfig.model_validate_json(config_json).trainer_setup()
    except ValueError:
        return {}


def run_dir_setup(run_dir: Path) -> dict[str, float]:
    """The trainer setup a FaultBench run directory declares in its ``run.json``; empty for any other folder or
    file (a log of another tool declares none)."""
    meta = run_dir / "run.json"
    if not meta.is_file():
        return {}
    try:
        config = json.loads(meta.read_text(encoding="utf-8")).get("config", "")
    except (OSError, UnicodeDecodeError, ValueError, AttributeError):
        return {}
    return trainer_setup_of(config) if isinstance(config, str) else {}


#: The fields that describe the injected fault (the bench's labels): nothing a monitor or an action uses reads them.
FAULT_FIELDS: frozenset[str] = frozenset({"fault_type", "strength", "onset_step"})


class RunConfig(BaseModel):
    """A run's hyperparameters and its injected fault. JSON of this goes into ``registry.csv``'s ``config``.

    Example::

        cfg = RunConfig(run_id="spike", seed=7, steps=10, fault_type="reward_spike", strength="easy", onset_step=5)
        out = run(cfg, "work/spike")
    """

    model_config = ConfigDict(extra="forbid")

    run_id: str = Field("run", min_length=1, description="name of the run (its directory in a bench)")
    seed: int = Field(
        0,
        ge=0,
        description="seed of the data order, the sampling and every fault's randomness (any size: folded into "
        "32 bits where a library needs that, see library_seed)",
    )
    steps: int = Field(32, gt=0, description="optimizer steps")
    prompts_per_step: int = Field(4, gt=0, description="distinct prompts per step")
    group_size: int = Field(8, gt=1, description="completions sampled per prompt (GRPO group)")
    learning_rate: float = Field(5e-4, gt=0, description="constant learning rate")
    beta: float = Field(0.04, ge=0, description="KL coefficient against the reference (warm-start) policy")
    epsilon: float = Field(0.2, gt=0, description="clip range of the policy ratio")
    ref_sync_steps: int = Field(
        0,
        ge=0,
        description="TRL's sync_ref_model: copy the policy into the KL reference every K steps (mixup alpha 1), "
        "so the KL term measures the drift since the last copy, not since the warm start; 0: never (TRL's default)",
    )
    temperature: float = Field(1.0, gt=0, description="sampling temperature")
    max_completion_length: int = Field(24, gt=0, description="completion length limit in tokens")
    scale_rewards: Literal["group", "batch", "none"] = Field(
        "group", description="advantage normalisation: by the group's std, the batch's std, or none"
    )
    reward_guard: float | None = Field(
        None, gt=0, description="clip rewards to [0, reward_guard] (non-finite ones to 0); None: off"
    )
    tool_retries: int = Field(0, ge=0, description="retries of a failed calculator call")
    drop_corrupted: bool = Field(
        False,
        description="zero the advantage of trajectories with tool errors or an environment-ended episode",
    )
    entropy_coef: float = Field(
        0.0, ge=0, le=1, description="entropy bonus coefficient (verl's entropy_coeff; TRL's entropy term)"
    )
    mask_truncated_completions: bool = Field(
        False,
        description="TRL's flag: completions that end without an end-of-sequence token (cut at the length limit) "
        "are left out of the loss (zero advantage)",
    )
    drop_degenerate: bool = Field(
        False,
        description="data filter: empty completions and completions that mostly repeat one token are left out of "
        "the loss (zero advantage)",
    )
    reward_fallback: bool = Field(
        False,
        description="score with the run's declared fallback reward function (a pinned, known-good version of the "
        "grader) instead of the primary one",
    )
    save_every: int = Field(0, ge=0, description="save a checkpoint every K steps (0: never)")
    fault_type: str = Field("none", description="injected fault: one of FAULT_TYPES, or none")
    strength: Literal["easy", "hard", "none"] = Field(
        "none", description="easy or hard for a fault; none without one"
    )
    onset_step: int = Field(
        0, ge=0, description="first faulty step (0 or 1: from the start; 0 without a fault)"
    )
    task_group: str = Field("arithmetic", description="task family of the prompts (registry label)")
    policy: dict = Field(default_factory=dict, description="PolicyConfig overrides")

    @field_validator("policy")
    @classmethod
    def _known_policy_fields(cls, value: dict) -> dict:
        PolicyConfig(**value)  # unknown keys or out-of-range values fail here, not at the warm start
        return value

    @model_validator(mode="after")
    def _fault_and_strength_together(self) -> RunConfig:
        if self.fault_type == "none":
            if self.strength != "none":
                raise ValueError(
                    f"strength {self.strength!r} without a fault: set fault_type, or strength none"
                )
        elif self.fault_type not in FAULT_TYPES:
            raise ValueError(f"unknown fault_type {self.fault_type!r}; known: none, {', '.join(FAULT_TYPES)}")
        elif self.strength == "none":
            raise ValueError(f"fault_type {self.fault_type!r} needs strength easy or hard")
        return self

    @property
    def library_seed(self) -> int:
        """The seed handed to torch and TRL (whose ``set_seed`` calls ``numpy.random.seed``, limited to 32 bits):
        the run seed itself below 2**32, above it a 32-bit hash of it (so large run seeds stay distinct)."""
        if self.seed < 2**32:
            return self.seed
        return int(np.random.SeedSequence(self.seed).generate_state(1, dtype=np.uint32)[0])

    def operator_settings(self) -> dict:
        """The run's settings as its operator sees them: everything but the injected fault's labels."""
        return self.model_dump(exclude=set(FAULT_FIELDS))

    def trainer_setup(self) -> dict[str, float]:
        """The run's setup under the names a TRL trainer declares it (``GRPOConfig`` fields and the model's
        ``config``): what a fitted model's applicability domain is judged on."""
        pol = self.policy_config()
        return {
            "learning_rate": self.learning_rate,
            "beta": self.beta,
            "epsilon": self.epsilon,
            "temperature": self.temperature,
            "max_completion_length": float(self.max_completion_length),
            "num_generations": float(self.group_size),
            "hidden_size": float(pol.hidden_size),
            "num_hidden_layers": float(pol.layers),
        }

    @property
    def reward_range(self) -> tuple[float, float] | None:
        """The declared range of the run's reward function (its task's), as an operator's config states it."""
        return declared_reward_range(self.task_group)

    @property
    def trajectories_per_step(self) -> int:
        """Trajectories (completions) per step: prompts x group size."""
        return self.prompts_per_step * self.group_size

    def policy_config(self) -> PolicyConfig:
        """The policy's architecture and warm-start recipe (defaults with this run's overrides)."""
        return PolicyConfig(**self.policy)

    def run_info(self) -> RunInfo:
        """The run's ``registry.csv`` row."""
        return RunInfo(
            run_id=self.run_id,
            family=FAMILY_OF.get(self.fault_type, "none"),
            fault_type=self.fault_type,
            strength=self.strength,
            onset_step=self.onset_step,
            seed=self.seed,
            task_group=self.task_group,
            steps=self.steps,
            trajectories_per_step=self.trajectories_per_step,
            config=self.model_dump_json(),
        )
