"""``faultwise rcl diagnose`` end to end on files written by our writers from the synthetic generator."""

from __future__ import annotations

import json

import pytest

from faultwise.errors import InputError
from faultwise.rcl.cli import parse_start_us
from faultwise.rcl.simulate import write_incident_otlp

CANDIDATE_FIELDS = {"component", "level", "fault_type", "score", "rationale", "evidence", "service"}


@pytest.fixture(scope="module")
def cpu_files(tmp_path_factory, small_incident):
    inc = small_incident("cpu", 0)
    return inc, write_incident_otlp(inc, tmp_path_factory.mktemp("cpu"))


def _all_modalities(paths):
    return [
        "--traces", paths["traces"], "--logs", paths["logs"], "--metrics", paths["metrics"],
        "--baseline", paths["baseline"], "--baseline-logs", paths["baseline_logs"],
        "--baseline-metrics", paths["baseline_metrics"],
    ]  # fmt: skip


def test_json_is_one_document_and_ranks_the_injected_pod(cpu_files, cli):
    inc, paths = cpu_files
    rc, out, err = cli(["rcl", "diagnose", *_all_modalities(paths), "--json"])
    assert rc == 0, err
    doc = json.loads(out)  # the whole of stdout is one JSON document: no progress, no table
    assert doc["candidates"], "no candidate"
    for c in doc["candidates"]:
        assert CANDIDATE_FIELDS <= set(c)
        assert c["level"] in ("pod", "service", "node")
    scores = [c["score"] for c in doc["candidates"]]
    assert scores == sorted(scores, reverse=True)
    assert doc["modalities"] == ["traces", "logs", "metrics"]
    assert doc["missing_modalities"] == []
    assert doc["traces_analyzed"] > 0 and doc["traces_total"] >= doc["traces_analyzed"]
    assert doc["sources"]["traces"] == str(paths["traces"])
    pods = [c["component"] for c in doc["candidates"] if c["level"] == "pod"]
    assert inc.truth.level == "pod"
    assert inc.truth.component in pods[:3], (inc.truth.component, pods[:5])
    assert "graphs" not in doc


def test_table_and_html_report(cpu_files, cli, tmp_path):
    inc, paths = cpu_files
    report = tmp_path / "out" / "report.html"
    rc, out, err = cli(["rcl", "diagnose", *_all_modalities(paths), "--html", report, "--top", "3"])
    assert rc == 0, err
    assert "Ranked root-cause candidates" in out
    assert "modalities used: traces, logs, metrics" in out
    assert "missing: none" in out
    text = report.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    assert inc.truth.component in text
    assert not list(report.parent.glob(".*.part"))  # atomic write left no temp file


def test_traces_only_degrades_and_says_what_is_missing(cpu_files, cli, small_incident):
    _, paths = cpu_files
    start = str(int(small_incident("cpu", 0).truth.inject_ts_s))
    rc, out, err = cli(
        [
            "rcl",
            "diagnose",
            "--traces",
            paths["baseline"],
            "--traces",
            paths["traces"],
            "--start",
            start,
            "--json",
        ],
    )
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["modalities"] == ["traces"]
    assert doc["missing_modalities"] == ["logs", "metrics"]
    assert doc["candidates"]
    assert "before the incident" in doc["baseline_source"]


def test_parse_start():
    assert parse_start_us("1674981784") == 1674981784 * 1_000_000
    assert parse_start_us("1674981784.5") == 1674981784_500_000
    assert parse_start_us("2023-01-29T08:43:04Z") == 1674981784 * 1_000_000
    assert parse_start_us("2023-01-29 08:43:04") == 1674981784 * 1_000_000  # no zone: UTC
    assert parse_start_us("2023-01-29T16:43:04+08:00") == 1674981784 * 1_000_000
    for bad in ("yesterday", "nan", "-5", ""):
        with pytest.raises(InputError, match="--start"):
            parse_start_us(bad)
