"""Trace graph: timings, client/server gaps, orphans and cycles."""

import pandas as pd

from faultwise.rcl.profile.graph import TraceGraph, add_timings


def _span(sid, parent, pod, start, dur, kind="server", trace="t"):
    return dict(
        trace_id=trace,
        span_id=sid,
        parent_id=parent,
        service=pod.split("-")[0],
        pod=pod,
        node="",
        operation=f"op-{sid}",
        kind=kind,
        start_us=start,
        duration_us=dur,
        is_error=False,
        status_code="",
    )


def test_exclusive_time_uses_union_of_overlapping_children():
    df = pd.DataFrame(
        [
            _span("a", "", "gw-1", 0, 1000),
            _span("b", "a", "gw-1", 100, 500, kind="internal"),
            _span("c", "a", "gw-1", 300, 500, kind="internal"),  # overlaps b: union is 100..800
        ]
    )
    t = add_timings(df).set_index("span_id")
    assert t.loc["a", "exclusive_us"] == 1000 - 700
    assert t.loc["a", "n_children"] == 2


def test_client_wait_becomes_gap_of_remote_server_span():
    df = pd.DataFrame(
        [
            _span("a", "", "gw-1", 0, 1000),
            _span("b", "a", "gw-1", 100, 800, kind="client"),
            _span("c", "b", "db-1", 250, 500),
        ]
    )
    t = add_timings(df).set_index("span_id")
    assert bool(t.loc["b", "client_like"]) and pd.isna(t.loc["b", "self_us"])
    assert t.loc["c", "gap_us"] == 300  # 800 - 500 spent on the wire / in queues
    assert t.loc["c", "parent_pod"] == "gw-1"
    assert pd.isna(t.loc["a", "gap_us"])


def test_single_remote_child_without_kind_is_client_like():
    df = pd.DataFrame(
        [
            _span("a", "", "gw-1", 0, 1000, kind=""),
            _span("b", "a", "db-1", 100, 600, kind=""),
        ]
    )
    t = add_timings(df).set_index("span_id")
    assert bool(t.loc["a", "client_like"])
    assert t.loc["b", "gap_us"] == 400


def test_orphans_become_roots_and_cycles_are_broken_and_reported():
    df = pd.DataFrame(
        [
            _span("r", "", "gw-1", 0, 100),
            _span("o", "missing", "a-1", 0, 10),
            _span("x", "y", "b-1", 0, 10),
            _span("y", "x", "b-1", 0, 10),
        ]
    )
    g = TraceGraph.from_frame(df)
    assert "o" in g.orphans and "o" in g.roots
    assert len(g.broken_cycles) == 1
    order = list(g.post_order())
    assert sorted(order) == ["o", "r", "x", "y"]  # every span visited once, no infinite loop


def test_post_order_visits_children_before_parents():
    df = pd.DataFrame(
        [
            _span("a", "", "gw-1", 0, 100),
            _span("b", "a", "x-1", 1, 50),
            _span("c", "b", "y-1", 2, 20),
            _span("d", "a", "z-1", 60, 20),
        ]
    )
    g = TraceGraph.from_frame(df)
    order = list(g.post_order())
    for child, parent in g.parent.items():
        assert order.index(child) < order.index(parent)
    assert g.depth() == {"a": 0, "b": 1, "c": 2, "d": 1}
    assert g.path_to_root("c") == ["c", "b", "a"]


def test_a_handler_span_beside_a_call_waits_and_does_no_own_work():
    """Issue 11, mechanism 6: a childless span recorded beside a client call and lasting all of it (a
    gateway's filter chain) is waiting; a childless span that runs before the call is own work."""
    df = pd.DataFrame(
        [
            _span("a", "", "gw-1", 0, 10_000, kind=""),
            _span("pre", "a", "gw-1", 100, 400, kind=""),  # own work before the call
            _span("h", "a", "gw-1", 900, 8_150, kind=""),  # beside the call: 900..9050
            _span("b", "a", "gw-1", 1_000, 8_000, kind="client"),  # the call: 1000..9000
            _span("c", "b", "db-1", 1_200, 7_500),
            _span("late", "a", "gw-1", 1_000, 2_000, kind=""),  # starts with it, ends far from it
        ]
    )
    t = add_timings(df).set_index("span_id")
    assert bool(t.loc["h", "beside_call"]) and pd.isna(t.loc["h", "self_us"])
    assert not t.loc[["pre", "late", "b", "c", "a"], "beside_call"].any()
    assert t.loc["pre", "self_us"] == 400 and t.loc["late", "self_us"] == 2_000


def test_a_delay_behind_handler_spans_is_blamed_on_the_callee():
    """The delayed callee stays first when every calling service records handler spans beside its calls
    (without the rule, the handler's growing length counts as the caller's own work)."""
    from faultwise.rcl.method.analyzer import RCLAgent
    from faultwise.rcl.simulate import Realism, SynthConfig, generate_incident

    inc = generate_incident(
        SynthConfig(fault_type="network_delay", seed=0, realism=Realism(handler_share=1.0))
    )
    truth = inc.truth
    d = RCLAgent().find_root_causes(inc.incident, inc.normal, start_us=int(truth.start_ts_s * 1e6))
    top = next(c for c in d.candidates if c.level == truth.level)
    assert top.component == truth.component
