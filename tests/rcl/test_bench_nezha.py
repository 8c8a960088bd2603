"""``faultwise rcl bench nezha`` on a tiny Nezha-layout folder written from generated incidents, and on two
real cases read in place (skipped when the shared data is absent)."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import pytest
from rcl_support.files import write_nezha_folder

from faultwise.rcl.bench import nezha_cases, run_bench, score_case, select_cases, with_modalities
from faultwise.rcl.compare import RCLMethod

KEYS = {"cases", "ac1", "ac3", "ac5", "avg5", "mrr", "by_fault_type", "seconds_per_case", "modalities"}
REAL = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "nezha-tt"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, small_incident):
    incidents = [small_incident("cpu", 0), small_incident("exception", 1)]
    return write_nezha_folder(tmp_path_factory.mktemp("nezha"), incidents), incidents


@pytest.fixture(scope="module")
def tiny_results(tiny):
    """The tiny folder through the Python runner: per-case ranks to check the CLI's summary against."""
    root, _ = tiny
    return run_bench(nezha_cases(root, select_cases(root)), [RCLMethod()]).results["rcl"]


def _scores(ranks):
    """AC@1/3/5 and MRR computed here, from the ranks alone (not by the code under test)."""
    n = len(ranks)
    ac = {k: sum(1 for r in ranks if r is not None and r <= k) / n for k in (1, 3, 5)}
    return {"ac1": ac[1], "ac3": ac[3], "ac5": ac[5], "mrr": sum(1 / r for r in ranks if r) / n}


def test_bench_json_document(tiny, tiny_results, cli):
    root, incidents = tiny
    rc, out, err = cli(["rcl", "bench", "nezha", root, "--json"])
    assert rc == 0, err
    doc = json.loads(out)
    assert set(doc) == KEYS
    assert doc["cases"] == 2
    assert set(doc["by_fault_type"]) == {"cpu", "exception"}
    for ft in doc["by_fault_type"].values():
        assert set(ft) == {"cases", "ac1", "ac3"} and ft["cases"] == 1
    # the summary is the per-case ranks' (the same method, run through the library)
    expected = _scores([r.rank for r in tiny_results])
    assert {k: doc[k] for k in expected} == pytest.approx(expected, abs=1e-4)
    assert doc["seconds_per_case"] > 0
    # the easy cpu fault is found at service level, as diagnose finds it at pod level
    assert doc["by_fault_type"]["cpu"]["ac3"] == 1.0


def test_table_output_and_case_selection(tiny, cli):
    root, incidents = tiny
    rc, out, err = cli(["rcl", "bench", "nezha", root, "--cases", "synth-02"])
    assert rc == 0, err
    assert "synth-02" in out and "synth-01" not in out
    assert "AC@1" in out and "MRR" in out
    assert incidents[1].truth.service in out
    assert [c.case_id for c in select_cases(root, limit=1)] == ["synth-01"]


def test_labels_only_score(tiny, tiny_results):
    """Changing a case's label changes its score, never what the method answered."""
    root, _ = tiny
    (case,) = nezha_cases(root, select_cases(root, ["synth-01"]))
    honest = next(r for r in tiny_results if r.case_id == "synth-01")
    wrong = score_case(dataclasses.replace(case, truth="no-such-service"), RCLMethod())
    assert wrong.ranked == honest.ranked and honest.rank is not None
    assert wrong.rank is None  # a cause that is not in the list is a miss


@pytest.mark.realdata
def test_two_real_cases(cli):
    if not (REAL / "cases.csv").exists():
        pytest.skip("shared Nezha data not present")
    with open(REAL / "cases.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    # two cases of different fault types, chosen by position only
    first = rows[0]
    other = next(r for r in rows if r["fault_type"] != first["fault_type"])
    ids = [first["case_id"], other["case_id"]]
    args = ["rcl", "bench", "nezha", REAL, "--cases", ",".join(ids), "--methods", "rcl", "--json"]
    rc, out, err = cli(args)
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["cases"] == 2 and doc["level"] == "service"
    summary, results = doc["methods"]["rcl"], doc["results"]["rcl"]
    assert [r["case_id"] for r in results] == ids
    assert set(summary["by_fault_type"]) == {first["fault_type"], other["fault_type"]}
    for r in results:  # each rank is where the truth stands in the answers
        assert r["truth"] == next(x["root_cause_service"] for x in rows if x["case_id"] == r["case_id"])
        assert r["rank"] is not None and r["ranked"][r["rank"] - 1] == r["truth"]
    expected = _scores([r["rank"] for r in results])
    assert {k: summary[k] for k in expected} == pytest.approx(expected, abs=1e-4)
    assert summary["ac3"] == 1.0  # both found in the top three, as on the whole development split


def test_modalities_on_a_nezha_folder(tiny, cli):
    """``--modalities traces`` on a Nezha-layout folder: the method ranks every case exactly as it does when
    given only the case's traces (incident and normal) through the Python runner, and the JSON names the set."""
    root, _ = tiny
    rc, out, err = cli(
        ["rcl", "bench", "nezha", root, "--methods", "rcl", "--modalities", "traces", "--json"]
    )
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["modalities"] == ["traces"]
    cases = [with_modalities(c, ("traces",)) for c in nezha_cases(root, select_cases(root))]
    assert all(c.incident.modalities == ["traces"] and c.normal.modalities == ["traces"] for c in cases)
    expected = run_bench(cases, [RCLMethod()]).results["rcl"]
    assert [r["ranked"] for r in doc["results"]["rcl"]] == [r.ranked for r in expected]


@pytest.mark.realdata
def test_a_days_metric_folder_is_read_once(monkeypatch, caplog):
    """Cases of one day share its metric folder: the bench reads it once, and each case still gets exactly
    the table an uncached load gives."""
    import faultwise.rcl.telemetry.nezha as nezha_loader
    from faultwise.rcl.telemetry import load_nezha_case

    root = REAL.parent / "nezha-ob"
    if not (root / "cases.csv").exists():
        pytest.skip("shared Online Boutique data not present")
    cases = select_cases(root)
    day = cases[0].metric_dir
    same_day = [c for c in cases if c.metric_dir == day][:2]
    assert len(same_day) == 2
    reads = []
    real_load = nezha_loader.load_nezha_metrics
    monkeypatch.setattr(
        nezha_loader, "load_nezha_metrics", lambda *a, **k: reads.append(a[0]) or real_load(*a, **k)
    )
    with caplog.at_level("WARNING", logger="faultwise"):
        loaded = list(nezha_cases(root, same_day))
    assert len(reads) == 1
    assert sum("not KPI tables" in r.getMessage() for r in caplog.records) <= 1  # one note, not one per case
    fresh, _ = load_nezha_case(root, same_day[1])
    assert loaded[1].incident.metrics.equals(fresh.metrics)
