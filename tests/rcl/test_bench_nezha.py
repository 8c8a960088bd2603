"""``faultwise rcl bench nezha`` on a tiny Nezha-layout folder written from generated incidents, and on two
real cases read in place (skipped when the shared data is absent)."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import pytest
from test_cli_support import run_cli, small_incident, write_nezha_folder

from faultwise.rcl.bench.nezha import run_case, select_cases
from faultwise.rcl.method.analyzer import RCLAgent, RCLConfig

KEYS = {"cases", "ac1", "ac3", "ac5", "avg5", "mrr", "by_fault_type", "seconds_per_case"}
REAL = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "nezha-tt"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    incidents = [small_incident("cpu", 0), small_incident("exception", 1)]
    return write_nezha_folder(tmp_path_factory.mktemp("nezha"), incidents), incidents


def test_bench_json_document(tiny, capsys):
    root, incidents = tiny
    rc, out, err = run_cli(capsys, ["rcl", "bench", "nezha", root, "--json"])
    assert rc == 0, err
    doc = json.loads(out)
    assert set(doc) == KEYS
    assert doc["cases"] == 2
    assert set(doc["by_fault_type"]) == {"cpu", "exception"}
    for ft in doc["by_fault_type"].values():
        assert set(ft) == {"cases", "ac1", "ac3"} and ft["cases"] == 1
    assert 0 <= doc["ac1"] <= doc["ac3"] <= doc["ac5"] <= 1
    assert doc["seconds_per_case"] > 0
    # the easy cpu fault is found at service level, as diagnose finds it at pod level
    assert doc["by_fault_type"]["cpu"]["ac3"] == 1.0


def test_table_output_and_case_selection(tiny, capsys):
    root, incidents = tiny
    rc, out, err = run_cli(capsys, ["rcl", "bench", "nezha", root, "--cases", "synth-02"])
    assert rc == 0, err
    assert "synth-02" in out and "synth-01" not in out
    assert "AC@1" in out and "MRR" in out
    assert incidents[1].truth.service in out
    assert [c.case_id for c in select_cases(root, limit=1)] == ["synth-01"]


def test_labels_only_score(tiny, tmp_path):
    """Changing a case's label changes its score, never what the method answered."""
    root, _ = tiny
    (case,) = select_cases(root, ["synth-01"])
    agent = RCLAgent(RCLConfig(max_traces=40))
    honest = run_case(root, case, agent)
    wrong = run_case(root, dataclasses.replace(case, root_cause_service="no-such-service"), agent)
    assert wrong.ranked == honest.ranked
    assert wrong.rank is None  # a cause that is not in the list is a miss


@pytest.mark.realdata
def test_two_real_cases(capsys):
    if not (REAL / "cases.csv").exists():
        pytest.skip("shared Nezha data not present")
    with open(REAL / "cases.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    # two cases of different fault types, chosen by position only
    first = rows[0]
    other = next(r for r in rows if r["fault_type"] != first["fault_type"])
    ids = [first["case_id"], other["case_id"]]
    rc, out, err = run_cli(capsys, ["rcl", "bench", "nezha", REAL, "--cases", ",".join(ids), "--json"])
    assert rc == 0, err
    doc = json.loads(out)
    assert set(doc) == KEYS and doc["cases"] == 2
    assert set(doc["by_fault_type"]) == {first["fault_type"], other["fault_type"]}
    assert 0 <= doc["ac1"] <= doc["ac3"] <= doc["ac5"] <= 1
    assert doc["mrr"] >= doc["ac1"]
