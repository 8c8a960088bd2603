"""Request templates: the span tree a request type can produce, flattened to arrays in preorder.

Traffic is simulated template by template over all requests of that type at once (numpy over requests),
so the per-span Python work is bounded by the template size, not by the number of requests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from faultwise.rcl.simulate.topology import BATCH_OPERATION, Topology

SERVER, CLIENT, INTERNAL = 0, 1, 2
KIND_NAMES = ("server", "client", "internal")


@dataclass(frozen=True)
class Template:
    """Preorder span tree: a client node's only child is the callee's server node."""

    entry_operation: str
    parent: np.ndarray  # int32, -1 for the root
    kind: np.ndarray  # int8: SERVER | CLIENT | INTERNAL
    service: np.ndarray  # int32 index into Topology.services (the span's own service)
    op: np.ndarray  # int32 index into the op table (a client node carries the callee's operation)
    prob: np.ndarray  # float64 chance to run given the parent ran (server nodes: 1)
    lanes: np.ndarray  # int32: children run in this many concurrent lanes (1 = one after another)
    children: tuple[tuple[int, ...], ...]

    @property
    def size(self) -> int:
        return len(self.parent)


class _Builder:
    def __init__(self) -> None:
        self.rows: list[tuple[int, int, int, int, float, int]] = []
        self.children: list[list[int]] = []

    def add(self, parent: int, kind: int, service: int, op: int, prob: float, lanes: int = 1) -> int:
        self.rows.append((parent, kind, service, op, prob, lanes))
        self.children.append([])
        idx = len(self.rows) - 1
        if parent >= 0:
            self.children[parent].append(idx)
        return idx

    def build(self, entry: str) -> Template:
        a = np.array(self.rows, dtype=np.float64).reshape(-1, 6)
        return Template(
            entry_operation=entry,
            parent=a[:, 0].astype(np.int32),
            kind=a[:, 1].astype(np.int8),
            service=a[:, 2].astype(np.int32),
            op=a[:, 3].astype(np.int32),
            prob=a[:, 4],
            lanes=a[:, 5].astype(np.int32),
            children=tuple(tuple(c) for c in self.children),
        )


def op_table(topo: Topology) -> list[tuple[str, str]]:
    """Stable order of every (service, operation) the templates index into."""
    return sorted(topo.operations)


def _expand(
    b: _Builder, topo: Topology, op_ix: dict, svc_ix: dict, key: tuple[str, str], parent: int, budget: int
):
    """Add the server node of ``key`` under ``parent`` (a client node, or -1) and its whole subtree."""
    op = topo.operations[key]
    n_calls = sum(st.kind == "call" for st in op.steps)
    me = b.add(parent, SERVER, svc_ix[key[0]], op_ix[key], 1.0, max(1, n_calls) if op.parallel else 1)
    for st in op.steps:
        if len(b.rows) >= budget:
            break
        ckey = (st.service, st.operation)
        if st.kind == "internal":
            b.add(me, INTERNAL, svc_ix[key[0]], op_ix[ckey], st.probability)
        else:
            cli = b.add(me, CLIENT, svc_ix[key[0]], op_ix[ckey], st.probability)
            _expand(b, topo, op_ix, svc_ix, ckey, cli, budget)
    return me


def build_templates(topo: Topology, max_spans: int = 160) -> list[Template]:
    """One template per entry operation (request type)."""
    op_ix = {k: i for i, k in enumerate(op_table(topo))}
    svc_ix = {s: i for i, s in enumerate(topo.services)}
    out = []
    for entry in topo.entry_operations:
        b = _Builder()
        _expand(b, topo, op_ix, svc_ix, (topo.entry_service, entry), -1, max_spans)
        out.append(b.build(entry))
    return out


def build_batch_template(topo: Topology, n_spans: int, lanes: int = 8) -> Template:
    """One huge request (a batch job at the gateway) that replays every request type's downstream calls
    until about ``n_spans`` spans: the scale case for a single trace. Optional steps always run here so
    the span count is what was asked."""
    op_ix = {k: i for i, k in enumerate(op_table(topo))}
    svc_ix = {s: i for i, s in enumerate(topo.services)}
    singles = build_templates(topo, max_spans=10**6)
    b = _Builder()
    gw = svc_ix[topo.entry_service]
    batch_op = op_ix[(topo.entry_service, BATCH_OPERATION)]
    root = b.add(-1, SERVER, gw, batch_op, 1.0, lanes)
    k = 0
    while len(b.rows) < n_spans:
        tpl = singles[k % len(singles)]
        k += 1
        remap = {0: root}
        for i in range(1, tpl.size):
            if len(b.rows) >= n_spans and tpl.kind[i] == CLIENT:
                break
            remap[i] = b.add(remap[int(tpl.parent[i])], int(tpl.kind[i]), int(tpl.service[i]), int(tpl.op[i]), 1.0,
                             int(tpl.lanes[i]))  # fmt: skip
    return b.build(BATCH_OPERATION)
