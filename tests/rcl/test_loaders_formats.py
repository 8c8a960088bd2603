"""Format details as real exporters write them, in small documents written by the tests themselves."""

from __future__ import annotations

import gzip
import json
import math

import pandas as pd
import pytest

from faultwise.errors import InputError
from faultwise.rcl.telemetry import load_logs, load_metrics, load_telemetry, load_traces, sniff_format
from faultwise.rcl.telemetry._common import norm_id, status_is_error
from faultwise.rcl.telemetry.aiops2022 import read_aiops2022_groundtruth
from faultwise.rcl.telemetry.nezha import load_nezha_metrics

TRACE = "5b8efff798038103d269b633813fc60c"


def _kv(key, value):
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": value}}
    return {"key": key, "value": {"stringValue": value}}


def test_otlp_collector_document_with_string_enums_and_numeric_times(tmp_path):
    doc = {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [
                        _kv("service.name", "checkout"),
                        _kv("k8s.pod.name", "checkout-5d8f7c9b6d-x7k2p"),
                        _kv("host.name", "worker-3"),
                    ]
                },
                "scopeSpans": [
                    {
                        "scope": {"name": "io.opentelemetry.grpc"},
                        "spans": [
                            {
                                "traceId": TRACE.upper(),
                                "spanId": "EEE19B7EC3C1B174",
                                "parentSpanId": "",
                                "name": "PlaceOrder",
                                "kind": "SPAN_KIND_SERVER",
                                "startTimeUnixNano": 1700000000123456789,
                                "endTimeUnixNano": 1700000000125456789,
                                "status": {"code": "STATUS_CODE_ERROR", "message": "boom"},
                                "attributes": [_kv("rpc.grpc.status_code", 13)],
                            },
                            {
                                "traceId": TRACE,
                                "spanId": "0102030405060708",
                                "parentSpanId": "eee19b7ec3c1b174",
                                "name": "charge",
                                "kind": 3,
                                "startTimeUnixNano": "1700000000124000000",
                                "endTimeUnixNano": "1700000000124500000",
                                "status": {},
                            },
                        ],
                    }
                ],
            }
        ]
    }
    path = tmp_path / "export.txt"  # content decides, not the extension
    path.write_text(json.dumps(doc, indent=2))
    assert sniff_format(path) == "otlp-traces"
    df = load_traces(path).set_index("span_id")
    root = df.loc["eee19b7ec3c1b174"]
    assert root["trace_id"] == TRACE and root["parent_id"] == ""
    assert root["kind"] == "server" and bool(root["is_error"]) and root["status_code"] == "13"
    assert root["start_us"] == 1700000000123456 and root["duration_us"] == 2000
    assert root["pod"] == "checkout-5d8f7c9b6d-x7k2p" and root["node"] == "worker-3"
    assert root["service"] == "checkout"
    child = df.loc["0102030405060708"]
    assert child["kind"] == "client" and not child["is_error"] and child["duration_us"] == 500
    assert child["parent_id"] == "eee19b7ec3c1b174"


def test_ids_hex_and_base64():
    assert norm_id("AAAAAAAAAAE=") == "0000000000000001"
    assert norm_id("W47/95gDgQPSabYzgT/GDA==") == TRACE
    assert norm_id("ABCDEF0123456789") == "abcdef0123456789"
    assert norm_id("") == "" and norm_id(None) == ""


def _jaeger_span(span_id, op, pid, start, dur, tags=(), refs=()):
    return {
        "traceID": TRACE,
        "spanID": span_id,
        "operationName": op,
        "references": [{"refType": r, "traceID": TRACE, "spanID": p} for r, p in refs],
        "startTime": start,
        "duration": dur,
        "tags": [{"key": k, "type": "string", "value": v} for k, v in tags],
        "processID": pid,
    }


