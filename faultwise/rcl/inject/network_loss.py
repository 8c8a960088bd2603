"""Packet loss on a pod (Chaos Mesh ``NetworkChaos`` action ``loss``, ``tc netem loss`` on the packets the pod
sends).

Mechanism: each packet the pod sends is lost with probability ``loss_pct``. TCP resends a lost segment after
its retransmission timeout (at least ``rto_ms``, doubled at each further loss of the same segment); a lost
SYN-ACK of a new connection is resent after ``syn_rto_ms`` (Linux: 1 s). A call into the pod whose response
(``packets_per_response`` segments) loses a segment waits the retransmissions on its response leg; a new
connection (``new_connection_share``) whose SYN-ACK is lost waits on its request leg. When the wait would
pass the caller's ``timeout_ms``, the caller gives up at the timeout: its client span ends with a timeout
error, it writes an error line naming the callee (where logs are given), and with ``abort_share`` its own
request fails upwards. The pod's processing is unchanged.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from faultwise.rcl.inject.context import InjectionContext
from faultwise.rcl.inject.failures import caller_gives_up
from faultwise.rcl.inject.model import FaultModel, FaultParams

US_PER_MS = 1_000
MAX_RETRIES = 8
#: A call's timeout is at least this many times its normal length.
SLOWEST_NORMAL = 3


class NetworkLossParams(FaultParams):
    loss_pct: float = Field(gt=0, lt=100, description="share of the pod's packets lost, percent")
    packets_per_response: int = Field(ge=1, le=100, description="segments in a typical response")
    rto_ms: float = Field(gt=0, le=10_000, description="first retransmission timeout of a segment, ms")
    syn_rto_ms: float = Field(gt=0, le=10_000, description="retransmission timeout of a SYN-ACK, ms")
    new_connection_share: float = Field(ge=0, le=1, description="share of calls that open a connection")
    timeout_ms: float = Field(gt=0, le=600_000, description="how long a caller waits before giving up, ms")
    abort_share: float = Field(
        ge=0, le=1, description="share of callers whose request fails when their call times out"
    )


def _losses(ctx: InjectionContext, first: np.ndarray, p: float) -> np.ndarray:
    """Consecutive losses of one segment: 0 where ``first`` is False, else 1 + geometric further losses."""
    k = first.astype(np.int64)
    again = first.copy()
    for _ in range(MAX_RETRIES - 1):
        again &= ctx.rng.random(len(k)) < p
        k += again
    return k


def _wait_us(ctx: InjectionContext, k: np.ndarray, rto_ms: float) -> np.ndarray:
    """Total retransmission wait of ``k`` consecutive losses (exponential back-off, 10 % jitter)."""
    base = rto_ms * US_PER_MS * (2.0**k - 1.0)
    return (base * (1.0 + 0.1 * ctx.rng.random(len(k)))).round().astype(np.int64)


def plan(ctx: InjectionContext, p: NetworkLossParams) -> None:
    f, fx = ctx.forest, ctx.fx
    rows = ctx.calls_into()
    n = len(rows)
    loss = p.loss_pct / 100.0
    hit = ctx.rng.random(n) < 1.0 - (1.0 - loss) ** p.packets_per_response
    response_wait = _wait_us(ctx, _losses(ctx, hit, loss), p.rto_ms)
    new_connection = ctx.rng.random(n) < p.new_connection_share
    syn_lost = new_connection & (ctx.rng.random(n) < loss)
    request_wait = _wait_us(ctx, _losses(ctx, syn_lost, loss), p.syn_rto_ms)
    timeout_us = int(p.timeout_ms * US_PER_MS)
    for i, e in enumerate(rows):
        e = int(e)
        client = int(f.parent[e])
        length = int(f.end[client] - f.start[client])
        limit = max(timeout_us, SLOWEST_NORMAL * length)  # a caller's timeout sits above its normal waits
        fx.pre_us[e] += request_wait[i]
        if length + request_wait[i] + response_wait[i] > limit:
            fx.forced_us[client] = limit
            if length + request_wait[i] > limit:  # not even connected before the caller gave up
                fx.removed[e] = True
            ctx.count("calls_timed_out")
            text = f"I/O error calling {f.service[e]}: Read timed out"
            caller_gives_up(ctx, client, p.abort_share, (300, 3_000), "timeout", text)
        else:
            fx.post_us[e] += response_wait[i]
    ctx.count("calls", n)
    ctx.count("calls_retransmitted", int(((response_wait > 0) | (request_wait > 0)).sum()))


_EASY = NetworkLossParams(
    loss_pct=30,
    packets_per_response=2,
    rto_ms=200,
    syn_rto_ms=1000,
    new_connection_share=0.25,
    timeout_ms=1000,
    abort_share=0.8,
)
MODEL = FaultModel(
    name="network_loss",
    fault_type="network_loss",
    params=NetworkLossParams,
    presets={"easy": _EASY, "hard": _EASY.model_copy(update={"loss_pct": 8})},
    plan=plan,
    needs="calls_into",
    summary="calls into the pod wait TCP retransmissions; some time out and fail upstream",
)
