"""Fault plans: which pods a fault hits, when, and how hard; one parameter set per type and strength.

The signatures follow what real systems show (see issue 6): cpu slows the pod's own processing, network
delay lengthens the edges into it while its own processing stays normal, exceptions fail the pod's spans and
its callers' calls, an early return (a code path cut, no error status) makes the pod's spans skip their
child calls and finish sooner, a killed pod stops serving and its callers get connection refused, a node fault slows
every pod on the host.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from faultwise.errors import InputError
from faultwise.rcl.simulate.config import GroundTruth, SynthConfig
from faultwise.rcl.simulate.topology import Topology


@dataclass(frozen=True, slots=True)
class FaultParams:
    slow_median: float = 1.0  # self-time multiplier (cpu, node_fault), log-normal
    slow_sigma: float = 0.0
    cpu_add_pct: float = 0.0  # added to the pod's cpu metric (the stressor's own usage)
    node_cpu_add_pct: float = 0.0
    node_mem_add_pct: float = 0.0
    mem_growth: float = 0.0  # memory metric climbs by this fraction of its base over the window
    gc_prob: float = 0.0  # share of the pod's spans hit by a GC pause
    gc_pause_ms: float = 0.0
    oom_prob: float = 0.0  # share of the pod's spans failing with OutOfMemoryError
    delay_ms: float = 0.0  # added to each edge into the pod (network_delay)
    timeout_prob: float = 0.0  # calls into the pod lost until the client timeout (network_loss)
    rto_prob: float = 0.0  # calls into the pod delayed by a TCP retransmission
    rto_ms: float = 0.0
    error_prob: float = 0.0  # share of the pod's spans failing (exception, error_return)
    down_fraction: float = 0.0  # pod_failure: share of the incident window the pod is down
    early_return_prob: float = 0.0  # early_return: share of the pod's spans that return before their calls
    early_return_self: float = 1.0  # early_return: own-time multiplier of a span that returned early


PARAMS: dict[tuple[str, str], FaultParams] = {
    ("cpu", "easy"): FaultParams(slow_median=4.0, slow_sigma=0.5, cpu_add_pct=55.0),
    ("cpu", "hard"): FaultParams(slow_median=1.9, slow_sigma=0.35, cpu_add_pct=25.0),
    ("memory", "easy"): FaultParams(mem_growth=1.3, gc_prob=0.35, gc_pause_ms=150.0, oom_prob=0.04),
    ("memory", "hard"): FaultParams(mem_growth=0.5, gc_prob=0.15, gc_pause_ms=50.0),
    ("network_delay", "easy"): FaultParams(delay_ms=200.0),
    ("network_delay", "hard"): FaultParams(delay_ms=40.0),
    ("network_loss", "easy"): FaultParams(timeout_prob=0.15, rto_prob=0.3, rto_ms=200.0),
    ("network_loss", "hard"): FaultParams(timeout_prob=0.04, rto_prob=0.12, rto_ms=200.0),
    ("exception", "easy"): FaultParams(error_prob=0.7),
    ("exception", "hard"): FaultParams(error_prob=0.2),
    ("error_return", "easy"): FaultParams(error_prob=0.7),
    ("error_return", "hard"): FaultParams(error_prob=0.2),
    ("early_return", "easy"): FaultParams(early_return_prob=0.7, early_return_self=0.3),
    ("early_return", "hard"): FaultParams(early_return_prob=0.3, early_return_self=0.6),
    ("pod_failure", "easy"): FaultParams(down_fraction=1.0),
    ("pod_failure", "hard"): FaultParams(down_fraction=0.4),
    ("node_fault", "easy"): FaultParams(
        slow_median=3.0, slow_sigma=0.3, node_cpu_add_pct=55.0, node_mem_add_pct=25.0
    ),
    ("node_fault", "hard"): FaultParams(
        slow_median=1.6, slow_sigma=0.25, node_cpu_add_pct=30.0, node_mem_add_pct=12.0
    ),
}


#: Injected faults scored as another fault type (the truth's vocabulary is the method's).
TRUTH_TYPE = {"early_return": "error_return"}


@dataclass(frozen=True)
class FaultPlan:
    """A resolved fault: its type, the affected pod indices (into Topology.all_pods()), its node, its time."""

    fault_type: str
    params: FaultParams
    pods: np.ndarray  # int indices of affected pods
    node: int  # node index for node_fault, else -1
    start_s: float
    end_s: float

    def active(self, ts_s: np.ndarray) -> np.ndarray:
        return (ts_s >= self.start_s) & (ts_s < self.end_s)


def resolve_fault(
    cfg: SynthConfig,
    topo: Topology,
    busy_services: list[str],
    rng: np.random.Generator,
    start_s: float,
    end_s: float,
) -> tuple[FaultPlan, GroundTruth]:
    """Pick (or check) the target and build the plan and its ground truth.

    ``busy_services`` are the non-entry services that normal traffic actually exercises; an auto-chosen target
    is one of them so the fault is visible in the traces.
    """
    pods = topo.all_pods()
    pod_ix = {p: i for i, p in enumerate(pods)}
    ft = cfg.fault_type
    target = cfg.fault_target
    if target is None:
        if ft == "node_fault":
            busy = set(busy_services)
            counts = [sum(topo.service_of_pod(p) in busy for p in topo.pods_on(n)) for n in topo.nodes]
            ok = [n for n, c in zip(topo.nodes, counts, strict=True) if c >= 2] or [
                topo.nodes[int(np.argmax(counts))]
            ]
            target = ok[int(rng.integers(len(ok)))]
        else:
            svc = busy_services[int(rng.integers(len(busy_services)))]
            target = topo.pods[svc][int(rng.integers(len(topo.pods[svc])))]
    if target in topo.nodes:
        if ft != "node_fault":
            raise InputError(
                "synth config", f"fault_target {target!r} is a node; only node_fault targets a node"
            )
        level, service, node = "node", "", target
        hit = [pod_ix[p] for p in topo.pods_on(target)]
    elif ft == "node_fault":
        raise InputError("synth config", f"node_fault needs a node as fault_target, got {target!r}")
    elif target in topo.services:
        level, service = "service", target
        nodes = {topo.pod_node[p] for p in topo.pods[target]}
        node = nodes.pop() if len(nodes) == 1 else ""
        hit = [pod_ix[p] for p in topo.pods[target]]
    elif target in pod_ix:
        level, service, node = "pod", topo.service_of_pod(target), topo.pod_node[target]
        hit = [pod_ix[target]]
    else:
        raise InputError(
            "synth config", f"fault_target {target!r} is not a pod, service or node of the topology"
        )
    params = PARAMS[(ft, cfg.strength)]
    if ft == "pod_failure":
        end_s = start_s + params.down_fraction * (end_s - start_s)
    plan = FaultPlan(
        fault_type=ft,
        params=params,
        pods=np.array(sorted(hit), dtype=np.int64),
        node=topo.nodes.index(node) if level == "node" else -1,
        start_s=start_s,
        end_s=end_s,
    )
    truth = GroundTruth(
        component=target,
        level=level,
        service=service,
        node=node,
        fault_type=TRUTH_TYPE.get(ft, ft),
        strength=cfg.strength,
        inject_ts_s=start_s,
        end_ts_s=end_s,
    )
    return plan, truth
