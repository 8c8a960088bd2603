"""An exception thrown in the code of one operation of the pod (a code-level fault: the faulty statement
throws, as the ``exception`` faults of the Nezha benchmark and ChaosBlade's ``jvm throwCustomException``).

Mechanism (see :mod:`~faultwise.rcl.inject.code_faults` for where it strikes): the span that throws writes
an error line (``exception_name``, in the format of the pod's own lines, where logs are given) and stops:
the calls and lines it would have made after the faulty statement are missing. On ``caught_share`` of the
hits a handler in the calling code catches it, and the request goes on from there (the Nezha TrainTicket
``exception`` cases look like this: the spans keep their shape, the logs change). Otherwise the exception
escapes: the span's ancestors in the pod fail right after it, the operation ends early, the caller sees
the error on its client span (a 500 / gRPC UNKNOWN where the format records statuses) and, with
``abort_share``, gives up on its own request too, and so on up. The ``logs`` preset is the log-only
variant (``log_only``): the error line is written after the last traced call, the request's later lines
vanish, no span moves; an uncaught exception is an error status on the entry span and its caller's client
span where the format records statuses (none in the Nezha layout).
"""

from __future__ import annotations

from pydantic import Field

from faultwise.rcl.inject.code_faults import HANDLING_US, CodeFaultParams, mute_request, strike
from faultwise.rcl.inject.context import InjectionContext
from faultwise.rcl.inject.failures import escalate, fail_up, handling_us, mark_failed
from faultwise.rcl.inject.model import FaultModel


class ExceptionParams(CodeFaultParams):
    caught_share: float = Field(ge=0, le=1, description="share of hits a handler in the operation catches")
    abort_share: float = Field(ge=0, le=1, description="share of callers whose request fails on the error")
    exception_name: str = Field(min_length=1, description="the exception named in the error log line")


def plan(ctx: InjectionContext, p: ExceptionParams) -> None:
    def throw(entry: int, thrower: int, at_us: int, operation: str) -> None:
        ctx.log_line(thrower, at_us, f"{p.exception_name}: {operation} failed")
        caught = ctx.rng.random() < p.caught_share
        if p.log_only:
            if caught:
                ctx.count("exceptions_caught")
                return
            mute_request(ctx, entry, at_us)
            mark_failed(ctx, entry)
            if ctx.forest.parent[entry] >= 0:
                mark_failed(ctx, int(ctx.forest.parent[entry]))
            return
        if caught:
            ctx.fx.cut(thrower, at_us, handling_us(ctx, *HANDLING_US))
            ctx.count("exceptions_caught")
        else:
            escalate(ctx, fail_up(ctx, thrower, at_us, HANDLING_US), p.abort_share, HANDLING_US)

    strike(ctx, p, throw)


MODEL = FaultModel(
    name="exception",
    fault_type="exception",
    params=ExceptionParams,
    presets={
        "easy": ExceptionParams(
            share=0.9, caught_share=0.0, abort_share=0.9, exception_name="RuntimeException"
        ),
        "hard": ExceptionParams(
            share=0.5, caught_share=0.7, abort_share=0.6, exception_name="RuntimeException"
        ),
        "logs": ExceptionParams(
            share=0.9, caught_share=0.0, abort_share=0.0, exception_name="RuntimeException", log_only=True
        ),
    },
    plan=plan,
    needs="entries",
    summary="one operation throws at a fixed point: an error line; caught, or later calls vanish and errors climb",
)
