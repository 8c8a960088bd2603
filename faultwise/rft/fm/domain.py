"""The setups a fitted model may judge: the hull of the training setups it was fitted on.

A profile fitted on one policy and one set of hyperparameter ranges describes how *those* runs move; a larger
policy or a higher learning rate learns faster and differently, and the profile then calls healthy learning
anomalous (measured on the ``wide`` bench variant: 69 % of its fault-free runs alarmed with a model fitted on
``default``, 8 % without one). The first steps of such runs look like the profile's, so the run's signals cannot
tell; its declared setup can. A run that declares a setting outside the range the model was fitted on is
judged without the model; a setting the run does not declare is not judged.

Setting names are those of TRL's ``GRPOConfig`` and of the model's ``config`` (``hidden_size``,
``num_hidden_layers``), so a trainer callback declares them as they are.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from pydantic import BaseModel, ConfigDict, Field

#: what decides how a run's signals move: policy size, step size and its limits, sampling, group size
SETUP_KEYS: tuple[str, ...] = (
    "learning_rate",
    "beta",
    "epsilon",
    "temperature",
    "max_completion_length",
    "num_generations",
    "hidden_size",
    "num_hidden_layers",
)


class SetupDomain(BaseModel):
    """Per setting, the smallest and largest value among the runs a model was fitted on."""

    model_config = ConfigDict(extra="forbid")

    ranges: dict[str, tuple[float, float]] = Field(
        default_factory=dict, description="setting -> (min, max) over the fitted runs"
    )

    def outside(self, setup: Mapping[str, float]) -> list[str]:
        """The declared settings outside the fitted ranges, one phrase each (empty: the model applies)."""
        out = []
        for key, (lo, hi) in self.ranges.items():
            v = setup.get(key)
            if v is None or not math.isfinite(v):
                continue
            tol = 1e-9 * max(abs(lo), abs(hi), 1.0)
            if v < lo - tol or v > hi + tol:
                fitted = f"{lo:g}" if lo == hi else f"{lo:g}..{hi:g}"
                out.append(f"{key} {v:g} outside the fitted {fitted}")
        return out


def fit_domain(setups: Iterable[Mapping[str, float]]) -> SetupDomain:
    """The hull of the given setups over :data:`SETUP_KEYS` (a setting no run declares is left out)."""
    ranges: dict[str, tuple[float, float]] = {}
    for setup in setups:
        for key in SETUP_KEYS:
            v = setup.get(key)
            if v is None or not math.isfinite(v):
                continue
            lo, hi = ranges.get(key, (v, v))
            ranges[key] = (min(lo, v), max(hi, v))
    return SetupDomain(ranges=ranges)