def test_jaeger_errors_parents_and_processes(tmp_path):
    trace = {
        "traceID": TRACE,
        "spans": [
            _jaeger_span("a1", "GET /", "p1", 100, 50, [("span.kind", "server"), ("http.status_code", 502)]),
            _jaeger_span("a2", "call", "p1", 110, 30, [("otel.status_code", "ERROR")], [("CHILD_OF", "a1")]),
            _jaeger_span("a3", "handle", "p2", 112, 20, [("error", "true")], [("FOLLOWS_FROM", "zz"), ("CHILD_OF", "a2")]),
            _jaeger_span("a4", "async", "p2", 140, 5, [("http.status_code", 404)], [("FOLLOWS_FROM", "a3")]),
        ],
        "processes": {
            "p1": {"serviceName": "web", "tags": [{"key": "hostname", "type": "string", "value": "web-7f9d6c5b4-aaaaa"}]},
            "p2": {
                "serviceName": "api",
                "tags": [
                    {"key": "hostname", "type": "string", "value": "ignored-host"},
                    {"key": "k8s.pod.name", "type": "string", "value": "api-1"},
                    {"key": "k8s.node.name", "type": "string", "value": "n7"},
                ],
            },
        },
    }  # fmt: skip
    path = tmp_path / "trace.json"
    path.write_text(json.dumps({"data": [trace]}))
    df = load_traces(path, fmt="jaeger").set_index("span_id")
    assert df["is_error"].to_dict() == {"a1": True, "a2": True, "a3": True, "a4": False}
    assert df["parent_id"].to_dict() == {"a1": "", "a2": "a1", "a3": "a2", "a4": "a3"}
    assert df.loc["a1", "pod"] == "web-7f9d6c5b4-aaaaa" and df.loc["a1", "service"] == "web"
    assert df.loc["a3", "pod"] == "api-1" and df.loc["a3", "node"] == "n7"
    assert df.loc["a1", "status_code"] == "502" and df.loc["a1", "kind"] == "server"


def test_zipkin_api_list_of_traces(tmp_path):
    traces = [
        [
            {"traceId": "463ac35c9f6413ad", "id": "a2fb4a1d1a96d312", "kind": "SERVER", "name": "get",
             "timestamp": 1000, "duration": 900, "localEndpoint": {"serviceName": "frontend"}},
            {"traceId": "463ac35c9f6413ad", "id": "0f2c8a7e1b3d4e5f", "parentId": "a2fb4a1d1a96d312",
             "kind": "CLIENT", "name": "q", "timestamp": 1100, "duration": 500,
             "localEndpoint": {"serviceName": "frontend"}, "tags": {"error": "timeout"}},
        ]
    ]  # fmt: skip
    path = tmp_path / "zipkin.json"
    path.write_text(json.dumps(traces))
    assert sniff_format(path) == "zipkin"
    df = load_traces(path).set_index("span_id")
    assert bool(df.loc["0f2c8a7e1b3d4e5f", "is_error"]) and not df.loc["a2fb4a1d1a96d312", "is_error"]
    assert df.loc["0f2c8a7e1b3d4e5f", "parent_id"] == "a2fb4a1d1a96d312"


def test_heterogeneous_status_codes():
    s = pd.Series(
        ["0", "OK", "Ok", "200", "", "500", "503", "2", "14", "ERROR", "STATUS_CODE_ERROR", "404", None]
    )
    assert status_is_error(s).tolist() == [
        False, False, False, False, False, True, True, True, True, True, True, False, False,
    ]  # fmt: skip


def test_aiops2022_layout(tmp_path):
    path = tmp_path / "spans.csv"
    path.write_text(
        "timestamp,cmdb_id,span_id,trace_id,duration,type,status_code,operation_name,parent_span\n"
        "1647747340693,frontend-2,s1,t1,13385,http,0,Recv.,\n"
        "1647747340700,cartservice-1,s2,t1,500,rpc,14,GetCart,s1\n"
        "1647747340701,redis-cart-0,s3,t1,20,db,Ok,HGET,s2\n"
    )
    assert sniff_format(path) == "aiops2022-traces"
    df = load_traces(path).set_index("span_id")
    assert df.loc["s1", "start_us"] == 1647747340693000 and df.loc["s1", "duration_us"] == 13385
    assert df.loc["s1", "parent_id"] == "" and df.loc["s2", "parent_id"] == "s1"
    assert df["service"].tolist() == ["frontend", "cartservice", "redis-cart"]
    assert df["is_error"].tolist() == [False, True, False]
    assert df.loc["s3", "status_code"] == "Ok"


