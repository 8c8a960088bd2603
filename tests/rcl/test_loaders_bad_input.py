"""Bad input: every failure is one InputError line naming the file and the problem, never a traceback."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest

from faultwise.errors import InputError
from faultwise.rcl.telemetry import (
    load_logs,
    load_metrics,
    load_nezha_case,
    load_telemetry,
    load_traces,
    read_nezha_cases,
    sniff_format,
)

NEZHA_HEADER = "TraceID,SpanID,ParentID,PodName,OperationName,StartTimeUnixNano,EndTimeUnixNano,Duration\n"
NEZHA_ROW = "t1,s1,root,ts-a-service-5fcd447d84-wxwjd,/x,1674981700000000000,1674981700100000000,100000\n"


def _raises(fn, path, *words) -> InputError:
    with pytest.raises(InputError) as info:
        fn()
    err = info.value
    text = str(err)
    assert "\n" not in text, text
    assert err.source == str(path), (err.source, path)
    assert text.startswith(str(path))
    for w in words:
        assert w in text, text
    return err


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_missing_file(tmp_path):
    p = tmp_path / "nope.json"
    _raises(lambda: load_traces(p), p, "no such file")
    _raises(lambda: load_logs(p), p, "no such file")
    _raises(lambda: sniff_format(p), p, "no such file")


def test_missing_optional_modality_file_is_an_error_when_named(tmp_path):
    spans = _write(tmp_path, "t.csv", NEZHA_HEADER + NEZHA_ROW)
    p = tmp_path / "logs.csv"
    _raises(lambda: load_telemetry(spans, logs=p), p, "no such file")
    m = tmp_path / "metric"
    _raises(lambda: load_telemetry(spans, metrics=m), m, "no such file")


@pytest.mark.parametrize("name", ["empty.json", "empty.csv", "blank.json"])
def test_empty_files(tmp_path, name):
    p = _write(tmp_path, name, "" if name.startswith("empty") else "  \n\n")
    _raises(lambda: load_traces(p), p, "empty file")


def test_empty_gzip(tmp_path):
    p = tmp_path / "t.csv.gz"
    with gzip.open(p, "wt") as fh:
        fh.write("")
    _raises(lambda: load_traces(p), p, "empty file")


@pytest.mark.parametrize(
    "name,text,fmt",
    [
        ("header_only.csv", NEZHA_HEADER, "auto"),
        ("otlp.json", json.dumps({"resourceSpans": []}), "auto"),
        ("otlp_noscope.json", json.dumps({"resourceSpans": [{"resource": {}, "scopeSpans": []}]}), "auto"),
        ("jaeger.json", json.dumps({"data": []}), "jaeger"),
        ("zipkin.json", "[]", "zipkin"),
    ],
)
def test_no_spans(tmp_path, name, text, fmt):
    p = _write(tmp_path, name, text)
    _raises(lambda: load_traces(p, fmt=fmt), p, "no spans")


def test_malformed_json_document(tmp_path):
    p = _write(tmp_path, "t.json", '{"resourceSpans": [{"resource": ')
    _raises(lambda: load_traces(p), p, "malformed JSON")


def test_malformed_json_line(tmp_path):
    good = json.dumps({"resourceSpans": []})
    p = _write(tmp_path, "t.json", good + "\n" + '{"resourceSpans": [}' + "\n")
    _raises(lambda: load_traces(p), p, "malformed JSON at line 2")


def test_malformed_csv(tmp_path):
    bad = "t1,s2,s1,pod,/y,1,2,3,extra,fields,here\n"
    p = _write(tmp_path, "t.csv", NEZHA_HEADER + NEZHA_ROW + bad)
    _raises(lambda: load_traces(p), p, "malformed CSV", "1 of 2 lines")
    p2 = _write(tmp_path, "t2.csv", NEZHA_HEADER + NEZHA_ROW * 100 + bad * 12)
    _raises(lambda: load_traces(p2), p2, "malformed CSV", "12 of 112 lines")


def test_a_few_bad_lines_in_a_real_sized_export_are_skipped(tmp_path, caplog):
    rows = "".join(NEZHA_ROW.replace("s1", f"s{i}") for i in range(300))
    p = _write(tmp_path, "t.csv", NEZHA_HEADER + rows + "t1,sx,s1,pod,/y,1,2,3,extra,fields\n")
    df = load_traces(p)
    assert len(df) == 300 and "sx" not in set(df["span_id"])
    assert "skipped 1 malformed line" in caplog.text


def test_corrupt_gzip(tmp_path):
    p = tmp_path / "t.csv.gz"
    p.write_bytes(b"\x1f\x8b\x08\x00garbage-not-deflate")
    _raises(lambda: load_traces(p), p, "cannot read")


def test_missing_columns_with_explicit_format(tmp_path):
    p = _write(
        tmp_path, "t.csv", "TraceID,SpanID,ParentID,PodName,OperationName,StartTimeUnixNano\nt,s,root,p,o,1\n"
    )
    _raises(lambda: load_traces(p, fmt="nezha"), p, "missing column", "Duration")
    # auto cannot recognise it at all
    _raises(lambda: load_traces(p), p, "unknown format")


def test_missing_log_columns(tmp_path):
    p = _write(tmp_path, "l.csv", "TimeUnixNano,PodName\n1,p\n")
    _raises(lambda: load_logs(p, fmt="nezha"), p, "missing column", "Log")


@pytest.mark.parametrize(
    "name,text",
    [
        ("hello.txt", "hello world\nthis is not telemetry\n"),
        ("other.json", json.dumps({"foo": [1, 2, 3]})),
        ("other.csv", "a,b,c\n1,2,3\n"),
    ],
)
def test_unknown_format(tmp_path, name, text):
    p = _write(tmp_path, name, text)
    _raises(lambda: sniff_format(p), p, "unknown format")
    _raises(lambda: load_traces(p), p, "unknown format")


def test_unknown_directory(tmp_path):
    """A folder stands for its files: the file that is no telemetry is the one named."""
    d = tmp_path / "d"
    d.mkdir()
    (d / "readme.txt").write_text("x")
    _raises(lambda: load_metrics(d), d / "readme.txt", "unknown format")
    empty = tmp_path / "empty"
    empty.mkdir()
    _raises(lambda: load_traces(empty), empty, "empty folder")


def test_wrong_modality(tmp_path):
    p = _write(tmp_path, "l.csv", "ts_us,pod,level,message\n1,p,INFO,hi\n")
    _raises(lambda: load_traces(p), p, "not traces")
    _raises(lambda: load_logs(p, fmt="jaeger"), p, "cannot hold logs")
    _raises(lambda: load_traces(p, fmt="canonical-logs"), p, "not a traces format")
    _raises(lambda: load_traces(p, fmt="parquet"), p, "unknown format name 'parquet'")


@pytest.mark.parametrize(
    "name,text,word",
    [
        ("nan_start.csv", NEZHA_HEADER + "t1,s1,root,p,/x,,1,100\n", "StartTimeUnixNano"),
        ("nan_dur.csv", NEZHA_HEADER + "t1,s1,root,p,/x,1674981700000000000,1,NaN\n", "Duration"),
        ("canon.csv", "trace_id,span_id,parent_id,pod,operation,start_us,duration_us\nt,s,,p,o,5,nan\n", "duration_us"),
        ("aiops.csv", "timestamp,cmdb_id,span_id,trace_id,duration,type,status_code,operation_name,parent_span\n"
                      ",frontend-2,s1,t1,5,http,0,op,\n", "timestamp"),
    ],
)  # fmt: skip
def test_nan_in_required_span_numbers(tmp_path, name, text, word):
    p = _write(tmp_path, name, text)
    _raises(lambda: load_traces(p), p, word)


def test_json_span_without_times(tmp_path):
    doc = {
        "resourceSpans": [
            {"scopeSpans": [{"spans": [{"traceId": "a" * 32, "spanId": "b" * 16, "name": "x"}]}]}
        ]
    }
    p = _write(tmp_path, "t.json", json.dumps(doc))
    _raises(lambda: load_traces(p), p, "startTimeUnixNano")
    jaeger = {
        "data": [
            {"traceID": "t", "spans": [{"spanID": "s", "startTime": None, "duration": 1}], "processes": {}}
        ]
    }
    p2 = _write(tmp_path, "j.json", json.dumps(jaeger))
    _raises(lambda: load_traces(p2), p2, "startTime")


def test_parent_cycles_are_not_a_loader_error(tmp_path):
    p = _write(
        tmp_path,
        "t.csv",
        NEZHA_HEADER
        + "t1,a,b,p-1,/x,1674981700000000000,1674981700100000000,100000\n"
        + "t1,b,a,p-1,/y,1674981700000000000,1674981700100000000,100000\n",
    )
    df = load_traces(p)
    assert df["parent_id"].tolist() == ["b", "a"]


def test_nan_metric_values_load(tmp_path):
    p = _write(
        tmp_path,
        "m.csv",
        "ts_s,entity,entity_kind,metric,value\n1,p,pod,cpu,\n2,p,pod,cpu,NaN\n3,p,pod,cpu,0.5\n",
    )
    df = load_metrics(p)
    assert df["value"].isna().sum() == 2 and len(df) == 3


def test_nezha_cases_missing_and_degraded(tmp_path):
    _raises(lambda: read_nezha_cases(tmp_path), tmp_path / "cases.csv", "no such file")
    (tmp_path / "rca").mkdir()
    _write(tmp_path / "rca", "t.csv", NEZHA_HEADER + NEZHA_ROW)
    _write(tmp_path / "rca", "normal.csv", NEZHA_HEADER + NEZHA_ROW)
    pd.DataFrame(
        [
            {
                "case_id": "c1",
                "inject_unix_utc": 1674981700,
                "root_cause_pod": "ts-a-service-5fcd447d84-wxwjd",
                "root_cause_service": "ts-a-service",
                "fault_type": "exception",
                "trace_files": "rca/t.csv",
                "log_files": "rca/missing_log.csv",
                "metric_dir": "rca/no_metrics/",
                "normal_trace_file": "rca/normal.csv",
            }
        ]
    ).to_csv(tmp_path / "cases.csv", index=False)
    (case,) = read_nezha_cases(tmp_path)
    incident, baseline = load_nezha_case(tmp_path, case)
    assert incident.modalities == ["traces"] and baseline.modalities == ["traces"]
    broken = type(case)(**{**{f: getattr(case, f) for f in case.__slots__}, "trace_files": ("rca/gone.csv",)})
    _raises(lambda: load_nezha_case(tmp_path, broken), tmp_path / "rca/gone.csv", "no such file")


def test_cases_csv_missing_columns(tmp_path):
    _write(tmp_path, "cases.csv", "case_id,fault_type\nc1,cpu\n")
    _raises(lambda: read_nezha_cases(tmp_path), tmp_path / "cases.csv", "missing column")
