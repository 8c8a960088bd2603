"""Each injectable fault shows the signature a real system shows, incident window against normal window.

The checks read only the canonical tables (as a method would) plus the ground truth, and compare with wide
margins so they test the behaviour, not the noise.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd
import pytest

from faultwise.rcl.simulate import SynthConfig, SynthIncident, generate_incident


@cache
def _inc(fault_type: str, seed: int, strength: str = "easy") -> SynthIncident:
    return generate_incident(SynthConfig(seed=seed, fault_type=fault_type, strength=strength))


def _self_times(sp: pd.DataFrame) -> pd.DataFrame:
    """Server spans with ``self_us`` = duration minus the union of their children's intervals."""
    kids = sp.loc[sp["parent_id"] != "", ["parent_id", "start_us", "duration_us"]].copy()
    kids["end"] = kids["start_us"] + kids["duration_us"]
    kids = kids.sort_values(["parent_id", "start_us"])
    prev = kids.groupby("parent_id")["end"].cummax().groupby(kids["parent_id"]).shift(1)
    lo = np.maximum(kids["start_us"], prev.fillna(kids["start_us"]))
    kids["cover"] = (kids["end"] - lo).clip(lower=0)
    cover = kids.groupby("parent_id")["cover"].sum()
    srv = sp[sp["kind"] == "server"].copy()
    srv["self_us"] = srv["duration_us"] - srv["span_id"].map(cover).fillna(0)
    return srv


