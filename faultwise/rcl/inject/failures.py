"""How a failure travels: a span fails at a point of its timeline, the code above it in the same pod gives up
right after, and the caller sees an error and gives up too or handles it.

Shared by the code faults (exception, error return), network loss (timeouts) and pod failure.
"""

from __future__ import annotations

from faultwise.rcl.inject.context import InjectionContext


def mark_failed(ctx: InjectionContext, row: int, kind: str = "error") -> None:
    """``row`` failed (recorded as a status where the format has one)."""
    fx = ctx.fx
    if not fx.failed[row]:
        ctx.count("spans_failed")
    fx.failed[row] = True
    if not fx.status[row]:
        fx.status[row] = ctx.status_code(kind)


def handling_us(ctx: InjectionContext, low_us: int, high_us: int) -> int:
    """Time from a failure to the span's end (building the error response), drawn from ``[low, high]``."""
    return int(ctx.rng.integers(low_us, high_us + 1))


def fail_up(
    ctx: InjectionContext,
    row: int,
    at_us: int,
    after_us: tuple[int, int],
    mark_first: bool = True,
) -> int:
    """``row`` fails at original time ``at_us`` and every ancestor of it in the same pod fails right after its
    child on the path (each drops the calls it would have made later). Returns the pod's entry span."""
    f = ctx.forest
    ctx.fx.cut(row, at_us, handling_us(ctx, *after_us))
    if mark_first:
        mark_failed(ctx, row)
    x, seen = row, {row}
    while True:
        b = int(f.parent[x])
        if b < 0 or b in seen or f.pod[b] != f.pod[x]:
            return x
        ctx.fx.cut(b, int(f.end[x]), handling_us(ctx, *after_us))
        mark_failed(ctx, b)
        seen.add(b)
        x = b


def escalate(
    ctx: InjectionContext, entry: int, abort_share: float, after_us: tuple[int, int], depth: int = 0
) -> None:
    """The pod's entry span ``entry`` answered with an error: the calling span sees it; with probability
    ``abort_share`` the caller gives up on its request too (and so on up), else it handles the error."""
    f = ctx.forest
    up = int(f.parent[entry])
    if up < 0 or depth > 64:
        return
    mark_failed(ctx, up)
    if ctx.rng.random() < abort_share:
        x = fail_up(ctx, up, int(f.end[entry]), after_us, mark_first=False)
        escalate(ctx, x, abort_share, after_us, depth + 1)


def in_pod_below(ctx: InjectionContext, row: int) -> list[int]:
    """The spans below ``row`` in its own pod (its code's calls and internal steps), by start time."""
    f = ctx.forest
    out, stack, seen = [], list(f.children[row]), {row}
    while stack:
        r = stack.pop()
        if r in seen or f.pod[r] != f.pod[row]:
            continue
        seen.add(r)
        out.append(r)
        stack.extend(f.children[r])
    return sorted(out, key=lambda r: (int(f.start[r]), r))


def caller_gives_up(
    ctx: InjectionContext, client: int, abort_share: float, after_us: tuple[int, int], kind: str, text: str
) -> None:
    """The call ``client`` made failed (refused, timed out): it is marked, the caller writes an error line
    naming the callee, and with probability ``abort_share`` gives up on its request."""
    f = ctx.forest
    mark_failed(ctx, client, kind)
    ctx.log_line(client, int(f.end[client]), text)
    if ctx.rng.random() >= abort_share:
        return
    b = int(f.parent[client])
    if b >= 0 and f.pod[b] == f.pod[client]:
        x = fail_up(ctx, b, int(f.end[client]), after_us)
    else:
        x = client
    escalate(ctx, x, abort_share, after_us)
