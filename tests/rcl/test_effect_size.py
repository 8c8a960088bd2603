"""Timing shifts scored by their size too (issue 11, mechanism 1): netem on a pod delays nearly every call into it
by about the injected delay, a huge effect on few calls, while a busy operation's tail may shift a little on
many. A count of spans above the normal p95 (a binomial z) grows with traffic, not with size, and stays low on
few calls however large the shift; the effect size (the slow spans' excess over the normal median, relative to
the normal time of the whole request) lets a large shift score high once the count says it is real."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from rcl_support.incidents import one_span_traces

from faultwise.rcl.profile import NormalProfile
from faultwise.rcl.reasoners.embedded import EmbeddedConfig, shift_strength, shift_strength_many
from faultwise.rcl.telemetry.schema import SPAN_COLUMNS, Telemetry, conform
from faultwise.rcl.tools import DataTools
from faultwise.rcl.tools.timing import JITTER_US

T0 = 1_700_000_000_000_000


def _incident() -> DataTools:
    """``delayed``: 10 calls, each 2 s longer than its 3 ms normal; ``busy``: 150 calls of a 4 ms operation
    half of whose calls run 0.6 ms longer (past the normal p95)."""
    rng = np.random.default_rng(0)
    normal = {
        "delayed": 3_000 * rng.lognormal(0.0, 0.05, 40),
        "busy": 4_000 * rng.lognormal(0.0, 0.02, 400),
    }
    incident = {
        "delayed": 3_000 * rng.lognormal(0.0, 0.05, 10) + 2_000_000,
        "busy": 4_000 * rng.lognormal(0.0, 0.02, 150) + np.where(np.arange(150) % 2 == 0, 600.0, 0.0),
    }
    profile = NormalProfile.fit(one_span_traces(normal, T0))
    inc = one_span_traces(incident, T0 + 10**9)
    lo = int(inc["start_us"].min())
    return DataTools(Telemetry(inc, None, None, {}), profile, window_us=(lo, lo + 10**9))


def _per_service(tools: DataTools, config: EmbeddedConfig) -> dict[str, float]:
    s = tools.spans
    return {
        svc: max(
            shift_strength(z, e, config)
            for z, e in zip(g["op_self_shift_z"], g["op_self_effect"], strict=True)
        )
        for svc, g in s.groupby("service")
    }


def test_the_effect_is_the_slow_spans_excess_relative_to_the_normal_median():
    s = _incident().spans
    effect = s.groupby("service")["op_self_effect"].max()
    assert effect["delayed"] == pytest.approx(2_000_000 / 3_000, rel=0.05)  # about 667 times the normal time
    assert 0.05 < effect["busy"] < 0.2  # 0.6 ms over a 4 ms median
    z = s.groupby("service")["op_self_shift_z"].max()
    assert z["busy"] > z["delayed"]  # the count favours the busy operation: it has 15 times the traffic


def test_a_large_shift_on_few_calls_outranks_a_small_one_on_many():
    tools = _incident()
    on = _per_service(tools, EmbeddedConfig())
    off = _per_service(tools, EmbeddedConfig(effect_scale=None))  # the switch off: the count alone
    assert on["delayed"] > 0.95 and off["delayed"] < 0.7  # ten calls cannot make a count confident
    assert on["delayed"] > on["busy"]
    assert off["busy"] > off["delayed"]
    assert on["busy"] == pytest.approx(off["busy"])  # a small shift gains nothing from its size


def test_an_effect_is_relative_to_at_least_the_timer_jitter():
    """A 20 us operation that takes 60 us has not tripled in any sense a user feels."""
    rng = np.random.default_rng(1)
    normal = {"tiny": 20 + rng.integers(0, 3, 200)}
    incident = {"tiny": 20 + JITTER_US * 1.3 + rng.integers(0, 3, 50)}
    profile = NormalProfile.fit(one_span_traces(normal, T0))
    inc = one_span_traces(incident, T0 + 10**9)
    lo = int(inc["start_us"].min())
    tools = DataTools(Telemetry(inc, None, None, {}), profile, window_us=(lo, lo + 10**9))
    effect = float(tools.spans["op_self_effect"].max())
    assert effect == pytest.approx(1.3, abs=0.1)  # 130 us over a 100 us floor, not over 20 us


def _requests(child_us: np.ndarray, t0_us: int, root_us: float = 200_000.0) -> pd.DataFrame:
    """Requests of ``root_us`` each, whose root calls one short step of another service."""
    rows = []
    for i, d in enumerate(child_us):
        tid, start = f"{t0_us}-{i}", t0_us + 1_000_000 * i
        common = dict(trace_id=tid, kind="server")
        rows.append(dict(common, span_id=f"{tid}-r", parent_id="", service="front", pod="front-0",
                         operation="request", start_us=start, duration_us=int(root_us)))  # fmt: skip
        rows.append(dict(common, span_id=f"{tid}-c", parent_id=f"{tid}-r", service="step", pod="step-0",
                         operation="lookup", start_us=start + 1_000, duration_us=int(d)))  # fmt: skip
    df = pd.DataFrame(rows).assign(node="", is_error=False, status_code="")
    return conform(df, SPAN_COLUMNS, "test", "spans")


def test_an_effect_is_relative_to_the_whole_request():
    """+4 ms on a 0.7 ms step inside a 200 ms request adds 2 % to what the user waits, not 570 %."""
    rng = np.random.default_rng(2)
    profile = NormalProfile.fit(_requests(700 * rng.lognormal(0.0, 0.05, 60), T0))
    inc = _requests(4_700 * rng.lognormal(0.0, 0.05, 30), T0 + 10**11)
    lo = int(inc["start_us"].min())
    tools = DataTools(Telemetry(inc, None, None, {}), profile, window_us=(lo, lo + 10**11))
    step = tools.spans[tools.spans["service"] == "step"]
    assert step["op_self_effect"].max() == pytest.approx(4_000 / 200_000, rel=0.15)
    assert step["op_self_shift_z"].max() > 10  # real, but small


def _calls(wait_us: np.ndarray, t0_us: int, root_us: float = 200_000.0) -> pd.DataFrame:
    """Requests of ``root_us`` each whose root calls another service over the network: a client span, and
    the callee's 700 us server span after ``wait_us`` on the wire."""
    rows = []
    for i, w in enumerate(wait_us):
        tid, start = f"{t0_us}-{i}", t0_us + 1_000_000 * i
        rows.append(dict(trace_id=tid, span_id=f"{tid}-r", parent_id="", service="front", pod="front-0",
                         operation="request", kind="server", start_us=start, duration_us=int(root_us)))  # fmt: skip
        rows.append(dict(trace_id=tid, span_id=f"{tid}-c", parent_id=f"{tid}-r", service="front", pod="front-0",
                         operation="call", kind="client", start_us=start + 1_000, duration_us=int(700 + w)))  # fmt: skip
        rows.append(dict(trace_id=tid, span_id=f"{tid}-s", parent_id=f"{tid}-c", service="step", pod="step-0",
                         operation="lookup", kind="server", start_us=start + 1_000 + int(w / 2),
                         duration_us=700))  # fmt: skip
    df = pd.DataFrame(rows).assign(node="", is_error=False, status_code="")
    return conform(df, SPAN_COLUMNS, "test", "spans")


