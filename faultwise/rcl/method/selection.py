"""Label-free choice of the anomalous traces to diagnose, against the normal baseline."""

from __future__ import annotations

import numpy as np
import pandas as pd

from faultwise.rcl.tools.data_tools import DataTools


def _sat(z: np.ndarray, z0: float = 3.0, scale: float = 10.0) -> np.ndarray:
    return np.where(z > z0, 1.0 - np.exp(-(np.nan_to_num(z) - z0) / scale), 0.0)


def trace_anomaly_scores(tools: DataTools, start_us: int | None = None) -> pd.Series:
    """Quick per-trace anomaly (max over its spans of own-processing, gap, error and log evidence),
    for traces that start inside the incident window. Sorted, most anomalous first."""
    s = tools.spans
    if start_us is not None:
        first = s.groupby("trace_id")["start_us"].transform("min")
        s = s[first >= start_us]
    if not len(s):
        return pd.Series(dtype=float)
    self_s = np.where(s["self_exceeds"], _sat(s["op_self_shift_z"].to_numpy()), 0.0)
    gap_s = np.where(s["gap_exceeds"] & ~s["gap_blames_caller"], _sat(s["op_gap_shift_z"].to_numpy()), 0.0)
    self_s = np.maximum(self_s, _sat(s["caller_overhead_z"].to_numpy()))
    err_s = np.where(s["is_error"].to_numpy(), _sat(s["op_err_shift_z"].to_numpy()), 0.0)
    log_s = _sat(tools.log_strengths(s["span_id"].astype(str).tolist()))
    absent = tools._absent
    down_s = _sat(s["unanswered_z"].to_numpy()) * s["unanswered"].to_numpy()
    if absent:
        down_s = np.maximum(down_s, [0.9 if sid in absent else 0.0 for sid in s["span_id"].astype(str)])
    span_score = np.maximum.reduce([self_s, gap_s, err_s, np.clip(log_s, 0, 1), down_s])
    per_trace = pd.Series(span_score, index=s["trace_id"].to_numpy()).groupby(level=0).max()
    return per_trace.sort_values(ascending=False)


def select_traces(tools: DataTools, start_us: int | None, max_traces: int, min_score: float) -> list[str]:
    scores = trace_anomaly_scores(tools, start_us)
    chosen = scores[scores >= min_score]
    return [str(t) for t in chosen.index[:max_traces]]
