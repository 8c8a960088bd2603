"""A timing shift made sure by how far out its slow spans lie (issue 11, mechanism 1: "use counts only for
confidence"). A count of spans past an operation's own normal p95 cannot make a rarely called operation sure:
two of six calls past the p95 is z 1.8 however long they waited, and with one or two normal spans the p95 says
nothing. How far out they lie can: a wait 300 times its operation's median is rare among the normal spans of
every operation pooled, so two such calls are no accident, while two calls at 1.6 times their median are a
common sight."""

from __future__ import annotations

import numpy as np
import pytest
from rcl_support.incidents import one_span_traces

from faultwise.rcl.profile import NormalProfile
from faultwise.rcl.profile.stats import binomial_tail_z, binomial_z
from faultwise.rcl.reasoners.embedded import EmbeddedConfig, EmbeddedReasoner, shift_strength
from faultwise.rcl.telemetry.schema import Telemetry, span_at
from faultwise.rcl.tools import DataTools, ScopedTools

T0 = 1_700_000_000_000_000


def test_the_tail_z_is_exact_for_rare_events():
    assert binomial_tail_z(2, 6, 0.005) == pytest.approx(3.37, abs=0.01)  # P(X >= 2) = 3.7e-4
    assert binomial_z(2, 6, 0.005) > 10  # the normal approximation overstates it threefold
    assert binomial_tail_z(1, 100, 0.05) == 0.0  # below the expected count
    assert binomial_tail_z(3, 6, 0.005) > binomial_tail_z(2, 6, 0.005) > binomial_tail_z(2, 60, 0.005)


def _profile(rare_normal_us: list[float]) -> NormalProfile:
    rng = np.random.default_rng(0)
    return NormalProfile.fit(
        one_span_traces(
            {
                "rare": np.array(rare_normal_us),
                "busy": 5_000 * rng.lognormal(0.0, 0.1, 1_000),
                "spread": 2_000 * rng.lognormal(0.0, 0.3, 1_000),
            },
            T0,
            service="svc",
        )
    )


def test_the_pooled_tail_share_counts_every_operation_with_enough_spans():
    profile = _profile([3_000.0, 3_100.0])  # two spans: not pooled (each is its own median)
    assert len(profile.pooled_log_ratios["self"]) == 2_000
    assert profile.tail_share("self", np.array([np.log(300.0)]))[0] == pytest.approx(1 / 2_001)
    assert 0.03 < profile.tail_share("self", np.array([np.log(1.6)]))[0] < 0.1  # the spread one reaches it


def _rare_tools(extra_us: float) -> DataTools:
    """Six calls of the rarely called operation, two of them ``extra_us`` longer."""
    profile = _profile([3_000.0, 3_100.0])
    calls = np.array([3_000.0, 3_050.0, 2_950.0, 3_020.0, 3_000.0 + extra_us, 3_000.0 + extra_us])
    inc = one_span_traces({"rare": calls}, T0 + 10**10, service="svc")
    lo = int(inc["start_us"].min())
    return DataTools(Telemetry(inc, None, None, {}), profile, window_us=(lo, lo + 10**9))


def _rare_strength(extra_us: float, config: EmbeddedConfig) -> float:
    s = _rare_tools(extra_us).spans
    slow = s[s["self_exceeds"]]
    assert len(slow) == 2
    r = slow.iloc[0]
    return shift_strength(r["op_self_shift_z"], r["op_self_effect"], config, r["op_self_tail_z"])


def test_two_calls_far_out_are_sure_where_their_count_is_not():
    on = _rare_strength(1_000_000.0, EmbeddedConfig())
    off = _rare_strength(1_000_000.0, EmbeddedConfig(tail_confidence=False))
    assert off < 0.1  # two of six past the p95 of two spans: the count is not sure
    assert on > 0.3


def test_the_evidence_says_which_confidence_made_it_sure():
    tools = _rare_tools(1_000_000.0)
    slow = tools.spans[tools.spans["self_exceeds"]]
    span = span_at(slow, 0)
    on = EmbeddedReasoner().verify_sync(span, ScopedTools(span, tools))
    off = EmbeddedReasoner(EmbeddedConfig(tail_confidence=False)).verify_sync(span, ScopedTools(span, tools))
    assert on.is_abnormal and any("this far out z=" in x for x in on.key_symptoms)
    assert not any("this far out" in x for x in off.key_symptoms)


def test_two_calls_a_little_out_stay_unsure():
    """1.6 times the median: as large an effect as a doubled request would be, but common among normal spans."""
    assert _rare_strength(1_800.0, EmbeddedConfig()) < 0.05


def test_an_operation_that_often_runs_far_out_does_not_look_rare():
    """2 % of its normal calls wait 100 times its median: five of a hundred doing so is its habit, though
    among all operations pooled so far out is rare."""
    rng = np.random.default_rng(1)
    flaky = 3_000 * rng.lognormal(0.0, 0.1, 500)
    flaky[::50] = 300_000.0
    normal = {
        "flaky": flaky,
        "busy": 5_000 * rng.lognormal(0.0, 0.1, 1_000),
        "spread": 2_000 * rng.lognormal(0.0, 0.3, 1_000),
    }
    profile = NormalProfile.fit(one_span_traces(normal, T0, service="svc"))
    calls = 3_000 * rng.lognormal(0.0, 0.1, 100)
    calls[::20] = 300_000.0
    inc = one_span_traces({"flaky": calls}, T0 + 10**10, service="svc")
    lo = int(inc["start_us"].min())
    s = DataTools(Telemetry(inc, None, None, {}), profile, window_us=(lo, lo + 10**9)).spans
    assert s["self_exceeds"].sum() == 5
    assert s["op_self_tail_z"].max() < 2.0
    pooled = profile.tail_share("self", np.array([np.log(99.0)]))[0]
    assert binomial_tail_z(5, 100, pooled) > 3.5  # what the pooled share alone would have said
