"""Timing shifts: each span against its operation's normal timings, and each operation (on each pod) as a
whole against how often its spans normally run slow or fail.

One slow span is noise; an operation whose spans on one pod exceed their normal 95th percentile far more
often than 5 % of the time (a binomial z) is a real shift, and so is one whose few slow spans lie further out
than normal spans almost ever do (a rarely called operation cannot show the first). Vectorised over every
span at once, but for one exact tail per slow operation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from faultwise.rcl.profile.normal import NormalProfile
from faultwise.rcl.profile.stats import JITTER_US, Z_CAP, binomial_tail_z, binomial_z, log_ratios, robust_z

__all__ = ["JITTER_US", "MEDIAN_Z", "in_window", "score_error_shift", "score_timings"]

#: The one-sided 5 % level, for a user who turns the median requirement on (``EmbeddedConfig.median_z``): an
#: operation's median counts as moved when this many standard units more of its window spans lie above the
#: normal median than the half expected (10 of 10 spans give 3.2, 3 of 3 give 1.7).
MEDIAN_Z = 1.645


def in_window(spans: pd.DataFrame, window_us: tuple[int, int]) -> np.ndarray:
    """Spans of the traces that start inside the window (a trace is in or out as a whole)."""
    lo, hi = window_us
    first = spans.groupby("trace_id")["start_us"].transform("min")
    return ((first >= lo) & (first <= hi)).to_numpy()


def _profile_rows(spans: pd.DataFrame, profile: NormalProfile) -> pd.DataFrame:
    """The profile's operation statistics aligned with the spans (NaN for an operation never seen)."""
    key = pd.MultiIndex.from_frame(spans[["service", "operation"]])
    return profile.op_stats.reindex(key)


def _operation_groups(spans: pd.DataFrame) -> list[pd.Series]:
    return [spans["pod"], spans["operation"]]


def _request_medians(spans: pd.DataFrame, dur_med: np.ndarray) -> np.ndarray:
    """Per span, the normal median duration of its trace's root operation (what a user waits for a whole
    request; NaN where the root's operation has no normal). A root has no parent in its trace: an empty
    ``parent_pod`` (:func:`~faultwise.rcl.profile.graph.add_timings`)."""
    roots = pd.Series(np.where(spans["parent_pod"] == "", dur_med, np.nan), index=spans.index)
    return roots.groupby(spans["trace_id"]).transform("first").to_numpy(dtype=float)  # NaN-skipping


def score_timings(
    spans: pd.DataFrame, profile: NormalProfile, window: np.ndarray, median_z: float | None = None
) -> None:
    """Add, per span: robust z of duration, own time and gap (``dur_z``, ``self_z``, ``gap_z``) and the
    normal medians (``base_*_med``); whether own time and gap exceed the normal 95th percentile
    (``self_exceeds``, ``gap_exceeds``); and how far its operation on its pod exceeds it more often than
    normal in the window (``op_self_shift_z``, ``op_gap_shift_z``: a confidence, which grows with the
    operation's traffic) and by how much (``op_self_effect``, ``op_gap_effect``: an effect size, the median
    excess of its exceeding window spans over the normal median, relative to the normal time of the whole
    request (its trace's root operation) or of the operation, whichever is longer, at least
    :data:`JITTER_US`: 1.0 = the request takes twice its normal time; zero outside the window), and how
    unlikely its slow spans are by how far out they lie (``op_self_tail_z``, ``op_gap_tail_z``: a confidence
    that holds on few calls, see :func:`_tail_z`). Relative to
    the request, a +4 ms shift of a 0.7 ms step inside a 200 ms request is small and a +1 s network wait is
    large, on any system's time scale.

    With ``median_z`` (e.g. :data:`MEDIAN_Z`) a shift counts only where the operation's median moved too:
    more of its window spans lie above the normal median than half, at that one-sided z
    (``op_*_median_z``, added then). A tail that fattened while the median held is drift (tables grow over
    a day), not a fault; its shift z is capped at the median's z. ``None`` (default): no such requirement."""
    st = _profile_rows(spans, profile)
    for col, name in (("duration_us", "dur"), ("self_us", "self"), ("gap_us", "gap")):
        med = st[f"{name}_med"].to_numpy(dtype=float)
        mad = st[f"{name}_mad"].to_numpy(dtype=float)
        z = robust_z(spans[col].to_numpy(dtype=float), med, mad)
        spans[f"{name}_z"] = np.nan_to_num(z, nan=0.0, posinf=Z_CAP, neginf=-Z_CAP)
        spans[f"base_{name}_med"] = med
    grp = _operation_groups(spans)
    request_us = _request_medians(spans, st["dur_med"].to_numpy(dtype=float))
    for name in ("self", "gap"):
        p95 = st[f"{name}_p95"].to_numpy(dtype=float)
        val = spans[f"{name}_us"].to_numpy(dtype=float)
        exceed = np.nan_to_num(val > p95 * 1.05 + JITTER_US, nan=0.0).astype(bool)
        has = ~np.isnan(val) & ~np.isnan(p95)
        spans[f"{name}_exceeds"] = exceed & has
        k = pd.Series(np.where(window, exceed & has, False)).groupby(grp).transform("sum").to_numpy()
        n = pd.Series(np.where(window, has, False)).groupby(grp).transform("sum").to_numpy()
        z = binomial_z(k, n, 0.05)
        base = spans[f"base_{name}_med"].to_numpy(dtype=float)  # the normal median, aligned above
        excess = (val - base) / np.maximum(np.fmax(base, request_us), JITTER_US)
        counted = pd.Series(np.where(window & exceed & has, excess, np.nan))
        effect = counted.groupby(grp).transform("median").to_numpy(dtype=float)
        spans[f"op_{name}_effect"] = np.where(window, np.nan_to_num(effect, nan=0.0), 0.0)
        tail_z = _tail_z(spans, profile, name, grp, window & exceed & has, k, n)
        spans[f"op_{name}_tail_z"] = np.where(window & has, tail_z, 0.0)
        if median_z is not None:
            above = np.nan_to_num(val > base, nan=0.0).astype(bool) & has
            k_med = pd.Series(np.where(window, above, False)).groupby(grp).transform("sum").to_numpy()
            z_med = binomial_z(k_med, n, 0.5)
            spans[f"op_{name}_median_z"] = np.where(window, z_med, 0.0)
            z = np.where(z_med >= median_z, z, np.minimum(z, z_med))
        spans[f"op_{name}_shift_z"] = np.where(window, z, 0.0)


