"""What an OpenTelemetry collector's file exporter really leaves on disk, written here by our own writers:
traces and logs in one file, zstd and gzip whatever the name says, binary protobuf records, a last line
still being written, and the OTLP content older loaders dropped (exponential histograms, structured log
bodies, event names)."""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path

import pandas as pd
import pytest
import zstandard
from google.protobuf import json_format
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from faultwise.errors import InputError
from faultwise.rcl.telemetry import load_logs, load_metrics, load_telemetry, load_traces, sniff_format
from faultwise.rcl.telemetry.schema import LOG_COLUMNS, SPAN_COLUMNS
from faultwise.rcl.telemetry.writers import write_otlp_logs, write_otlp_traces

T0 = 1_700_000_000_000_000


def _spans(n_traces: int = 3) -> pd.DataFrame:
    rows = []
    for t in range(n_traces):
        tid = f"{t + 1:032x}"
        rows.append(
            (tid, f"{10 * t + 1:016x}", "", "front", "front-7d4b9c8f6d-abcde", "GET /", "server", 0, 9_000)
        )
        rows.append(
            (
                tid,
                f"{10 * t + 2:016x}",
                f"{10 * t + 1:016x}",
                "front",
                "front-7d4b9c8f6d-abcde",
                "call db",
                "client",
                100,
                8_000,
            )
        )
        rows.append(
            (tid, f"{10 * t + 3:016x}", f"{10 * t + 2:016x}", "db", "db-0", "query", "server", 200, 7_500)
        )
    return pd.DataFrame(
        [dict(trace_id=r[0], span_id=r[1], parent_id=r[2], service=r[3], pod=r[4], node="", operation=r[5],
              kind=r[6], start_us=T0 + 1_000_000 * i + r[7], duration_us=r[8], is_error=r[5] == "query" and i == 2,
              status_code="") for i, r in enumerate(rows)]
    )[list(SPAN_COLUMNS)]  # fmt: skip


def _logs(spans: pd.DataFrame) -> pd.DataFrame:
    db = spans[spans["service"] == "db"]
    return pd.DataFrame(
        {
            "ts_us": db["start_us"].to_numpy() + 10,
            "service": "db",
            "pod": "db-0",
            "node": "",
            "level": ["INFO"] * (len(db) - 1) + ["ERROR"],
            "message": [f"query {i} done" for i in range(len(db) - 1)] + ["connection refused"],
            "trace_id": db["trace_id"].to_numpy(),
            "span_id": db["span_id"].to_numpy(),
        }
    )[list(LOG_COLUMNS)]


def _otlp_lines(tmp_path: Path, spans: pd.DataFrame, logs: pd.DataFrame | None = None) -> list[str]:
    """The JSON lines a collector's file exporter writes for these spans (and logs)."""
    write_otlp_traces(spans, tmp_path / "_t.jsonl", spans_per_line=2)
    lines = (tmp_path / "_t.jsonl").read_text().splitlines()
    if logs is not None:
        write_otlp_logs(logs, tmp_path / "_l.jsonl", records_per_line=2)
        logs_lines = (tmp_path / "_l.jsonl").read_text().splitlines()
        lines = [x for pair in zip(lines, logs_lines, strict=False) for x in pair] + lines[len(logs_lines) :]
    return lines


_ID_KEYS = ("traceId", "spanId", "parentSpanId")


def _ids_as_base64(node: object) -> object:
    """OTLP JSON writes ids in hex, the protobuf JSON mapping reads bytes as base64."""
    if isinstance(node, list):
        return [_ids_as_base64(x) for x in node]
    if isinstance(node, dict):
        return {
            k: base64.b64encode(bytes.fromhex(v)).decode() if k in _ID_KEYS and v else _ids_as_base64(v)
            for k, v in node.items()
        }
    return node


def _proto(line: str) -> bytes:
    """One OTLP JSON export request as its binary protobuf form."""
    doc = _ids_as_base64(json.loads(line))
    cls = trace_pb2.TracesData if "resourceSpans" in doc else logs_pb2.LogsData
    return json_format.ParseDict(doc, cls()).SerializeToString()


