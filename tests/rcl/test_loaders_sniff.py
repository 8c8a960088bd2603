"""Format sniffing decides from content: names and extensions can lie, gzip is transparent."""

from __future__ import annotations

import gzip
import json

import pandas as pd
import pytest

from faultwise.rcl.telemetry import load_traces, sniff_format
from faultwise.rcl.telemetry.load import FORMATS
from faultwise.rcl.telemetry.schema import SPAN_COLUMNS, conform
from faultwise.rcl.telemetry.writers import (
    write_jaeger,
    write_logs_csv,
    write_metrics_csv,
    write_otlp_logs,
    write_otlp_metrics,
    write_otlp_traces,
    write_spans_csv,
    write_zipkin,
)

SPANS = conform(
    pd.DataFrame(
        [
            dict(trace_id="ab" * 16, span_id="01" * 8, parent_id="", service="a", pod="a-0", node="n", operation="x",
                 kind="server", start_us=10, duration_us=5, is_error=False, status_code=""),
        ]
    ),
    SPAN_COLUMNS,
    "t",
    "spans",
)  # fmt: skip
LOGS = pd.DataFrame(
    {"ts_us": [1], "service": ["a"], "pod": ["a-0"], "node": ["n"], "level": ["INFO"], "message": ["m"],
     "trace_id": [""], "span_id": [""]}
)  # fmt: skip
METRICS = pd.DataFrame(
    {"ts_s": [1.0], "entity": ["a-0"], "entity_kind": ["pod"], "metric": ["cpu"], "value": [1.0]}
)

NEZHA_TRACE = (
    "TraceID,SpanID,ParentID,PodName,OperationName,StartTimeUnixNano,EndTimeUnixNano,Duration\n"
    "t,s,root,p,/x,1000,2000,1\n"
)
NEZHA_LOG = 'Timestamp,TimeUnixNano,Node,PodName,Container,TraceID,SpanID,Log\nx,1,n,p,c,t,s,"{""log"":""INFO hi""}"\n'
NEZHA_METRIC = "Time,TimeStamp,PodName,CpuUsageRate(%)\nx,1,p,1.0\n"
AIOPS = "timestamp,cmdb_id,span_id,trace_id,duration,type,status_code,operation_name,parent_span\n1,p-0,s,t,5,http,0,op,\n"


def _writer(fn, df):
    return lambda p: fn(df, p)


def _text(text):
    return lambda p: p.write_text(text)


CASES = {
    "otlp-traces": _writer(write_otlp_traces, SPANS),
    "jaeger": _writer(write_jaeger, SPANS),
    "zipkin": _writer(write_zipkin, SPANS),
    "canonical-spans": _writer(write_spans_csv, SPANS),
    "otlp-logs": _writer(write_otlp_logs, LOGS),
    "canonical-logs": _writer(write_logs_csv, LOGS),
    "otlp-metrics": _writer(write_otlp_metrics, METRICS),
    "canonical-metrics": _writer(write_metrics_csv, METRICS),
    "nezha-traces": _text(NEZHA_TRACE),
    "nezha-logs": _text(NEZHA_LOG),
    "nezha-metrics": _text(NEZHA_METRIC),
    "aiops2022-traces": _text(AIOPS),
    "rcaeval-traces": _text(
        "traceID,spanID,parentSpanID,serviceName,methodName,operationName,startTime,duration,statusCode\n"
        "t1,s1,,frontend,GET,/home,1700000000000000,1200,200\n"
    ),
    "rcaeval-logs": _text('timestamp,container_name,message\n1700000000000000000,cart-1,"INFO added item"\n'),
}


def test_every_format_has_a_case():
    assert set(CASES) == set(FORMATS)


@pytest.mark.parametrize("fmt", sorted(CASES))
def test_sniff_ignores_the_file_name(tmp_path, fmt):
    path = tmp_path / "data.bin"  # no telling extension
    CASES[fmt](path)
    assert sniff_format(path) == fmt


@pytest.mark.parametrize("fmt", sorted(CASES))
def test_sniff_through_gzip(tmp_path, fmt):
    plain = tmp_path / "plain"
    CASES[fmt](plain)
    gz = tmp_path / "data.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    assert sniff_format(gz) == fmt


def test_misleading_extension_still_loads(tmp_path):
    path = tmp_path / "spans.csv"
    write_jaeger(SPANS, path)  # JSON in a .csv file
    assert sniff_format(path) == "jaeger"
    assert load_traces(path)["span_id"].tolist() == ["01" * 8]


def test_bom_and_leading_whitespace(tmp_path):
    path = tmp_path / "t.json"
    path.write_text(
        "\ufeff\n  " + json.dumps([{"traceId": "a" * 16, "id": "b" * 16, "timestamp": 1, "duration": 2}])
    )
    assert sniff_format(path) == "zipkin"
    assert load_traces(path)["span_id"].tolist() == ["b" * 16]
    csv = tmp_path / "t.csv"
    csv.write_text("\ufeff" + NEZHA_TRACE)
    assert sniff_format(csv) == "nezha-traces"
    assert load_traces(csv)["trace_id"].tolist() == ["t"]
