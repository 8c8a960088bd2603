"""The tree-consistent span-time shifter: applies per-span effects and moves every other span accordingly.

A fault model says what happens to single spans (:class:`Effects`): own processing stretched, a pause, a
delay before a span starts or after it ends (the two legs of a call's network path), a failure at a point
of its timeline, a forced length (a timeout, a refused connection), removal. The shifter then replays each
touched trace from its root, in every span's own timeline:

- own processing (time when none of its children runs) is stretched by the span's factor;
- a child starts where its parent's timeline has got to (plus the child's request-leg delay);
- when the last of a group of overlapping children ends, the parent continues from the latest new end (plus
  response-leg delays): a longer child moves its parent's end and its later siblings' starts, a shorter one
  pulls them in; a child that outlives its parent by more than ``JOIN_TOLERANCE_US`` is not waited for;
- a childless span that lasts as long as a sibling's call beside it (a handler span recorded beside the
  client call, waiting for it) keeps ending with that sibling;
- a span that fails at time ``t`` drops the children that would have started after ``t`` (and their
  subtrees) and ends ``after_cut_us`` later (not before children still running);
- log lines linked to a span move with the point of its timeline they were written at; lines a failed span
  would have written after its failure point are dropped.

All arithmetic is in integer microseconds, so a child that was inside its parent stays inside it exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from faultwise.rcl.inject.tree import JOIN_TOLERANCE_US, SpanForest
from faultwise.rcl.profile.graph import BESIDE_MIN_US, BESIDE_SHARE  # one rule for the method and the shifter

NONE = -1


@dataclass
class Effects:
    """What a fault does to single spans (rows of a :class:`SpanForest`); defaults change nothing."""

    n: int
    stretch: np.ndarray = field(init=False)  # own-processing factor (>= 1)
    pause_us: np.ndarray = field(init=False)  # extra own time (a throttling pause)
    pause_at: np.ndarray = field(init=False)  # where in the span (share of its length) the pause falls
    pre_us: np.ndarray = field(init=False)  # delay before the span starts (request leg of the call into it)
    post_us: np.ndarray = field(init=False)  # delay after it ends before its parent sees it (response leg)
    cut_at_us: np.ndarray = field(init=False)  # original time at which the span fails/returns; -1 none
    after_cut_us: np.ndarray = field(init=False)  # time from the failure point to the span's end
    forced_us: np.ndarray = field(init=False)  # forced length from its new start (timeout, refusal); -1 none
    removed: np.ndarray = field(init=False)  # the span and its subtree never happen
    failed: np.ndarray = field(init=False)  # the span failed (whether or not the format records it)
    status: np.ndarray = field(init=False)  # status code to record for a failed span ("" none)
    pod_to: np.ndarray = field(init=False)  # pod that served it instead (traffic moved to a replica); ""

    def __post_init__(self) -> None:
        n = self.n
        self.stretch = np.ones(n)
        self.pause_us = np.zeros(n, dtype=np.int64)
        self.pause_at = np.zeros(n)
        self.pre_us = np.zeros(n, dtype=np.int64)
        self.post_us = np.zeros(n, dtype=np.int64)
        self.cut_at_us = np.full(n, NONE, dtype=np.int64)
        self.after_cut_us = np.zeros(n, dtype=np.int64)
        self.forced_us = np.full(n, NONE, dtype=np.int64)
        self.removed = np.zeros(n, dtype=bool)
        self.failed = np.zeros(n, dtype=bool)
        self.status = np.full(n, "", dtype=object)
        self.pod_to = np.full(n, "", dtype=object)

    def cut(self, row: int, at_us: int, after_us: int) -> None:
        """Fail/return ``row`` at original time ``at_us`` (the earliest failure point wins)."""
        if self.cut_at_us[row] == NONE or at_us < self.cut_at_us[row]:
            self.cut_at_us[row] = at_us
            self.after_cut_us[row] = after_us

    def timed(self) -> np.ndarray:
        """Rows whose timing changes (the traces holding them are replayed)."""
        return (
            (self.stretch != 1.0)
            | (self.pause_us != 0)
            | (self.pre_us != 0)
            | (self.post_us != 0)
            | (self.cut_at_us != NONE)
            | (self.forced_us != NONE)
            | self.removed
        )


@dataclass
class Shifted:
    """The replayed times: new start and end per span row, which rows are gone, new log times."""

    start: np.ndarray
    end: np.ndarray
    gone: np.ndarray  # span rows removed (their own removal or a failed ancestor's)
    log_ts: np.ndarray  # new time per log row
    log_gone: np.ndarray  # log rows dropped
    traces_replayed: int


def _beside(forest: SpanForest, kids: list[int]) -> dict[int, int]:
    """Childless children that wait beside a sibling's call: child row -> the sibling it ends with."""
    out: dict[int, int] = {}
    callers = [k for k in kids if forest.children[k]]
    if not callers:
        return out
    for k in kids:
        if forest.children[k]:
            continue
        best, best_gap = NONE, None
        for j in callers:
            length = int(forest.end[j] - forest.start[j])
            gap = abs(int(forest.end[k] - forest.end[j]))
            if forest.start[k] <= forest.start[j] and gap <= max(BESIDE_MIN_US, BESIDE_SHARE * length):
                if best_gap is None or gap < best_gap:
                    best, best_gap = j, gap
        if best != NONE:
            out[k] = best
    return out


