"""What a diagnosis says when its baseline is thin or finds nothing: never a silent all-clear.

A single exported trace, or a file with no fault-free period, gives the method little or nothing to learn
normal behaviour from. The diagnosis then says so (:func:`baseline_warnings`), and when no trace deviates
from the normal it learned, the error spans of the file still count: the pods whose spans failed without a
failed call beneath them are ranked from those alone (:func:`error_span_candidates`), with a warning that
says how the answer was reached.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from faultwise.rcl.profile import NormalProfile
from faultwise.rcl.records import Candidate

#: Fewest traces in the baseline before the normal it gives is used without a warning.
MIN_BASELINE_TRACES = 5
#: Share of the incident window's spans whose operation the baseline never saw, from which the diagnosis
#: warns that most of the window cannot be compared.
UNKNOWN_SHARE = 0.5


def baseline_warnings(
    base_spans: pd.DataFrame, window_spans: pd.DataFrame, profile: NormalProfile, source: str
) -> list[str]:
    """Warnings naming what the baseline lacks: too few traces, or operations of the window it never saw."""
    out: list[str] = []
    n_traces = int(base_spans["trace_id"].nunique()) if len(base_spans) else 0
    if n_traces < MIN_BASELINE_TRACES:
        out.append(
            f"the normal baseline ({source}) holds {n_traces} trace(s), {len(base_spans)} span(s): too few to "
            "say what is normal; give fault-free traces of the same system with --baseline"
        )
    if len(window_spans):
        keys = pd.MultiIndex.from_frame(window_spans[["service", "operation"]].astype(str))
        known = keys.isin(profile.op_stats.index)
        unknown = int((~known).sum())
        if unknown and unknown >= UNKNOWN_SHARE * len(window_spans):
            out.append(
                f"{unknown} of {len(window_spans)} span(s) in the incident window are of operations the "
                "baseline never saw: their timings could not be compared"
            )
    return out


def error_span_candidates(window_spans: pd.DataFrame) -> list[Candidate]:
    """Pods ranked by their failed spans that have no failed child (where a failure starts), share of all
    such spans as the score; empty without failed spans."""
    s = window_spans
    err = s["is_error"].to_numpy(dtype=bool)
    if not err.any():
        return []
    key = s["trace_id"].astype(str) + "\x1f" + s["span_id"].astype(str)
    parent_key = s["trace_id"].astype(str) + "\x1f" + s["parent_id"].astype(str)
    failed_parents = set(parent_key[err].tolist())
    origin = err & ~np.isin(key.to_numpy(), list(failed_parents))
    pods = s.loc[origin, ["pod", "service"]].astype(str)
    counts = pods.value_counts()
    total = float(counts.sum())
    out = []
    for (pod, service), n in counts.items():
        ops = sorted(set(s.loc[origin & (s["pod"].astype(str) == pod).to_numpy(), "operation"].astype(str)))
        out.append(
            Candidate(
                component=pod,
                level="pod",
                fault_type="exception",
                score=round(n / total, 4),
                rationale=f"{n} failed span(s) with no failed call beneath them (from the error spans alone)",
                evidence=[f"failed: {op}" for op in ops[:5]],
                service=service,
            )
        )
    return out
