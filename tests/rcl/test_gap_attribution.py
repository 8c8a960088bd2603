"""Whose a longer client->server wait is (issue 11, mechanisms 4-5): extra waits compared like with like, in
microseconds, across the edges on both ends of a call."""

from __future__ import annotations

import numpy as np
import pandas as pd

from faultwise.rcl.tools.structure import attribute_gaps

BASE_GAP_US = 2_000.0


def _edges(extra_us: dict[str, float], calls: int = 20, callee: str = "b-0") -> pd.DataFrame:
    """Server spans of ``callee`` answering each caller pod ``calls`` times, each call's wait
    ``extra_us[caller]`` above the normal median (the exceedance as the timing tools mark it)."""
    rows = []
    for caller, extra in extra_us.items():
        for i in range(calls):
            gap = BASE_GAP_US + extra + (i % 3) * 10.0
            rows.append(
                {
                    "parent_pod": caller,
                    "pod": callee,
                    "gap_us": gap,
                    "base_gap_med": BASE_GAP_US,
                    "gap_exceeds": extra > 500.0,
                    "client_like": False,
                }
            )
    # the callers' client spans, which carry the callers' own-wait evidence
    for caller in extra_us:
        rows.append(
            {
                "parent_pod": "gateway-0",
                "pod": caller,
                "gap_us": np.nan,
                "base_gap_med": np.nan,
                "gap_exceeds": False,
                "client_like": True,
            }
        )
    return pd.DataFrame(rows)


def _blamed_callers(spans: pd.DataFrame, **kw) -> set[str]:
    attribute_gaps(spans, np.ones(len(spans), bool), **kw)
    return set(spans.loc[spans["gap_blames_caller"], "parent_pod"])


def test_a_wait_on_one_callers_calls_only_is_that_callers():
    """A CPU-starved caller reads its answers late: +200 ms on its own calls into b, +1 ms on the others'
    (which also exceed their p95 often, e.g. load): the wait is the caller's, not b's network."""
    spans = _edges({"starved-0": 200_000.0, "web-0": 1_000.0, "checkout-0": 1_000.0})
    assert _blamed_callers(spans) == {"starved-0"}
    own = spans[spans["client_like"]].set_index("pod")["caller_overhead_z"]
    assert own["starved-0"] > 3 and own["web-0"] == own["checkout-0"] == 0


def test_a_delay_into_the_callee_reaches_every_caller_alike():
    """netem on b's interface: every caller waits about the injected delay: b's."""
    spans = _edges({"starved-0": 200_000.0, "web-0": 180_000.0, "checkout-0": 210_000.0})
    assert _blamed_callers(spans) == set()


def test_comparing_like_with_like_can_be_switched_off():
    spans = _edges({"starved-0": 200_000.0, "web-0": 1_000.0, "checkout-0": 1_000.0})
    assert _blamed_callers(spans, similar_factor=1.0) == set()


def test_a_callee_with_one_caller_keeps_its_wait():
    spans = _edges({"web-0": 200_000.0})
    assert _blamed_callers(spans) == set()


def test_a_caller_slow_into_many_callees_and_a_starved_one_are_both_blamed():
    """Both rules at once: pod x waits longer on its calls into two callees (x's own client side), and a
    starved caller waits far longer than the other callers of c."""
    many = pd.concat(
        [_edges({"x-0": 50_000.0}, callee="b-0"), _edges({"x-0": 50_000.0}, callee="d-0")], ignore_index=True
    )
    one = _edges({"starved-0": 200_000.0, "web-0": 1_000.0, "checkout-0": 1_000.0}, callee="c-0")
    spans = pd.concat([many, one], ignore_index=True)
    spans["parent_pod"] = spans["parent_pod"].astype("string[pyarrow]")  # as loaded tables hold them
    spans["pod"] = spans["pod"].astype("string[pyarrow]")
    assert _blamed_callers(spans) == {"x-0", "starved-0"}


def test_a_caller_is_slow_only_where_its_edges_slowed_alike():
    """netem on b: x's calls into b wait +1 s; its calls into d wait +0.3 ms longer, past their p95 as often
    (load): one slow callee, not a slow caller. Into d and e alike (+50 ms each): the caller's own wait."""
    unlike = pd.concat(
        [_edges({"x-0": 1_000_000.0}, callee="b-0"), _edges({"x-0": 300.0}, callee="d-0")], ignore_index=True
    )
    unlike["gap_exceeds"] = unlike["gap_exceeds"] | (unlike["pod"] == "d-0")
    assert _blamed_callers(unlike) == set()
    alike = pd.concat(
        [_edges({"x-0": 50_000.0}, callee="d-0"), _edges({"x-0": 40_000.0}, callee="e-0")], ignore_index=True
    )
    assert _blamed_callers(alike) == {"x-0"}
