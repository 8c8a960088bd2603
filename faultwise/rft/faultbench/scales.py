"""Bench sizes and variants: which runs a ``smoke``, ``small`` or ``paper`` bench holds, and with which policy
and hyperparameter ranges.

Every run, faulty or normal, draws its hyperparameters (learning rate, KL beta, temperature, clip range) from
the same distribution, seeded by the run, so a detector cannot tell faults from hyperparameters and false
alarms on normal runs are measurable. Faults start at step 1 or mid-run (onset drawn in the middle third).

A :class:`Variant` sets the policy's size and those hyperparameter ranges: ``default`` is the bench every
figure was fitted on; ``wide`` (a larger policy at lower learning rates, KL coefficient, temperature and clip
range drawn from other and wider sets) is out of distribution for a detector fitted on ``default``.

Seeds: a bench's base seed is any integer in 0 ... 2**32-1; run ``k`` of it gets the run seed
``base * 100_000 + k`` (so the run ids of a base seed never collide with another's). Run seeds above 2**32-1
are folded into 32 bits only where a library needs that (:attr:`RunConfig.library_seed`).
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
MAX_BASE_SEED = 2**32 - 1
RUN_SEED_STRIDE = 100_000  # run seeds of base seed b: b * RUN_SEED_STRIDE + k, k < RUN_SEED_STRIDE


class Variant(BaseModel):
    """The policy and the hyperparameter ranges of a bench's runs (``--variant``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, description="the variant's name (``--variant``)")
    description: str = Field(description="what differs from the default, in one line")
    policy: dict[str, Any] = Field(
        default_factory=dict, description="PolicyConfig overrides: the policy's size (and its warm start)"
    )
    learning_rates: tuple[float, ...] = Field(min_length=1, description="learning rates a run draws from")
    betas: tuple[float, ...] = Field(min_length=1, description="KL coefficients a run draws from")
    temperatures: tuple[float, ...] = Field(
        min_length=1, description="sampling temperatures a run draws from"
    )
    epsilons: tuple[float, ...] = Field(min_length=1, description="clip ranges a run draws from")


VARIANTS: dict[str, Variant] = {
    "default": Variant(
        name="default",
        description="the tiny Llama (hidden 64, 2 layers) and the ranges every figure was fitted on",
        learning_rates=LEARNING_RATES,
        betas=BETAS,
        temperatures=TEMPERATURES,
        epsilons=EPSILONS,
    ),
    "wide": Variant(
        name="wide",
        description="a larger policy (hidden 96, 3 layers: 3x the parameters) trained at lower learning rates, "
        "and other, wider ranges of KL coefficient, temperature and clip range",
        # the larger Llama needs a gentler warm start (at the default 3e-3 it reached 0.16 held-out accuracy, with
        # most fault-free runs then collapsing to format-only answers); at 1e-3 it starts as good as the
        # default's (0.62 against 0.63), so the variant changes the size and the ranges, not the starting skill.
        # Likewise in RL: drawn from (1.5e-4, 4e-4, 1e-3), 38 of 45 fault-free runs at 1e-3 collapsed to
        # accuracy 0 by themselves (3 of 40 at 4e-4, 0 of 35 at 1.5e-4; the default variant: 0 of 144), so a
        # "normal" label there named a failed run. A larger model trains at lower rates.
        policy={"hidden_size": 96, "layers": 3, "sft_lr": 1e-3},
        learning_rates=(1e-4, 2e-4, 3e-4),
        betas=(0.01, 0.03, 0.12),
        temperatures=(0.8, 0.95, 1.2),
        epsilons=(0.15, 0.24, 0.35),
    ),
}


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


def _hyper(seed: int, variant: Variant) -> dict[str, Any]:
    rng = np.random.default_rng([seed, 4242])
    return {
        "learning_rate": float(rng.choice(variant.learning_rates)),
        "beta": float(rng.choice(variant.betas)),
        "temperature": float(rng.choice(variant.temperatures)),
        "epsilon": float(rng.choice(variant.epsilons)),
        "policy": dict(variant.policy),
    }