def _wait_strength(extra_wait_us: float, n_calls: int, config: EmbeddedConfig) -> float:
    rng = np.random.default_rng(3)
    profile = NormalProfile.fit(_calls(2_000 * rng.lognormal(0.0, 0.05, 200), T0))
    inc = _calls(2_000 * rng.lognormal(0.0, 0.05, n_calls) + extra_wait_us, T0 + 10**12)
    lo = int(inc["start_us"].min())
    s = DataTools(Telemetry(inc, None, None, {}), profile, window_us=(lo, lo + 10**12)).spans
    r = s[(s["service"] == "step") & s["gap_exceeds"]].iloc[0]
    return shift_strength(
        r["op_gap_shift_z"], r["op_gap_effect"], config, r["op_gap_tail_z"], config.wait_min_effect
    )


def test_a_wait_that_adds_little_to_a_request_is_sure_but_not_large():
    """150 calls each waiting 1 ms longer inside a 200 ms request (0.5 %): the count alone is very sure; below
    ``wait_min_effect`` (1 %) it scores in proportion. A 1 s wait on ten calls is untouched."""
    floor = EmbeddedConfig()
    none = EmbeddedConfig(wait_min_effect=0.0)
    small_floor, small_none = _wait_strength(1_000.0, 150, floor), _wait_strength(1_000.0, 150, none)
    assert small_none > 0.5
    assert small_floor == pytest.approx(small_none * 0.5, rel=0.1)
    assert _wait_strength(1_000_000.0, 10, floor) == pytest.approx(_wait_strength(1_000_000.0, 10, none))
    assert _wait_strength(1_000_000.0, 10, floor) > 0.8


@pytest.mark.parametrize(
    "config",
    [EmbeddedConfig(), EmbeddedConfig(tail_confidence=False), EmbeddedConfig(effect_scale=None)],
    ids=["default", "count confidence only", "count only"],
)
def test_the_per_span_and_the_vectorised_shift_scores_agree(config):
    """The span agents score one shift at a time (a scalar fast path), trace selection scores all at once:
    both must give one score for one shift, with the tail confidence and the wait floor."""
    grid = [
        (z, effect, tail_z, floor)
        for z in (0.0, 2.9, 3.5, 8.0, 50.0)
        for effect in (0.0, 0.004, 0.02, 1.0, 30.0)
        for tail_z in (0.0, 4.5, 12.0)
        for floor in (0.0, 0.01)
    ]
    z, effect, tail_z, floor = (np.array(col) for col in zip(*grid, strict=True))
    for f in (0.0, 0.01):
        at = floor == f
        many = shift_strength_many(z[at], effect[at], config, tail_z[at], f)
        one = [
            shift_strength(a, b, config, t, f) for a, b, t in zip(z[at], effect[at], tail_z[at], strict=True)
        ]
        assert many == pytest.approx(one, abs=1e-12)
