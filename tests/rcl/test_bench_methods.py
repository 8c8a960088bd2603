"""Side-by-side bench: each case loaded once, every method scored the same way, one table / one document."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from rcl_support.incidents import SMALL
from typer.testing import CliRunner

from faultwise.cli import app, main
from faultwise.rcl.bench import BenchCase, methods_report, run_bench, synthetic_cases, synthetic_plan
from faultwise.rcl.bench.report import fault_type_table, methods_table
from faultwise.rcl.compare import Method
from faultwise.rcl.records import Candidate, Ranking

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "nezha-tt"


@dataclass
class Oracle:
    """A fake method that answers a fixed list (to check the scoring, not a method)."""

    name: str
    answer: list[str]
    calls: int = 0

    def find_root_causes(self, incident, normal=None, start_us=None) -> Ranking:
        self.calls += 1
        n = len(self.answer)
        return Ranking(
            candidates=[
                Candidate(component=c, level="service", score=n - i, rationale="", service=c)
                for i, c in enumerate(self.answer)
            ]
        )


def _cases(loaded: list[str]):
    plan = synthetic_plan(1, ["cpu", "exception"], SMALL)
    for case in synthetic_cases(plan):
        loaded.append(case.case_id)
        yield BenchCase(**{**case.__dict__, "level": "service", "truth": "svc-" + case.fault_type})


def test_each_case_loaded_once_and_every_method_scored():
    loaded: list[str] = []
    first = Oracle("first", ["svc-cpu", "svc-exception"])
    never = Oracle("never", ["x", "y"])
    assert isinstance(first, Method)  # the interface every method answers
    run = run_bench(_cases(loaded), [first, never])
    results, loads = run.results, run.load_seconds
    assert loaded == ["cpu-seed0", "exception-seed0"]
    assert first.calls == 2 and never.calls == 2 and len(loads) == 2
    assert [r.rank for r in results["first"]] == [1, 2]
    assert [r.rank for r in results["never"]] == [None, None]
    report = methods_report(results, loads, "service")
    assert report.methods["first"].ac1 == 0.5 and report.methods["first"].ac3 == 1.0
    assert report.methods["first"].mrr == 0.75
    assert report.methods["never"].ac5 == 0.0 and report.methods["never"].mrr == 0.0
    assert report.methods["first"].by_fault_type["exception"].ac1 == 0.0
    assert methods_table(report).row_count == 2
    assert fault_type_table(report).row_count == 2  # one row per fault type


def test_cli_synthetic_methods_json():
    res = CliRunner().invoke(
        app,
        ["rcl", "bench", "synthetic", "--seeds", "1", "--fault-types", "cpu,memory", "--requests-per-s", "5",
         "--methods", "random,self-time,metric-dev", "--json"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["cases"] == 2 and list(doc["methods"]) == ["random", "self-time", "metric-dev"]
    for name, summary in doc["methods"].items():
        assert set(summary) >= {"ac1", "ac3", "ac5", "avg5", "mrr", "seconds_per_case", "by_fault_type"}, name
        assert len(doc["results"][name]) == 2
    assert doc["methods"]["metric-dev"]["by_fault_type"]["memory"]["ac1"] == 1.0


def test_cli_synthetic_methods_table():
    res = CliRunner().invoke(
        app,
        ["rcl", "bench", "synthetic", "--seeds", "1", "--fault-types", "cpu", "--requests-per-s", "5",
         "--methods", "random,pagerank"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "pagerank" in res.output and "per fault type" in res.output and "s/case" in res.output


def test_cli_unknown_method_is_one_line(capsys):
    code = main(["rcl", "bench", "synthetic", "--seeds", "1", "--methods", "random,oracle"])
    err = capsys.readouterr().err
    assert code != 0 and "unknown method 'oracle'" in err and len(err.strip().splitlines()) == 1


@pytest.mark.skipif(not (DATA / "cases.csv").exists(), reason="shared Nezha data absent")
def test_cli_nezha_methods_on_a_real_case():
    res = CliRunner().invoke(
        app,
        ["rcl", "bench", "nezha", str(DATA), "--limit", "1", "--methods", "random,log-errors,metric-dev",
         "--json"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["cases"] == 1 and doc["level"] == "service" and doc["load_seconds_per_case"] > 0
    for name in ("random", "log-errors", "metric-dev"):
        r = doc["results"][name][0]
        assert r["truth"] == "ts-contacts-service" and r["ranked"], name
