"""Label-free choice of the anomalous traces to diagnose, against the normal profile.

A trace scores its most anomalous span, each span scored with the embedded reasoner's curve and weights
(:class:`~faultwise.rcl.reasoners.embedded.EmbeddedConfig`), from the figures the data tools computed once for
every span, so that selection costs no agent calls.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from faultwise.rcl.reasoners.embedded import EmbeddedConfig, saturate_many, shift_strength_many
from faultwise.rcl.tools import DataTools


def trace_anomaly_scores(
    tools: DataTools, start_us: int | None = None, scoring: EmbeddedConfig | None = None
) -> pd.Series:
    """Quick per-trace anomaly (max over its spans of own-processing, gap, error, log and unanswered-call
    evidence), for traces that start inside the incident window. Sorted, most anomalous first."""
    c = scoring or EmbeddedConfig()
    s = tools.spans
    if start_us is not None:
        first = s.groupby("trace_id")["start_us"].transform("min")
        s = s[first >= start_us]
    if not len(s):
        return pd.Series(dtype=float)

    def sat(z: np.ndarray) -> np.ndarray:
        return saturate_many(z, c.z0, c.z_scale)

    span_ids = s["span_id"].astype(str).tolist()

    def shift(name: str) -> np.ndarray:
        return shift_strength_many(
            s[f"op_{name}_shift_z"].to_numpy(),
            s[f"op_{name}_effect"].to_numpy(),
            c,
            s[f"op_{name}_tail_z"].to_numpy(),
            c.wait_min_effect if name == "gap" else 0.0,
        )

    self_s = np.where(s["self_exceeds"], shift("self"), 0.0)
    gap_s = np.where(s["gap_exceeds"] & ~s["gap_blames_caller"], shift("gap"), 0.0)
    self_s = np.maximum(self_s, sat(s["caller_overhead_z"].to_numpy()))
    err_s = np.where(s["is_error"].to_numpy(), sat(s["op_err_shift_z"].to_numpy()), 0.0)
    log_s = sat(tools.log_strengths(span_ids, c.selection_new_log_z))
    down_s = sat(s["unanswered_z"].to_numpy()) * s["unanswered"].to_numpy()
    absent = [c.callee_down if tools.absent_callees(sid) else 0.0 for sid in span_ids]
    if any(absent):
        down_s = np.maximum(down_s, absent)
    struct_s = c.call_structure * sat(tools.structure_strengths()[s.index.to_numpy()])
    span_score = np.maximum.reduce([self_s, gap_s, err_s, np.clip(log_s, 0, 1), down_s, struct_s])
    per_trace = pd.Series(span_score, index=s["trace_id"].to_numpy()).groupby(level=0).max()
    return per_trace.sort_values(ascending=False)


def select_traces(
    tools: DataTools,
    start_us: int | None,
    max_traces: int,
    min_score: float,
    scoring: EmbeddedConfig | None = None,
) -> list[str]:
    """The ids of at most ``max_traces`` traces scoring ``min_score`` or more, most anomalous first."""
    scores = trace_anomaly_scores(tools, start_us, scoring)
    chosen = scores[scores >= min_score]
    return [str(t) for t in chosen.index[:max_traces]]