def test_aiops2022_groundtruth(tmp_path):
    path = tmp_path / "gt.csv"
    path.write_text(
        "timestamp,level,cmdb_id,failure_type\n1647738546,pod,shippingservice-1,cpu\n1647743133,node,node-1,mem\n"
    )
    faults = read_aiops2022_groundtruth(path)
    assert [(f.ts_s, f.level, f.cmdb_id) for f in faults] == [
        (1647738546, "pod", "shippingservice-1"),
        (1647743133, "node", "node-1"),
    ]


def _nezha_log_line(text):
    return json.dumps({"log": text + "\n", "stream": "stdout", "time": "2023-01-29T08:42:22.383150913Z"})


def test_nezha_logs_levels_and_message(tmp_path):
    rows = pd.DataFrame(
        {
            "Timestamp": ["2023-01-29T08:42:22Z"] * 3,
            "TimeUnixNano": [1674981742383150913, 1674981742483150913, 1674981742583150913],
            "Node": ["10.0.0.1", "10.0.0.1", "10.0.0.2"],
            "PodName": ["ts-order-service-5b67c48447-mv5hb"] * 2 + ["ts-seat-service-5c95b49cff-tdsdz"],
            "Container": ["server"] * 3,
            "TraceID": ["t1", "t1", "t2"],
            "SpanID": ["s1", "s2", "s3"],
            "Log": [
                _nezha_log_line("16:42:22.382 INFO  o.s.OrderServiceImpl#12 all good"),
                _nezha_log_line("16:42:22.482 ERROR o.s.OrderServiceImpl#99 [create][Order Failed]"),
                _nezha_log_line("16:42:22.582 WARN  s.s.SeatServiceImpl#5 slow"),
            ],
        }
    )
    path = tmp_path / "08_42_log.csv.gz"
    with gzip.open(path, "wt") as fh:
        rows.to_csv(fh, index=False)
    assert sniff_format(path) == "nezha-logs"
    df = load_logs(path)
    assert df["level"].tolist() == ["INFO", "ERROR", "WARN"]
    assert df["message"][1] == "16:42:22.482 ERROR o.s.OrderServiceImpl#99 [create][Order Failed]"
    assert df["service"].tolist() == ["ts-order-service"] * 2 + ["ts-seat-service"]
    assert df["ts_us"][0] == 1674981742383150 and df["node"][2] == "10.0.0.2"


def _nezha_metric_dir(tmp_path):
    d = tmp_path / "metric"
    d.mkdir()
    for pod, cpu in (("ts-a-service-5fcd447d84-wxwjd", 1.5), ("ts-b-service-866bd68c97-xcqfx", 2.5)):
        pd.DataFrame(
            {
                "Time": ["2023-01-29 08:41:09 +0000 UTC", "2023-01-29 08:42:09 +0000 UTC"],
                "TimeStamp": [1674981669, 1674981729],
                "PodName": [pod, pod],
                "CpuUsageRate(%)": [cpu, cpu * 2],
                "PodServerLatencyP90(s)": [0.02, float("nan")],
                "NodeCpuUsageRate(%)": [30.0, 31.0],
            }
        ).to_csv(d / f"{pod}_metric.csv", index=False)
    pd.DataFrame(
        {"Time": ["x"], "TimeStamp": [1674981669], "ServiceName": ["Frontend"], "LatencyP90(s)": [0.4]}
    ).to_csv(d / "front_service.csv", index=False)
    return d


def test_nezha_metric_folder_long_rows_and_nan(tmp_path):
    d = _nezha_metric_dir(tmp_path)
    assert sniff_format(d) == "nezha-metrics"
    df = load_metrics(d)
    # 2 pods x 2 times x 3 columns + 1 service row
    assert len(df) == 13
    assert set(df["entity_kind"]) == {"pod", "service"}
    assert df["value"].isna().sum() == 2
    a = df[(df["entity"] == "ts-a-service-5fcd447d84-wxwjd") & (df["metric"] == "CpuUsageRate(%)")]
    assert a.sort_values("ts_s")["value"].tolist() == [1.5, 3.0]
    assert "node_CpuUsageRate(%)" in set(df["metric"])  # no pod -> node map: node KPIs stay on the pod
    assert df.loc[df["entity_kind"] == "service", "entity"].tolist() == ["Frontend"]


