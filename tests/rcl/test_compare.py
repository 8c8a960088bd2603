"""Comparison methods: each finds the fault its signal shows, none reads labels, the shared pieces are exact."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from faultwise.errors import InputError
from faultwise.rcl.compare import (
    AnomalyPageRank,
    LogErrorRate,
    MetricDeviation,
    RandomRanking,
    SelfTimeDeviation,
    anomaly_walk,
    candidates_from_pod_scores,
    make_methods,
    method_names,
    split_periods,
)
from faultwise.rcl.records import Candidate, names_at_level
from faultwise.rcl.telemetry.schema import Telemetry


@pytest.fixture(scope="module")
def incidents(small_incident):
    return small_incident


def rank_of_truth(method, inc) -> int | None:
    t = inc.truth
    ranked = names_at_level(
        method.find_root_causes(inc.incident, inc.normal, int(t.inject_ts_s * 1e6)).candidates, t.level
    )
    return ranked.index(t.component) + 1 if t.component in ranked else None


@pytest.mark.parametrize("seed", [0, 1])
def test_self_time_finds_cpu_contention(incidents, seed):
    assert rank_of_truth(SelfTimeDeviation(), incidents("cpu", seed)) == 1


@pytest.mark.parametrize("seed", [0, 1])
def test_metric_deviation_finds_memory_pressure(incidents, seed):
    assert rank_of_truth(MetricDeviation(), incidents("memory", seed)) == 1


def test_log_errors_find_exceptions(incidents):
    assert rank_of_truth(LogErrorRate(), incidents("exception", 0)) == 1


@pytest.mark.parametrize("fault", ["exception", "error_return", "cpu"])
def test_pagerank_walks_to_the_failing_pod(incidents, fault):
    assert rank_of_truth(AnomalyPageRank(), incidents(fault, 0)) == 1


def test_single_signals_miss_what_they_cannot_see(incidents):
    """Honest floor: own processing time does not move under an error return at seed 0."""
    r = rank_of_truth(SelfTimeDeviation(), incidents("error_return", 0))
    assert r is None or r > 3


def test_random_is_seeded_and_covers_vanished_pods(incidents):
    inc = incidents("pod_failure", 0)
    start = int(inc.truth.inject_ts_s * 1e6)
    a = RandomRanking(seed=0).find_root_causes(inc.incident, inc.normal, start).candidates
    b = RandomRanking(seed=0).find_root_causes(inc.incident, inc.normal, start).candidates
    c = RandomRanking(seed=1).find_root_causes(inc.incident, inc.normal, start).candidates
    assert [x.component for x in a] == [x.component for x in b]
    assert [x.component for x in a] != [x.component for x in c]
    pods = names_at_level(a, "pod")
    assert inc.truth.component in pods  # the failed pod only has spans in the baseline
    assert set(pods) == set(inc.normal.spans["pod"]) | set(inc.incident.spans["pod"])


def test_every_method_answers_all_levels(incidents):
    inc = incidents("node_fault", 0)
    start = int(inc.truth.inject_ts_s * 1e6)
    for m in make_methods("random,self-time,log-errors,metric-dev,pagerank"):
        cands = m.find_root_causes(inc.incident, inc.normal, start).candidates
        assert {c.level for c in cands} == {"pod", "service", "node"}, m.name
        scores = [c.score for c in cands]
        assert scores == sorted(scores, reverse=True)
        assert all(np.isfinite(scores))


def test_methods_run_without_logs_and_metrics(incidents):
    inc = incidents("cpu", 0)
    bare = Telemetry(inc.incident.spans)
    start = int(inc.truth.inject_ts_s * 1e6)
    for m in make_methods("random,self-time,log-errors,metric-dev,pagerank"):
        assert m.find_root_causes(bare, Telemetry(inc.normal.spans), start).candidates, m.name
    # without any signal of its kind a method still ranks, every component equal
    flat = {
        c.score for c in LogErrorRate().find_root_causes(bare, None, start).candidates if c.level == "pod"
    }
    assert len(flat) == 1


def test_split_periods_without_baseline_or_start_uses_first_third(incidents):
    inc = incidents("cpu", 0)
    p = split_periods(inc.incident, None, None)
    lo, hi = inc.incident.time_range_us()
    assert p.window_us[0] == int(lo + (hi - lo) / 3)
    assert (p.spans["start_us"] >= p.window_us[0]).all()
    assert (p.normal_spans["start_us"] < p.window_us[0]).all()


def test_split_periods_refuses_a_start_after_every_span(incidents):
    inc = incidents("cpu", 0)
    _, hi = inc.incident.time_range_us()
    with pytest.raises(InputError, match="no spans after the incident start"):
        split_periods(inc.incident, inc.normal, hi + 1)


def _periods():
    spans = pd.DataFrame(
        {
            "trace_id": "t", "span_id": ["1", "2", "3"], "parent_id": ["", "1", "1"],
            "service": ["a", "b", "b"], "pod": ["a-0", "b-0", "b-1"], "node": ["n1", "n1", "n2"],
            "operation": "op", "kind": "", "start_us": [10, 11, 12], "duration_us": 5,
            "is_error": False, "status_code": "",
        }
    )  # fmt: skip
    return split_periods(Telemetry(spans), None, 10)


def test_candidates_service_takes_best_pod_node_takes_mean():
    cands = candidates_from_pod_scores({"a-0": 1.0, "b-0": 3.0, "b-1": 5.0}, _periods(), "t")
    got = {(c.level, c.component): c.score for c in cands}
    assert got[("service", "b")] == 5.0 and got[("service", "a")] == 1.0
    assert got[("node", "n1")] == 2.0 and got[("node", "n2")] == 5.0
    assert names_at_level(cands, "pod") == ["b-1", "b-0", "a-0"]
    assert names_at_level(cands, "service") == ["b", "a"]


def test_names_at_level_maps_pods_to_services_and_skips_nodes():
    cands = [
        Candidate(component="n1", level="node", score=9, rationale=""),
        Candidate(component="b-1", level="pod", score=5, rationale="", service="b"),
        Candidate(component="a", level="service", score=4, rationale="", service="a"),
        Candidate(component="b", level="service", score=3, rationale="", service="b"),
    ]
    assert names_at_level(cands, "service") == ["b", "a"]
    assert names_at_level(cands, "node") == ["n1"]
    with pytest.raises(ValueError):
        names_at_level(cands, "cluster")


def test_anomaly_walk_settles_on_the_deepest_anomalous_pod():
    nodes = ["front", "mid", "leaf", "other"]
    edges = pd.DataFrame({"src": ["front", "mid", "front"], "dst": ["mid", "leaf", "other"]})
    pi = anomaly_walk(nodes, edges, np.array([0.6, 0.7, 0.9, 0.0]))
    assert pi.sum() == pytest.approx(1.0)
    assert int(np.argmax(pi)) == 2
    assert pi[3] < pi[0]


def test_anomaly_walk_without_edges_follows_anomaly():
    pi = anomaly_walk(["a", "b"], pd.DataFrame({"src": [], "dst": []}), np.array([0.1, 0.8]))
    assert pi[1] > pi[0]


def test_method_names_groups_and_errors():
    assert method_names("all")[0] == "rcl" and "pagerank" in method_names("all")
    assert method_names("comparisons") == [
        "rcl",
        "random",
        "self-time",
        "log-errors",
        "metric-dev",
        "pagerank",
    ]
    assert method_names("random, random,ablations")[:2] == ["random", "rcl"]
    with pytest.raises(InputError, match="unknown method 'nope'"):
        method_names("random,nope")
    with pytest.raises(InputError, match="no method"):
        method_names(" , ")


def test_ablations_switch_exactly_one_flag():
    from faultwise.rcl.method.analyzer import RCLConfig
    from faultwise.rcl.method.synthesis import SynthesisConfig

    default = RCLConfig()
    got = {m.name: m.config for m in make_methods("ablations")}
    assert got["rcl"] == default
    assert got["rcl-no-logs"] == RCLConfig(use_logs=False)
    assert got["rcl-no-metrics"] == RCLConfig(use_metrics=False)
    assert got["rcl-no-graph"] == RCLConfig(synthesis=SynthesisConfig(use_graph_breadth=False))
    assert got["rcl-levels"] == RCLConfig(schedule="levels") and default.schedule == "dependency"