def _calls_into(sp: pd.DataFrame, pods: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(client spans whose server child runs on ``pods``, those server spans) aligned row by row."""
    srv = sp[(sp["kind"] == "server") & sp["pod"].isin(pods) & (sp["parent_id"] != "")]
    cli = sp.set_index("span_id").loc[srv["parent_id"]]
    return cli, srv


def _client_spans_to_service(sp: pd.DataFrame, inc: SynthIncident) -> pd.DataFrame:
    ops = {name for (svc, name) in inc.topology.operations if svc == inc.truth.service}
    return sp[(sp["kind"] == "client") & sp["operation"].isin(ops) & (sp["service"] != inc.truth.service)]


def _metric(tel, entity: str, metric: str) -> pd.Series:
    m = tel.metrics
    return m.loc[(m["entity"] == entity) & (m["metric"] == metric)].sort_values("ts_s")["value"]


def _target_pods(inc: SynthIncident) -> list[str]:
    t = inc.truth
    if t.level == "node":
        return inc.topology.pods_on(t.component)
    return [t.component] if t.level == "pod" else list(inc.topology.pods[t.service])


SEEDS = (0, 1)


@pytest.mark.parametrize("seed", SEEDS)
def test_cpu_slows_the_pods_own_processing_and_raises_its_cpu(seed):
    inc = _inc("cpu", seed)
    pod = inc.truth.component
    sn, si = _self_times(inc.normal.spans), _self_times(inc.incident.spans)
    self_n, self_i = (
        sn.loc[sn["pod"] == pod, "self_us"].median(),
        si.loc[si["pod"] == pod, "self_us"].median(),
    )
    assert self_i > 2.0 * self_n
    others = si.loc[si["pod"] != pod, "self_us"].median() / sn.loc[sn["pod"] != pod, "self_us"].median()
    assert others < 1.2
    assert (
        _metric(inc.incident, pod, "cpu_usage_pct").mean()
        > _metric(inc.normal, pod, "cpu_usage_pct").mean() + 25
    )
    # callers wait: the client spans into the pod are slower by about the pod's extra processing (victims)
    cn, _ = _calls_into(inc.normal.spans, [pod])
    ci, _ = _calls_into(inc.incident.spans, [pod])
    assert ci["duration_us"].median() - cn["duration_us"].median() > 0.5 * (self_i - self_n)


@pytest.mark.parametrize("seed", SEEDS)
def test_memory_climbs_with_gc_pauses(seed):
    inc = _inc("memory", seed)
    pod = inc.truth.component
    mem_n, mem_i = (
        _metric(inc.normal, pod, "memory_usage_mib"),
        _metric(inc.incident, pod, "memory_usage_mib"),
    )
    assert mem_i.iloc[-1] > 1.6 * mem_n.mean()
    assert mem_i.iloc[-1] > mem_i.iloc[0]  # climbs through the window
    sn, si = _self_times(inc.normal.spans), _self_times(inc.incident.spans)
    q = si.loc[si["pod"] == pod, "self_us"].quantile(0.9) / sn.loc[sn["pod"] == pod, "self_us"].quantile(0.9)
    assert q > 3.0  # pauses hit a share of the spans
    cpu_n = _metric(inc.normal, pod, "cpu_usage_pct").mean()
    assert _metric(inc.incident, pod, "cpu_usage_pct").mean() < cpu_n + 10  # the pod is not busier


@pytest.mark.parametrize("seed", SEEDS)
def test_network_delay_shows_on_the_edges_into_the_pod_not_in_its_processing(seed):
    inc = _inc("network_delay", seed)
    pod = inc.truth.component
    gaps = []
    for tel in (inc.normal, inc.incident):
        cli, srv = _calls_into(tel.spans, [pod])
        gaps.append(np.median(cli["duration_us"].to_numpy() - srv["duration_us"].to_numpy()))
    assert gaps[1] - gaps[0] > 100_000  # +100 ms of waiting on the wire
    sn, si = _self_times(inc.normal.spans), _self_times(inc.incident.spans)
    ratio = si.loc[si["pod"] == pod, "self_us"].median() / sn.loc[sn["pod"] == pod, "self_us"].median()
    assert 0.8 < ratio < 1.25
    dn = sn.loc[sn["pod"] == pod, "duration_us"].median()
    assert si.loc[si["pod"] == pod, "duration_us"].median() < 1.3 * dn
    cpu_n = _metric(inc.normal, pod, "cpu_usage_pct").mean()
    assert _metric(inc.incident, pod, "cpu_usage_pct").mean() < cpu_n + 10  # the pod is not busier
    assert inc.incident.spans["is_error"].mean() < 0.02


@pytest.mark.parametrize("seed", SEEDS)
def test_network_loss_gives_timeouts_and_connection_errors_in_callers(seed):
    inc = _inc("network_loss", seed)
    pod, svc = inc.truth.component, inc.truth.service
    calls = _client_spans_to_service(inc.incident.spans, inc)
    assert (calls["status_code"] == "504").mean() > 0.02
    assert (_client_spans_to_service(inc.normal.spans, inc)["status_code"] == "504").sum() == 0
    lg = inc.incident.logs
    timed = lg[
        (lg["level"] == "ERROR")
        & lg["message"].str.contains("Read timed out")
        & lg["message"].str.contains(svc)
    ]
    assert len(timed) >= 10 and not timed["pod"].isin([pod]).any()
    resets = lg[(lg["level"] == "WARN") & lg["message"].str.contains("Connection reset")]
    assert len(resets) >= 10
    sp = inc.incident.spans
    lost = calls[(calls["status_code"] == "504") & ~calls["span_id"].isin(sp["parent_id"])]
    assert len(lost) >= 10  # lost requests never reach the pod: no server span under the timed-out call


@pytest.mark.parametrize("seed", SEEDS)
def test_exception_fails_the_pod_and_shows_on_both_sides(seed):
    inc = _inc("exception", seed)
    pod, svc = inc.truth.component, inc.truth.service
    for tel, lo, hi in ((inc.normal, 0.0, 0.05), (inc.incident, 0.4, 1.0)):
        srv = tel.spans[(tel.spans["kind"] == "server") & (tel.spans["pod"] == pod)]
        assert lo <= srv["is_error"].mean() <= hi
    srv = inc.incident.spans[(inc.incident.spans["kind"] == "server") & (inc.incident.spans["pod"] == pod)]
    assert set(srv.loc[srv["is_error"], "status_code"]) == {"500"}
    lg = inc.incident.logs
    stack = lg[
        (lg["pod"] == pod) & (lg["level"] == "ERROR") & lg["message"].str.contains("\n\tat ", regex=False)
    ]
    assert len(stack) >= max(20, 0.5 * len(srv))
    callers = inc.topology.callers_of(svc)
    caller_err = lg[(lg["level"] == "ERROR") & lg["service"].isin(callers) & lg["message"].str.contains(svc)]
    assert len(caller_err) >= max(20, 0.5 * srv["is_error"].sum())
    cli, _ = _calls_into(inc.incident.spans, [pod])
    assert cli["is_error"].mean() > 0.4


@pytest.mark.parametrize("seed", SEEDS)
def test_error_return_fails_quietly_in_the_pod_and_loudly_in_callers(seed):
    inc = _inc("error_return", seed)
    pod, svc = inc.truth.component, inc.truth.service
    srv = inc.incident.spans[(inc.incident.spans["kind"] == "server") & (inc.incident.spans["pod"] == pod)]
    assert srv["is_error"].mean() > 0.4
    assert (srv.loc[srv["is_error"], "status_code"] == "400").mean() > 0.9  # the rest: downstream failures
    lg = inc.incident.logs
    own_err = lg[(lg["pod"] == pod) & (lg["level"] == "ERROR")]
    assert len(own_err) < 0.05 * srv["is_error"].sum()
    assert not own_err["message"].str.contains("\n\tat ", regex=False).any()
    unexpected = lg[(lg["level"] == "ERROR") & lg["message"].str.contains(f"Unexpected response from {svc}")]
    assert len(unexpected) >= max(20, 0.5 * srv["is_error"].sum()) and set(
        unexpected["service"]
    ) <= inc.topology.callers_of(svc)


@pytest.mark.parametrize("seed", SEEDS)
def test_pod_failure_removes_the_pod_and_callers_get_connection_refused(seed):
    inc = _inc("pod_failure", seed)
    pod, svc = inc.truth.component, inc.truth.service
    assert inc.truth.end_ts_s == inc.truth.inject_ts_s + inc.config.incident_s
    assert (inc.normal.spans["pod"] == pod).sum() > 0
    assert (inc.incident.spans["pod"] == pod).sum() == 0  # not even its client spans
    refused = _client_spans_to_service(inc.incident.spans, inc)
    refused = refused[refused["status_code"] == "503"]
    assert len(refused) >= 30 and refused["is_error"].all()
    assert refused["duration_us"].median() < 5_000  # fails fast
    lg = inc.incident.logs
    assert (lg["pod"] == pod).sum() == 0
    conn = lg[
        (lg["level"] == "ERROR")
        & lg["message"].str.contains("Connection refused")
        & lg["message"].str.contains(svc)
    ]
    assert len(conn) >= 30
    assert (_metric(inc.incident, pod, "cpu_usage_pct") == 0).all()
    assert (_metric(inc.incident, pod, "request_rate_per_s") == 0).all()
    assert (_metric(inc.normal, pod, "cpu_usage_pct") > 0).all()


@pytest.mark.parametrize("seed", SEEDS)
def test_node_fault_slows_every_pod_on_the_node(seed):
    inc = _inc("node_fault", seed)
    node = inc.truth.component
    assert inc.truth.level == "node" and node in inc.topology.nodes
    sn, si = _self_times(inc.normal.spans), _self_times(inc.incident.spans)
    med_n = sn.groupby("pod")["self_us"].median()
    med_i = si.groupby("pod")["self_us"].median()
    counts = si.groupby("pod").size()
    busy = counts[counts >= 30].index.intersection(med_n.index)
    on = [p for p in busy if inc.topology.pod_node[p] == node]
    off = [p for p in busy if inc.topology.pod_node[p] != node]
    assert len(on) >= 2
    assert (med_i[on] / med_n[on] > 1.8).all()
    assert (med_i[off] / med_n[off]).median() < 1.2
    n_cpu = _metric(inc.normal, node, "cpu_usage_pct").mean()
    assert _metric(inc.incident, node, "cpu_usage_pct").mean() > n_cpu + 30
    other = next(n for n in inc.topology.nodes if n != node)
    assert (
        abs(
            _metric(inc.incident, other, "cpu_usage_pct").mean()
            - _metric(inc.normal, other, "cpu_usage_pct").mean()
        )
        < 10
    )


def test_hard_strength_is_subtler_but_present():
    easy, hard = _inc("cpu", 0), _inc("cpu", 0, "hard")
    pod = easy.truth.component
    assert hard.truth.component == pod
    ratios = []
    for inc in (easy, hard):
        sn, si = _self_times(inc.normal.spans), _self_times(inc.incident.spans)
        ratios.append(
            si.loc[si["pod"] == pod, "self_us"].median() / sn.loc[sn["pod"] == pod, "self_us"].median()
        )
    assert ratios[0] > ratios[1] > 1.4

    gaps = []
    for inc in (_inc("network_delay", 0), _inc("network_delay", 0, "hard")):
        cli, srv = _calls_into(inc.incident.spans, [inc.truth.component])
        gaps.append(np.median(cli["duration_us"].to_numpy() - srv["duration_us"].to_numpy()))
    assert gaps[0] > 150_000 and 20_000 < gaps[1] < 80_000

    rates = []
    for inc in (_inc("exception", 0), _inc("exception", 0, "hard")):
        sp = inc.incident.spans
        rates.append(sp.loc[(sp["kind"] == "server") & (sp["pod"] == inc.truth.component), "is_error"].mean())
    assert rates[0] > 0.5 and 0.08 < rates[1] < 0.35


def test_hard_pod_failure_recovers_and_logs_its_restart():
    inc = _inc("pod_failure", 0, "hard")
    t = inc.truth
    assert t.inject_ts_s < t.end_ts_s < t.inject_ts_s + inc.config.incident_s
    sp = inc.incident.spans
    srv = sp[(sp["kind"] == "server") & (sp["pod"] == t.component)]
    roots = sp[sp["parent_id"] == ""].set_index("trace_id")["start_us"] / 1e6
    arrival = srv["trace_id"].map(roots)
    assert len(srv) > 0 and (arrival >= t.end_ts_s).all()
    lg = inc.incident.logs
    assert lg[(lg["pod"] == t.component)]["message"].str.contains("Started ").any()


def test_every_hard_fault_still_leaves_its_signal():
    mem = _inc("memory", 1, "hard")
    pod = mem.truth.component
    assert (
        _metric(mem.incident, pod, "memory_usage_mib").iloc[-1]
        > 1.25 * _metric(mem.normal, pod, "memory_usage_mib").mean()
    )

    loss = _inc("network_loss", 1, "hard")
    calls = _client_spans_to_service(loss.incident.spans, loss)
    assert 3 <= (calls["status_code"] == "504").sum() < 0.1 * len(calls)

    ret = _inc("error_return", 1, "hard")
    sp = ret.incident.spans
    rate = sp.loc[(sp["kind"] == "server") & (sp["pod"] == ret.truth.component), "is_error"].mean()
    assert 0.08 < rate < 0.35

    node = _inc("node_fault", 1, "hard")
    n = node.truth.component
    assert (
        _metric(node.incident, n, "cpu_usage_pct").mean()
        > _metric(node.normal, n, "cpu_usage_pct").mean() + 15
    )
    sn, si = _self_times(node.normal.spans), _self_times(node.incident.spans)
    on = [p for p in node.topology.pods_on(n) if (si["pod"] == p).sum() >= 30]
    assert on and all(
        si.loc[si["pod"] == p, "self_us"].median() > 1.3 * sn.loc[sn["pod"] == p, "self_us"].median()
        for p in on
    )
