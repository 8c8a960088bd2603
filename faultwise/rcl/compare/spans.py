"""Span figures the trace-based comparison methods share: derived timings split at the incident start,
and per-operation normal statistics (reusing :mod:`faultwise.rcl.profile.graph` and :mod:`faultwise.rcl.profile.normal`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from faultwise.rcl.compare.base import Periods
from faultwise.rcl.profile import NormalProfile, robust_z
from faultwise.rcl.profile.graph import add_timings
from faultwise.rcl.telemetry.schema import Telemetry

#: A span is abnormal when its duration lies this many robust units above its operation's normal.
ABNORMAL_Z = 3.0


@dataclass(frozen=True)
class TimedSpans:
    """Spans with ``self_us``/``gap_us`` and, for the abnormal window, robust z of duration and self time."""

    normal: pd.DataFrame
    window: pd.DataFrame  # columns of add_timings plus dur_z, self_z, known (operation seen normally)
    op_stats: pd.DataFrame  # NormalProfile.fit(normal).op_stats (empty without normal spans)


def timed_spans(incident: Telemetry, normal: Telemetry | None, periods: Periods) -> TimedSpans:
    """Timings are derived per file before the split, so a trace crossing the start keeps its children."""
    start = periods.window_us[0]
    inc = add_timings(incident.spans)
    parts = [inc[inc["start_us"] < start]]
    if normal is not None and len(normal.spans):
        parts.insert(0, add_timings(normal.spans))
    kept = [p for p in parts if len(p)]
    normal = pd.concat(kept, ignore_index=True) if kept else inc.iloc[:0]
    window = inc[inc["start_us"] >= start].copy()
    stats = pd.DataFrame()
    if len(normal):
        stats = NormalProfile.fit(normal).op_stats
        keys = pd.MultiIndex.from_arrays([window["service"], window["operation"]])
        st = stats.reindex(keys)
        window["known"] = st["n"].notna().to_numpy()
        for col, name in (("duration_us", "dur"), ("self_us", "self")):
            med = st[f"{name}_med"].to_numpy(dtype=float)
            mad = st[f"{name}_mad"].to_numpy(dtype=float)
            window[f"{name}_z"] = robust_z(window[col].to_numpy(dtype=float), med, mad)
        window["err_rate0"] = st["err_rate"].fillna(0.0).to_numpy(dtype=float)
    else:
        window["known"] = False
        window["dur_z"] = np.nan
        window["self_z"] = np.nan
        window["err_rate0"] = 0.0
    return TimedSpans(normal=normal, window=window, op_stats=stats)
