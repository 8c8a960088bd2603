"""The tree-consistent span-time shifter on a hand-made trace: what moves, by how much, what vanishes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from faultwise.rcl.inject import Effects, replay, span_forest

#            id    parent  pod  start  end     (microseconds)
SPANS = [
    ("root", "", "gw", 0, 1000),
    ("handler", "root", "gw", 10, 905),  # waits beside the call below (ends with it)
    ("call", "root", "gw", 20, 900),  # client span of the call into svc
    ("srv", "call", "svc", 30, 890),  # server span in svc
    ("a", "srv", "svc", 100, 200),  # first child call
    ("b", "srv", "svc", 300, 500),  # second, sequential
    ("c", "srv", "svc", 350, 450),  # parallel to b
    ("d", "srv", "svc", 600, 800),  # after b and c
]


def forest():
    rows = [
        {
            "trace_id": "t",
            "span_id": s,
            "parent_id": p,
            "service": pod,
            "pod": pod,
            "node": "",
            "operation": s,
            "kind": "",
            "start_us": a,
            "duration_us": b - a,
            "is_error": False,
            "status_code": "",
        }
        for s, p, pod, a, b in SPANS
    ]
    return span_forest(pd.DataFrame(rows))


def run(fx, log_span=(), log_ts=()):
    f = fx_forest = forest()
    del fx_forest
    out = replay(f, fx, np.array(log_span, dtype=np.int64), np.array(log_ts, dtype=np.int64))
    return {s[0]: (int(out.start[i]), int(out.end[i])) for i, s in enumerate(SPANS)}, out


ROW = {s[0]: i for i, s in enumerate(SPANS)}


def test_a_longer_child_moves_its_later_siblings_and_every_ancestor():
    fx = Effects(len(SPANS))
    fx.post_us[ROW["a"]] = 50  # a's answer arrives 50 us late
    t, _ = run(fx)
    assert t["a"] == (100, 200)
    assert t["b"] == (350, 550) and t["c"] == (400, 500) and t["d"] == (650, 850)
    assert t["srv"] == (30, 940) and t["call"] == (20, 950) and t["root"] == (0, 1050)
    assert t["handler"] == (10, 955)  # the handler beside the call ends with it


def test_parallel_children_join_on_the_latest():
    fx = Effects(len(SPANS))
    fx.post_us[ROW["c"]] = 200  # c (parallel to b) now ends at 650, after b (500)
    t, _ = run(fx)
    assert t["b"] == (300, 500) and t["c"] == (350, 450)
    assert t["d"] == (750, 950)  # d waits for the later of b and c: 650 + the 100 us of own work before it
    assert t["srv"][1] == 1040


def test_own_processing_is_stretched_and_children_keep_their_length():
    fx = Effects(len(SPANS))
    fx.stretch[ROW["srv"]] = 2.0
    t, _ = run(fx)
    # srv's own time: 70 before a, 100 between a and b, 100 between (b,c) and d, 90 after d
    assert t["a"] == (30 + 140, 30 + 240)
    assert t["b"][1] - t["b"][0] == 200 and t["d"][1] - t["d"][0] == 200
    assert t["srv"] == (30, 30 + 2 * 360 + 100 + 200 + 200)


def test_a_failure_point_drops_later_calls_and_lines_and_ends_the_span_early():
    fx = Effects(len(SPANS))
    fx.cut(ROW["srv"], 300, after_us=5)  # fails just before calling b (and c, d)
    log_span = [ROW["srv"], ROW["srv"], ROW["a"]]
    log_ts = [250, 700, 150]
    t, out = run(fx, log_span, log_ts)
    gone = {SPANS[i][0] for i in np.flatnonzero(out.gone)}
    assert gone == {"b", "c", "d"}
    assert t["srv"] == (30, 305) and t["call"] == (20, 315) and t["root"] == (0, 415)
    assert list(out.log_gone) == [False, True, False]
    assert list(out.log_ts[[0, 2]]) == [250, 150]


def test_log_lines_move_with_their_point_of_the_timeline():
    fx = Effects(len(SPANS))
    fx.pre_us[ROW["srv"]] = 40  # request leg delayed: srv and everything in it start 40 us later
    t, out = run(fx, [ROW["srv"], ROW["root"]], [550, 990])
    assert t["srv"] == (70, 930) and out.log_ts[0] == 590
    assert t["root"] == (0, 1040) and out.log_ts[1] == 1030


def test_a_removed_call_vanishes_with_its_subtree_and_a_forced_length_holds():
    fx = Effects(len(SPANS))
    fx.removed[ROW["srv"]] = True
    fx.forced_us[ROW["call"]] = 3  # refused at once
    t, out = run(fx)
    assert {SPANS[i][0] for i in np.flatnonzero(out.gone)} == {"srv", "a", "b", "c", "d"}
    assert t["call"] == (20, 23) and t["root"][1] == 23 + 100
