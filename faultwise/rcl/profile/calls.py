"""Trace structure: which child calls each operation makes, and how often.

A *child call* of a parent operation (service, operation) is the (service, operation) of a span whose parent
is one of its spans. Counted per parent span, so that "how many of the operation's spans make this call"
(its share) and "how many such calls a span makes when it makes it" (its count) are both known. The normal
profile keeps the table of the fault-free window; the incident's table is compared with it
(:mod:`faultwise.rcl.tools.structure`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: The index levels of a child-call table: parent operation, then child operation.
CALL_KEYS = ("service", "operation", "child_service", "child_operation")


def parent_rows(spans: pd.DataFrame) -> np.ndarray:
    """For each span, the row of its parent span in ``spans`` (-1 for roots and spans whose parent is missing)."""
    tid = spans["trace_id"].astype(str)
    own = (tid + "\x1f" + spans["span_id"].astype(str)).to_numpy()
    par = (tid + "\x1f" + spans["parent_id"].astype(str)).to_numpy()
    index = pd.Index(own)
    if not index.is_unique:  # duplicated span ids: the first row stands for the span
        keep = ~index.duplicated()
        rows = np.flatnonzero(keep)
        hit = pd.Index(own[keep]).get_indexer(par)
        return np.where(hit >= 0, rows[np.clip(hit, 0, None)], -1)
    return index.get_indexer(par)


def child_call_counts(spans: pd.DataFrame, by_pod: bool = False) -> pd.DataFrame:
    """Per (parent operation, child operation): ``spans_with`` (parent spans that make the call at least
    once) and ``calls`` (calls made in all). ``by_pod``: per parent operation *on each pod* (a ``pod``
    level after the parent's operation)."""
    keys = [*CALL_KEYS[:2], "pod", *CALL_KEYS[2:]] if by_pod else list(CALL_KEYS)
    parent = parent_rows(spans)
    has = parent >= 0
    if not has.any():
        empty = pd.MultiIndex.from_arrays([[] for _ in keys], names=keys)
        return pd.DataFrame(
            {"spans_with": pd.Series(dtype=np.int64), "calls": pd.Series(dtype=np.int64)}, index=empty
        )
    prow = parent[has]
    edges = pd.DataFrame(
        {
            "parent_row": prow,
            "service": spans["service"].to_numpy()[prow],
            "operation": spans["operation"].to_numpy()[prow],
            "pod": spans["pod"].to_numpy()[prow],
            "child_service": spans["service"].to_numpy()[has],
            "child_operation": spans["operation"].to_numpy()[has],
        }
    )
    per_span = edges.groupby([*keys, "parent_row"], sort=False).size()
    g = per_span.groupby(level=keys, sort=False)
    return pd.DataFrame({"spans_with": g.size().astype(np.int64), "calls": g.sum().astype(np.int64)})
