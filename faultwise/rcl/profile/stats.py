"""The standard units every deviation of the method is measured in."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

#: Timer and scheduling jitter (microseconds): the slack above a normal 95th percentile before a span counts
#: as exceeding it, and the floor under a normal median that an effect size or a ratio is relative to (a
#: 20 us operation that takes 60 us has not tripled in any sense a user feels).
JITTER_US = 100.0

#: Cap on a z (a p-value below about 1e-500 says nothing more).
Z_CAP = 50.0


def robust_z(x: np.ndarray, med: np.ndarray, mad: np.ndarray, floor_us: float = JITTER_US) -> np.ndarray:
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
    return np.nan_to_num(z, nan=0.0, posinf=Z_CAP, neginf=-Z_CAP)


def log_ratios(x: np.ndarray, med: np.ndarray, floor_us: float = JITTER_US) -> np.ndarray:
    """``ln(x / med)``, both held at least ``floor_us``: how many times its normal median a time is, on a
    scale every operation shares (NaN where either is missing)."""
    with np.errstate(invalid="ignore"):
        return np.log(np.fmax(x, floor_us) / np.fmax(med, floor_us))


def binomial_tail_z(k: int, n: int, p: float) -> float:
    """The exact upper tail P(X >= ``k``) of ``n`` trials at rate ``p``, as a one-sided z (0 when ``k`` is
    not above ``n * p``). Unlike :func:`binomial_z` it holds for the rare events it is meant for: 2 of 6 at
    p = 0.5 % is z 3.4 here, 11 by the normal approximation."""
    if n <= 0 or k <= n * p or p >= 1:
        return 0.0
    if p <= 0:
        return Z_CAP
    # terms fall geometrically above the mean, so a few hundred past k carry the whole tail
    j = np.arange(k, min(n, k + 400) + 1, dtype=float)
    logs = (
        math.lgamma(n + 1)
        - np.array([math.lgamma(x + 1) + math.lgamma(n - x + 1) for x in j])
        + j * math.log(p)
        + (n - j) * math.log1p(-p)
    )
    top = float(logs.max())
    log_tail = top + math.log(float(np.exp(logs - top).sum()))
    if log_tail < -1000:
        return Z_CAP
    tail = math.exp(log_tail)
    if tail >= 0.5:
        return 0.0
    return min(Z_CAP, -NormalDist().inv_cdf(max(tail, 1e-300)))