def test_nezha_metric_folder_skips_tables_that_are_not_kpis_with_a_note(tmp_path, caplog):
    d = _nezha_metric_dir(tmp_path)
    expected = load_metrics(d)
    # a call-dependency list and a per-edge latency table keyed by a lower-case timestamp
    pd.DataFrame({"source": ["frontend"], "destination": ["cartservice"]}).to_csv(
        d / "dependency.csv", index=False
    )
    with gzip.open(d / "source_50.csv.gz", "wt") as fh:
        pd.DataFrame({"timestamp": [1674981669], "frontend": [0.1]}).to_csv(fh, index=False)
    with caplog.at_level("WARNING", logger="faultwise"):
        df = load_metrics(d)
    pd.testing.assert_frame_equal(df.reset_index(drop=True), expected.reset_index(drop=True))
    note = " ".join(r.getMessage() for r in caplog.records)
    assert "skipped 2 file(s)" in note and "dependency.csv" in note and "source_50.csv.gz" in note


def test_nezha_metric_folder_of_no_kpi_table_is_refused(tmp_path):
    d = tmp_path / "metric"
    d.mkdir()
    pd.DataFrame({"source": ["frontend"], "destination": ["cartservice"]}).to_csv(
        d / "dependency.csv", index=False
    )
    with pytest.raises(InputError, match="no KPI table"):
        load_nezha_metrics(d)


def test_nezha_node_columns_go_to_their_node_with_a_map(tmp_path):
    d = _nezha_metric_dir(tmp_path)
    df = load_nezha_metrics(
        d, {"ts-a-service-5fcd447d84-wxwjd": "10.0.0.1", "ts-b-service-866bd68c97-xcqfx": "10.0.0.1"}
    )
    node = df[df["entity_kind"] == "node"]
    # both pods are on one node: its series is kept once per timestamp
    assert len(node) == 2 and set(node["entity"]) == {"10.0.0.1"}
    assert set(node["metric"]) == {"CpuUsageRate(%)"}
    assert not df["metric"].str.startswith("node_").any()


def test_load_telemetry_joins_nodes_and_records_sources(tmp_path):
    d = _nezha_metric_dir(tmp_path)
    spans = tmp_path / "trace.csv"
    spans.write_text(
        "TraceID,SpanID,ParentID,PodName,OperationName,StartTimeUnixNano,EndTimeUnixNano,Duration\n"
        "t1,s1,root,ts-a-service-5fcd447d84-wxwjd,/x,1674981700000000000,1674981700100000000,100000\n"
        "t1,s2,s1,ts-b-service-866bd68c97-xcqfx,/y,1674981700010000000,1674981700050000000,40000\n"
    )
    logs = tmp_path / "logs.csv"
    logs.write_text(
        "ts_us,pod,node,level,message\n"
        "1674981700020000,ts-b-service-866bd68c97-xcqfx,10.0.0.9,error,db down\n"
    )
    tel = load_telemetry(spans, logs=logs, metrics=d)
    assert tel.modalities == ["traces", "logs", "metrics"]
    assert set(tel.sources) == {"traces", "logs", "metrics"} and tel.sources["metrics"] == str(d)
    assert tel.spans.set_index("span_id")["node"].to_dict() == {"s1": "", "s2": "10.0.0.9"}
    assert tel.logs["level"].tolist() == ["ERROR"] and tel.logs["service"].tolist() == ["ts-b-service"]
    node_rows = tel.metrics[tel.metrics["entity_kind"] == "node"]
    assert set(node_rows["entity"]) == {"10.0.0.9"}
    only = load_telemetry(spans)
    assert only.modalities == ["traces"] and only.logs is None and only.metrics is None


def test_canonical_logs_with_iso_timestamps(tmp_path):
    path = tmp_path / "logs.csv"
    path.write_text("timestamp,service,level,message\n2023-01-29T08:42:22.5Z,cart,warning,slow\n")
    df = load_logs(path)
    assert df["ts_us"][0] == 1674981742500000 and df["level"][0] == "WARN" and df["pod"][0] == "cart"