def _framed(records: list[bytes]) -> bytes:
    """The file exporter's framing: each record preceded by its length (4 bytes, big-endian)."""
    return b"".join(len(r).to_bytes(4, "big") + r for r in records)


def _same_spans(a: pd.DataFrame, b: pd.DataFrame) -> None:
    key = ["trace_id", "span_id"]
    pd.testing.assert_frame_equal(
        a.sort_values(key).reset_index(drop=True),
        b.sort_values(key).reset_index(drop=True),
        check_dtype=False,
    )


# --- defect 5: one file, several modalities -------------------------------------------------------------------


def test_traces_and_logs_in_one_file_feed_both_modalities(tmp_path):
    spans = _spans()
    logs = _logs(spans)
    mixed = tmp_path / "collector-out.json"
    mixed.write_text("\n".join(_otlp_lines(tmp_path, spans, logs)) + "\n")
    tel = load_telemetry(mixed)  # as traces only: the logs are kept, not dropped
    assert len(tel.spans) == len(spans) and tel.logs is not None and len(tel.logs) == len(logs)
    assert "logs" in tel.modalities and tel.sources["logs"] == str(mixed)
    assert set(tel.logs["message"]) == set(logs["message"])
    as_logs = load_logs(mixed)  # as logs: it works
    assert len(as_logs) == len(logs)
    both = load_telemetry(mixed, logs=mixed)  # given twice: read once
    assert len(both.logs) == len(logs)


def test_a_logs_only_file_given_as_traces_names_what_it_holds(tmp_path):
    spans = _spans()
    path = tmp_path / "logs.json"
    write_otlp_logs(_logs(spans), path)
    with pytest.raises(InputError, match="holds OTLP logs but no traces"):
        load_traces(path)


# --- defect 7: compression and binary records, whatever the file is called ------------------------------------


@pytest.mark.parametrize("name", ["traces.json", "traces.zst", "traces.bin"])
def test_zstd_sniffed_by_its_magic(tmp_path, name):
    spans = _spans()
    text = "\n".join(_otlp_lines(tmp_path, spans)) + "\n"
    path = tmp_path / name
    path.write_bytes(zstandard.ZstdCompressor().compress(text.encode()))
    assert sniff_format(path) == "otlp-traces"
    _same_spans(load_traces(path), load_traces_plain(tmp_path, text))


def load_traces_plain(tmp_path: Path, text: str) -> pd.DataFrame:
    plain = tmp_path / "plain.jsonl"
    plain.write_text(text)
    return load_traces(plain)


def test_gzip_without_gz_suffix(tmp_path):
    spans = _spans()
    text = "\n".join(_otlp_lines(tmp_path, spans)) + "\n"
    path = tmp_path / "traces.jsonl"  # a rotated, compressed file that kept its name
    path.write_bytes(gzip.compress(text.encode()))
    _same_spans(load_traces(path), load_traces_plain(tmp_path, text))


def test_binary_otlp_records_of_the_file_exporter(tmp_path):
    spans = _spans()
    logs = _logs(spans)
    lines = _otlp_lines(tmp_path, spans, logs)
    path = tmp_path / "otel.proto"
    path.write_bytes(_framed([_proto(x) for x in lines]))
    assert sniff_format(path) in ("otlp-traces", "otlp-logs")
    tel = load_telemetry(path)
    _same_spans(tel.spans, load_traces_plain(tmp_path, "\n".join(x for x in lines if "resourceSpans" in x)))
    assert tel.logs is not None and sorted(tel.logs["level"]) == sorted(logs["level"])


def test_zstd_compressed_json_records(tmp_path):
    """``format: json`` with ``compression: zstd``: length-prefixed records, each its own zstd frame."""
    spans = _spans()
    lines = _otlp_lines(tmp_path, spans)
    path = tmp_path / "otel.json"
    path.write_bytes(_framed([zstandard.ZstdCompressor().compress(x.encode()) for x in lines]))
    _same_spans(load_traces(path), load_traces_plain(tmp_path, "\n".join(lines)))


def test_binary_that_is_no_otlp_is_named(tmp_path):
    path = tmp_path / "x.bin"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(InputError, match="not OTLP protobuf"):
        load_traces(path)


