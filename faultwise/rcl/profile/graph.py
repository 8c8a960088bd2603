"""The trace graph: spans linked by parent id, with the derived timings agents reason over.

Derived figures per span (all microseconds):
- ``exclusive_us``: own duration minus the union of its children's intervals (work done by itself).
- a childless span recorded *beside* a sibling's call and lasting all of it (a framework's handler span)
  waits for the call: no own time either.
- ``wait_us``: for a *client-like* span (kind ``client``, or a single child on another pod), its exclusive
  time is time spent on the wire / in the callee's queue, not own work; it is reported as the ``gap_us`` of
  the callee's server span and the client span's own ``self_us`` is undefined (NaN).
Orphans (parent id not in the trace) become extra roots; parent cycles are broken and reported.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from faultwise.rcl.telemetry.schema import SPAN_COLUMNS, Span

#: A childless span waits beside a sibling's call (a handler span a framework records next to the client
#: call, e.g. a gateway's filter chain) when it starts no later than the call and ends within this share of
#: the call's length, or ``BESIDE_MIN_US``, of the call's end: it covers nearly all of the call.
BESIDE_SHARE = 0.02
BESIDE_MIN_US = 200


def beside_calls(
    parent_key: pd.Series, start: np.ndarray, end: np.ndarray, childless: np.ndarray, call: np.ndarray
) -> np.ndarray:
    """Childless spans that wait beside a sibling call (same parent key; pass spans that have a parent
    only): their length is the call's, not own work. Decided from each trace's shape, never from names; the nearest sibling call by end time is checked,
    so the cost stays n log n however wide a parent fans out."""
    out = np.zeros(len(start), dtype=bool)
    cand = childless & ~call
    if not cand.any() or not call.any():
        return out
    a = pd.DataFrame(
        {
            "key": parent_key[cand].to_numpy(),
            "end": end[cand],
            "start": start[cand],
            "row": np.flatnonzero(cand),
        }
    ).sort_values("end", kind="stable")
    b = pd.DataFrame(
        {
            "key": parent_key[call].to_numpy(),
            "end": end[call],
            "call_start": start[call],
            "call_end": end[call],
        }
    ).sort_values("end", kind="stable")
    m = pd.merge_asof(a, b, on="end", by="key", direction="nearest")
    found = m["call_end"].notna().to_numpy()
    call_len = (m["call_end"] - m["call_start"]).to_numpy(dtype=np.float64)
    near = np.abs(
        m["end"].to_numpy(dtype=np.float64) - m["call_end"].to_numpy(dtype=np.float64)
    ) <= np.maximum(BESIDE_MIN_US, BESIDE_SHARE * call_len)
    ok = found & (m["start"].to_numpy(dtype=np.float64) <= m["call_start"].to_numpy(dtype=np.float64)) & near
    out[m["row"].to_numpy()[ok]] = True
    return out


def add_timings(spans: pd.DataFrame) -> pd.DataFrame:
    """Vectorised derived timings for every span of a (multi-trace) span table.

    Adds ``n_children``, ``exclusive_us``, ``client_like``, ``beside_call``, ``self_us``, ``gap_us`` and
    ``parent_pod``. A span beside a call (:func:`beside_calls`) has no own time (``self_us`` NaN): it waits.
    """
    df = spans.reset_index(drop=True).copy()
    start = df["start_us"].to_numpy(np.int64)
    end = start + df["duration_us"].to_numpy(np.int64)
    key = df["trace_id"].astype(str) + "\x1f" + df["parent_id"].astype(str)
    own_key = df["trace_id"].astype(str) + "\x1f" + df["span_id"].astype(str)
    has_parent = (df["parent_id"] != "").to_numpy()

    # union of children's intervals per parent: sort by (parent, start), running max of end
    child = pd.DataFrame(
        {"key": key[has_parent].to_numpy(), "start": start[has_parent], "end": end[has_parent]}
    )
    child = child.sort_values(["key", "start"], kind="stable")
    prev_max = child.groupby("key", sort=False)["end"].cummax().groupby(child["key"], sort=False).shift(1)
    lo = np.maximum(child["start"].to_numpy(), prev_max.fillna(-np.inf).to_numpy())
    contrib = np.clip(child["end"].to_numpy() - lo, 0, None)
    union = pd.Series(contrib, index=child["key"].to_numpy()).groupby(level=0).sum()
    n_children = child.groupby("key").size()

    df["n_children"] = own_key.map(n_children).fillna(0).astype(np.int64).to_numpy()
    covered = own_key.map(union).fillna(0.0).to_numpy()
    df["exclusive_us"] = np.clip(df["duration_us"].to_numpy() - covered, 0, None).astype(np.float64)

    # a client-like span: declared client, or exactly one child and that child runs on another pod
    pod_of = pd.Series(df["pod"].to_numpy(), index=own_key.to_numpy())
    pod_of = pod_of[~pod_of.index.duplicated()]
    parent_pod = key.map(pod_of)
    first_child_pod = (
        pd.DataFrame({"key": key[has_parent].to_numpy(), "pod": df["pod"][has_parent].to_numpy()})
        .groupby("key")["pod"]
        .first()
    )
    child_pod = own_key.map(first_child_pod)
    kind = df["kind"].astype(str).str.lower()
    single_remote = (
        (df["n_children"] == 1) & child_pod.notna().to_numpy() & (child_pod != df["pod"]).to_numpy()
    )
    client_like = (kind == "client") | ((kind.isin(["", "internal"])) & single_remote)
    df["client_like"] = client_like.to_numpy()
    childless = (df["n_children"].to_numpy() == 0) & has_parent
    beside = beside_calls(key, start, end, childless, df["client_like"].to_numpy() & has_parent)
    df["beside_call"] = beside
    df["self_us"] = np.where(df["client_like"] | beside, np.nan, df["exclusive_us"])

    # gap of a server span = exclusive time of its client-like parent on another pod
    excl_of = pd.Series(df["exclusive_us"].to_numpy(), index=own_key.to_numpy())
    excl_of = excl_of[~excl_of.index.duplicated()]
    cl_of = pd.Series(df["client_like"].to_numpy(), index=own_key.to_numpy())
    cl_of = cl_of[~cl_of.index.duplicated()]
    parent_is_client = key.map(cl_of).eq(True).to_numpy()
    remote_parent = (parent_pod != df["pod"]).to_numpy() & parent_pod.notna().to_numpy()
    gap = key.map(excl_of).to_numpy(dtype=np.float64)
    df["gap_us"] = np.where(has_parent & parent_is_client & remote_parent, gap, np.nan)
    df["parent_pod"] = parent_pod.fillna("").to_numpy()
    return df


@dataclass
class TraceGraph:
    """One trace as a forest of spans (normally one tree), with structural problems reported."""

    trace_id: str
    spans: dict[str, Span]
    children: dict[str, list[str]]
    parent: dict[str, str]
    roots: list[str]
    orphans: list[str] = field(default_factory=list)
    broken_cycles: list[str] = field(default_factory=list)

    @classmethod
    def from_frame(cls, df: pd.DataFrame) -> TraceGraph:
        """Build from the canonical span rows of one trace (duplicates of a span id keep the first)."""
        df = df.drop_duplicates("span_id")
        cols = list(SPAN_COLUMNS)
        data = {c: df[c].tolist() for c in cols}  # python scalars, fast
        spans = {
            str(sid): Span(*row)
            for sid, row in zip(data["span_id"], zip(*data.values(), strict=True), strict=True)
        }
        trace_id = str(df["trace_id"].iloc[0]) if len(df) else ""
        parent: dict[str, str] = {}
        orphans: list[str] = []
        for sid, sp in spans.items():
            if sp.parent_id and sp.parent_id in spans and sp.parent_id != sid:
                parent[sid] = sp.parent_id
            elif sp.parent_id:
                orphans.append(sid)
        broken = _break_cycles(parent)
        children: dict[str, list[str]] = {sid: [] for sid in spans}
        for sid, pid in parent.items():
            children[pid].append(sid)
        for kids in children.values():
            kids.sort(key=lambda s: spans[s].start_us)
        roots = sorted((s for s in spans if s not in parent), key=lambda s: spans[s].start_us)
        return cls(trace_id, spans, children, parent, roots, orphans, broken)

    def __len__(self) -> int:
        return len(self.spans)

    def post_order(self) -> Iterator[str]:
        """Children before parents (iterative: traces can be deep)."""
        for root in self.roots:
            stack: list[tuple[str, bool]] = [(root, False)]
            while stack:
                sid, done = stack.pop()
                if done:
                    yield sid
                    continue
                stack.append((sid, True))
                stack.extend((c, False) for c in reversed(self.children[sid]))

    def depth(self) -> dict[str, int]:
        depth: dict[str, int] = {}
        for root in self.roots:
            depth[root] = 0
            stack = [root]
            while stack:
                sid = stack.pop()
                for c in self.children[sid]:
                    depth[c] = depth[sid] + 1
                    stack.append(c)
        return depth

    def path_to_root(self, sid: str) -> list[str]:
        path = [sid]
        while path[-1] in self.parent:
            path.append(self.parent[path[-1]])
        return path


def _break_cycles(parent: dict[str, str]) -> list[str]:
    """Remove the parent link of one span per cycle; return the spans whose link was removed."""
    broken: list[str] = []
    state: dict[str, int] = {}
    for start in list(parent):
        path: list[str] = []
        node = start
        while node in parent and state.get(node, 0) == 0:
            state[node] = 1
            path.append(node)
            node = parent[node]
        if state.get(node) == 1 and node in parent:  # came back onto the current path: a cycle
            broken.append(node)
            del parent[node]
        for n in path:
            state[n] = 2
    return broken
