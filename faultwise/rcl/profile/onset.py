"""Which spans of the minutes before an incident's start may join its normal baseline.

Those minutes are the closest baseline there is: the same hour's load, tables and caches, where a declared
fault-free period may be hours old (drift). But a start taken from labels or an alarm can be late, and then
the fault is already in them: learned as normal, it hides itself. The rule here assumes the two differ in
size: that drift fattens tails while medians hold, and a fault moves an operation's median own time by a
factor. So an operation whose median own time before the start is already ``factor`` times off its
declared-baseline median (either way) is taken to be faulty there, and only its spans are kept out of the
baseline. On TrainTicket, whose declared baselines are hours old, medians drift that much too and the rule
loses cases; the analyzer applies it only when asked (``RCLConfig.onset_shift_factor``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from faultwise.rcl.profile.graph import add_timings

#: Medians below this (microseconds) count as this much: a 30 µs call becoming 70 µs is timer noise, not a
#: fault (the same floor the timing tools add to a 95th percentile).
MEDIAN_FLOOR_US = 100.0
#: Spans an operation needs on each side before its median is compared.
MIN_SPANS = 3

_KEY = ["service", "operation"]


def _median_own_time_us(spans: pd.DataFrame) -> pd.DataFrame:
    """Per (service, operation): the median own time, where spans have one, else of durations (a call's
    wait, a span beside a call), and the number of spans."""
    timed = spans if "self_us" in spans.columns else add_timings(spans)
    own = timed["self_us"].fillna(timed["duration_us"]).astype(float)
    g = own.groupby([timed["service"], timed["operation"]])
    return pd.DataFrame({"median": g.median(), "n": g.size()})


def shifted_operations(before: pd.DataFrame, declared: pd.DataFrame, factor: float) -> pd.MultiIndex:
    """(service, operation) pairs whose median own time in ``before`` is ``factor`` or more times off their
    median in ``declared`` (the fault-free telemetry), with at least :data:`MIN_SPANS` spans on each side."""
    if not len(before) or not len(declared) or not np.isfinite(factor):
        return pd.MultiIndex.from_tuples([], names=_KEY)
    both = _median_own_time_us(before).merge(
        _median_own_time_us(declared),
        left_index=True,
        right_index=True,
        suffixes=("_before", "_declared"),
    )
    both = both[(both["n_before"] >= MIN_SPANS) & (both["n_declared"] >= MIN_SPANS)]
    ratio = both["median_before"].clip(lower=MEDIAN_FLOOR_US) / both["median_declared"].clip(
        lower=MEDIAN_FLOOR_US
    )
    shifted = both.index[(ratio >= factor) | (ratio <= 1 / factor)]
    return pd.MultiIndex.from_tuples(list(shifted), names=_KEY)


def settled_before(
    before: pd.DataFrame, declared: pd.DataFrame, factor: float
) -> tuple[pd.DataFrame, pd.MultiIndex]:
    """The spans of ``before`` fit to join the baseline, and the operations kept out (see the module)."""
    shifted = shifted_operations(before, declared, factor)
    if not len(shifted):
        return before, shifted
    out = pd.MultiIndex.from_frame(before[_KEY]).isin(shifted)
    return before[~out], shifted