def test_binary_metrics_are_told_from_traces(tmp_path):
    doc = {
        "resourceMetrics": [
            {
                "resource": {"attributes": [{"key": "k8s.pod.name", "value": {"stringValue": "db-0"}}]},
                "scopeMetrics": [
                    {
                        "metrics": [
                            {
                                "name": "cpu",
                                "gauge": {
                                    "dataPoints": [{"timeUnixNano": "1700000000000000000", "asDouble": 0.5}]
                                },
                            }
                        ]
                    }
                ],
            }
        ]
    }
    path = tmp_path / "m.pb"
    path.write_bytes(_framed([json_format.ParseDict(doc, metrics_pb2.MetricsData()).SerializeToString()]))
    assert sniff_format(path) == "otlp-metrics"
    m = load_metrics(path)
    assert m[["entity", "metric", "value"]].values.tolist() == [["db-0", "cpu", 0.5]]


# --- defect 8: a file still being written ----------------------------------------------------------------------


def test_partial_last_line_is_skipped_with_a_warning(tmp_path):
    spans = _spans()
    lines = _otlp_lines(tmp_path, spans)
    path = tmp_path / "live.jsonl"
    path.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][: len(lines[-1]) // 2])  # cut mid-record
    tel = load_telemetry(path)
    expected = load_traces_plain(tmp_path, "\n".join(lines[:-1]))
    _same_spans(tel.spans, expected)
    assert any("partial last line" in w and str(path) in w for w in tel.warnings)


def test_partial_last_binary_record_is_skipped_with_a_warning(tmp_path):
    lines = _otlp_lines(tmp_path, _spans())
    data = _framed([_proto(x) for x in lines])
    path = tmp_path / "live.pb"
    path.write_bytes(data[:-7])
    tel = load_telemetry(path)
    _same_spans(tel.spans, load_traces_plain(tmp_path, "\n".join(lines[:-1])))
    assert any("partial last record" in w for w in tel.warnings)


def test_a_broken_line_before_the_last_is_still_an_error(tmp_path):
    lines = _otlp_lines(tmp_path, _spans())
    path = tmp_path / "broken.jsonl"
    path.write_text("\n".join([lines[0][:40], *lines[1:]]) + "\n")
    with pytest.raises(InputError, match="malformed JSON.* line 1"):
        load_traces(path)


# --- defect 11: OTLP content that was lost ---------------------------------------------------------------------


def test_exponential_histogram_points_are_kept(tmp_path):
    point = {"timeUnixNano": "1700000000000000000", "count": "12", "sum": 3.5, "scale": 2,
             "zeroCount": "0", "positive": {"offset": 1, "bucketCounts": ["4", "8"]}}  # fmt: skip
    doc = {"resourceMetrics": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "db"}}]},
           "scopeMetrics": [{"metrics": [{"name": "latency", "exponentialHistogram": {"dataPoints": [point]}}]}]}]}  # fmt: skip
    path = tmp_path / "m.json"
    path.write_text(json.dumps(doc))
    got = dict(zip(load_metrics(path)["metric"], load_metrics(path)["value"], strict=True))
    assert got == {"latency_count": 12.0, "latency_sum": 3.5}


def test_structured_log_bodies_and_event_names(tmp_path):
    rec = {
        "timeUnixNano": "1700000000000000000",
        "eventName": "browser.page_view",
        "severityNumber": 9,
        "body": {"kvlistValue": {"values": [
            {"key": "type", "value": {"intValue": "0"}},
            {"key": "url", "value": {"stringValue": "https://example.test/a"}},
            {"key": "tags", "value": {"arrayValue": {"values": [{"stringValue": "x"}, {"boolValue": True}]}}},
        ]}},
    }  # fmt: skip
    doc = {"resourceLogs": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "web"}}]},
           "scopeLogs": [{"logRecords": [rec]}]}]}  # fmt: skip
    path = tmp_path / "l.json"
    path.write_text(json.dumps(doc))
    msg = load_logs(path)["message"].iloc[0]
    assert msg.startswith("browser.page_view: ")
    assert json.loads(msg.split(": ", 1)[1]) == {
        "type": 0,
        "url": "https://example.test/a",
        "tags": ["x", True],
    }
    assert "{'" not in msg  # no Python repr
