"""The synthetic system: services in a layered call DAG, their operations, pods placed on nodes.

Built from a numpy Generator only, so a seed fixes the whole system. Layering (edges only go to deeper
services) is what keeps the call graph acyclic, as in a real request path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

ENTRY_SERVICE = "gateway"
BATCH_OPERATION = "POST /api/v1/gateway/batch"  # used only by the single-huge-trace scale case
_SERVICE_POOL = (
    "auth", "user", "order", "cart", "catalog", "pricing", "inventory", "payment", "shipping",
    "notification", "recommendation", "search", "review", "currency", "ad", "session", "coupon",
    "loyalty", "fraud", "profile", "route", "station", "ticket", "seat", "travel", "booking",
    "invoice", "email", "config", "audit", "contact", "food", "consign", "insurance", "security",
    "basic", "admin", "assurance", "preserve", "rebook",
)  # fmt: skip
_ACTIONS = ("query", "create", "update", "list", "detail", "check", "search", "reserve", "confirm", "cancel")
_VERBS = {"query": "GET", "list": "GET", "detail": "GET", "check": "GET", "search": "GET"}
_INTERNAL = ("validate", "serialize", "compute", "mapResult", "authorize")
_DB_OPS = {"mysql": ("mysql.select", "mysql.insert", "mysql.update"), "redis": ("redis.get", "redis.set")}


@dataclass(frozen=True, slots=True)
class Step:
    """One thing an operation does, in order: an RPC to another service, or an internal span."""

    kind: Literal["call", "internal"]
    service: str  # the callee's service for a call, the own service for an internal span
    operation: str
    probability: float  # chance the step runs in a request (cache hits, optional branches)


@dataclass(frozen=True, slots=True)
class Operation:
    service: str
    name: str
    kind: Literal["server", "internal"]
    median_self_ms: float  # own processing time, log-normal
    sigma: float
    parallel: bool  # calls run concurrently rather than one after another
    steps: tuple[Step, ...] = ()


@dataclass(frozen=True)
class Topology:
    """Services, their call DAG with operations, pods, and the pod -> node placement."""

    services: tuple[str, ...]
    entry_service: str
    entry_operations: tuple[str, ...]
    operations: dict[tuple[str, str], Operation]  # (service, name) -> operation (server and internal)
    depth: dict[str, int]  # service -> layer, 0 for the entry
    pods: dict[str, tuple[str, ...]]  # service -> its pods
    pod_node: dict[str, str]
    nodes: tuple[str, ...]
    call_timeout_ms: dict[str, float]  # caller service -> client timeout

    def calls(self) -> list[tuple[str, str, str, str]]:
        """Operation-level edges (caller service, caller op, callee service, callee op)."""
        out = []
        for (svc, name), op in self.operations.items():
            for st in op.steps:
                if st.kind == "call":
                    out.append((svc, name, st.service, st.operation))
        return out

    def service_edges(self) -> set[tuple[str, str]]:
        return {(a, c) for a, _, c, _ in self.calls()}

    def callers_of(self, service: str) -> set[str]:
        return {a for a, c in self.service_edges() if c == service}

    def callees_of(self, service: str) -> set[str]:
        return {c for a, c in self.service_edges() if a == service}

    def service_of_pod(self, pod: str) -> str:
        for svc, pods in self.pods.items():
            if pod in pods:
                return svc
        raise KeyError(pod)

    def pods_on(self, node: str) -> list[str]:
        return [p for p, n in self.pod_node.items() if n == node]

    def all_pods(self) -> list[str]:
        return [p for svc in self.services for p in self.pods[svc]]


def _pod_names(rng: np.random.Generator, service: str, n: int, stateful: bool) -> tuple[str, ...]:
    if stateful:
        return tuple(f"{service}-{i}" for i in range(n))
    alnum = np.array(list("bcdfghjklmnpqrstvwxz2456789"))
    rs_hash = "".join(rng.choice(np.array(list("0123456789abcdef")), size=10))
    return tuple(f"{service}-{rs_hash}-{''.join(rng.choice(alnum, size=5))}" for _ in range(n))


def build_topology(
    rng: np.random.Generator,
    n_services: int = 12,
    min_pods: int = 1,
    max_pods: int = 3,
    n_nodes: int = 4,
) -> Topology:
    """A layered random DAG: gateway on top, 1-4 layers of business services, shared db-like leaves."""
    leaves = ["mysql"] + (["redis"] if n_services >= 8 else [])
    n_mid = n_services - 1 - len(leaves)
    if n_mid < 1:
        raise ValueError("n_services must be at least 3")
    pool = [f"{s}-service" for s in _SERVICE_POOL]
    mids = [pool[i] for i in rng.permutation(len(pool))[:n_mid]] if n_mid <= len(pool) else []
    if len(mids) < n_mid:
        mids += [f"svc{i}-service" for i in range(n_mid - len(mids))]
    n_layers = int(min(n_mid, rng.integers(2, 5)))
    layer = {ENTRY_SERVICE: 0}
    order = rng.permutation(n_mid)
    for k, i in enumerate(order):
        layer[mids[i]] = k + 1 if k < n_layers else int(rng.integers(1, n_layers + 1))
    for leaf in leaves:
        layer[leaf] = n_layers + 1
    by_layer: dict[int, list[str]] = {}
    for s in [ENTRY_SERVICE, *mids]:
        by_layer.setdefault(layer[s], []).append(s)

    # service edges: every business service has a caller one layer up, plus some extra (shared) callers
    callees: dict[str, list[str]] = {s: [] for s in [ENTRY_SERVICE, *mids, *leaves]}
    for s in mids:
        up = by_layer[layer[s] - 1]
        callees[up[int(rng.integers(len(up)))]].append(s)
        for cand in [
            c for c in [ENTRY_SERVICE, *mids] if layer[c] < layer[s] - 1 or (layer[c] == layer[s] - 1)
        ]:
            if s not in callees[cand] and rng.random() < 0.12:
                callees[cand].append(s)
    # the db is shared: every business service without callees uses it, plus a random share of the others
    for s in mids:
        if not callees[s] or rng.random() < 0.35:
            callees[s].append("mysql")
    if sum("mysql" in v for v in callees.values()) < 2 and len(mids) >= 2:
        for s in mids:
            if "mysql" not in callees[s]:
                callees[s].append("mysql")
                break
    if "redis" in leaves:
        users = [mids[i] for i in rng.permutation(n_mid)[: max(2, n_mid // 3)]]
        for s in users:
            callees[s].append("redis")

    ops: dict[tuple[str, str], Operation] = {}
    op_names: dict[str, list[str]] = {}
    for s in [ENTRY_SERVICE, *mids]:
        res = s.removesuffix("-service")
        n_ops = int(rng.integers(3, 6)) if s == ENTRY_SERVICE else int(rng.integers(1, 4))
        acts = [_ACTIONS[i] for i in rng.permutation(len(_ACTIONS))[:n_ops]]
        op_names[s] = [f"{_VERBS.get(a, 'POST')} /api/v1/{res}/{a}" for a in acts]
    for leaf in leaves:
        op_names[leaf] = list(_DB_OPS[leaf])

    # which caller operation calls which callee operation: every edge and every callee op gets used
    next_callee_op = {s: list(rng.permutation(len(v))) for s, v in op_names.items()}

    def pick_op(callee: str) -> str:
        queue = next_callee_op[callee]
        i = queue.pop(0)
        queue.append(i)
        return op_names[callee][i]

    steps: dict[tuple[str, str], list[Step]] = {(s, o): [] for s, v in op_names.items() for o in v}
    for s in [ENTRY_SERVICE, *mids]:
        names = op_names[s]
        chosen: dict[str, set[str]] = {o: set() for o in names}
        for c in callees[s]:
            chosen[names[int(rng.integers(len(names)))]].add(c)
        for o in names:
            for c in callees[s]:
                if rng.random() < 0.3:
                    chosen[o].add(c)
            if s == ENTRY_SERVICE and not chosen[o] and callees[s]:
                chosen[o].add(callees[s][int(rng.integers(len(callees[s])))])
        for o in names:
            seq: list[Step] = []
            for c in sorted(chosen[o], key=lambda x: (layer[x], x)):
                repeat = int(rng.integers(1, 4)) if c in leaves else 1
                cop = pick_op(c)
                prob = 1.0 if rng.random() < 0.7 else float(rng.uniform(0.4, 0.9))
                seq.extend(Step("call", c, cop, prob) for _ in range(repeat))
            if rng.random() < 0.35:
                iname = f"{s.removesuffix('-service')}.{_INTERNAL[int(rng.integers(len(_INTERNAL)))]}"
                ops[(s, iname)] = Operation(
                    s, iname, "internal", float(np.exp(rng.uniform(np.log(0.2), np.log(3.0)))), 0.3, False
                )
                seq.insert(int(rng.integers(len(seq) + 1)), Step("internal", s, iname, 1.0))
            steps[(s, o)] = seq

    # an operation nobody calls would leave part of the system without traffic: give it a caller
    for s in sorted([*mids, *leaves], key=lambda x: layer[x]):
        called = {
            st.operation for seq in steps.values() for st in seq if st.kind == "call" and st.service == s
        }
        callers = sorted(c for c, v in callees.items() if s in v)
        for o in op_names[s]:
            if o not in called and callers:
                c = callers[int(rng.integers(len(callers)))]
                cop = op_names[c][int(rng.integers(len(op_names[c])))]
                steps[(c, cop)].append(Step("call", s, o, 1.0))

    for (s, o), seq in steps.items():
        if s == ENTRY_SERVICE:
            med = float(rng.uniform(0.5, 2.0))
        elif s in leaves:
            med = float(np.exp(rng.uniform(np.log(0.4), np.log(4.0))))
        else:
            med = float(np.exp(rng.uniform(np.log(1.0), np.log(15.0))))
        n_calls = sum(st.kind == "call" for st in seq)
        ops[(s, o)] = Operation(
            s,
            o,
            "server",
            med,
            float(rng.uniform(0.2, 0.45)),
            bool(n_calls >= 2 and rng.random() < 0.25),
            tuple(seq),
        )

    ops[(ENTRY_SERVICE, BATCH_OPERATION)] = Operation(
        ENTRY_SERVICE, BATCH_OPERATION, "server", 2.0, 0.3, True
    )
    services = (ENTRY_SERVICE, *mids, *leaves)
    nodes = tuple(f"node-{i + 1}" for i in range(n_nodes))
    pods: dict[str, tuple[str, ...]] = {}
    pod_node: dict[str, str] = {}
    for s in services:
        n = 1 if s in leaves else int(rng.integers(min_pods, max(min_pods, max_pods) + 1))
        pods[s] = _pod_names(rng, s, n, stateful=s in leaves)
        first = int(rng.integers(n_nodes))
        for j, p in enumerate(pods[s]):
            pod_node[p] = nodes[(first + j) % n_nodes]
    timeouts = {s: float(rng.choice([1000.0, 2000.0, 3000.0])) for s in services}
    return Topology(
        services=services,
        entry_service=ENTRY_SERVICE,
        entry_operations=tuple(op_names[ENTRY_SERVICE]),
        operations=ops,
        depth=dict(layer),
        pods=pods,
        pod_node=pod_node,
        nodes=nodes,
        call_timeout_ms=timeouts,
    )
