"""An early or wrong return in the code of one operation of the pod (the ``return`` faults of the Nezha
benchmark, ChaosBlade's ``jvm return``): the method returns a value before doing its work.

Mechanism (see :mod:`~faultwise.rcl.inject.code_faults` for where it strikes): the method returns at the
faulty statement without an error: the calls and lines it would have made later are missing, it ends
early, its status stays OK and no error line is written; the code that called it goes on. With
``caller_error_share`` the calling service cannot use the value and fails right after the call (its own
later calls vanish, an error climbs upwards with ``abort_share``). The ``logs`` preset is the log-only
variant (``log_only``): the return sits after the last traced call, the request's later lines vanish, no
span moves and no status changes (the caller is not told).
"""

from __future__ import annotations

from pydantic import Field

from faultwise.rcl.inject.code_faults import HANDLING_US, CodeFaultParams, mute_request, strike
from faultwise.rcl.inject.context import InjectionContext
from faultwise.rcl.inject.failures import escalate, fail_up, handling_us
from faultwise.rcl.inject.model import FaultModel


class ErrorReturnParams(CodeFaultParams):
    caller_error_share: float = Field(
        ge=0, le=1, description="share of callers that fail on the returned value"
    )
    abort_share: float = Field(ge=0, le=1, description="share of their callers whose request fails in turn")


def plan(ctx: InjectionContext, p: ErrorReturnParams) -> None:
    f = ctx.forest

    def give_back(entry: int, stopper: int, at_us: int, _operation: str) -> None:
        if p.log_only:
            mute_request(ctx, entry, at_us)
            return
        ctx.fx.cut(stopper, at_us, handling_us(ctx, *HANDLING_US))
        up = int(f.parent[entry])
        if up < 0 or ctx.rng.random() >= p.caller_error_share:
            return
        b = int(f.parent[up])  # the caller's code that uses the value (the client span's parent in its pod)
        if b >= 0 and f.pod[b] == f.pod[up]:
            caller = fail_up(ctx, b, int(f.end[up]), HANDLING_US)
        else:
            caller = fail_up(ctx, up, int(f.end[entry]), HANDLING_US)
        ctx.count("callers_failed")
        escalate(ctx, caller, p.abort_share, HANDLING_US)

    strike(ctx, p, give_back)


MODEL = FaultModel(
    name="error_return",
    fault_type="error_return",
    params=ErrorReturnParams,
    presets={
        "easy": ErrorReturnParams(share=0.9, caller_error_share=0.3, abort_share=0.8),
        "hard": ErrorReturnParams(share=0.5, caller_error_share=0.1, abort_share=0.6),
        "logs": ErrorReturnParams(share=0.9, caller_error_share=0.0, abort_share=0.0, log_only=True),
    },
    plan=plan,
    needs="entries",
    summary="one method returns early at a fixed point: its later calls and lines vanish, no error there",
)
