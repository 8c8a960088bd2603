"""What the two code faults share: one operation of the pod (a code path) stops at a fixed point on a share of
its requests.

A code fault sits at one place in the code of one operation: ``operation`` (default: drawn from the seed,
weighted by the pod's traffic) fails or returns at ``fail_point``, the share of its observable steps
before the faulty statement (default: drawn from the seed). The steps of a request are what the pod
records while serving it, in time order: the calls and internal spans below its entry span and the log
lines they write. On a request it hits, the span that was about to take the next step stops there: the
calls and lines it would have made later vanish (with the calls' subtrees) and it ends a moment later
(0.2-2 ms to build the answer). A fault point late in the code changes only the last log lines; an early
one takes the operation's usual child calls with it.

With ``log_only`` the faulty statement sits after the operation's last traced call and the rest of the
request takes no measurable time (the Nezha TrainTicket code faults look like this: the target's spans keep
their number and length, the logs change): the steps are the request's log lines written after its last
traced call has returned, the request's later lines vanish, and no span moves. Where the format records
statuses, the model says whether the entry span and its caller's client span report an error.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from pydantic import Field

from faultwise.errors import InputError
from faultwise.rcl.inject.context import InjectionContext
from faultwise.rcl.inject.failures import in_pod_below
from faultwise.rcl.inject.model import FaultParams

HANDLING_US = (200, 2_000)


class CodeFaultParams(FaultParams):
    share: float = Field(gt=0, le=1, description="share of the operation's requests the fault hits")
    operation: str | None = Field(
        None, description="the faulty operation (a span name of the pod); None: drawn, weighted by traffic"
    )
    fail_point: float | None = Field(
        None,
        ge=0,
        lt=1,
        description="where the faulty statement sits: share of the operation's steps (calls, log lines) "
        "taken before it; None: drawn from the seed",
    )
    log_only: bool = Field(
        False,
        description="the faulty statement sits after the operation's last traced call: spans keep their "
        "time, only the request's log lines change",
    )


def faulty_requests(ctx: InjectionContext, p: CodeFaultParams) -> tuple[str, float, np.ndarray]:
    """The faulty operation, its fail point, and the entry spans of the requests the fault hits."""
    f = ctx.forest
    rows = ctx.entries()
    ops = f.spans["operation"].astype(str).to_numpy(dtype=object)[rows]
    if p.operation is None:
        names, counts = np.unique(ops, return_counts=True)
        operation = str(ctx.rng.choice(names, p=counts / counts.sum()))
    else:
        operation = p.operation
        if not (ops == operation).any():
            raise InputError("operation", f"the target serves no {operation!r} request after the onset")
    fail_point = float(ctx.rng.uniform(0, 1)) if p.fail_point is None else p.fail_point
    chosen = rows[ops == operation]
    hit = chosen[ctx.rng.random(len(chosen)) < p.share]
    ctx.count("requests_of_operation", len(chosen))
    ctx.count("requests_hit", len(hit))
    return operation, fail_point, hit


def strike(
    ctx: InjectionContext, p: CodeFaultParams, on_request: Callable[[int, int, int, str], None]
) -> None:
    """Call ``on_request(entry, span that stops, original time it stops, operation)`` for every request the
    fault hits, and record what was drawn."""
    operation, fail_point, hit = faulty_requests(ctx, p)
    point = log_failure_point if p.log_only else failure_point
    for x in hit:
        stopper, at_us = point(ctx, int(x), fail_point)
        on_request(int(x), stopper, at_us, operation)
    ctx.count("fail_point_permille", int(round(fail_point * 1000)))
    ctx.details["operation"] = operation


def failure_point(ctx: InjectionContext, entry: int, fail_point: float) -> tuple[int, int]:
    """(the span that stops, the original time it stops at) in one request of the faulty operation."""
    f = ctx.forest
    below = in_pod_below(ctx, entry)
    steps = [(int(f.start[d]), 0, d) for d in below]  # a call or internal step: its parent stops before it
    for row in (entry, *below):
        steps.extend((t, 1, row) for t in ctx.log_times.get(row, ()))  # a line: its span stops before it
    steps.sort()
    k = int(np.floor(fail_point * len(steps)))
    if k < len(steps):
        t, kind, row = steps[k]
        return (int(f.parent[row]), t) if kind == 0 else (row, t - 1)
    return entry, int(f.start[entry] + fail_point * (f.end[entry] - f.start[entry]))


def log_failure_point(ctx: InjectionContext, entry: int, fail_point: float) -> tuple[int, int]:
    """Where a log-only fault stops one request: among the request's log lines written after its last
    traced call returned (the span about to write the line, just before it); with no such line, just
    before the entry span ends."""
    f = ctx.forest
    rows = [entry, *in_pod_below(ctx, entry)]
    calls = [c for r in rows for c in f.children[r] if f.pod[c] != f.pod[entry]]
    last_call_end = max((int(f.end[c]) for c in calls), default=int(f.start[entry]))
    steps = sorted((t, row) for row in rows for t in ctx.log_times.get(row, ()) if t > last_call_end)
    k = int(np.floor(fail_point * len(steps)))
    if k < len(steps):
        t, row = steps[k]
        return row, t - 1
    return entry, max(int(f.start[entry]), int(f.end[entry]) - 1)


def mute_request(ctx: InjectionContext, entry: int, from_us: int) -> None:
    """A log-only fault stopped the request at original time ``from_us``: its later log lines vanish."""
    for row in (entry, *in_pod_below(ctx, entry)):
        ctx.muted.append((row, from_us))
    ctx.count("requests_muted")
