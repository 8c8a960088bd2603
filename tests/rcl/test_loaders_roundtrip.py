"""Writer -> loader round trips: what we write as OTLP, Jaeger, Zipkin or CSV reads back unchanged."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from faultwise.rcl.telemetry import load_logs, load_metrics, load_traces, sniff_format
from faultwise.rcl.telemetry.schema import LOG_COLUMNS, METRIC_COLUMNS, SPAN_COLUMNS, conform
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

T1 = "0af7651916cd43dd8448eb211c80319c"
T2 = "4bf92f3577b34da6a3ce929d0e0e4736"


def _span(trace, span, parent, service, pod, node, op, kind, start, dur, err=False, status=""):
    return dict(
        trace_id=trace,
        span_id=span,
        parent_id=parent,
        service=service,
        pod=pod,
        node=node,
        operation=op,
        kind=kind,
        start_us=start,
        duration_us=dur,
        is_error=err,
        status_code=status,
    )


@pytest.fixture
def spans() -> pd.DataFrame:
    """Two traces: an entry server span, a client call, the callee's server span, a leaf call; errors in one."""
    t0 = 1_700_000_000_000_000
    rows = [
        _span(T1, "b7ad6b7169203331", "", "frontend", "frontend-7d9c8b6f5d-abcde", "node-1", "GET /", "server", t0, 5000, status="200"),
        _span(T1, "00f067aa0ba902b7", "b7ad6b7169203331", "frontend", "frontend-7d9c8b6f5d-abcde", "node-1", "cart.Get", "client", t0 + 1000, 3000, True, "503"),
        _span(T1, "1111111111111111", "00f067aa0ba902b7", "cart", "cart-0", "node-2", "GetCart", "server", t0 + 1200, 2500, True, "ERROR"),
        _span(T1, "2222222222222222", "1111111111111111", "cart", "cart-0", "node-2", "redis GET", "client", t0 + 1300, 200),
        _span(T2, "3333333333333333", "", "frontend", "frontend-7d9c8b6f5d-fghij", "node-3", "GET /cart", "server", t0 + 9000, 800),
        _span(T2, "4444444444444444", "3333333333333333", "frontend", "frontend-7d9c8b6f5d-fghij", "node-3", "render", "internal", t0 + 9100, 300),
    ]  # fmt: skip
    return conform(pd.DataFrame(rows), SPAN_COLUMNS, "test", "spans")


def _same(a: pd.DataFrame, b: pd.DataFrame, cols=tuple(SPAN_COLUMNS)) -> None:
    key = ["trace_id", "span_id"]
    a = a.sort_values(key).reset_index(drop=True)
    b = b.sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(a[list(cols)], b[list(cols)], check_dtype=True)


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"ids": "base64"},
        {"legacy_scope": True},
        {"kind_as": "string"},
        {"pretty": True},
        {"spans_per_line": 2},
        {"ids": "base64", "legacy_scope": True, "kind_as": "string", "spans_per_line": 1},
    ],
)
def test_otlp_round_trip(tmp_path, spans, options):
    path = tmp_path / "traces.json"
    write_otlp_traces(spans, path, **options)
    assert sniff_format(path) == "otlp-traces"
    _same(load_traces(path), spans)


def test_otlp_writer_really_writes_the_old_layout(tmp_path, spans):
    path = tmp_path / "traces.json"
    write_otlp_traces(spans, path, ids="base64", legacy_scope=True)
    doc = json.loads(path.read_text().splitlines()[0])
    block = doc["resourceSpans"][0]
    assert "instrumentationLibrarySpans" in block and "scopeSpans" not in block
    span_id = block["instrumentationLibrarySpans"][0]["spans"][0]["spanId"]
    assert len(span_id) == 12 and span_id.endswith("=")  # 8 bytes, base64


def test_otlp_lines_are_one_document_each(tmp_path, spans):
    path = tmp_path / "traces.json"
    write_otlp_traces(spans, path, spans_per_line=2)
    lines = path.read_text().splitlines()
    assert len(lines) == 3
    assert all("resourceSpans" in json.loads(line) for line in lines)


def test_jaeger_round_trip(tmp_path, spans):
    path = tmp_path / "jaeger.json"
    write_jaeger(spans, path)
    assert sniff_format(path) == "jaeger"
    _same(load_traces(path), spans)


def test_zipkin_round_trip(tmp_path, spans):
    path = tmp_path / "zipkin.json"
    write_zipkin(spans, path)
    assert sniff_format(path) == "zipkin"
    _same(load_traces(path), spans)


