"""A pod that fails (Chaos Mesh ``PodChaos`` ``pod-failure`` / ``pod-kill``: the container stops serving).

Mechanism: from the onset (for ``down_s``, default to the end) the pod records no spans and writes no logs;
requests it was serving at the onset are lost with it. A call into it is refused at once (``refused_ms``),
or, on ``timeout_share`` of calls (a kept-alive connection to the dead container, a packet into the void),
hangs until the caller's ``timeout_ms``; either way the caller's client span fails (503 / gRPC UNAVAILABLE,
504 / DEADLINE_EXCEEDED), the caller writes an error line naming the callee service (where logs are given)
and with ``abort_share`` gives up on its own request. When the service has other pods in the data, they
take over ``replica_share`` of the calls (the endpoint list moved the traffic), which then succeed. The
pod's metrics stop for that time.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from faultwise.rcl.inject.context import InjectionContext, MetricNote
from faultwise.rcl.inject.failures import caller_gives_up, in_pod_below
from faultwise.rcl.inject.model import FaultModel, FaultParams

US_PER_MS = 1_000
US_PER_S = 1_000_000
HANDLING_US = (200, 2_000)
#: A call's timeout is at least this many times its normal length.
SLOWEST_NORMAL = 3


class PodFailureParams(FaultParams):
    down_s: float | None = Field(None, gt=0, description="how long the pod is down; None: to the end")
    timeout_share: float = Field(ge=0, le=1, description="share of calls into it that hang until a timeout")
    timeout_ms: float = Field(gt=0, le=600_000, description="how long a caller waits before giving up, ms")
    refused_ms: float = Field(gt=0, le=10_000, description="time until a call is refused, ms")
    replica_share: float = Field(ge=0, le=1, description="share of calls other pods of the service take over")
    abort_share: float = Field(ge=0, le=1, description="share of callers whose request fails on the error")


def _replicas(ctx: InjectionContext) -> list[str]:
    f = ctx.forest
    services = set(f.service[np.isin(f.pod, list(ctx.pods))])
    others = np.unique(f.pod[np.isin(f.service, list(services)) & ~np.isin(f.pod, list(ctx.pods))])
    return [str(p) for p in others]


def plan(ctx: InjectionContext, p: PodFailureParams) -> None:
    f, fx = ctx.forest, ctx.fx
    until = ctx.until_us if p.down_s is None else min(ctx.until_us, ctx.onset_us + int(p.down_s * US_PER_S))
    pods = np.isin(f.pod, list(ctx.pods))
    entry = pods & (f.crosses_pods() | (f.parent < 0))
    starts = entry & (f.start >= ctx.onset_us) & (f.start < until)
    in_flight = entry & (f.start < ctx.onset_us) & (f.end > ctx.onset_us)
    replicas = _replicas(ctx)
    for x in np.flatnonzero(starts | in_flight):
        x = int(x)
        if replicas and starts[x] and ctx.rng.random() < p.replica_share:
            replica = replicas[int(ctx.rng.integers(len(replicas)))]
            for r in [x, *in_pod_below(ctx, x)]:
                fx.pod_to[r] = replica
            ctx.count("calls_moved_to_replicas")
            continue
        fx.removed[x] = True
        ctx.count("requests_lost")
        up = int(f.parent[x])
        if up < 0:
            continue
        length = int(f.end[up] - f.start[up])
        lost_at = max(0, ctx.onset_us - int(f.start[up])) if in_flight[x] else 0
        if ctx.rng.random() < p.timeout_share:
            fx.forced_us[up] = lost_at + max(int(p.timeout_ms * US_PER_MS), SLOWEST_NORMAL * length)
            kind, text = "timeout", f"I/O error calling {f.service[x]}: Read timed out"
        else:
            refused = int(ctx.rng.uniform(0.5, 1.5) * p.refused_ms * US_PER_MS)
            fx.forced_us[up] = lost_at + refused
            kind, text = "unavailable", f"I/O error calling {f.service[x]}: Connection refused"
        ctx.count("calls_failed")
        caller_gives_up(ctx, up, p.abort_share, HANDLING_US, kind, text)
    for pod in sorted(ctx.pods):
        ctx.silent.append((pod, ctx.onset_us, until))
        ctx.metric_notes.append(
            MetricNote(entity=pod, entity_kind="pod", silent_from_us=ctx.onset_us, silent_to_us=until)
        )
    ctx.details["down_until_us"] = str(until)


MODEL = FaultModel(
    name="pod_failure",
    fault_type="pod_failure",
    params=PodFailureParams,
    presets={
        "easy": PodFailureParams(
            down_s=None, timeout_share=0.3, timeout_ms=1000, refused_ms=1, replica_share=0.5, abort_share=0.9
        ),
        "hard": PodFailureParams(
            down_s=15, timeout_share=0.1, timeout_ms=1000, refused_ms=1, replica_share=0.8, abort_share=0.6
        ),
    },
    plan=plan,
    # what stays traced of a failed pod is its callers' failed calls: a pod that only an untraced client calls
    # (a system's entry service) leaves no trace at all once it is down
    needs="calls_into",
    summary="the pod stops: its spans and logs stop, calls into it are refused or time out",
)
