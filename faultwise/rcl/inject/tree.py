"""The spans of a trace file as a forest: parent and children by row, for the span-time shifter and the fault
models.

Rows are the rows of the canonical span table (``reset_index``-ed). A span whose parent id is not in its
trace (or is itself) is a root of its own subtree; parent cycles are broken where a walk meets them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

#: A child that ends at most this long after its parent is still waited for (clock rounding between hosts);
#: one ending later runs on by itself (asynchronous work).
JOIN_TOLERANCE_US = 1_000


@dataclass
class SpanForest:
    """Parent/children structure of a span table (rows ``0..n-1``), times as integer microseconds."""

    spans: pd.DataFrame
    parent: np.ndarray  # row of the parent span, -1 for none
    children: list[list[int]]  # rows of each span's children, by start time
    start: np.ndarray  # int64 microseconds
    end: np.ndarray  # int64 microseconds
    pod: np.ndarray  # object array of pod names
    service: np.ndarray  # object array of service names
    trace: np.ndarray  # int codes of trace ids

    @property
    def n(self) -> int:
        return len(self.start)

    def roots(self) -> np.ndarray:
        return np.flatnonzero(self.parent < 0)

    def crosses_pods(self) -> np.ndarray:
        """Rows whose parent is a span of another pod: the server side of a call between pods."""
        has = self.parent >= 0
        out = np.zeros(self.n, dtype=bool)
        out[has] = self.pod[self.parent[has]] != self.pod[has]
        return out

    def subtree(self, row: int) -> list[int]:
        """``row`` and every span below it (each once, cycles cut)."""
        out, stack, seen = [], [row], set()
        while stack:
            r = stack.pop()
            if r in seen:
                continue
            seen.add(r)
            out.append(r)
            stack.extend(self.children[r])
        return out

    def pod_entry(self, row: int) -> int:
        """The outermost span of ``row``'s pod on its path to the root (the server span of the request the pod
        is serving)."""
        x, seen = row, {row}
        while self.parent[x] >= 0 and self.pod[self.parent[x]] == self.pod[x] and self.parent[x] not in seen:
            x = int(self.parent[x])
            seen.add(x)
        return x


def span_forest(spans: pd.DataFrame) -> SpanForest:
    """Index a canonical span table (its index is reset first: rows are positions)."""
    spans = spans.reset_index(drop=True)
    n = len(spans)
    trace_ids = spans["trace_id"].astype(str).to_numpy(dtype=object)
    keys = pd.Index(trace_ids + "\x00" + spans["span_id"].astype(str).to_numpy(dtype=object))
    parent_keys = trace_ids + "\x00" + spans["parent_id"].astype(str).to_numpy(dtype=object)
    first = pd.Series(np.arange(n), index=keys)
    first = first[~first.index.duplicated()]
    parent = first.reindex(parent_keys).fillna(-1).to_numpy(dtype=np.int64)
    parent[spans["parent_id"].astype(str).to_numpy(dtype=object) == ""] = -1
    parent[parent == np.arange(n)] = -1
    start = spans["start_us"].to_numpy(dtype=np.int64)
    end = start + spans["duration_us"].to_numpy(dtype=np.int64)
    children: list[list[int]] = [[] for _ in range(n)]
    rows = np.flatnonzero(parent >= 0)
    order = rows[np.lexsort((rows, start[rows], parent[rows]))]
    for r in order:
        children[int(parent[r])].append(int(r))
    trace = pd.factorize(trace_ids)[0]
    return SpanForest(
        spans=spans,
        parent=parent,
        children=children,
        start=start,
        end=end,
        pod=spans["pod"].astype(str).to_numpy(dtype=object),
        service=spans["service"].astype(str).to_numpy(dtype=object),
        trace=trace,
    )
