"""Simulate every request of one template at once: routing, presence, timing, errors.

Arrays are laid out (template node, request). Timing is computed bottom-up (a server span lasts its own
processing plus its children's critical path; a client span lasts the network gap plus the callee's server
span), then start times top-down. Faults act on the pods in the plan while the request is in the fault window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from faultwise.rcl.simulate.faults import FaultPlan
from faultwise.rcl.simulate.requests import CLIENT, INTERNAL, SERVER, Template

# error origins: own failure of a server span, or what a client span saw
OK, EXC, ERRRET, OOM, BENIGN, PROPAGATED, REFUSED, TIMEOUT = range(8)
STATUS_OF_ORIGIN = np.array([200, 500, 400, 500, 500, 500, 503, 504], dtype=np.int16)
PROPAGATE_PROB = 0.9  # a caller usually fails when a downstream call fails; sometimes it falls back


@dataclass(frozen=True)
class World:
    """Numeric view of the topology the simulator needs (indices, not names)."""

    pod_offset: np.ndarray  # per service: index of its first pod
    pod_count: np.ndarray  # per service
    pod_node: np.ndarray  # per pod: node index
    op_median_us: np.ndarray  # per op
    op_sigma: np.ndarray
    timeout_us: np.ndarray  # per (caller) service
    flaky_service: int  # a service with a small baseline error rate in every window
    flaky_prob: float = 0.01
    benign_error_prob: float = 0.0005


@dataclass(frozen=True)
class Hiccup:
    """A benign, short slowdown of one pod (a deploy, a GC storm) unrelated to the fault."""

    pod: int
    start_s: float
    end_s: float
    factor: float


@dataclass
class SimResult:
    tpl: Template
    arrivals_s: np.ndarray
    present: np.ndarray  # (T, N) bool
    pod: np.ndarray  # (T, N) int
    start_us: np.ndarray  # (T, N) int64
    dur_us: np.ndarray  # (T, N) int64
    self_us: np.ndarray  # (T, N) float, own processing of server/internal spans
    err: np.ndarray  # (T, N) bool
    origin: np.ndarray  # (T, N) int8
    fallback: np.ndarray  # (T, N) bool: a child failed and this server span fell back
    gc: np.ndarray  # (T, N) bool: a GC pause hit this span
    rto: np.ndarray  # (T, N) bool: this client span suffered a retransmission


def simulate(
    tpl: Template,
    arrivals_s: np.ndarray,
    world: World,
    fault: FaultPlan | None,
    hiccups: list[Hiccup],
    rng: np.random.Generator,
    extra_sigma: np.ndarray | None = None,
) -> SimResult:
    T, N = tpl.size, len(arrivals_s)
    pod = np.zeros((T, N), dtype=np.int64)
    present = np.zeros((T, N), dtype=bool)
    refused = np.zeros((T, N), dtype=bool)
    timed_out = np.zeros((T, N), dtype=bool)
    extra_us = np.zeros((T, N))
    rto = np.zeros((T, N), dtype=bool)
    self_us = np.zeros((T, N))
    origin = np.zeros((T, N), dtype=np.int8)
    gc = np.zeros((T, N), dtype=bool)
    cut = np.zeros((T, N), dtype=bool)  # early_return: the span returned before making its child calls
    ft = fault.fault_type if fault is not None else ""
    active = fault.active(arrivals_s) if fault is not None else np.zeros(N, dtype=bool)
    p = fault.params if fault is not None else None
    is_hit_pod = np.zeros(len(world.pod_node), dtype=bool)
    if fault is not None:
        is_hit_pod[fault.pods] = True

    # top-down: routing, presence, own processing, own failures
    for t in range(T):
        par, kind, svc = int(tpl.parent[t]), int(tpl.kind[t]), int(tpl.service[t])
        if par < 0:
            present[t] = True
        if kind == SERVER:
            pod[t] = world.pod_offset[svc] + rng.integers(0, world.pod_count[svc], N)
        else:
            pod[t] = pod[par]
        if par >= 0:
            run = present[par] & ~cut[par]
            if tpl.prob[t] < 1.0:
                run = run & (rng.random(N) < tpl.prob[t])
            present[t] = run
        if kind == CLIENT:
            continue
        hit = active & is_hit_pod[pod[t]] & present[t]
        if kind == SERVER and par >= 0 and fault is not None:
            if ft == "pod_failure":
                refused[par] = hit
                present[t] &= ~hit
            elif ft == "network_loss":
                u = rng.random(N)
                lost = hit & (u < p.timeout_prob)
                timed_out[par] = lost
                present[t] &= ~lost
                slow = hit & ~lost & (u < p.timeout_prob + p.rto_prob)
                rto[par] = slow
                extra_us[par] += slow * p.rto_ms * 1e3 * np.where(rng.random(N) < 0.2, 2.0, 1.0)
            elif ft == "network_delay":
                extra_us[par] += hit * p.delay_ms * 1e3 * rng.lognormal(0.0, 0.2, N)
            hit &= present[t]
        op = int(tpl.op[t])
        sigma = world.op_sigma[op] + (0.0 if extra_sigma is None else extra_sigma[op])  # a drifting tail
        s = world.op_median_us[op] * rng.lognormal(0.0, sigma, N)
        if ft in ("cpu", "node_fault"):
            s = np.where(hit, s * rng.lognormal(np.log(p.slow_median), p.slow_sigma, N), s)
        elif ft == "early_return" and kind == SERVER and tpl.children[t]:
            cut[t] = hit & (rng.random(N) < p.early_return_prob)
            s = np.where(cut[t], s * p.early_return_self, s)
        elif ft == "memory":
            g = hit & (rng.random(N) < p.gc_prob)
            gc[t] = g
            s = s + g * p.gc_pause_ms * 1e3 * rng.lognormal(0.0, 0.4, N)
        for h in hiccups:
            s = np.where(
                (pod[t] == h.pod) & (arrivals_s >= h.start_s) & (arrivals_s < h.end_s), s * h.factor, s
            )
        self_us[t] = s
        if kind == SERVER:
            u = rng.random(N)
            base = world.flaky_prob if svc == world.flaky_service else world.benign_error_prob
            o = np.where(u < base, BENIGN, OK).astype(np.int8)
            if ft in ("exception", "error_return"):
                o = np.where(hit & (rng.random(N) < p.error_prob), EXC if ft == "exception" else ERRRET, o)
            elif ft == "memory" and p.oom_prob > 0:
                o = np.where(hit & (rng.random(N) < p.oom_prob), OOM, o)
            origin[t] = np.where(present[t], o, OK)

    # bottom-up: durations, relative starts, error propagation
    dur = np.zeros((T, N))
    rel = np.zeros((T, N))
    err = origin != OK
    fallback = np.zeros((T, N), dtype=bool)
    net_node = world.pod_node
    for t in range(T - 1, -1, -1):
        kind = int(tpl.kind[t])
        kids = tpl.children[t]
        if kind == INTERNAL:
            dur[t] = self_us[t]
        elif kind == CLIENT:
            c = kids[0]
            cross = net_node[pod[t]] != net_node[pod[c]]
            out = 250.0 * rng.lognormal(0.0, 0.35, N) + 150.0 * cross
            back = 250.0 * rng.lognormal(0.0, 0.35, N) + 150.0 * cross + extra_us[t]
            rel[c] = out
            ok = present[c]
            d = np.where(ok, out + dur[c] + back, 0.0)
            d = np.where(refused[t], rng.uniform(300.0, 2500.0, N), d)
            tmo = world.timeout_us[int(tpl.service[t])] * rng.uniform(1.0, 1.02, N)
            d = np.where(timed_out[t], tmo, d)
            dur[t] = d
            o = np.where(ok, np.where(err[c], origin[c], OK), OK)
            o = np.where(refused[t], REFUSED, np.where(timed_out[t], TIMEOUT, o))
            origin[t] = np.where(present[t], o, OK)
            err[t] = origin[t] != OK
        else:
            s = self_us[t]
            if not kids:
                dur[t] = s
            else:
                lanes = int(tpl.lanes[t])
                pre = s * rng.uniform(0.1, 0.4, N)
                per_lane = -(-len(kids) // lanes)
                piece = (s - pre) * 0.5 / per_lane
                cursor = np.repeat(pre[None, :], lanes, axis=0)
                for j, c in enumerate(kids):
                    lane = j % lanes
                    cursor[lane] += piece * present[c]
                    rel[c] = cursor[lane]
                    cursor[lane] += dur[c]
                dur[t] = cursor.max(axis=0) + (s - pre) * 0.5
                child_err = np.zeros(N, dtype=bool)
                for c in kids:
                    if tpl.kind[c] == CLIENT:
                        child_err |= err[c]
                prop = child_err & (rng.random(N) < PROPAGATE_PROB)
                own = origin[t] != OK
                fallback[t] = child_err & ~prop & ~own
                origin[t] = np.where(own, origin[t], np.where(prop, PROPAGATED, OK))
                err[t] = origin[t] != OK
        dur[t] = np.where(present[t], dur[t], 0.0)

    start = np.zeros((T, N))
    start[0] = arrivals_s * 1e6
    for t in range(1, T):
        start[t] = start[tpl.parent[t]] + rel[t]
    return SimResult(
        tpl=tpl,
        arrivals_s=arrivals_s,
        present=present,
        pod=pod,
        start_us=np.rint(start).astype(np.int64),
        dur_us=np.maximum(np.rint(dur), 1).astype(np.int64),
        self_us=self_us,
        err=err & present,
        origin=origin,
        fallback=fallback & present,
        gc=gc & present,
        rto=rto & present,
    )
