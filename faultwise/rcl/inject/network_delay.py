"""Network delay on a pod (Chaos Mesh ``NetworkChaos`` action ``delay``, i.e. ``tc netem delay`` on the pod's
interface, packets the pod sends).

Mechanism: every packet leaving the pod waits ``delay_ms`` (normal jitter ``jitter_ms``, cut at 0). A call
*into* the pod therefore gets its response late, always; a call that opens a new connection also waits on
the request leg, because the pod's SYN-ACK is delayed (``new_connection_share`` of calls). The pod's own
processing, its database calls and its calls to others are unchanged (as the issue and the real cases say):
the callers' client spans grow by the delay, the pod's server spans do not.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from faultwise.rcl.inject.context import InjectionContext
from faultwise.rcl.inject.model import FaultModel, FaultParams

US_PER_MS = 1_000


class NetworkDelayParams(FaultParams):
    delay_ms: float = Field(gt=0, le=60_000, description="delay added to each packet the pod sends, ms")
    jitter_ms: float = Field(ge=0, le=60_000, description="standard deviation of that delay, ms")
    new_connection_share: float = Field(
        ge=0, le=1, description="share of calls that open a connection (their request leg waits as well)"
    )


def delays_us(ctx: InjectionContext, n: int, delay_ms: float, jitter_ms: float) -> np.ndarray:
    """``n`` per-call delays in whole microseconds (normal, cut at 0)."""
    return np.maximum(0.0, ctx.rng.normal(delay_ms, jitter_ms, n) * US_PER_MS).round().astype(np.int64)


def plan(ctx: InjectionContext, p: NetworkDelayParams) -> None:
    rows = ctx.calls_into()
    n = len(rows)
    response = delays_us(ctx, n, p.delay_ms, p.jitter_ms)
    new_connection = ctx.rng.random(n) < p.new_connection_share
    request = delays_us(ctx, n, p.delay_ms, p.jitter_ms) * new_connection
    ctx.fx.post_us[rows] += response
    ctx.fx.pre_us[rows] += request
    ctx.count("calls_delayed", n)
    ctx.count("new_connections", int(new_connection.sum()))


MODEL = FaultModel(
    name="network_delay",
    fault_type="network_delay",
    params=NetworkDelayParams,
    presets={
        "easy": NetworkDelayParams(delay_ms=1000, jitter_ms=100, new_connection_share=0.25),
        "hard": NetworkDelayParams(delay_ms=100, jitter_ms=30, new_connection_share=0.25),
    },
    plan=plan,
    needs="calls_into",
    summary="calls into the pod wait the delay on the response leg (and the request leg of new connections)",
)
