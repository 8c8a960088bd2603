"""Metric shifts: how far each metric of each entity moved in the incident window against its normal mean,
in units of its normal spread (plus 5 % of its level, so near-constant series do not alarm on jitter)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from faultwise.rcl.tools.records import MetricShift

#: Without a normal metric file, the metrics this long before the incident window are normal.
NORMAL_METRICS_BEFORE_US = 30 * 60 * 1_000_000


def metric_shifts(
    metrics: pd.DataFrame, normal: pd.DataFrame | None, window_us: tuple[int, int]
) -> dict[str, list[MetricShift]]:
    """Per entity, its metrics' shifts, strongest first (metrics with fewer than two normal samples are
    left out). ``normal`` is fault-free metric data; without it, the period before the window."""
    lo, hi = window_us
    m = metrics.dropna(subset=["value"])
    ts_us = m["ts_s"].to_numpy() * 1e6
    inc = m[(ts_us >= lo) & (ts_us <= hi)]
    if normal is not None and len(normal):
        base = normal.dropna(subset=["value"])
    else:  # the period before the incident (up to 30 minutes)
        base = m[(ts_us < lo) & (ts_us >= lo - NORMAL_METRICS_BEFORE_US)]
    if not len(inc) or not len(base):
        return {}
    b = base.groupby(["entity", "metric"])["value"].agg(["mean", "std", "count"])
    i = inc.groupby(["entity", "metric"])["value"].mean().rename("inc")
    j = b.join(i, how="inner")
    j = j[j["count"] >= 2]
    scale = j["std"].fillna(0.0) + 0.05 * j["mean"].abs() + 1e-9
    j["z"] = (j["inc"] - j["mean"]) / scale
    j = j.replace([np.inf, -np.inf], np.nan).dropna(subset=["z"])
    out: dict[str, list[MetricShift]] = {}
    for ent, grp in j.groupby(level=0):
        grp = grp.reindex(grp["z"].abs().sort_values(ascending=False).index)
        out[str(ent)] = [
            MetricShift(
                entity=str(ent),
                metric=str(met),
                baseline_mean=float(r["mean"]),
                incident_mean=float(r["inc"]),
                z=float(np.clip(r["z"], -1e3, 1e3)),
            )
            for (_, met), r in grp.iterrows()
        ]
    return out
