"""The synthetic incident generator: determinism, schema, trace structure, topology, targets, scale case."""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd
import pytest

from faultwise.errors import InputError
from faultwise.rcl.simulate import (
    INJECTABLE_FAULTS,
    NODE_METRICS,
    POD_METRICS,
    TRUTH_TYPE,
    SynthConfig,
    generate_incident,
    generate_large_trace,
)
from faultwise.rcl.telemetry.schema import LOG_COLUMNS, METRIC_COLUMNS, SPAN_COLUMNS, conform, service_of_pod


@cache
def _incident(seed: int = 0, fault_type: str = "cpu", **kw):
    return generate_incident(SynthConfig(seed=seed, fault_type=fault_type, **kw))


def test_same_config_gives_identical_tables():
    a = generate_incident(SynthConfig(seed=7, fault_type="exception", normal_s=20, incident_s=20))
    b = generate_incident(SynthConfig(seed=7, fault_type="exception", normal_s=20, incident_s=20))
    for wa, wb in ((a.normal, b.normal), (a.incident, b.incident)):
        pd.testing.assert_frame_equal(wa.spans, wb.spans)
        pd.testing.assert_frame_equal(wa.logs, wb.logs)
        pd.testing.assert_frame_equal(wa.metrics, wb.metrics)
    assert a.truth == b.truth


def test_other_seed_gives_other_system_and_traffic():
    a = generate_incident(SynthConfig(seed=1, normal_s=20, incident_s=20))
    b = generate_incident(SynthConfig(seed=2, normal_s=20, incident_s=20))
    assert set(a.normal.spans["pod"]) != set(b.normal.spans["pod"])
    assert len(a.normal.spans) != len(b.normal.spans)


def test_normal_window_does_not_depend_on_the_injected_fault():
    a = _incident(3, "cpu")
    b = _incident(3, "pod_failure")
    pd.testing.assert_frame_equal(a.normal.spans, b.normal.spans)
    assert not a.incident.spans.equals(b.incident.spans)


def test_overrides_are_validated():
    inc = generate_incident(seed=4, normal_s=10, incident_s=10, fault_type="memory")
    assert inc.config.seed == 4 and inc.truth.fault_type == "memory"
    with pytest.raises(ValueError):
        generate_incident(n_services=1)
    with pytest.raises(ValueError):
        SynthConfig(fault_type="latency")


@pytest.mark.parametrize("window", ["normal", "incident"])
def test_tables_conform_to_the_canonical_schema(window):
    tel = getattr(_incident(0, "exception"), window)
    for df, cols in ((tel.spans, SPAN_COLUMNS), (tel.logs, LOG_COLUMNS), (tel.metrics, METRIC_COLUMNS)):
        assert list(df.columns) == list(cols)
        again = conform(df, cols, "x", "t")
        assert [str(t) for t in again.dtypes] == [str(t) for t in df.dtypes]
        assert len(df) > 0
    assert not tel.metrics["value"].isna().any()
    assert set(tel.spans["kind"]) == {"server", "client", "internal"}
    assert (tel.spans["duration_us"] > 0).all()
    assert set(tel.logs["level"]) <= {"ERROR", "WARN", "INFO", "DEBUG"}
    assert tel.modalities == ["traces", "logs", "metrics"]
    assert set(tel.metrics.loc[tel.metrics["entity_kind"] == "pod", "metric"]) == set(POD_METRICS)
    assert set(tel.metrics.loc[tel.metrics["entity_kind"] == "node", "metric"]) == set(NODE_METRICS)


def test_windows_and_truth_times_line_up():
    inc = _incident(0, "exception")
    cfg = inc.config
    t1 = cfg.start_ts_s + cfg.normal_s
    assert inc.truth.inject_ts_s == t1
    n_start = inc.normal.spans["start_us"] / 1e6
    i_start = inc.incident.spans.groupby("trace_id")["start_us"].min() / 1e6
    assert n_start.min() >= cfg.start_ts_s and n_start.max() < t1 + 5
    assert i_start.min() >= t1 and i_start.max() < t1 + cfg.incident_s
    assert inc.incident.metrics["ts_s"].min() > t1
    # about the asked request rate
    n_traces = inc.normal.spans["trace_id"].nunique()
    assert 0.8 * cfg.requests_per_s * cfg.normal_s < n_traces < 1.2 * cfg.requests_per_s * cfg.normal_s


