"""AC@k, Avg@5, MRR and misses: the arithmetic the benchmark figures rest on."""

from __future__ import annotations

import pytest

from faultwise.rcl.bench.metrics import (
    CaseResult,
    ac_at,
    avg_at,
    mrr,
    rank_of,
    summarize,
)
from faultwise.rcl.method.analyzer import Diagnosis
from faultwise.rcl.records import Candidate, names_at_level


def test_rank_of_first_occurrence_and_miss():
    assert rank_of("b", ["a", "b", "b"]) == 2
    assert rank_of("z", ["a", "b"]) is None
    assert rank_of("a", []) is None


def test_ac_avg_mrr_with_misses():
    ranks = [1, 2, None, 4, 6]
    assert ac_at(ranks, 1) == pytest.approx(0.2)
    assert ac_at(ranks, 3) == pytest.approx(0.4)
    assert ac_at(ranks, 5) == pytest.approx(0.6)  # rank 6 and the miss both fail AC@5
    assert avg_at(ranks, 5) == pytest.approx((0.2 + 0.4 + 0.4 + 0.6 + 0.6) / 5)
    assert mrr(ranks) == pytest.approx((1 + 1 / 2 + 0 + 1 / 4 + 1 / 6) / 5)
    assert ac_at([], 1) == 0.0 and mrr([]) == 0.0
    assert ac_at([None, None], 5) == 0.0 and mrr([None]) == 0.0


def _case(i, ft, rank):
    return CaseResult(
        case_id=f"c{i}", fault_type=ft, level="service", truth="x", ranked=[], rank=rank, seconds=2.0 * i
    )


def test_summarize_overall_and_by_fault_type():
    results = [_case(1, "cpu", 1), _case(2, "cpu", 3), _case(3, "exception", None), _case(4, "exception", 2)]
    s = summarize(results)
    doc = s.model_dump(mode="json")
    assert set(doc) == {"cases", "ac1", "ac3", "ac5", "avg5", "mrr", "by_fault_type", "seconds_per_case"}
    assert s.cases == 4
    assert s.ac1 == 0.25 and s.ac3 == 0.75 and s.ac5 == 0.75
    assert s.mrr == pytest.approx(round((1 + 1 / 3 + 0 + 1 / 2) / 4, 4))
    assert s.avg5 == pytest.approx(round((0.25 + 0.5 + 0.75 + 0.75 + 0.75) / 5, 4))
    assert s.seconds_per_case == pytest.approx(5.0)
    assert set(doc["by_fault_type"]) == {"cpu", "exception"}
    assert doc["by_fault_type"]["cpu"] == {"cases": 2, "ac1": 0.5, "ac3": 1.0}
    assert doc["by_fault_type"]["exception"] == {"cases": 2, "ac1": 0.0, "ac3": 0.5}


def _diag(cands):
    return Diagnosis(
        candidates=cands, modalities=["traces"], traces_total=1, traces_analyzed=1, spans_analyzed=1,
        window_us=(0, 1), baseline_source="", seconds=0.0, reasoner="test",
    )  # fmt: skip


def test_names_at_level_of_a_diagnosis():
    d = _diag(
        [
            Candidate(component="node-2", level="node", score=0.9, rationale=""),
            Candidate(component="api-7d9f8c6b5-abcde", level="pod", score=0.8, rationale="", service="api"),
            Candidate(component="db", level="service", score=0.7, rationale="", service="db"),
            Candidate(component="api-7d9f8c6b5-fghij", level="pod", score=0.6, rationale="", service="api"),
            Candidate(component="cache-0", level="pod", score=0.5, rationale="", service="cache"),
        ]
    )
    assert names_at_level(d.candidates, "service") == ["api", "db", "cache"]  # a pod names its service, once
    assert d.services() == ["api", "db", "cache"]
    assert names_at_level(d.candidates, "pod") == ["api-7d9f8c6b5-abcde", "api-7d9f8c6b5-fghij", "cache-0"]
    assert names_at_level(d.candidates, "node") == ["node-2"]
    with pytest.raises(ValueError):
        names_at_level(d.candidates, "cluster")
