"""Bench sizes: which runs a ``smoke``, ``small`` or ``paper`` bench holds.

Every run, faulty or normal, draws its hyperparameters (learning rate, KL beta, temperature, clip range) from
the same distribution, seeded by the run, so a detector cannot tell faults from hyperparameters and false
alarms on normal runs are measurable. Faults start at step 1 or mid-run (onset drawn in the middle third).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from faultwise.errors import InputError
from faultwise.rft.faultbench.config import RunConfig
from faultwise.rft.records import FAULT_TYPES

LEARNING_RATES = (3e-4, 5e-4, 8e-4)
BETAS = (0.02, 0.04, 0.08)
TEMPERATURES = (0.9, 1.0, 1.1)
EPSILONS = (0.2, 0.28)


class Scale(BaseModel):
    """Shape of a bench: run length/batch, runs per (type, strength), normal runs, share of mid-run onsets."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, description="the scale's name (``--scale``)")
    steps: int = Field(gt=0, description="optimizer steps per run")
    prompts_per_step: int = Field(gt=0, description="distinct prompts per step")
    group_size: int = Field(gt=1, description="completions per prompt (GRPO group)")
    easy_runs: int = Field(ge=0, description="runs per fault type at easy strength")
    hard_runs: int = Field(ge=0, description="runs per fault type at hard strength")
    normal_runs: int = Field(ge=0, description="fault-free runs")
    mid_onset_every: int = Field(
        ge=0, description="every k-th run of a (type, strength) starts mid-run (0: all start at step 1)"
    )
    fault_types: tuple[str, ...] = Field(FAULT_TYPES, description="the fault types planned at both strengths")
    smoke_faults: tuple[tuple[str, str], ...] = Field(
        (), description="(type, strength) runs seed- and hyperparameter-matched to the first normal run"
    )


SCALES: dict[str, Scale] = {
    "smoke": Scale(
        name="smoke", steps=10, prompts_per_step=4, group_size=4, easy_runs=0, hard_runs=0, normal_runs=2,
        mid_onset_every=0,
        smoke_faults=(("entropy_collapse", "easy"), ("tool_call_error", "easy"), ("length_too_long", "hard")),
    ),
    "small": Scale(name="small", steps=32, prompts_per_step=4, group_size=8, easy_runs=3, hard_runs=3, normal_runs=24,
                   mid_onset_every=3),
    "paper": Scale(name="paper", steps=40, prompts_per_step=4, group_size=8, easy_runs=20, hard_runs=28, normal_runs=48,
                   mid_onset_every=3),
}  # fmt: skip


def _hyper(seed: int) -> dict[str, Any]:
    rng = np.random.default_rng([seed, 4242])
    return {
        "learning_rate": float(rng.choice(LEARNING_RATES)),
        "beta": float(rng.choice(BETAS)),
        "temperature": float(rng.choice(TEMPERATURES)),
        "epsilon": float(rng.choice(EPSILONS)),
    }


def run_configs(scale: Scale | str, base_seed: int = 0) -> list[RunConfig]:
    """The runs of a bench, deterministic in ``(scale, base_seed)``; run ids are unique and stable."""
    if isinstance(scale, str):
        if scale not in SCALES:
            raise InputError("scale", f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
        scale = SCALES[scale]
    sc = scale
    common = {"steps": sc.steps, "prompts_per_step": sc.prompts_per_step, "group_size": sc.group_size}
    out: list[RunConfig] = []
    for k in range(sc.normal_runs):
        seed = base_seed * 100_000 + k
        out.append(RunConfig(run_id=f"normal-s{seed}", seed=seed, **common, **_hyper(seed)))
    plan = [(t, s, n) for t in sc.fault_types for s, n in (("easy", sc.easy_runs), ("hard", sc.hard_runs))]
    plan += [(t, s, 1) for t, s in sc.smoke_faults]
    for ti, (ftype, strength, n) in enumerate(plan):
        for k in range(n):
            seed = base_seed * 100_000 + 1000 + ti * 100 + k
            if (ftype, strength) in sc.smoke_faults:
                seed = base_seed * 100_000  # seed- and hyperparameter-matched to the first normal run
            onset = 1
            if sc.mid_onset_every and k % sc.mid_onset_every == sc.mid_onset_every - 1:
                lo, hi = sc.steps // 3, 2 * sc.steps // 3
                onset = int(np.random.default_rng([seed, 17]).integers(lo, hi + 1))
            out.append(
                RunConfig(
                    run_id=f"{ftype}-{strength}-s{seed}",
                    seed=seed,
                    fault_type=ftype,
                    strength=strength,
                    onset_step=onset,
                    **common,
                    **_hyper(seed),
                )
            )
    return out
