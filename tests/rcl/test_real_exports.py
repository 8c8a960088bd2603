"""Every file the tracing projects wrote themselves (``../shared/data/real-exports``, read in place) either
diagnoses, with an honest statement of what was analysed, or fails with one line naming the real problem.

The expected outcome of each file is written here: for a file that diagnoses, how many spans, traces and
failed spans it holds (counted by hand from the file, see its notes); for one that fails, the words of its
error. A file added to the folder without an expectation here fails the test.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.realdata

EXPORTS = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "real-exports"

#: file -> (spans, traces, failed spans) for a file that diagnoses.
DIAGNOSES: dict[str, tuple[int, int, int]] = {
    "jaeger/jaeger_example_trace.json": (5, 1, 0),
    "jaeger/jaeger_multiple1_trace.json": (1, 1, 0),
    "jaeger/jaeger_otlp2jaeger-in.json": (1, 1, 0),
    "jaeger/jaeger_otlp2jaeger-out.json": (1, 1, 0),
    "jaeger/jaeger_trace_success.json": (2, 1, 1),  # a bare array of Jaeger spans, one with error=true
    "jaeger/jaeger_uimodel_es_01.json": (1, 1, 1),  # one bare Jaeger span
    "jaeger/jaeger_uimodel_ui_01.json": (4, 1, 0),
    "jaeger/ui_components_TracePage_TraceFlamegraph_testTrace.json": (4, 1, 0),  # a trace under "data"
    "jaeger/ui_components_TracePage_TraceGraph_testTrace.json": (11, 1, 1),  # two services on one host
    "jaeger/ui_components_TracePage_TraceStatistics_tableValuesTestTrace_testTraceNormal.json": (5, 1, 0),
    "jaeger/ui_components_TracePage_TraceTimelineViewer_genaiTestTrace.json": (57, 1, 1),
    "jaeger/ui_utils_fixtures_oltp2jaeger-multi-out.json": (4, 1, 0),
    "jaeger/ui_utils_fixtures_otlp2jaeger-in-error.json": (1, 1, 0),  # no service name: unknown_service
    "jaeger/ui_utils_fixtures_otlp2jaeger-in.json": (1, 1, 0),
    "jaeger/ui_utils_fixtures_otlp2jaeger-multi-in-combined.json": (4, 1, 0),
    "otlp/jaegerui_otlp2jaeger-multi-in.jsonl": (4, 1, 0),
    "otlp/proto_trace.json": (1, 1, 0),
    "zipkin/ascend.json": (8, 1, 0),
    "zipkin/envoy.json": (1, 1, 0),
    "zipkin/messaging-kafka.json": (28, 1, 3),
    "zipkin/messaging.json": (4, 1, 0),
    "zipkin/messaging2.json": (11, 1, 0),
    "zipkin/simple-db-p6.json": (5, 1, 0),
    "zipkin/skew.json": (4, 1, 0),
    # 1,041 records: 84 late pieces without a timestamp merge into their spans
    "zipkin/smartthings-mobile-web-install.json": (957, 1, 2),
    # id 9d2d35b746db84f3: one client span and five shared server spans, all six kept
    "zipkin/smartthings-oauth-authorization.json": (175, 1, 2),
    "zipkin/yelp.json": (16, 1, 0),
    "zipkin/zipkin2-chinese.json": (1, 1, 1),
    "zipkin/zipkin2-client.json": (1, 1, 0),
    "zipkin/zipkin_site_data_model_v1.json": (5, 1, 0),  # Zipkin v1, converted
    "zipkin/zipkin_site_data_model_v2.json": (5, 1, 0),
    "zipkin": (1220, 13, 8),  # the folder: its files, one span shared by two of them kept once
}

#: file -> words of its one-line error.
FAILS: dict[str, str] = {
    "jaeger/jaeger_GetTrace.json": "none of the 1 span(s) has a start time",  # API v3 answer, unwrapped
    "jaeger/jaeger_uimodel_domain_01.json": "Jaeger's internal span model",
    "otlp/proto_events.json": "holds OTLP logs but no traces",
    "otlp/proto_logs.json": "holds OTLP logs but no traces",
    "otlp/proto_metrics.json": "holds OTLP metrics but no traces",
}


def _exports() -> list[str]:
    if not EXPORTS.is_dir():
        return []
    files = sorted(str(p.relative_to(EXPORTS)) for p in EXPORTS.rglob("*") if p.suffix in (".json", ".jsonl"))
    return files + ["zipkin"]


def test_every_file_has_an_expected_outcome():
    if not EXPORTS.is_dir():
        pytest.skip(f"{EXPORTS} not present")
    assert set(_exports()) == set(DIAGNOSES) | set(FAILS)


def _diagnose(cli, name: str) -> tuple[Path, int, str, str]:
    path = EXPORTS / name
    if not path.exists():
        pytest.skip(f"{path} not present")
    return path, *cli(["rcl", "diagnose", "--traces", path, "--json"])


@pytest.mark.parametrize("name", sorted(DIAGNOSES))
def test_file_diagnoses_and_says_what_was_analysed(name, cli):
    _, rc, out, err = _diagnose(cli, name)
    assert rc == 0, err
    assert "Traceback" not in err
    doc = json.loads(out)
    cov = doc["coverage"]
    assert (cov["spans_total"], cov["traces_total"], cov["error_spans_total"]) == DIAGNOSES[name]
    assert cov["traces_analysed"] == doc["traces_analyzed"]
    if doc["traces_analyzed"] == 0:  # never a silent all-clear
        assert cov["why_nothing"] and cov["why_nothing"] in doc["warnings"]
        assert not doc["candidates"]
    missed = cov["error_spans_total"] - cov["error_spans_analysed"]
    if missed and doc["traces_analyzed"] == 0:
        assert cov["error_spans_missed"] == missed
        assert len([e for e in cov["error_spans"] if not e["analysed"]]) == min(missed, 20)
        assert any(f"{missed} error span(s)" in w for w in doc["warnings"])
    assert doc["warnings"] or doc["traces_analyzed"]


@pytest.mark.parametrize("name", sorted(FAILS))
def test_file_fails_with_one_line_naming_the_problem(name, cli):
    path, rc, out, err = _diagnose(cli, name)
    assert rc == 2 and out == ""
    assert "Traceback" not in err and err.count("\n") == 1
    assert err.startswith(f"faultwise: error: {path}: ")
    assert FAILS[name] in err