def _tail_z(
    spans: pd.DataFrame,
    profile: NormalProfile,
    name: str,
    grp: list[pd.Series],
    exceeding: np.ndarray,
    k: np.ndarray,
    n: np.ndarray,
) -> np.ndarray:
    """Per span, how unlikely its operation's ``k`` exceeding window spans (of ``n``, both per span as
    :func:`score_timings` counted them) are by how far out they lie: all of them at least as many times the
    normal median as the least of them, where a normal span lies that far out at the rate
    :meth:`NormalProfile.tail_share` gives; an exact binomial tail as a z. Two calls of six waiting 300 times
    their median are no accident even when the operation had one normal span; a tail that grew to twice the
    median is a common sight."""
    ratio = log_ratios(
        spans[f"{name}_us"].to_numpy(dtype=float), spans[f"base_{name}_med"].to_numpy(dtype=float)
    )
    least = pd.Series(np.where(exceeding, ratio, np.nan)).groupby(grp).transform("min").to_numpy()
    # one exact tail per slow operation: its first exceeding span speaks for it
    rows = np.flatnonzero(exceeding)
    rows = rows[~pd.MultiIndex.from_arrays([g.to_numpy()[rows] for g in grp]).duplicated()]
    ops = list(zip(spans["service"].to_numpy()[rows], spans["operation"].to_numpy()[rows], strict=True))
    share = profile.tail_share(name, least[rows], ops)
    z = np.zeros(len(spans))
    z[rows] = [binomial_tail_z(int(k[i]), int(n[i]), float(q)) for i, q in zip(rows, share, strict=True)]
    return pd.Series(z).groupby(grp).transform("max").to_numpy()


def score_error_shift(spans: pd.DataFrame, profile: NormalProfile, window: np.ndarray) -> None:
    """Add ``op_err_shift_z``: how far the operation on the span's pod fails more often in the window than
    its normal error rate (zero outside the window)."""
    st = _profile_rows(spans, profile)
    grp = _operation_groups(spans)
    base_err = st["err_rate"].to_numpy(dtype=float)
    k = (
        pd.Series(np.where(window, spans["is_error"].to_numpy(), False))
        .groupby(grp)
        .transform("sum")
        .to_numpy()
    )
    n = pd.Series(window).groupby(grp).transform("sum").to_numpy()
    z = binomial_z(k, n, np.nan_to_num(base_err, nan=0.0))
    spans["op_err_shift_z"] = np.where(window, z, 0.0)