def test_zipkin_shared_ids_become_distinct_spans(tmp_path, spans):
    path = tmp_path / "zipkin.json"
    write_zipkin(spans, path, shared=True)
    raw = json.loads(path.read_text())
    ids = [s["id"] for s in raw if s["traceId"] == T1]
    assert ids.count("00f067aa0ba902b7") == 2  # the client and server halves really share the id
    got = load_traces(path).set_index("span_id")
    assert got.index.is_unique and len(got) == len(spans)
    server = got.loc["00f067aa0ba902b7-s"]
    assert server["parent_id"] == "00f067aa0ba902b7"
    assert server["service"] == "cart" and server["kind"] == "server" and server["duration_us"] == 2500
    assert got.loc["00f067aa0ba902b7", "kind"] == "client"
    assert got.loc["00f067aa0ba902b7", "parent_id"] == "b7ad6b7169203331"
    # the call the server made hangs under the server half, not the client half
    assert got.loc["2222222222222222", "parent_id"] == "00f067aa0ba902b7-s"
    # the untouched trace is unchanged
    assert got.loc["4444444444444444", "parent_id"] == "3333333333333333"


def test_canonical_csv_round_trip(tmp_path, spans):
    path = tmp_path / "spans.csv"
    write_spans_csv(spans, path)
    assert sniff_format(path) == "canonical-spans"
    _same(load_traces(path), spans)


def test_gzip_output_reads_back(tmp_path, spans):
    path = tmp_path / "traces.json.gz"
    write_otlp_traces(spans, path)
    assert path.read_bytes()[:2] == b"\x1f\x8b"
    _same(load_traces(path), spans)


def test_several_files_concatenate_and_duplicates_are_kept_once(tmp_path, spans):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    write_otlp_traces(spans.iloc[:4], a)
    write_jaeger(spans.iloc[3:], b)  # span 3 in both files
    _same(load_traces([a, b]), spans)


@pytest.fixture
def logs() -> pd.DataFrame:
    rows = [
        dict(ts_us=1_700_000_000_001_000, service="cart", pod="cart-0", node="node-2", level="ERROR", message="redis timeout after 2000 ms", trace_id=T1, span_id="1111111111111111"),
        dict(ts_us=1_700_000_000_002_000, service="cart", pod="cart-0", node="node-2", level="WARN", message="retrying", trace_id="", span_id=""),
        dict(ts_us=1_700_000_000_003_000, service="frontend", pod="frontend-7d9c8b6f5d-abcde", node="node-1", level="INFO", message='GET / 200 "ok"', trace_id=T2, span_id="3333333333333333"),
    ]  # fmt: skip
    return conform(pd.DataFrame(rows), LOG_COLUMNS, "test", "logs")


def test_otlp_logs_round_trip(tmp_path, logs):
    path = tmp_path / "logs.json"
    write_otlp_logs(logs, path, records_per_line=2)
    assert sniff_format(path) == "otlp-logs"
    got = load_logs(path).sort_values("ts_us").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, logs)


def test_canonical_logs_round_trip(tmp_path, logs):
    path = tmp_path / "logs.csv"
    write_logs_csv(logs, path)
    assert sniff_format(path) == "canonical-logs"
    pd.testing.assert_frame_equal(load_logs(path), logs)


@pytest.fixture
def metrics() -> pd.DataFrame:
    rows = []
    for i in range(3):
        ts = 1_700_000_000.0 + 60 * i
        rows += [
            dict(ts_s=ts, entity="cart-0", entity_kind="pod", metric="cpu_usage_rate_pct", value=10.0 + i),
            dict(
                ts_s=ts,
                entity="cart-0",
                entity_kind="pod",
                metric="memory_mib",
                value=np.nan if i == 1 else 200.5,
            ),
            dict(ts_s=ts, entity="node-2", entity_kind="node", metric="cpu_usage_rate_pct", value=50.0 - i),
            dict(
                ts_s=ts,
                entity="frontend",
                entity_kind="service",
                metric="latency_p99_s",
                value=0.25 * (i + 1),
            ),
        ]
    return conform(pd.DataFrame(rows), METRIC_COLUMNS, "test", "metrics")


def _sorted(df):
    return df.sort_values(["entity", "metric", "ts_s"]).reset_index(drop=True)


def test_otlp_metrics_round_trip(tmp_path, metrics):
    path = tmp_path / "metrics.json"
    write_otlp_metrics(metrics, path)
    assert sniff_format(path) == "otlp-metrics"
    got = _sorted(load_metrics(path))
    want = _sorted(metrics.dropna(subset=["value"]))  # OTLP JSON has no NaN gauge value
    pd.testing.assert_frame_equal(got, want)


def test_canonical_metrics_round_trip_keeps_nan(tmp_path, metrics):
    path = tmp_path / "metrics.csv"
    write_metrics_csv(metrics, path)
    assert sniff_format(path) == "canonical-metrics"
    got = load_metrics(path)
    assert got["value"].isna().sum() == 1
    pd.testing.assert_frame_equal(_sorted(got), _sorted(metrics))
