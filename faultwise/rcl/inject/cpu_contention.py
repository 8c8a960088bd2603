"""CPU contention in a pod (Chaos Mesh ``StressChaos`` with CPU workers, ``stress-ng --cpu`` beside the
service in its container or on its node).

Mechanism: the stressor competes for the CPU the pod's threads need, so the pod's own processing (the time
of its spans when none of their children runs) takes longer: each span's own time is stretched by
``1 + (slowdown - 1) * X`` with ``X`` log-normal (median 1, ``sigma``), so the slow-down varies from span to
span more than normal processing does. A request into the pod also waits for a CPU before the code that
opens its server span runs (reading the socket, the framework's dispatch): an exponential run-queue wait
of mean ``queue_ms`` before the server span starts, which the caller sees as a longer client-server gap
(the real Nezha cpu faults show it). Waiting on calls to other pods is unchanged; the pods upstream wait
longer only because the calls into this pod take longer (the shifter carries that up the trees). The
stressor's own CPU shows in the pod's CPU metrics (``cpu_add_pct`` points; latency and success-rate
metrics follow what the traces show).
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from faultwise.rcl.inject.context import InjectionContext, MetricNote
from faultwise.rcl.inject.model import FaultModel, FaultParams

US_PER_MS = 1_000


class CpuContentionParams(FaultParams):
    slowdown: float = Field(gt=1, le=100, description="median factor on the pod's own processing time")
    sigma: float = Field(ge=0, le=3, description="log-normal spread of the factor's excess over 1")
    queue_ms: float = Field(
        ge=0, le=60_000, description="mean run-queue wait of a request before its span, ms"
    )
    cpu_add_pct: float = Field(ge=0, le=100, description="CPU the stressor takes, percentage points")


def plan(ctx: InjectionContext, p: CpuContentionParams) -> None:
    """Stretch the own processing of the target's spans; note the stressor's CPU for the metrics."""
    rows = ctx.target_rows()
    ctx.fx.stretch[rows] = 1.0 + (p.slowdown - 1.0) * ctx.rng.lognormal(0.0, p.sigma, len(rows))
    ctx.count("spans_slowed", len(rows))
    calls = ctx.calls_into()
    ctx.fx.pre_us[calls] += (ctx.rng.exponential(p.queue_ms * US_PER_MS, len(calls))).round().astype(np.int64)
    for pod in sorted(ctx.pods):
        ctx.metric_notes.append(MetricNote(entity=pod, entity_kind="pod", cpu_add_pct=p.cpu_add_pct))


MODEL = FaultModel(
    name="cpu_contention",
    fault_type="cpu",
    params=CpuContentionParams,
    presets={
        "easy": CpuContentionParams(slowdown=3.0, sigma=0.5, queue_ms=20, cpu_add_pct=60),
        "hard": CpuContentionParams(slowdown=1.6, sigma=0.4, queue_ms=5, cpu_add_pct=25),
    },
    plan=plan,
    needs="spans",
    summary="the pod's own processing stretched by a varying factor; its CPU metrics up",
)