def test_otlp_logs_and_metrics_by_hand(tmp_path):
    logs = {
        "resourceLogs": [
            {
                "resource": {"attributes": [_kv("service.name", "cart"), _kv("k8s.pod.name", "cart-0")]},
                "scopeLogs": [
                    {
                        "logRecords": [
                            {"timeUnixNano": "1700000000000000000", "severityNumber": 17, "body": {"stringValue": "x"}},
                            {"observedTimeUnixNano": "1700000000500000000", "severityText": "Warning", "body": {"stringValue": "y"}},
                        ]
                    }
                ],
            }
        ]
    }  # fmt: skip
    lp = tmp_path / "logs.jsonl"
    lp.write_text(json.dumps(logs) + "\n" + json.dumps(logs) + "\n")
    df = load_logs(lp)
    assert df["level"].tolist() == ["ERROR", "WARN"] * 2 and df["ts_us"][1] == 1700000000500000
    metrics = {
        "resourceMetrics": [
            {
                "resource": {"attributes": [_kv("k8s.node.name", "n1")]},
                "scopeMetrics": [
                    {
                        "metrics": [
                            {"name": "cpu", "gauge": {"dataPoints": [{"timeUnixNano": "1700000000000000000", "asDouble": 0.5}]}},
                            {"name": "rx", "sum": {"dataPoints": [{"timeUnixNano": "1700000000000000000", "asInt": "42",
                                                                    "attributes": [_kv("device", "eth0")]}]}},
                        ]
                    }
                ],
            }
        ]
    }  # fmt: skip
    mp = tmp_path / "metrics.json"
    mp.write_text(json.dumps(metrics))
    m = load_metrics(mp)
    assert m["metric"].tolist() == ["cpu", "rx{device=eth0}"] and m["value"].tolist() == [0.5, 42.0]
    assert set(m["entity_kind"]) == {"node"} and math.isclose(m["ts_s"][0], 1.7e9)


@pytest.mark.parametrize("fmt", ["otlp", "otlp-traces"])
def test_explicit_format_names(tmp_path, fmt):
    path = tmp_path / "t.json"
    path.write_text(
        json.dumps(
            {
                "resourceSpans": [
                    {
                        "resource": {"attributes": [_kv("service.name", "a")]},
                        "scopeSpans": [
                            {"spans": [{"traceId": TRACE, "spanId": "0102030405060708", "name": "x",
                                        "startTimeUnixNano": "1", "endTimeUnixNano": "2001"}]}
                        ],
                    }
                ]
            }
        )
    )  # fmt: skip
    df = load_traces(path, fmt=fmt)
    assert len(df) == 1 and df["pod"][0] == "a" and df["duration_us"][0] == 2


def test_zipkin_shared_halves_in_any_order_and_lone_halves(tmp_path):
    ep = {"localEndpoint": {"serviceName": "api"}}
    spans = [
        {"traceId": "a" * 16, "id": "c" * 16, "parentId": "b" * 16, "kind": "SERVER", "shared": True,
         "name": "h", "timestamp": 12, "duration": 5, **ep},
        {"traceId": "a" * 16, "id": "d" * 16, "parentId": "c" * 16, "kind": "CLIENT", "name": "db",
         "timestamp": 13, "duration": 2, **ep},
        {"traceId": "a" * 16, "id": "c" * 16, "parentId": "b" * 16, "kind": "CLIENT", "name": "h",
         "timestamp": 10, "duration": 9, "localEndpoint": {"serviceName": "web"}},
        {"traceId": "a" * 16, "id": "b" * 16, "kind": "SERVER", "name": "root", "timestamp": 1, "duration": 20,
         "localEndpoint": {"serviceName": "web"}},
        # a shared server half whose client was not recorded keeps its id
        {"traceId": "e" * 16, "id": "f" * 16, "kind": "SERVER", "shared": True, "name": "x",
         "timestamp": 1, "duration": 1, **ep},
    ]  # fmt: skip
    path = tmp_path / "z.json"
    path.write_text(json.dumps(spans))
    df = load_traces(path).set_index("span_id")
    assert df["parent_id"].to_dict() == {
        "c" * 16 + "-s": "c" * 16,
        "d" * 16: "c" * 16 + "-s",
        "c" * 16: "b" * 16,
        "b" * 16: "",
        "f" * 16: "",
    }
    assert df.loc["c" * 16 + "-s", "service"] == "api" and df.loc["c" * 16, "service"] == "web"
