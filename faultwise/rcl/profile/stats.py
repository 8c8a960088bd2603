"""The two standard units every deviation of the method is measured in."""

from __future__ import annotations

import numpy as np


def robust_z(x: np.ndarray, med: np.ndarray, mad: np.ndarray, floor_us: float = 100.0) -> np.ndarray:
    """Deviation in robust standard units; the scale never drops below 10 % of the median plus a floor,
    so that near-constant normal series do not turn jitter into alarms."""
    scale = 1.4826 * mad + 0.1 * np.abs(med) + floor_us
    return (x - med) / scale


def binomial_z(k: np.ndarray, n: np.ndarray, p0: np.ndarray) -> np.ndarray:
    """How far ``k`` successes of ``n`` lie above the rate ``p0`` expected from the baseline, in standard
    units; ``p0`` is kept inside (0.5 %, 99.5 %) so that never-seen events still need several occurrences."""
    p0 = np.clip(np.asarray(p0, dtype=float), 0.005, 0.995)
    n = np.asarray(n, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (np.asarray(k, dtype=float) - n * p0) / np.sqrt(n * p0 * (1 - p0))
    return np.nan_to_num(z, nan=0.0, posinf=50.0, neginf=-50.0)