def test_parents_are_spans_of_the_same_trace_and_one_root_per_trace():
    sp = _incident(1, "network_delay").incident.spans
    assert sp["span_id"].is_unique
    roots = sp[sp["parent_id"] == ""]
    assert roots["trace_id"].is_unique and roots["trace_id"].nunique() == sp["trace_id"].nunique()
    kids = sp[sp["parent_id"] != ""]
    parent = sp.set_index("span_id").loc[kids["parent_id"]]
    assert (parent["trace_id"].to_numpy() == kids["trace_id"].to_numpy()).all()
    # children lie inside their parent in time
    assert (kids["start_us"].to_numpy() >= parent["start_us"].to_numpy()).all()
    end_kid = (kids["start_us"] + kids["duration_us"]).to_numpy()
    end_par = (parent["start_us"] + parent["duration_us"]).to_numpy()
    assert (end_kid <= end_par + 1).all()


def test_client_server_pairs():
    """Each RPC is a CLIENT span in the caller and a SERVER span in the callee, server inside client."""
    inc = _incident(2, "cpu")
    sp = inc.normal.spans
    by_id = sp.set_index("span_id")
    srv = sp[(sp["kind"] == "server") & (sp["parent_id"] != "")]
    par = by_id.loc[srv["parent_id"]]
    assert (par["kind"] == "client").all()
    assert (par["operation"].to_numpy() == srv["operation"].to_numpy()).all()
    assert (par["service"].to_numpy() != srv["service"].to_numpy()).all()
    gap = par["duration_us"].to_numpy() - srv["duration_us"].to_numpy()
    assert (gap > 0).all() and np.median(gap) < 5_000  # network: well under the work
    cli = sp[sp["kind"] == "client"]
    assert cli["span_id"].isin(srv["parent_id"]).mean() > 0.99  # normal traffic: every call is served
    # a client span lives in its caller's pod; an internal span under its own server span
    cpar = by_id.loc[cli["parent_id"]]
    assert (cpar["pod"].to_numpy() == cli["pod"].to_numpy()).all()
    internal = sp[sp["kind"] == "internal"]
    assert len(internal) > 0
    ipar = by_id.loc[internal["parent_id"]]
    assert (ipar["kind"] == "server").all() and (ipar["pod"].to_numpy() == internal["pod"].to_numpy()).all()
    # pods and nodes follow the topology, k8s names map back to services
    topo = inc.topology
    pairs = sp[["pod", "node", "service"]].drop_duplicates()
    for pod, node, svc in pairs.itertuples(index=False):
        assert topo.pod_node[pod] == node and pod in topo.pods[svc]
        assert service_of_pod(pod) == svc


def test_topology_is_a_layered_dag_with_a_shared_leaf_and_several_request_types():
    for seed in range(5):
        topo = generate_incident(SynthConfig(seed=seed, normal_s=2, incident_s=2)).topology
        edges = topo.service_edges()
        assert len(topo.services) == 12 and topo.services[0] == topo.entry_service
        assert all(topo.depth[a] < topo.depth[b] for a, b in edges)  # layered => acyclic
        assert not topo.callers_of(topo.entry_service)
        assert len(topo.callers_of("mysql")) >= 2
        assert 3 <= max(topo.depth.values()) + 1 <= 6
        assert len(topo.entry_operations) >= 3
        assert set(topo.pod_node.values()) <= set(topo.nodes)
        assert all(1 <= len(p) <= 3 for p in topo.pods.values())
        reach, todo = {topo.entry_service}, [topo.entry_service]
        while todo:
            for c in topo.callees_of(todo.pop()):
                if c not in reach:
                    reach.add(c)
                    todo.append(c)
        assert reach == set(topo.services)


def test_request_types_take_different_paths_and_traces_are_deep():
    sp = _incident(0, "cpu").normal.spans
    roots = sp[sp["parent_id"] == ""].set_index("trace_id")["operation"]
    services = sp.groupby("trace_id")["service"].agg(lambda s: frozenset(s))
    paths = pd.DataFrame({"op": roots, "svcs": services})
    assert paths["op"].nunique() >= 3
    assert paths.groupby("op")["svcs"].agg(lambda s: s.mode().iloc[0]).nunique() >= 2
    depth = _depths(sp)
    assert depth.max() >= 5  # gateway server/client, service server/client, ... in span levels


