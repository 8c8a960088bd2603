"""``faultwise rcl bench synthetic``: generated incidents scored at the truth's level."""

from __future__ import annotations

import json

import pytest

from faultwise.rcl.bench import run_bench, synthetic_cases, synthetic_plan
from faultwise.rcl.compare import RCLMethod
from faultwise.rcl.method.analyzer import RCLConfig
from faultwise.rcl.simulate import INJECTABLE_FAULTS, SynthConfig


def test_plan_covers_every_fault_type_and_seed():
    plan = synthetic_plan(2, base=SynthConfig(requests_per_s=3.0))
    assert len(plan) == 2 * len(INJECTABLE_FAULTS)
    assert {c.fault_type for c in plan} == set(INJECTABLE_FAULTS)
    assert {c.seed for c in plan} == {0, 1}
    assert all(c.requests_per_s == 3.0 for c in plan)


def test_cases_are_scored_at_the_truths_level():
    plan = synthetic_plan(
        1, ["cpu", "node_fault"], SynthConfig(requests_per_s=4.0, normal_s=30, incident_s=30)
    )
    results = run_bench(synthetic_cases(plan), [RCLMethod(config=RCLConfig(max_traces=40))]).results["rcl"]
    by_type = {r.fault_type: r for r in results}
    assert by_type["cpu"].level == "pod" and by_type["node_fault"].level == "node"
    for r in results:
        if r.rank is None:
            assert r.truth not in r.ranked
        elif r.rank <= len(r.ranked):
            assert r.ranked[r.rank - 1] == r.truth and r.truth not in r.ranked[: r.rank - 1]


def test_cli_json(cli):
    rc, out, err = cli(
        [
            "rcl",
            "bench",
            "synthetic",
            "--seeds",
            "1",
            "--fault-types",
            "cpu",
            "--requests-per-s",
            "3",
            "--json",
        ]
    )
    assert rc == 0, err
    doc = json.loads(out)
    assert set(doc) == {
        "cases", "ac1", "ac3", "ac5", "avg5", "mrr", "by_fault_type", "seconds_per_case", "modalities"
    }  # fmt: skip
    assert doc["modalities"] == ["traces", "logs", "metrics"]
    assert doc["cases"] == 1 and set(doc["by_fault_type"]) == {"cpu"}
    # an easy cpu contention at this traffic: its pod ranks first, so every figure is 1
    assert {k: doc[k] for k in ("ac1", "ac3", "ac5", "avg5", "mrr")} == pytest.approx(
        {"ac1": 1.0, "ac3": 1.0, "ac5": 1.0, "avg5": 1.0, "mrr": 1.0}
    )
    assert doc["by_fault_type"]["cpu"] == {"cases": 1, "ac1": 1.0, "ac3": 1.0}
