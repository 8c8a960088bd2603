"""The fingerprint of an anomalous window: a fixed-length vector of z-score summaries per signal.

z-scores come from the normal profile, so the fingerprint says "how far from healthy, in which direction",
independent of each signal's units. ``sign(z)*log1p(|z|)`` tames the heavy tails of blown-up signals.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from faultwise.rft.signals import ALL_SIGNALS

SUMMARIES: tuple[str, ...] = ("level_mean", "trend_last", "diff_extreme", "shift_mean", "cusum_last")
FEATURE_NAMES: tuple[str, ...] = tuple(f"{s}.{k}" for s in ALL_SIGNALS for k in SUMMARIES)

Window = Sequence[dict[str, dict[str, float]]]  # per step: signal -> component -> z


def _squash(z: float) -> float:
    return math.copysign(math.log1p(abs(z)), z)


def window_summary(window: Window) -> dict[str, dict[str, float]]:
    """Per signal: mean level z, last trend z, the most extreme diff z, mean shift z, last CUSUM (how far the
    level has drifted, accumulated since the run began)."""
    out: dict[str, dict[str, float]] = {}
    for name in ALL_SIGNALS:
        levels = [zs[name]["level"] for zs in window if name in zs and "level" in zs[name]]
        if not levels:
            continue
        trends = [zs[name]["trend"] for zs in window if name in zs and "trend" in zs[name]]
        diffs = [zs[name]["diff"] for zs in window if name in zs and "diff" in zs[name]]
        shifts = [zs[name]["shift"] for zs in window if name in zs and "shift" in zs[name]]
        cusums = [zs[name]["cusum"] for zs in window if name in zs and "cusum" in zs[name]]
        out[name] = {
            "level_mean": sum(levels) / len(levels),
            "trend_last": trends[-1] if trends else 0.0,
            "diff_extreme": max(diffs, key=abs) if diffs else 0.0,
            "shift_mean": sum(shifts) / len(shifts) if shifts else 0.0,
            "cusum_last": cusums[-1] if cusums else 0.0,
        }
    return out


def window_features(window: Window) -> np.ndarray:
    """The fingerprint vector of a window (:data:`FEATURE_NAMES` order; absent signals are 0)."""
    summ = window_summary(window)
    vec = np.zeros(len(FEATURE_NAMES))
    i = 0
    for name in ALL_SIGNALS:
        s = summ.get(name)
        for k in SUMMARIES:
            if s is not None:
                vec[i] = _squash(s[k])
            i += 1
    return vec