def _depths(sp: pd.DataFrame) -> pd.Series:
    parent = dict(zip(sp["span_id"], sp["parent_id"], strict=True))
    memo: dict[str, int] = {"": 0}

    def d(s: str) -> int:
        chain = []
        while s not in memo:
            chain.append(s)
            s = parent[s]
        base = memo[s]
        for k, c in enumerate(reversed(chain)):
            memo[c] = base + k + 1
        return memo[chain[0]] if chain else base

    return pd.Series([d(s) for s in sp["span_id"]])


def test_normal_traffic_has_benign_warnings_and_rare_errors():
    inc = _incident(0, "cpu")
    lg = inc.normal.logs
    assert (lg["level"] == "WARN").sum() >= 20
    assert 0 < (lg["level"] == "ERROR").sum() < 0.01 * len(inc.normal.spans)
    assert 0 < inc.normal.spans["is_error"].mean() < 0.01
    assert lg["message"].nunique() > 100  # messages carry numbers, not one constant line


def test_a_benign_cpu_blip_hits_a_pod_that_is_not_the_target():
    inc = _incident(0, "network_delay")
    m_n, m_i = inc.normal.metrics, inc.incident.metrics
    cpu_n = (
        m_n[(m_n["metric"] == "cpu_usage_pct") & (m_n["entity_kind"] == "pod")]
        .groupby("entity")["value"]
        .median()
    )
    cpu_i = (
        m_i[(m_i["metric"] == "cpu_usage_pct") & (m_i["entity_kind"] == "pod")]
        .groupby("entity")["value"]
        .max()
    )
    jump = (cpu_i - cpu_n).drop(inc.truth.component)
    assert jump.max() > 20


def test_explicit_targets_and_levels():
    base = dict(seed=5, normal_s=10, incident_s=10)
    probe = generate_incident(SynthConfig(**base))
    topo = probe.topology
    svc = next(s for s in topo.services if len(topo.pods[s]) >= 2 and s != topo.entry_service)
    inc = generate_incident(SynthConfig(**base, fault_type="exception", fault_target=svc))
    assert inc.truth.level == "service" and inc.truth.component == svc and inc.truth.service == svc
    failing = inc.incident.spans.query("kind == 'server' and is_error")["pod"]
    assert set(topo.pods[svc]) <= set(failing)
    pod = topo.pods[svc][0]
    inc = generate_incident(SynthConfig(**base, fault_type="cpu", fault_target=pod))
    assert (inc.truth.level, inc.truth.component, inc.truth.service) == ("pod", pod, svc)
    assert inc.truth.node == topo.pod_node[pod]
    inc = generate_incident(SynthConfig(**base, fault_type="node_fault", fault_target=topo.nodes[1]))
    assert (inc.truth.level, inc.truth.component, inc.truth.service) == ("node", topo.nodes[1], "")
    with pytest.raises(InputError, match="is a node"):
        generate_incident(SynthConfig(**base, fault_type="cpu", fault_target=topo.nodes[0]))
    with pytest.raises(InputError, match="needs a node"):
        generate_incident(SynthConfig(**base, fault_type="node_fault", fault_target=pod))
    with pytest.raises(InputError, match="not a pod, service or node"):
        generate_incident(SynthConfig(**base, fault_target="no-such-thing"))


@pytest.mark.parametrize("fault_type", INJECTABLE_FAULTS)
def test_auto_target_is_exercised_by_traffic(fault_type):
    for seed in (0, 1):
        inc = _incident(seed, fault_type, normal_s=20, incident_s=20)
        t = inc.truth
        assert t.fault_type == TRUTH_TYPE.get(fault_type, fault_type)
        pods = inc.topology.pods_on(t.component) if t.level == "node" else [t.component]
        assert t.level == ("node" if fault_type == "node_fault" else "pod")
        served = inc.normal.spans.query("kind == 'server'")["pod"].isin(pods).sum()
        assert served >= 30
        if t.level == "pod":
            assert t.service != inc.topology.entry_service


def test_large_trace_is_one_trace_of_the_asked_size():
    inc = generate_large_trace(10_000, config=SynthConfig(seed=3, normal_s=15))
    sp = inc.incident.spans
    assert sp["trace_id"].nunique() == 1
    assert 9_000 <= len(sp) <= 10_200
    assert (sp["parent_id"] == "").sum() == 1
    assert sp.loc[sp["parent_id"] != "", "parent_id"].isin(sp["span_id"]).all()
    assert inc.normal.spans["trace_id"].nunique() > 100  # a baseline to compare against
    assert len(inc.incident.logs) and len(inc.incident.metrics)
    # the fault acts inside the big trace
    assert sp["pod"].isin([inc.truth.component]).any()