class _Replay:
    def __init__(self, forest: SpanForest, fx: Effects, log_span: np.ndarray, log_ts: np.ndarray):
        self.f = forest
        self.fx = fx
        self.new_start = forest.start.copy()
        self.new_end = forest.end.copy()
        self.gone = fx.removed.copy()
        self.log_ts = log_ts.copy()
        self.log_gone = np.zeros(len(log_ts), dtype=bool)
        self.logs_of: dict[int, list[int]] = {}
        for i in np.flatnonzero(log_span >= 0):
            self.logs_of.setdefault(int(log_span[i]), []).append(int(i))
        self.orig_log_ts = log_ts
        self.visited: set[int] = set()

    def drop(self, row: int) -> None:
        for r in self.f.subtree(row):
            self.gone[r] = True
            for li in self.logs_of.get(r, ()):
                self.log_gone[li] = True

    def walk(self, i: int, ns: int) -> int:
        """Replay span ``i`` starting at new time ``ns``; returns its new end."""
        f, fx = self.f, self.fx
        self.visited.add(i)
        s0, e0 = int(f.start[i]), int(f.end[i])
        cut = int(fx.cut_at_us[i])
        stretch = float(fx.stretch[i])
        pause = int(fx.pause_us[i])
        pause_t = s0 + fx.pause_at[i] * (e0 - s0)
        kids = [k for k in f.children[i] if k not in self.visited]
        beside = _beside(f, kids)
        events: list[tuple[int, int, int]] = []
        joined: set[int] = set()  # children the span waits for (the others outlive it: asynchronous work)
        for k in kids:
            if self.gone[k]:
                self.drop(k)
                continue
            ks, ke = int(f.start[k]), int(f.end[k])
            if cut != NONE and ks >= cut:
                self.drop(k)
                continue
            events.append((ks, 1, k))
            if ke <= e0 + JOIN_TOLERANCE_US:
                events.append((ke, 0, k))
                joined.add(k)
        after_end_logs = []
        for li in self.logs_of.get(i, ()):
            t = int(self.orig_log_ts[li])
            if cut != NONE and t > cut:
                self.log_gone[li] = True
            elif t < s0:
                self.log_ts[li] = ns + (t - s0)
            elif t > e0:
                after_end_logs.append(li)
            else:
                events.append((t, 2, li))
        events.sort()

        p, cur = s0, ns
        active: set[int] = set()
        group_end: int | None = None

        def advance(t: int) -> None:
            nonlocal p, cur, pause
            if t <= p:
                return
            dt = t - p
            if active:
                cur += dt
            else:
                cur += int(round(dt * stretch))
                if pause and t >= pause_t:
                    cur += pause
                    pause = 0
            p = t

        def at(t: int) -> int:
            if t < p:
                return cur + (t - p)
            advance(t)
            return cur

        for t, kind, k in events:
            if cut != NONE and t > cut:
                break
            if kind == 1:  # a child starts
                ks = at(t) + int(fx.pre_us[k])
                self.new_start[k] = ks
                if k not in beside or k not in joined:
                    self.new_end[k] = self.walk(k, ks)
                if k in joined:
                    active.add(k)
            elif kind == 0:  # a child ends: the parent waits for the whole group of overlapping children
                if k in beside and k not in self.visited:
                    j = beside[k]
                    moved = int(self.new_end[j] - f.end[j]) if j in self.visited else 0
                    self.visited.add(k)
                    self.new_end[k] = max(int(self.new_start[k]), int(f.end[k]) + moved)
                    self._move_logs(k)
                advance(t)
                seen_end = int(self.new_end[k] + fx.post_us[k])
                group_end = seen_end if group_end is None else max(group_end, seen_end)
                active.discard(k)
                if not active:
                    cur, group_end = group_end, None
            else:  # a log line written at this point of the span's own timeline
                self.log_ts[k] = at(t)

        running = [int(self.new_end[k] + fx.post_us[k]) for k in active]
        if group_end is not None:  # children that ended while others still ran: the span saw them end
            running.append(group_end)
        if cut != NONE:
            advance(cut)
            end = max([cur, *running]) + int(fx.after_cut_us[i])
        elif fx.forced_us[i] != NONE:
            end = max([ns + int(fx.forced_us[i]), *running])
        else:
            if p <= e0:
                advance(e0)
                end = cur
            else:
                end = cur + (e0 - p)
            if pause:
                end += pause
            end = max([end, *running])
        if fx.forced_us[i] != NONE and cut != NONE:
            end = max(end, ns + int(fx.forced_us[i]))
        end = max(end, ns)
        for li in after_end_logs:
            self.log_ts[li] = end + (int(self.orig_log_ts[li]) - e0)
        return end

    def _move_logs(self, k: int) -> None:
        """Lines of a span replayed without a walk of its own: shift with its start."""
        moved = int(self.new_start[k] - self.f.start[k])
        for li in self.logs_of.get(k, ()):
            self.log_ts[li] = int(self.orig_log_ts[li]) + moved


def replay(forest: SpanForest, fx: Effects, log_span: np.ndarray, log_ts: np.ndarray) -> Shifted:
    """Replay every trace that holds a span whose timing an effect changes; others are untouched.

    ``log_span`` gives each log row's span row (-1: not linked to a span), ``log_ts`` its time.
    """
    r = _Replay(forest, fx, log_span, log_ts)
    touched = np.unique(forest.trace[fx.timed()])
    in_touched = np.isin(forest.trace, touched)
    for root in np.flatnonzero(in_touched & (forest.parent < 0)):
        root = int(root)
        if fx.removed[root]:
            r.drop(root)
            r.visited.add(root)
            continue
        ns = int(forest.start[root] + fx.pre_us[root])
        r.new_start[root] = ns
        r.new_end[root] = r.walk(root, ns)
    for row in np.flatnonzero(in_touched):  # spans only reachable through a parent cycle
        row = int(row)
        if row not in r.visited and not r.gone[row]:
            r.new_end[row] = r.walk(row, int(r.new_start[row]))
    return Shifted(
        start=r.new_start,
        end=r.new_end,
        gone=r.gone,
        log_ts=r.log_ts,
        log_gone=r.log_gone,
        traces_replayed=len(touched),
    )
