"""Generate a synthetic incident: a fault-free baseline window, a window after injection, the truth.

Randomness comes from independent streams spawned from the seed (topology, each window's traffic, the
fault target, benign anomalies), so the normal window of a seed is the same whatever fault is injected.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from faultwise.errors import InputError
from faultwise.rcl.simulate.config import GroundTruth, SynthConfig, SynthIncident
from faultwise.rcl.simulate.faults import FaultPlan, resolve_fault
from faultwise.rcl.simulate.logs import log_table
from faultwise.rcl.simulate.metrics import CpuBlip, RestingLevels, metric_table
from faultwise.rcl.simulate.realism import Realism, add_handler_spans, pick_services, vanish_service
from faultwise.rcl.simulate.requests import (
    CLIENT,
    SERVER,
    Template,
    build_batch_template,
    build_templates,
    op_table,
)
from faultwise.rcl.simulate.spans import Names, flatten, hex_ids, span_table
from faultwise.rcl.simulate.topology import Topology, build_topology
from faultwise.rcl.simulate.traffic import Hiccup, World, simulate
from faultwise.rcl.telemetry.schema import LOG_COLUMNS, Telemetry, conform

_CODE_FAULTS = ("exception", "error_return", "early_return", "memory")


@dataclass(frozen=True)
class _Quirks:
    """The realism mechanisms one window carries (:mod:`~faultwise.rcl.simulate.realism`)."""

    handler_services: list[str] = field(default_factory=list)
    handler_rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))
    extra_sigma: np.ndarray | None = None  # per operation: a drifting tail (incident window only)


@dataclass(frozen=True)
class _System:
    topo: Topology
    templates: list[Template]
    weights: np.ndarray  # request mix over entry operations
    world: World
    names: Names
    base: RestingLevels


def _system(cfg: SynthConfig, rng: np.random.Generator) -> _System:
    topo = build_topology(
        rng, cfg.n_services, cfg.min_pods_per_service, cfg.max_pods_per_service, cfg.n_nodes
    )
    ops = op_table(topo)
    svc_ix = {s: i for i, s in enumerate(topo.services)}
    pods = topo.all_pods()
    counts = np.array([len(topo.pods[s]) for s in topo.services])
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    node_ix = {n: i for i, n in enumerate(topo.nodes)}
    leaves = [s for s in topo.services if s != topo.entry_service and not topo.callees_of(s)]
    business = [s for s in topo.services if s != topo.entry_service and s not in leaves]
    world = World(
        pod_offset=offsets,
        pod_count=counts,
        pod_node=np.array([node_ix[topo.pod_node[p]] for p in pods]),
        op_median_us=np.array([topo.operations[k].median_self_ms * 1e3 for k in ops]),
        op_sigma=np.array([topo.operations[k].sigma for k in ops]),
        timeout_us=np.array([topo.call_timeout_ms[s] * 1e3 for s in topo.services]),
        flaky_service=svc_ix[business[int(rng.integers(len(business)))]] if business else -1,
    )
    names = Names(
        services=np.asarray(topo.services, dtype=object),
        pods=np.asarray(pods, dtype=object),
        pod_nodes=np.asarray([topo.pod_node[p] for p in pods], dtype=object),
        nodes=np.asarray(topo.nodes, dtype=object),
        ops=np.asarray([k[1] for k in ops], dtype=object),
        op_services=np.array([svc_ix[k[0]] for k in ops]),
        pod_services=np.repeat(np.arange(len(topo.services)), counts),
        leaf_services=np.array([s in ("mysql", "redis") for s in topo.services]),
    )
    templates = build_templates(topo)
    weights = rng.dirichlet(np.full(len(templates), 3.0))
    _, work_us = _expected_load(templates, weights, world, len(topo.services))
    work_per_pod_s = np.repeat(work_us / counts, counts) * 1e-6 * cfg.requests_per_s
    return _System(
        topo, templates, weights, world, names, RestingLevels.draw(rng, work_per_pod_s, len(topo.nodes))
    )


def _expected_load(templates: list[Template], weights: np.ndarray, world: World, n_services: int):
    """Per service, per request of the mix: expected server spans, and expected own work (us)."""
    visits = np.zeros(n_services)
    work = np.zeros(n_services)
    for tpl, w in zip(templates, weights, strict=True):
        reach = np.ones(tpl.size)
        for t in range(1, tpl.size):
            reach[t] = reach[tpl.parent[t]] * tpl.prob[t]
        srv = tpl.kind == SERVER
        np.add.at(visits, tpl.service[srv], w * reach[srv])
        own = tpl.kind != CLIENT
        np.add.at(work, tpl.service[own], w * reach[own] * world.op_median_us[tpl.op[own]])
    return visits, work


def _busy_services(sys: _System, min_visits_per_pod: float = 0.12) -> list[str]:
    """Non-entry services whose pods each serve at least ``min_visits_per_pod`` calls per request on average
    (a fault there shows in enough traces); the three busiest if none does."""
    visits, _ = _expected_load(sys.templates, sys.weights, sys.world, len(sys.topo.services))
    per_pod = visits / sys.world.pod_count
    entry = sys.topo.services.index(sys.topo.entry_service)
    per_pod[entry] = -1.0
    ok = [s for i, s in enumerate(sys.topo.services) if per_pod[i] >= min_visits_per_pod]
    return ok or [sys.topo.services[i] for i in np.argsort(-per_pod, kind="stable")[:3]]


def _benign(
    sys: _System, rng: np.random.Generator, window: tuple[float, float], avoid: set[int]
) -> tuple[list[Hiccup], list[CpuBlip]]:
    """One short slowdown and one cpu burst, on pods other than ``avoid`` (the fault's)."""
    n_pods = len(sys.names.pods)
    entry_pods = set(range(int(sys.world.pod_count[0])))
    free = [p for p in range(n_pods) if p not in avoid and p not in entry_pods] or [0]
    w0, w1 = window
    length = w1 - w0
    h_pod, b_pod = (free[int(i)] for i in rng.integers(len(free), size=2))
    h0 = w0 + rng.uniform(0.1, 0.8) * length
    b0 = w0 + rng.uniform(0.0, 0.7) * length
    hic = Hiccup(pod=h_pod, start_s=h0, end_s=h0 + min(rng.uniform(3.0, 6.0), 0.1 * length), factor=3.0)
    blip = CpuBlip(
        pod=b_pod, start_s=b0, end_s=b0 + rng.uniform(15.0, 30.0), add_pct=float(rng.uniform(30, 50))
    )
    return [hic], [blip]


def _window(
    sys: _System,
    cfg: SynthConfig,
    window: tuple[float, float],
    requests: list[tuple[Template, np.ndarray]],
    plan: FaultPlan | None,
    benign: tuple[list[Hiccup], list[CpuBlip]],
    rng: np.random.Generator,
    label: str,
    extra_logs: pd.DataFrame | None = None,
    quirks: _Quirks | None = None,
) -> Telemetry:
    quirks = quirks or _Quirks()
    results, offsets, n = [], [], 0
    for tpl, arrivals in requests:
        results.append(simulate(tpl, arrivals, sys.world, plan, benign[0], rng, quirks.extra_sigma))
        offsets.append(n)
        n += len(arrivals)
    trace_ids = hex_ids(rng.integers(1, 2**63 - 1, (n, 2), dtype=np.int64), 32)
    flat = flatten(results, offsets, rng)
    spans = span_table(flat, trace_ids, sys.names)
    if quirks.handler_services:
        spans = add_handler_spans(spans, quirks.handler_services, quirks.handler_rng)
    logs = log_table(flat, trace_ids, sys.names, sys.world.op_median_us, rng, extra_logs)
    metrics = metric_table(
        flat, sys.names, sys.world.op_median_us, sys.world.pod_node, sys.base, window, cfg.scrape_interval_s,
        plan, benign[1], rng,
    )  # fmt: skip
    src = f"synthetic seed={cfg.seed} window={label}"
    return Telemetry(
        spans=spans, logs=logs, metrics=metrics, sources={m: src for m in ("traces", "logs", "metrics")}
    )


def _traffic(sys: _System, cfg: SynthConfig, window: tuple[float, float], rng: np.random.Generator):
    w0, w1 = window
    n = int(rng.poisson(cfg.requests_per_s * (w1 - w0)))
    ts = np.sort(rng.uniform(w0, w1, n))
    which = rng.choice(len(sys.templates), size=n, p=sys.weights)
    return [(tpl, ts[which == i]) for i, tpl in enumerate(sys.templates) if np.any(which == i)]


def _restart_logs(
    sys: _System, plan: FaultPlan, truth: GroundTruth, window_end_s: float
) -> pd.DataFrame | None:
    """A pod that comes back (pod_failure, hard) logs its start-up."""
    if plan.fault_type != "pod_failure" or plan.end_s >= window_end_s:
        return None
    rows = []
    for p in plan.pods.tolist():
        pod = str(sys.names.pods[p])
        svc = str(sys.names.services[sys.names.pod_services[p]])
        app = "".join(w.capitalize() for w in svc.removesuffix("-service").split("-")) + "Application"
        for k, (lvl, msg) in enumerate(
            (("INFO", f"Starting {app} v1.4.2 using Java 17.0.8 with PID 1"),
             ("INFO", "Tomcat initialized with port(s): 8080 (http)"),
             ("INFO", f"Started {app} in 11.84 seconds (process running for 12.9)"))
        ):  # fmt: skip
            ts = int((plan.end_s - 1.0) * 1e6) + k * 400_000
            rows.append((ts, svc, pod, str(sys.names.pod_nodes[p]), lvl, msg, "", ""))
    return conform(pd.DataFrame(rows, columns=list(LOG_COLUMNS)), LOG_COLUMNS, "synthetic", "logs")


def _generate(cfg: SynthConfig, batch_spans: int | None) -> SynthIncident:
    # a sixth stream for the realism mechanisms: the first five (and so a config without them) are unchanged
    s_topo, s_normal, s_incident, s_fault, s_benign, s_real = np.random.SeedSequence(cfg.seed).spawn(6)
    sys = _system(cfg, np.random.default_rng(s_topo))
    real = cfg.realism
    normal_w = (cfg.start_ts_s, cfg.start_ts_s + cfg.normal_s)
    incident_w = (normal_w[1], normal_w[1] + cfg.incident_s)
    busy_all = _busy_services(sys)
    busy = busy_all
    if cfg.fault_type in _CODE_FAULTS:  # a db-like leaf does not throw application exceptions or leak heap
        busy = [s for s in busy if not sys.names.leaf_services[sys.topo.services.index(s)]] or busy
    if cfg.fault_type == "early_return":  # only a service that makes calls can skip them
        busy = [s for s in busy if sys.topo.callees_of(s)] or busy
    onset_s = incident_w[0] + max(0.0, -real.onset_error_s)  # an early alarm: the fault starts after it
    plan, truth = resolve_fault(cfg, sys.topo, busy, np.random.default_rng(s_fault), onset_s, incident_w[1])
    rng_b = np.random.default_rng(s_benign)
    benign_normal = _benign(sys, rng_b, normal_w, set())
    avoid = set(plan.pods.tolist())
    benign_incident = _benign(sys, rng_b, incident_w, avoid)
    quirks_n, quirks_i, truth = _quirks(sys, busy_all, real, truth, s_real)

    rng_n = np.random.default_rng(s_normal)
    normal = _window(
        sys, cfg, normal_w, _traffic(sys, cfg, normal_w, rng_n), None, benign_normal, rng_n, "normal",
        quirks=quirks_n,
    )  # fmt: skip
    rng_i = np.random.default_rng(s_incident)
    if batch_spans is None:
        requests = _traffic(sys, cfg, incident_w, rng_i)
    else:
        requests = [(build_batch_template(sys.topo, batch_spans), np.array([incident_w[0] + 0.5]))]
    extra = _restart_logs(sys, plan, truth, incident_w[1])
    incident = _window(
        sys, cfg, incident_w, requests, plan, benign_incident, rng_i, "incident", extra, quirks_i
    )
    if real.vanished_s > 0:
        incident, truth = _vanish(busy_all, incident, truth, real.vanished_s, s_real)
    return SynthIncident(config=cfg, topology=sys.topo, normal=normal, incident=incident, truth=truth)


def _unrelated(busy: list[str], truth: GroundTruth) -> list[str]:
    """Non-entry services with traffic (``busy``) other than the fault's: where an unrelated anomaly can happen."""
    return [s for s in busy if s != truth.service]


def _quirks(
    sys: _System, busy: list[str], real: Realism, truth: GroundTruth, seed: np.random.SeedSequence
) -> tuple[_Quirks, _Quirks, GroundTruth]:
    """The handler spans of both windows and the drifting tail of the incident window, drawn from ``seed``;
    the truth records them and the declared start."""
    s_handler, s_drift, s_spans_n, s_spans_i, _ = seed.spawn(5)
    callers = [s for s in sys.topo.services if sys.topo.callees_of(s)]
    handlers = pick_services(callers, real.handler_share, np.random.default_rng(s_handler))
    extra_sigma, drift_service = None, ""
    if real.tail_drift > 1.0:
        others = _unrelated(busy, truth)
        leaves = [s for s in others if sys.names.leaf_services[sys.topo.services.index(s)]]
        pool = leaves or others
        if pool:
            drift_service = pool[int(np.random.default_rng(s_drift).integers(len(pool)))]
            ops = sys.names.op_services == sys.topo.services.index(drift_service)
            extra_sigma = np.where(ops, real.drift_sigma, 0.0)
    updates: dict[str, object] = {"handler_services": handlers, "drift_service": drift_service}
    if real.onset_error_s:
        updates["declared_ts_s"] = truth.inject_ts_s + real.onset_error_s
    n = _Quirks(handlers, np.random.default_rng(s_spans_n))
    i = _Quirks(handlers, np.random.default_rng(s_spans_i), extra_sigma)
    return n, i, truth.model_copy(update=updates)


def _vanish(
    busy: list[str], incident: Telemetry, truth: GroundTruth, seconds: float, seed: np.random.SeedSequence
) -> tuple[Telemetry, GroundTruth]:
    """An unrelated busy service answers no call for ``seconds`` (the first one with enough calls)."""
    rng = np.random.default_rng(seed.spawn(5)[4])
    pool = [s for s in _unrelated(busy, truth) if s != truth.drift_service]
    for k in rng.permutation(len(pool)):
        try:
            out, at_s = vanish_service(incident, pool[int(k)], seconds, rng)
        except InputError:  # too few calls into it in the window: try another
            continue
        return out, truth.model_copy(update={"vanished_service": pool[int(k)], "vanished_ts_s": at_s})
    return incident, truth


def generate_incident(config: SynthConfig | None = None, **overrides) -> SynthIncident:
    """Generate one incident. ``overrides`` are SynthConfig fields (``generate_incident(seed=3)``)."""
    cfg = (config or SynthConfig()).model_copy(update=overrides) if overrides else (config or SynthConfig())
    if overrides:
        cfg = SynthConfig(**cfg.model_dump())  # re-validate the overrides
    return _generate(cfg, None)


def generate_large_trace(
    n_spans: int = 10_000, seed: int = 0, config: SynthConfig | None = None
) -> SynthIncident:
    """The scale case: the incident window holds ONE trace of about ``n_spans`` spans (a batch request
    that replays every request type), with the fault active; the normal window is ordinary traffic."""
    if n_spans < 2:
        raise ValueError("n_spans must be at least 2")
    cfg = config if config is not None else SynthConfig(seed=seed)
    return _generate(cfg, n_spans)
