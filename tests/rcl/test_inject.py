"""``faultwise.rcl.inject``: every fault model on small real-shaped traces our generator writes.

The trees stay consistent, only the spans the mechanism touches move, the label is right, and the same seed
gives the same bytes."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
import pytest
from rcl_support.incidents import small_incident

from faultwise.rcl.inject import FAULTS, InjectConfig, Injection, inject, span_forest, write_injection
from faultwise.rcl.telemetry.schema import Telemetry

STRENGTHS = ("easy", "hard")


@lru_cache(maxsize=1)
def normal() -> Telemetry:
    """Fault-free traces, logs and metrics (the generator's normal window: kinds and status codes set)."""
    return small_incident("cpu", 0).normal


@lru_cache(maxsize=1)
def statusless() -> Telemetry:
    """The same traces as a format without kinds or statuses (the Nezha layout's shape)."""
    tel = normal()
    spans = tel.spans.assign(kind="", status_code="", is_error=False)
    return Telemetry(spans=spans, logs=tel.logs, metrics=tel.metrics, sources=dict(tel.sources))


def target_service(tel: Telemetry) -> str:
    """The busiest service that is called from another service and calls others itself (so every fault
    model applies and every mechanism shows)."""
    f = span_forest(tel.spans)
    service = tel.spans["service"].to_numpy()
    crossing = f.crosses_pods()
    calls_out = set(service[f.parent[crossing]])
    called = pd.Series(service[crossing]).value_counts()
    return str(next(s for s in called.index if s in calls_out))


@lru_cache(maxsize=64)
def injected(fault: str, strength: str = "easy", seed: int = 1, shape: str = "full") -> Injection:
    tel = normal() if shape == "full" else statusless()
    return inject(tel, InjectConfig(fault=fault, target=target_service(tel), strength=strength, seed=seed))


def _by_key(spans: pd.DataFrame) -> pd.DataFrame:
    return spans.set_index(spans["trace_id"] + "|" + spans["span_id"])


def parent_pairs(spans: pd.DataFrame) -> pd.DataFrame:
    """One row per span with a parent in the table: both spans' start and end."""
    s = _by_key(spans)
    s = s.assign(end_us=s["start_us"] + s["duration_us"], pkey=s["trace_id"] + "|" + s["parent_id"])
    child = s[s["pkey"].isin(s.index)]
    parent = s.loc[child["pkey"], ["start_us", "end_us", "kind"]].set_axis(child.index)
    return pd.DataFrame(
        {
            "c_start": child["start_us"],
            "c_end": child["end_us"],
            "p_start": parent["start_us"],
            "p_end": parent["end_us"],
        }
    )


def inside(spans: pd.DataFrame) -> pd.Series:
    pairs = parent_pairs(spans)
    return (pairs["c_start"] >= pairs["p_start"]) & (pairs["c_end"] <= pairs["p_end"])


@pytest.mark.parametrize("strength", STRENGTHS)
@pytest.mark.parametrize("fault", FAULTS)
def test_the_trees_stay_consistent(fault, strength):
    before = inside(normal().spans)
    after = inside(injected(fault, strength).incident.spans)
    was_inside = before[before].index.intersection(after.index)
    assert after[was_inside].all(), f"{(~after[was_inside]).sum()} children left their parents"
    assert (injected(fault, strength).incident.spans["duration_us"] >= 0).all()


@pytest.mark.parametrize("fault", FAULTS)
def test_nothing_before_the_onset_moves(fault):
    inj = injected(fault)
    old = _by_key(normal().spans)
    new = _by_key(inj.incident.spans)
    ended = old.index[(old["start_us"] + old["duration_us"]) < inj.label.onset_us]
    common = ended.intersection(new.index)
    assert len(ended) > 50 and len(common) == len(ended)
    cols = ["start_us", "duration_us", "is_error", "status_code", "pod"]
    pd.testing.assert_frame_equal(old.loc[common, cols], new.loc[common, cols])


def _untouched_traces(inj: Injection) -> pd.Index:
    """Traces without a span of the target's pods that starts after the onset."""
    spans = normal().spans
    hit = spans["pod"].isin(inj.label.pods) & (spans["start_us"] >= inj.label.onset_us)
    return pd.Index(spans["trace_id"].unique()).difference(spans.loc[hit, "trace_id"].unique())


@pytest.mark.parametrize("fault", FAULTS)
def test_traces_the_fault_never_reaches_are_identical(fault):
    inj = injected(fault)
    keep = _untouched_traces(inj)
    old = normal().spans
    new = inj.incident.spans
    a = old[old["trace_id"].isin(keep)].reset_index(drop=True)
    b = new[new["trace_id"].isin(keep)].reset_index(drop=True)
    assert len(keep) > 10
    pd.testing.assert_frame_equal(a, b)


def _calls_into_target(inj: Injection, spans: pd.DataFrame) -> pd.DataFrame:
    """The target's server spans called from another pod after the onset, with their caller's span."""
    s = _by_key(spans)
    mine = s["pod"].isin(inj.label.pods) & (s["start_us"] >= inj.label.onset_us)
    pkey = s["trace_id"] + "|" + s["parent_id"]
    has_parent = pkey.isin(s.index)
    rows = s[mine & has_parent]
    parents = s.loc[pkey[mine & has_parent]]
    return rows[(parents["pod"].to_numpy() != rows["pod"].to_numpy())]


def test_network_delay_lengthens_the_calls_into_the_pod_not_its_own_spans():
    inj = injected("network_delay")
    old, new = _by_key(normal().spans), _by_key(inj.incident.spans)
    servers = _calls_into_target(inj, normal().spans).index
    assert len(servers) > 10
    # the pod's own server spans keep their length ...
    assert (old.loc[servers, "duration_us"] == new.loc[servers, "duration_us"]).all()
    # ... its callers' client spans grow by about the delay (1 s +- jitter, the request leg on new connections)
    clients = (old.loc[servers, "trace_id"] + "|" + old.loc[servers, "parent_id"]).to_numpy()
    grown = (new.loc[clients, "duration_us"].to_numpy() - old.loc[clients, "duration_us"].to_numpy()) / 1e3
    assert np.median(grown) == pytest.approx(1000, abs=150)
    assert (grown > 600).all() and (grown > 1600).sum() >= 1  # some new connections wait twice
    # the pod's own spans (processing, calls to others) and the callees' spans keep their length
    own = old.index[old["pod"].isin(inj.label.pods)]
    below = old.index[(old["trace_id"] + "|" + old["parent_id"]).isin(own) & ~old["pod"].isin(inj.label.pods)]
    assert len(below) > 10
    for rows in (own, below):
        assert (old.loc[rows, "duration_us"] == new.loc[rows, "duration_us"]).all()
    assert inj.label.fault_type == "network_delay" and inj.label.effect["calls_delayed"] == len(servers)


def test_hard_network_delay_is_smaller():
    def median_growth(strength):
        inj = injected("network_delay", strength)
        old, new = _by_key(normal().spans), _by_key(inj.incident.spans)
        servers = _calls_into_target(inj, normal().spans).index
        clients = (old.loc[servers, "trace_id"] + "|" + old.loc[servers, "parent_id"]).to_numpy()
        return np.median(
            new.loc[clients, "duration_us"].to_numpy() - old.loc[clients, "duration_us"].to_numpy()
        )

    assert median_growth("hard") == pytest.approx(100_000, abs=30_000)
    assert median_growth("easy") > 5 * median_growth("hard")


def test_network_loss_waits_retransmissions_and_times_some_calls_out():
    inj = injected("network_loss")
    e = inj.label.effect
    assert e["calls_retransmitted"] > 0 and e["calls_timed_out"] > 0
    new = inj.incident.spans
    timed_out = new[new["status_code"] == "504"]
    assert len(timed_out) == e["calls_timed_out"]
    assert (timed_out["duration_us"] >= 1_000_000).all()  # the caller's timeout
    old, newk = _by_key(normal().spans), _by_key(new)
    servers = _calls_into_target(inj, normal().spans).index.intersection(newk.index)
    assert (old.loc[servers, "duration_us"] == newk.loc[servers, "duration_us"]).all()
    # the failures climb: some callers' own requests failed too (500 above the 504)
    assert (new["status_code"] == "500").sum() > 0
    assert injected("network_loss", "hard").label.effect.get("calls_timed_out", 0) < e["calls_timed_out"]


def _self_time(spans: pd.DataFrame) -> pd.Series:
    s = _by_key(spans)
    kids = s.groupby(s["trace_id"] + "|" + s["parent_id"])["duration_us"].sum()
    return s["duration_us"] - kids.reindex(s.index).fillna(0)


@pytest.mark.parametrize("fault", ["cpu_contention", "cpu_hog"])
def test_cpu_faults_stretch_the_pods_own_processing_only(fault):
    inj = injected(fault)
    old, new = _by_key(normal().spans), _by_key(inj.incident.spans)
    mine = old.index[old["pod"].isin(inj.label.pods) & (old["start_us"] >= inj.label.onset_us)]
    others = old.index[~old["pod"].isin(inj.label.pods)]
    ratio = _self_time(inj.incident.spans)[mine] / _self_time(normal().spans)[mine].clip(lower=1)
    assert ratio.median() > (1.5 if fault == "cpu_contention" else 1.1)
    # other pods' spans keep their length unless they wait on the target (then they only grow)
    grown = new.loc[others, "duration_us"] - old.loc[others, "duration_us"]
    assert (grown >= 0).all() and (grown == 0).mean() > 0.5
    # requests into the pod wait for a CPU before their server span starts: the client-server gap grows
    servers = _calls_into_target(inj, normal().spans).index
    clients = (old.loc[servers, "trace_id"] + "|" + old.loc[servers, "parent_id"]).to_numpy()
    gap_old = old.loc[servers, "start_us"].to_numpy() - old.loc[clients, "start_us"].to_numpy()
    gap_new = new.loc[servers, "start_us"].to_numpy() - new.loc[clients, "start_us"].to_numpy()
    assert (gap_new >= gap_old).all() and np.mean(gap_new - gap_old) > 5_000
    cpu = inj.incident.metrics
    pod = inj.label.pods[0]
    rows = (cpu["entity"] == pod) & cpu["metric"].str.contains("cpu", case=False)
    after = cpu.loc[rows & (cpu["ts_s"] > inj.label.onset_us / 1e6 + 15), "value"]
    before = normal().metrics
    base = before.loc[(before["entity"] == pod) & before["metric"].str.contains("cpu", case=False)]
    assert after.mean() > base["value"].mean() * 1.5


def test_cpu_hog_adds_throttling_pauses_to_a_share_of_spans():
    tel = normal()
    cfg = InjectConfig(fault="cpu_hog", target=target_service(tel), seed=1)
    hog = inject(tel, cfg)
    no_pause = inject(tel, cfg.model_copy(update={"params": {"throttle_share": 0.0}}))  # same stretch draws
    mine = hog.label.pods
    spans = tel.spans
    rows = _by_key(spans).index[
        spans["pod"].isin(mine).to_numpy() & (spans["start_us"] >= hog.label.onset_us).to_numpy()
    ]
    pause_ms = (_self_time(hog.incident.spans)[rows] - _self_time(no_pause.incident.spans)[rows]) / 1e3
    paused = pause_ms[pause_ms > 0]
    # (a span that only waits beside a call it made ends with that call: its pause does not show)
    assert 0.9 * hog.label.effect["spans_throttled"] <= len(paused) <= hog.label.effect["spans_throttled"]
    assert 0.35 < len(paused) / len(rows) < 0.65  # easy: half of the spans hit a throttled period
    # 0.2 .. 1 period of 100 ms, times 1 + Poisson(1)
    assert paused.quantile(0.1) >= 19.9 and 40 < paused.median() < 300


def _children_per_request(spans: pd.DataFrame, rows: pd.Index) -> pd.Series:
    s = _by_key(spans)
    pkey = s["trace_id"] + "|" + s["parent_id"]
    return pkey.value_counts().reindex(rows).fillna(0)


@pytest.mark.parametrize("fault", ["exception", "error_return"])
def test_code_faults_cut_the_usual_child_calls_of_one_operation(fault):
    inj = injected(fault)
    op = inj.label.chosen["operation"]
    old = _by_key(normal().spans)
    new = _by_key(inj.incident.spans)
    reqs = old.index[
        old["pod"].isin(inj.label.pods) & (old["operation"] == op) & (old["start_us"] >= inj.label.onset_us)
    ].intersection(new.index)
    assert len(reqs) > 5
    shorter = new.loc[reqs, "duration_us"] < old.loc[reqs, "duration_us"]
    assert shorter.mean() > 0.6  # easy: 90 % of its requests hit
    assert inj.label.effect["spans_removed"] > 0
    errors = new.loc[reqs, "is_error"] & (new.loc[reqs, "status_code"] == "500")
    if fault == "exception":
        assert errors.mean() > 0.6
        lines = inj.incident.logs
        added = lines[(lines["level"] == "ERROR") & lines["message"].str.contains("RuntimeException")]
        assert len(added) == inj.label.effect["log_lines_added"] > 0
        assert set(added["pod"]) <= set(inj.label.pods)
    else:  # an early return is no error where it happens (only a failure of a nested call may climb here)
        assert errors.mean() < 0.1


def test_a_caught_exception_changes_the_logs_not_the_callers():
    tel = normal()
    cfg = InjectConfig(
        fault="exception", target=target_service(tel), seed=1, params={"caught_share": 1.0, "share": 1.0}
    )
    inj = inject(tel, cfg)
    failed_before = set(_by_key(tel.spans).index[tel.spans["is_error"].to_numpy()])
    failed_after = set(_by_key(inj.incident.spans).index[inj.incident.spans["is_error"].to_numpy()])
    assert failed_after <= failed_before  # nothing failed that had not failed anyway
    added = inj.incident.logs["message"].str.contains("RuntimeException").sum()
    assert added == inj.label.effect["log_lines_added"] == inj.label.effect["exceptions_caught"] > 5
    assert inj.label.effect["exceptions_caught"] == inj.label.effect["requests_hit"]
    escaped = inject(tel, cfg.model_copy(update={"params": {"caught_share": 0.0, "share": 1.0}}))
    escaped_failed = escaped.incident.spans["is_error"].sum()
    assert escaped_failed > tel.spans["is_error"].sum() + 5


def test_failures_are_recorded_as_the_format_can():
    tel = statusless()
    cfg = InjectConfig(fault="exception", target=target_service(tel), seed=1)
    flag_only = inject(tel, cfg)  # auto: no status codes in the data, an error flag only
    assert flag_only.label.statuses == "plain" and flag_only.incident.spans["is_error"].sum() > 10
    assert (flag_only.incident.spans["status_code"] == "").all()
    none = inject(tel, cfg.model_copy(update={"statuses": "none"}))  # a format without status (Nezha)
    assert not none.incident.spans["is_error"].any() and (none.incident.spans["status_code"] == "").all()
    assert none.label.effect["spans_removed"] == flag_only.label.effect["spans_removed"] > 0


def test_pod_failure_stops_the_pod_and_its_callers_fail():
    inj = injected("pod_failure")
    new = inj.incident.spans
    onset = inj.label.onset_us
    assert not (new["pod"].isin(inj.label.pods) & (new["start_us"] >= onset)).any()
    failed = new[new["status_code"].isin(["503", "504"])]
    assert len(failed) == inj.label.effect["calls_failed"] > 5
    assert not failed["pod"].isin(inj.label.pods).any()
    logs = inj.incident.logs
    assert not (logs["pod"].isin(inj.label.pods) & (logs["ts_us"] >= onset)).any()
    callers = logs[logs["message"].str.contains(f"calling {inj.label.service}")]
    assert len(callers) > 0 and not callers["pod"].isin(inj.label.pods).any()
    m = inj.incident.metrics
    assert not ((m["entity"].isin(inj.label.pods)) & (m["ts_s"] > onset / 1e6)).any()
    hard = injected("pod_failure", "hard")
    back = hard.incident.spans
    assert (
        back["pod"].isin(hard.label.pods) & (back["start_us"] > int(hard.label.chosen["down_until_us"]))
    ).any()


@pytest.mark.parametrize("fault", FAULTS)
def test_the_label_says_what_was_injected(fault):
    inj = injected(fault, "hard", seed=5)
    label = inj.label
    spans = normal().spans
    assert label.fault == fault and label.strength == "hard" and label.seed == 5
    assert label.level == "service" and label.target == target_service(normal())
    assert label.pods == sorted(spans.loc[spans["service"] == label.target, "pod"].unique())
    lo = spans.loc[spans["parent_id"] == "", "start_us"]
    assert label.onset_us == lo.min() + int((lo.max() - lo.min()) / 3)
    assert label.fault_type == {"cpu_contention": "cpu", "cpu_hog": "cpu"}.get(fault, fault)
    from faultwise.rcl.inject import FAULT_MODELS

    assert label.parameters == FAULT_MODELS[fault].presets["hard"].model_dump()


def test_a_pod_target_touches_that_pod_only():
    spans = normal().spans
    per_service = spans.groupby("service")["pod"].nunique()
    svc = str(per_service[per_service > 1].index[0])
    pods = sorted(spans.loc[spans["service"] == svc, "pod"].unique())
    inj = inject(normal(), InjectConfig(fault="cpu_contention", target=pods[0], seed=1))
    assert inj.label.level == "pod" and inj.label.pods == pods[:1]
    old, new = _by_key(spans), _by_key(inj.incident.spans)
    replica = old.index[old["pod"] == pods[1]]
    assert (old.loc[replica, "duration_us"] <= new.loc[replica, "duration_us"]).all()
    assert (_self_time(inj.incident.spans)[replica] == _self_time(spans)[replica]).all()


@pytest.mark.parametrize("fault", FAULTS)
def test_same_seed_same_bytes(fault, tmp_path):
    tel = normal()
    cfg = InjectConfig(fault=fault, target=target_service(tel), seed=7)
    for name in ("a", "b"):
        write_injection(inject(tel, cfg), tmp_path / name, "otlp-traces", "otlp-logs", "otlp-metrics")
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert files == ["label.json", "logs.jsonl", "metrics.jsonl", "traces.jsonl"]
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    other = inject(tel, cfg.model_copy(update={"seed": 8}))
    write_injection(other, tmp_path / "c", "otlp-traces")
    assert (tmp_path / "c" / "traces.jsonl").read_bytes() != (tmp_path / "a" / "traces.jsonl").read_bytes()
