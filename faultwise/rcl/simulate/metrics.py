"""Metric series scraped every few seconds per pod and per node, derived from the simulated traffic.

CPU follows the work a pod does (its operations' normal cost, so contention elsewhere does not inflate it),
plus the fault's own footprint (a stressor, a leak, a saturated node). Noise and benign blips are added so a
single metric deviation is not a reliable answer on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from faultwise.rcl.simulate.faults import FaultPlan
from faultwise.rcl.simulate.requests import CLIENT, SERVER
from faultwise.rcl.simulate.spans import FlatSpans, Names
from faultwise.rcl.telemetry.schema import METRIC_COLUMNS, conform

POD_METRICS = (
    "cpu_usage_pct",
    "memory_usage_mib",
    "network_rx_bytes_per_s",
    "network_tx_bytes_per_s",
    "server_latency_p90_s",
    "server_latency_p99_s",
    "client_latency_p90_s",
    "request_rate_per_s",
    "success_rate_pct",
)
NODE_METRICS = ("cpu_usage_pct", "memory_usage_pct", "network_rx_bytes_per_s", "network_tx_bytes_per_s")
_NODE_CORES = 8.0
_NODE_MEM_MIB = 16384.0


@dataclass(frozen=True)
class RestingLevels:
    """Per-pod and per-node resting levels, fixed by the topology seed (the same in every window)."""

    cpu_pct: np.ndarray  # per pod, at rest
    cores: np.ndarray  # per pod: cpu limit, sized so normal traffic uses 15-35 % of it
    mem_mib: np.ndarray
    rx_per_req: np.ndarray
    tx_per_req: np.ndarray
    node_cpu_pct: np.ndarray  # per node, background (system daemons, other tenants)
    node_mem_pct: np.ndarray

    @staticmethod
    def draw(rng: np.random.Generator, work_s_per_s: np.ndarray, n_nodes: int) -> RestingLevels:
        """``work_s_per_s``: expected cpu-seconds per second each pod spends on normal traffic."""
        n_pods = len(work_s_per_s)
        return RestingLevels(
            cpu_pct=rng.uniform(3.0, 12.0, n_pods),
            cores=np.maximum(work_s_per_s / rng.uniform(0.15, 0.35, n_pods), 0.05),
            mem_mib=rng.uniform(250.0, 900.0, n_pods),
            rx_per_req=rng.uniform(600.0, 3000.0, n_pods),
            tx_per_req=rng.uniform(1500.0, 9000.0, n_pods),
            node_cpu_pct=rng.uniform(12.0, 25.0, n_nodes),
            node_mem_pct=rng.uniform(25.0, 40.0, n_nodes),
        )


@dataclass(frozen=True)
class CpuBlip:
    """A benign cpu burst on one pod (a cron job, a noisy neighbour), unrelated to any fault."""

    pod: int
    start_s: float
    end_s: float
    add_pct: float


def _grid_quantiles(
    pod: np.ndarray, b: np.ndarray, val: np.ndarray, shape: tuple[int, int], qs: tuple[float, ...]
):
    out = [np.zeros(shape) for _ in qs]
    if len(val):
        g = pd.DataFrame({"pod": pod, "b": b, "v": val}).groupby(["pod", "b"])["v"]
        for k, q in enumerate(qs):
            s = g.quantile(q)
            pi = s.index.get_level_values(0).to_numpy()
            bi = s.index.get_level_values(1).to_numpy()
            out[k][pi, bi] = s.to_numpy()
    return out


def metric_table(
    flat: FlatSpans,
    names: Names,
    op_median_us: np.ndarray,
    pod_node: np.ndarray,
    base: RestingLevels,
    window_s: tuple[float, float],
    interval_s: float,
    plan: FaultPlan | None,
    blips: list[CpuBlip],
    rng: np.random.Generator,
) -> pd.DataFrame:
    w0, w1 = window_s
    n_b = max(1, int(np.ceil((w1 - w0) / interval_s - 1e-9)))
    n_pods, n_nodes = len(names.pods), len(base.node_cpu_pct)
    shape = (n_pods, n_b)
    ts_end = w0 + interval_s * (np.arange(n_b) + 1)
    mid = ts_end - interval_s / 2
    b = np.clip(((flat.start_us / 1e6 - w0) // interval_s).astype(np.int64), 0, n_b - 1)
    srv = flat.kind == SERVER
    cli = flat.kind == CLIENT

    count = np.zeros(shape)
    np.add.at(count, (flat.pod[srv], b[srv]), 1.0)
    errs = np.zeros(shape)
    np.add.at(errs, (flat.pod[srv], b[srv]), flat.err[srv].astype(float))
    n_cli = np.zeros(shape)
    np.add.at(n_cli, (flat.pod[cli], b[cli]), 1.0)
    work_us = np.zeros(shape)
    own = ~cli
    np.add.at(work_us, (flat.pod[own], b[own]), op_median_us[flat.op[own]])
    p90, p99 = _grid_quantiles(flat.pod[srv], b[srv], flat.dur_us[srv] / 1e6, shape, (0.9, 0.99))
    (c90,) = _grid_quantiles(flat.pod[cli], b[cli], flat.dur_us[cli] / 1e6, shape, (0.9,))

    cpu = base.cpu_pct[:, None] + 100.0 * work_us / (interval_s * 1e6) / base.cores[:, None]
    cpu += rng.normal(0.0, 1.5, shape)
    mem = base.mem_mib[:, None] * (1.0 + np.cumsum(rng.normal(0.0, 0.004, shape), axis=1))
    noise = rng.lognormal(0.0, 0.06, (2, *shape))
    rx = (count * base.rx_per_req[:, None] + n_cli * 800.0) / interval_s * noise[0]
    tx = (count * base.tx_per_req[:, None] + n_cli * 500.0) / interval_s * noise[1]
    for blip in blips:
        on = (mid >= blip.start_s) & (mid < blip.end_s)
        cpu[blip.pod, on] += blip.add_pct
    node_cpu_add = np.zeros((n_nodes, n_b))
    node_mem_add = np.zeros((n_nodes, n_b))
    down = np.zeros(shape, dtype=bool)
    if plan is not None:
        on = plan.active(mid)
        p = plan.params
        hit = np.zeros(n_pods, dtype=bool)
        hit[plan.pods] = True
        if plan.fault_type == "cpu":
            cpu[np.ix_(hit, on)] += p.cpu_add_pct * rng.uniform(0.85, 1.15, (int(hit.sum()), int(on.sum())))
        elif plan.fault_type == "memory":
            frac = np.clip((ts_end - plan.start_s) / max(plan.end_s - plan.start_s, 1e-9), 0.0, 1.0)
            mem[hit] += base.mem_mib[hit, None] * p.mem_growth * frac[None, :]
        elif plan.fault_type == "node_fault":
            node_cpu_add[plan.node, on] = p.node_cpu_add_pct * rng.uniform(0.85, 1.15, int(on.sum()))
            node_mem_add[plan.node, on] = p.node_mem_add_pct
        elif plan.fault_type == "pod_failure":
            down[np.ix_(hit, on)] = True
    cpu = np.clip(cpu, 0.0, 100.0)
    succ = np.where(count > 0, 100.0 * (1.0 - errs / np.maximum(count, 1.0)), 100.0)
    for arr in (cpu, mem, rx, tx):
        arr[down] = 0.0
    rate = count / interval_s

    node_cpu = base.node_cpu_pct[:, None] + node_cpu_add + rng.normal(0.0, 1.0, (n_nodes, n_b))
    node_mem = base.node_mem_pct[:, None] + node_mem_add + rng.normal(0.0, 0.3, (n_nodes, n_b))
    node_rx = np.zeros((n_nodes, n_b))
    node_tx = np.zeros((n_nodes, n_b))
    np.add.at(node_cpu, pod_node, cpu / _NODE_CORES)
    np.add.at(node_mem, pod_node, mem / _NODE_MEM_MIB * 100.0)
    np.add.at(node_rx, pod_node, rx)
    np.add.at(node_tx, pod_node, tx)
    node_cpu = np.clip(node_cpu, 0.0, 100.0)
    node_mem = np.clip(node_mem, 0.0, 100.0)

    frames = []
    pod_vals = (cpu, mem, rx, tx, p90, p99, c90, rate, succ)
    keep_all = np.ones(shape, dtype=bool)
    for name, val in zip(POD_METRICS, pod_vals, strict=True):
        keep = (
            ~down
            if name in ("server_latency_p90_s", "server_latency_p99_s", "success_rate_pct")
            else keep_all
        )
        pi, bi = np.nonzero(keep)
        frames.append((ts_end[bi], names.pods[pi], "pod", name, val[pi, bi]))
    node_names = names.nodes
    for name, val in zip(NODE_METRICS, (node_cpu, node_mem, node_rx, node_tx), strict=True):
        ni, bi = np.nonzero(np.ones((n_nodes, n_b), dtype=bool))
        frames.append((ts_end[bi], node_names[ni], "node", name, val[ni, bi]))
    df = pd.DataFrame(
        {
            "ts_s": np.concatenate([f[0] for f in frames]),
            "entity": np.concatenate([f[1] for f in frames]),
            "entity_kind": np.concatenate([np.full(len(f[0]), f[2], dtype=object) for f in frames]),
            "metric": np.concatenate([np.full(len(f[0]), f[3], dtype=object) for f in frames]),
            "value": np.concatenate([f[4] for f in frames]),
        }
    )
    df = df.sort_values(["ts_s", "entity_kind", "entity", "metric"], kind="mergesort")
    return conform(df, METRIC_COLUMNS, "synthetic", "metrics")
