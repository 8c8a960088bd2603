"""A CPU hog in a pod with a CPU limit (a busy loop or ``stress-ng`` filling the container's quota; CFS
throttling).

Mechanism: the hog uses up the container's CPU quota early in each scheduler period (``period_ms``, the
CFS default 100 ms), so the pod's threads run slower (``slowdown`` on own processing, small spread) and,
when the quota is gone, stop until the next period: ``throttle_share`` of the spans take a throttling pause
of ``U(0.2, 1) * period_ms * (1 + Poisson(extra_periods))`` somewhere in their own processing, and as many
requests into the pod wait such a pause before their server span starts (the caller sees a longer
client-server gap); ``queue_ms`` adds a run-queue wait as in contention. Compared with contention the
median moves less and the tail much more (the real Nezha ``cpu_contention`` cases look like this: the
90th percentile of own time near one 100 ms period). The pod's CPU metrics sit near its limit
(``cpu_add_pct`` points more).
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from faultwise.rcl.inject import cpu_contention
from faultwise.rcl.inject.context import InjectionContext
from faultwise.rcl.inject.model import FaultModel

US_PER_MS = 1_000


class CpuHogParams(cpu_contention.CpuContentionParams):
    throttle_share: float = Field(ge=0, le=1, description="share of spans that hit a throttled period")
    period_ms: float = Field(gt=0, le=1_000, description="CFS scheduler period, ms")
    extra_periods: float = Field(ge=0, le=20, description="mean further periods a throttled span waits")


def _pauses(ctx: InjectionContext, p: CpuHogParams, n: int) -> np.ndarray:
    """``n`` throttling pauses in whole microseconds (0 where no throttled period was hit)."""
    hit = ctx.rng.random(n) < p.throttle_share
    periods = 1 + ctx.rng.poisson(p.extra_periods, n)
    pause = ctx.rng.uniform(0.2, 1.0, n) * p.period_ms * US_PER_MS * periods
    return np.where(hit, pause, 0.0).round().astype(np.int64)


def plan(ctx: InjectionContext, p: CpuHogParams) -> None:
    cpu_contention.plan(ctx, p)
    rows = ctx.target_rows()
    n = len(rows)
    pauses = _pauses(ctx, p, n)
    hit = pauses > 0
    ctx.fx.pause_us[rows] = pauses
    ctx.fx.pause_at[rows] = ctx.rng.random(n)
    ctx.count("spans_throttled", int(hit.sum()))
    calls = ctx.calls_into()
    waits = _pauses(ctx, p, len(calls))
    ctx.fx.pre_us[calls] += waits
    ctx.count("requests_throttled", int((waits > 0).sum()))


MODEL = FaultModel(
    name="cpu_hog",
    fault_type="cpu",
    params=CpuHogParams,
    presets={
        "easy": CpuHogParams(
            slowdown=1.8,
            sigma=0.3,
            queue_ms=0,
            throttle_share=0.5,
            period_ms=100,
            extra_periods=1.0,
            cpu_add_pct=80,
        ),
        "hard": CpuHogParams(
            slowdown=1.2,
            sigma=0.2,
            queue_ms=0,
            throttle_share=0.15,
            period_ms=100,
            extra_periods=0.3,
            cpu_add_pct=40,
        ),
    },
    plan=plan,
    needs="spans",
    summary="CFS throttling: own processing a little slower, throttling pauses on a share of spans",
)
