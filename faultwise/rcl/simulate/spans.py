"""Flatten simulated requests into span rows (numeric first, names last) and the canonical span table."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from faultwise.rcl.simulate.requests import INTERNAL, KIND_NAMES
from faultwise.rcl.simulate.traffic import STATUS_OF_ORIGIN, SimResult
from faultwise.rcl.telemetry.schema import SPAN_COLUMNS, conform


@dataclass
class FlatSpans:
    """One row per span that happened; internal fields (origin, gc, ...) feed the log and metric writers."""

    trace: np.ndarray  # request index within the window
    span_id: np.ndarray  # int64 random ids
    parent_id: np.ndarray  # int64, -1 for roots
    kind: np.ndarray
    service: np.ndarray
    pod: np.ndarray
    op: np.ndarray
    start_us: np.ndarray
    dur_us: np.ndarray
    self_us: np.ndarray
    err: np.ndarray
    origin: np.ndarray
    fallback: np.ndarray
    gc: np.ndarray
    rto: np.ndarray

    def __len__(self) -> int:
        return len(self.trace)


def flatten(results: list[SimResult], trace_offsets: list[int], rng: np.random.Generator) -> FlatSpans:
    parts: dict[str, list[np.ndarray]] = {f: [] for f in FlatSpans.__dataclass_fields__}
    for r, off in zip(results, trace_offsets, strict=True):
        tpl = r.tpl
        T, N = r.present.shape
        ids = rng.integers(1, 2**63 - 1, size=(T, N), dtype=np.int64)
        pid = np.full((T, N), -1, dtype=np.int64)
        has_parent = tpl.parent >= 0
        pid[has_parent] = ids[tpl.parent[has_parent]]
        t_ix, n_ix = np.nonzero(r.present)
        parts["trace"].append(n_ix + off)
        parts["span_id"].append(ids[t_ix, n_ix])
        parts["parent_id"].append(pid[t_ix, n_ix])
        parts["kind"].append(tpl.kind[t_ix])
        parts["service"].append(tpl.service[t_ix])
        parts["op"].append(tpl.op[t_ix])
        for f in ("pod", "start_us", "self_us", "err", "origin", "fallback", "gc", "rto"):
            parts[f].append(getattr(r, f)[t_ix, n_ix])
        parts["dur_us"].append(r.dur_us[t_ix, n_ix])
    empty = {"self_us": np.float64, "err": bool, "fallback": bool, "gc": bool, "rto": bool}
    cat = {
        f: (np.concatenate(v) if v else np.zeros(0, dtype=empty.get(f, np.int64))) for f, v in parts.items()
    }
    order = np.lexsort((cat["trace"], cat["start_us"]))
    return FlatSpans(**{f: v[order] for f, v in cat.items()})


def hex_ids(values: np.ndarray, width: int = 16) -> np.ndarray:
    """Fixed-width lowercase hex of non-negative int64 ids (rows of several ints are concatenated)."""
    raw = np.ascontiguousarray(values, dtype=">u8")
    n = raw.shape[0]
    text = raw.tobytes().hex().encode("ascii")
    return np.frombuffer(text, dtype=f"S{width}", count=n).astype(f"U{width}")


@dataclass(frozen=True)
class Names:
    """Index -> name lookups (object arrays so that fancy indexing gives the column directly)."""

    services: np.ndarray
    pods: np.ndarray
    pod_nodes: np.ndarray  # per pod: its node's name
    nodes: np.ndarray  # node names, by node index
    ops: np.ndarray  # operation name per op index
    op_services: np.ndarray  # service index of each op
    pod_services: np.ndarray  # service index of each pod
    leaf_services: np.ndarray  # bool per service: a db-like leaf (logs little)


def span_table(flat: FlatSpans, trace_ids: np.ndarray, names: Names) -> pd.DataFrame:
    status = STATUS_OF_ORIGIN[flat.origin].astype(str).astype(object)
    status[flat.kind == INTERNAL] = ""
    tids = np.asarray(trace_ids, dtype=object)
    pids = hex_ids(np.maximum(flat.parent_id, 0)).astype(object)
    pids[flat.parent_id < 0] = ""
    df = pd.DataFrame(
        {
            "trace_id": tids[flat.trace] if len(flat) else np.zeros(0, dtype=object),
            "span_id": hex_ids(flat.span_id, 16),
            "parent_id": pids,
            "service": names.services[flat.service],
            "pod": names.pods[flat.pod],
            "node": names.pod_nodes[flat.pod],
            "operation": names.ops[flat.op],
            "kind": np.asarray(KIND_NAMES, dtype=object)[flat.kind],
            "start_us": flat.start_us.astype(np.int64),
            "duration_us": flat.dur_us.astype(np.int64),
            "is_error": flat.err.astype(bool),
            "status_code": status,
        }
    )
    return conform(df, SPAN_COLUMNS, "synthetic", "spans")