def check_base_seed(base_seed: int, source: str = "seed") -> int:
    """``base_seed`` if it is a bench base seed (0 ... 2**32-1), else an :class:`InputError`."""
    if isinstance(base_seed, bool) or not isinstance(base_seed, int) or not 0 <= base_seed <= MAX_BASE_SEED:
        raise InputError(source, f"must be an integer in 0 ... {MAX_BASE_SEED} (2**32-1), got {base_seed!r}")
    return base_seed


def get_variant(name: str, source: str = "variant") -> Variant:
    """The variant called ``name``, or an :class:`InputError` naming the known ones."""
    if name not in VARIANTS:
        raise InputError(source, f"unknown variant {name!r}; choose one of {', '.join(VARIANTS)}")
    return VARIANTS[name]


def run_configs(
    scale: Scale | str, base_seed: int = 0, variant: Variant | str = "default"
) -> list[RunConfig]:
    """The runs of a bench, deterministic in ``(scale, base_seed, variant)``; run ids are unique and stable
    (a variant changes the policy and the hyperparameters, not the run ids)."""
    if isinstance(scale, str):
        if scale not in SCALES:
            raise InputError("scale", f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
        scale = SCALES[scale]
    if isinstance(variant, str):
        variant = get_variant(variant)
    check_base_seed(base_seed)
    sc = scale
    common = {"steps": sc.steps, "prompts_per_step": sc.prompts_per_step, "group_size": sc.group_size}
    out: list[RunConfig] = []
    for k in range(sc.normal_runs):
        seed = base_seed * RUN_SEED_STRIDE + k
        out.append(RunConfig(run_id=f"normal-s{seed}", seed=seed, **common, **_hyper(seed, variant)))
    plan = [(t, s, n) for t in sc.fault_types for s, n in (("easy", sc.easy_runs), ("hard", sc.hard_runs))]
    plan += [(t, s, 1) for t, s in sc.smoke_faults]
    for ti, (ftype, strength, n) in enumerate(plan):
        for k in range(n):
            seed = base_seed * RUN_SEED_STRIDE + 1000 + ti * 100 + k
            if (ftype, strength) in sc.smoke_faults:
                seed = base_seed * RUN_SEED_STRIDE  # seed- and hyperparameter-matched to the first normal run
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
                    **_hyper(seed, variant),
                )
            )
    return out


def balanced_order(cfgs: list[RunConfig]) -> list[RunConfig]:
    """The runs of a bench in the order ``generate`` trains them, so that any first N are balanced: the normal
    runs first, then rounds of one run of every (type, strength); in the first round, half of the types start
    their easy run mid-run and the other half their hard run (where the scale has mid-run onsets)."""
    normal = [c for c in cfgs if c.fault_type == "none"]
    groups: dict[tuple[str, str], list[RunConfig]] = {}
    for c in cfgs:
        if c.fault_type != "none":
            groups.setdefault((c.fault_type, c.strength), []).append(c)
    types = list(dict.fromkeys(t for t, _ in groups))
    queues = []
    for (ftype, strength), runs in groups.items():
        mid = [c for c in runs if c.onset_step > 1]
        first = [c for c in runs if c.onset_step <= 1]
        mid_first = (types.index(ftype) + (strength == "hard")) % 2 == 1
        queues.append(_alternate(mid, first) if mid_first else _alternate(first, mid))
    rounds: list[RunConfig] = []
    for i in range(max((len(q) for q in queues), default=0)):
        rounds += [q[i] for q in queues if i < len(q)]
    return normal + rounds


def _alternate(a: list[RunConfig], b: list[RunConfig]) -> list[RunConfig]:
    out: list[RunConfig] = []
    for i in range(max(len(a), len(b))):
        out += a[i : i + 1] + b[i : i + 1]
    return out
