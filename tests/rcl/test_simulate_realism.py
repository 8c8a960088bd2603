"""The generator's real-incident mechanisms (``SynthConfig.realism``): each does what its description says,
is off by default, and the same config still gives the same bytes."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from rcl_support.incidents import SMALL

from faultwise.rcl.simulate import REALISTIC, Realism, SynthConfig, generate_incident
from faultwise.rcl.simulate.realism import HANDLER_OPERATION

US = 1_000_000


def _gen(fault: str = "cpu", seed: int = 0, **realism) -> object:
    fields = {**SMALL.model_dump(), "fault_type": fault, "seed": seed, "realism": Realism(**realism)}
    return generate_incident(SynthConfig(**fields))


def _ends(spans: pd.DataFrame) -> pd.Series:
    return spans["start_us"] + spans["duration_us"]


def test_off_by_default_and_deterministic():
    clean = _gen()
    assert clean.truth.declared_ts_s is None and clean.truth.start_ts_s == clean.truth.inject_ts_s
    assert not clean.truth.handler_services and not clean.truth.drift_service
    assert not clean.truth.vanished_service
    assert not (clean.incident.spans["operation"] == HANDLER_OPERATION).any()
    a = _gen("network_delay", 2, **REALISTIC.model_dump())
    b = _gen("network_delay", 2, **REALISTIC.model_dump())
    pd.testing.assert_frame_equal(a.incident.spans, b.incident.spans)
    pd.testing.assert_frame_equal(a.incident.logs, b.incident.logs)
    assert a.truth == b.truth


def test_the_other_streams_do_not_move():
    """A mechanism draws from its own stream: a late alarm leaves every table as the clean config made it."""
    clean, late = _gen("cpu", 1), _gen("cpu", 1, onset_error_s=5.0)
    pd.testing.assert_frame_equal(clean.normal.spans, late.normal.spans)
    pd.testing.assert_frame_equal(clean.incident.spans, late.incident.spans)


def test_handler_spans_lie_beside_every_client_call():
    inc = _gen("cpu", 0, handler_share=1.0)
    for window in (inc.normal, inc.incident):
        spans = window.spans
        by_id = spans.set_index(["trace_id", "span_id"])
        handlers = spans[spans["operation"] == HANDLER_OPERATION]
        calls = spans[(spans["kind"] == "client") & (spans["parent_id"] != "")]
        assert len(handlers) == len(calls) > 0
        assert set(handlers["service"]) <= set(inc.truth.handler_services)
        # childless, beside a call of the same parent, covering it, inside the parent
        assert not spans["parent_id"].isin(handlers["span_id"]).any()
        pair = calls.merge(handlers, on=["trace_id", "parent_id"], suffixes=("", "_h"))
        handler_end = pair["start_us_h"] + pair["duration_us_h"]
        covered = (pair["start_us_h"] <= pair["start_us"]) & (_ends(pair) <= handler_end)
        assert covered.groupby([pair["trace_id"], pair["span_id"]]).any().all()
        parents = by_id.loc[list(zip(handlers["trace_id"], handlers["parent_id"], strict=True))]
        assert (handlers["start_us"].to_numpy() >= parents["start_us"].to_numpy()).all()
        assert (_ends(handlers).to_numpy() <= (parents["start_us"] + parents["duration_us"]).to_numpy()).all()


def test_handler_share_picks_some_of_the_callers():
    half = _gen("cpu", 0, handler_share=0.5)
    callers = {s for s in half.incident.spans.loc[half.incident.spans["kind"] == "client", "service"]}
    assert 0 < len(half.truth.handler_services) < len(callers)


def test_tail_drift_moves_the_p90_not_the_median():
    factor = 3.0
    inc = _gen("cpu", 0, tail_drift=factor)
    svc = inc.truth.drift_service
    assert svc and svc != inc.truth.service

    def quantiles(spans: pd.DataFrame) -> tuple[float, float]:
        own = spans[(spans["service"] == svc) & (spans["kind"] == "server")]["duration_us"]
        return float(own.median()), float(own.quantile(0.9))

    (m0, p0), (m1, p1) = quantiles(inc.normal.spans), quantiles(inc.incident.spans)
    assert m1 / m0 == pytest.approx(1.0, abs=0.2)
    assert p1 / p0 > 0.7 * factor
    clean = _gen("cpu", 0)
    (_, q0), (_, q1) = quantiles(clean.normal.spans), quantiles(clean.incident.spans)
    assert q1 / q0 < 1.5  # without the drift the tail holds


@pytest.mark.parametrize("error_s", [8.0, -8.0])
def test_onset_error(error_s):
    inc = _gen("cpu", 0, onset_error_s=error_s)
    t = inc.truth
    window_start = float(inc.incident.spans["start_us"].min()) / US
    assert t.declared_ts_s == pytest.approx(t.inject_ts_s + error_s)
    assert t.start_ts_s == t.declared_ts_s
    if error_s > 0:  # a late alarm: the fault runs from the window's start, before the declared start
        assert t.inject_ts_s == pytest.approx(window_start, abs=1.0)
    else:  # an early alarm: declared at the window's start, the fault comes later
        assert t.declared_ts_s == pytest.approx(window_start, abs=1.0)
        spans = inc.incident.spans
        target = spans[(spans["pod"] == t.component) & (spans["kind"] == "server")]
        before = target[target["start_us"] < t.inject_ts_s * US]["duration_us"].median()
        after = target[target["start_us"] >= t.inject_ts_s * US]["duration_us"].median()
        assert after > 1.5 * before  # cpu contention starts only at the true onset


def test_a_vanished_callee_answers_nothing_and_its_callers_name_it():
    inc = _gen("cpu", 0, vanished_s=10.0)
    t = inc.truth
    svc, at_us = t.vanished_service, t.vanished_ts_s * US
    assert svc and svc != t.service
    spans = inc.incident.spans
    gone = (spans["service"] == svc) & (spans["start_us"] >= at_us) & (spans["start_us"] < at_us + 10 * US)
    served_before = (spans["service"] == svc) & (spans["start_us"] < at_us)
    assert served_before.any() and not gone.any()
    logs = inc.incident.logs
    named = logs[(logs["level"] == "ERROR") & logs["message"].str.contains(svc, regex=False)]
    assert len(named) and not (named["service"] == svc).any()  # the callers' lines name the callee


def test_bench_gives_the_declared_start(cli):
    rc, out, err = cli("rcl bench synthetic --seeds 1 --fault-types cpu --realism realistic --json".split())
    assert rc == 0, err
    assert json.loads(out)["cases"] == 1
    from faultwise.rcl.bench.synthetic import synthetic_cases, synthetic_plan

    plan = synthetic_plan(1, ["cpu"], SynthConfig(realism=REALISTIC))
    case = next(synthetic_cases(plan))
    truth = generate_incident(plan[0]).truth
    assert case.start_us == int(truth.declared_ts_s * US) != int(truth.inject_ts_s * US)


def test_unknown_realism_preset_is_one_line(cli):
    rc, out, err = cli(["rcl", "bench", "synthetic", "--realism", "gritty"])
    assert rc != 0 and "--realism" in err and "gritty" in err and "Traceback" not in err
    assert np.isfinite(REALISTIC.drift_sigma) and REALISTIC.drift_sigma > 0
