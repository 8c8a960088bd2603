"""An exception thrown in the code of one operation of the pod (a code-level fault: the faulty statement
throws, as the ``exception`` faults of the Nezha benchmark and ChaosBlade's ``jvm throwCustomException``).

Mechanism (see :mod:`~faultwise.rcl.inject.code_faults` for where it strikes): the span that throws, and its
ancestors in the pod, fail; the calls it would have made after the faulty statement vanish and the
operation ends early. The caller sees the error on its client span (a 500 / gRPC UNKNOWN where the format
records statuses) and, with ``abort_share``, gives up on its own request too, and so on up. Where logs are
given, the throwing span writes an error line (``exception_name``, in the format of the pod's own lines),
and the lines it would have written after the failure point are missing.
"""

from __future__ import annotations

from pydantic import Field

from faultwise.rcl.inject.code_faults import HANDLING_US, CodeFaultParams, strike
from faultwise.rcl.inject.context import InjectionContext
from faultwise.rcl.inject.failures import escalate, fail_up
from faultwise.rcl.inject.model import FaultModel


class ExceptionParams(CodeFaultParams):
    abort_share: float = Field(ge=0, le=1, description="share of callers whose request fails on the error")
    exception_name: str = Field(min_length=1, description="the exception named in the error log line")


def plan(ctx: InjectionContext, p: ExceptionParams) -> None:
    def throw(_entry: int, thrower: int, at_us: int, operation: str) -> None:
        ctx.log_line(thrower, at_us, f"{p.exception_name}: {operation} failed")
        escalate(ctx, fail_up(ctx, thrower, at_us, HANDLING_US), p.abort_share, HANDLING_US)

    strike(ctx, p, throw)


MODEL = FaultModel(
    name="exception",
    fault_type="exception",
    params=ExceptionParams,
    presets={
        "easy": ExceptionParams(share=0.9, abort_share=0.9, exception_name="RuntimeException"),
        "hard": ExceptionParams(share=0.35, abort_share=0.6, exception_name="RuntimeException"),
    },
    plan=plan,
    needs="entries",
    summary="one operation throws at a fixed point: later calls vanish, errors upstream, an error log line",
)
