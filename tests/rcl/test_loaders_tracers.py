"""Zipkin and Jaeger as their own tools write them, in small documents written here: optional Zipkin
timestamps, shared span ids with several server halves, Zipkin v1, Jaeger processes on a shared host, bare
span arrays, API v3 answers, folders of files."""

from __future__ import annotations

import json

import pytest

from faultwise.errors import InputError
from faultwise.rcl.telemetry import load_telemetry, load_traces, sniff_format

TRACE = "463ac35c9f6413ad48485a3953bb6124"
EP_A = {"serviceName": "frontend", "ipv4": "10.0.0.1", "port": 8080}
EP_B1 = {"serviceName": "backend", "ipv4": "10.0.0.2", "port": 9000}
EP_B2 = {"serviceName": "backend", "ipv4": "10.0.0.3", "port": 9000}


def _write(tmp_path, name, doc):
    p = tmp_path / name
    p.write_text(json.dumps(doc))
    return p


def _by_id(df):
    return df.set_index("span_id")


# --- defect 2: Zipkin v2 timestamp and duration are optional ---------------------------------------------------


def test_zipkin_pieces_without_timestamp_merge_into_their_span(tmp_path):
    spans = [
        {"traceId": TRACE, "id": "a000000000000001", "kind": "SERVER", "name": "get /", "timestamp": 1_000_000,
         "duration": 5_000, "localEndpoint": EP_A},
        # a late piece of the same span (same id and endpoint): only a tag, no timestamp
        {"traceId": TRACE, "id": "a000000000000001", "localEndpoint": EP_A, "tags": {"error": "timeout"}},
        {"traceId": TRACE, "id": "a000000000000002", "parentId": "a000000000000001", "name": "local work",
         "timestamp": 1_000_100, "duration": 1_000, "localEndpoint": EP_A},
    ]  # fmt: skip
    df = _by_id(load_traces(_write(tmp_path, "z.json", spans)))
    assert len(df) == 2
    root = df.loc["a000000000000001"]
    assert root["start_us"] == 1_000_000 and root["duration_us"] == 5_000
    assert bool(root["is_error"])  # the late piece's error tag reached the span


def test_zipkin_span_without_timestamp_or_duration_is_placed_and_counted(tmp_path):
    spans = [
        {"traceId": TRACE, "id": "b000000000000001", "kind": "SERVER", "name": "get /",
         "localEndpoint": EP_A},  # no timestamp, no duration, no other piece
        {"traceId": TRACE, "id": "b000000000000002", "parentId": "b000000000000001", "kind": "CLIENT",
         "name": "call", "timestamp": 2_000_000, "duration": 3_000, "localEndpoint": EP_A},
        {"traceId": TRACE, "id": "b000000000000003", "parentId": "b000000000000001", "name": "work",
         "timestamp": 2_004_000, "duration": 1_000, "localEndpoint": EP_A},
    ]  # fmt: skip
    path = _write(tmp_path, "z.json", spans)
    tel = load_telemetry(path)
    root = _by_id(tel.spans).loc["b000000000000001"]
    assert root["start_us"] == 2_000_000  # its earliest child's start
    assert root["duration_us"] == 5_000  # until its last child ends
    assert any("without a timestamp" in w for w in tel.warnings)
    assert any("without a duration" in w for w in tel.warnings)


# --- defect 3: a client half and every shared server half ------------------------------------------------------


def test_zipkin_shared_id_keeps_the_client_and_every_server_half(tmp_path):
    sid = "c000000000000001"
    spans = [
        {"traceId": TRACE, "id": "c000000000000000", "kind": "SERVER", "name": "publish", "timestamp": 100,
         "duration": 90_000, "localEndpoint": EP_A},
        {"traceId": TRACE, "id": sid, "parentId": "c000000000000000", "kind": "CLIENT", "name": "send",
         "timestamp": 1_000, "duration": 50_000, "localEndpoint": EP_A},
        {"traceId": TRACE, "id": sid, "parentId": "c000000000000000", "kind": "SERVER", "shared": True,
         "name": "receive", "timestamp": 2_000, "duration": 4_000, "localEndpoint": EP_B1},
        {"traceId": TRACE, "id": sid, "parentId": "c000000000000000", "kind": "SERVER", "shared": True,
         "name": "receive", "timestamp": 9_000, "duration": 4_000, "localEndpoint": EP_B1},
        {"traceId": TRACE, "id": sid, "parentId": "c000000000000000", "kind": "SERVER", "shared": True,
         "name": "receive", "timestamp": 3_000, "localEndpoint": EP_B2},  # no duration: ends with its child
        {"traceId": TRACE, "id": "c000000000000011", "parentId": sid, "name": "handle", "timestamp": 9_500,
         "duration": 1_000, "localEndpoint": EP_B1},
        {"traceId": TRACE, "id": "c000000000000012", "parentId": sid, "name": "handle", "timestamp": 3_500,
         "duration": 2_000, "localEndpoint": EP_B2},
    ]  # fmt: skip
    df = _by_id(load_traces(_write(tmp_path, "z.json", spans)))
    assert len(df) == 7  # nothing dropped
    client = df.loc[sid]
    assert client["kind"] == "client" and client["service"] == "frontend"
    halves = df[df.index.str.startswith(sid + "-s")]
    assert len(halves) == 3
    assert set(halves["parent_id"]) == {sid} and set(halves["service"]) == {"backend"}
    by_start = halves.reset_index().set_index("start_us")
    # each child hangs under the half on its own endpoint that started last before it
    assert df.loc["c000000000000011", "parent_id"] == by_start.loc[9_000, "span_id"]
    assert df.loc["c000000000000012", "parent_id"] == by_start.loc[3_000, "span_id"]
    assert by_start.loc[3_000, "duration_us"] == 2_500


# --- defect 4: Zipkin v1 -----------------------------------------------------------------------------------------


def test_zipkin_v1_is_converted_not_read_as_v2(tmp_path):
    a = {"serviceName": "web", "ipv4": "10.0.0.1", "port": 80}
    b = {"serviceName": "api", "ipv4": "10.0.0.2", "port": 8080}
    spans = [
        {"traceId": "d00000000000000d", "id": "d000000000000001", "name": "get", "timestamp": 1_000,
         "duration": 9_000, "annotations": [{"endpoint": a, "timestamp": 1_000, "value": "sr"},
                                             {"endpoint": a, "timestamp": 10_000, "value": "ss"}],
         "binaryAnnotations": []},
        {"traceId": "d00000000000000d", "id": "d000000000000002", "parentId": "d000000000000001",
         "name": "get-user", "timestamp": 2_000, "duration": 6_000,
         "annotations": [{"endpoint": a, "timestamp": 2_000, "value": "cs"},
                         {"endpoint": b, "timestamp": 2_500, "value": "sr"},
                         {"endpoint": b, "timestamp": 7_500, "value": "ss"},
                         {"endpoint": a, "timestamp": 8_000, "value": "cr"}],
         "binaryAnnotations": [{"key": "http.status_code", "value": "503", "endpoint": b}]},
        {"traceId": "d00000000000000d", "id": "d000000000000003", "parentId": "d000000000000002",
         "name": "cache", "timestamp": 3_000, "duration": 1_000, "annotations": [],
         "binaryAnnotations": [{"key": "lc", "value": "redis", "endpoint": b}]},
    ]  # fmt: skip
    path = _write(tmp_path, "v1.json", spans)
    assert sniff_format(path) == "zipkin"
    tel = load_telemetry(path)
    df = _by_id(tel.spans)
    assert set(df["service"]) == {"web", "api"}  # v1 read as v2 gave empty service names
    assert df.loc["d000000000000001", "kind"] == "server"
    client = df.loc["d000000000000002"]
    assert client["kind"] == "client" and client["service"] == "web" and client["duration_us"] == 6_000
    server = df.loc["d000000000000002-s"]
    assert (
        server["kind"] == "server"
        and server["service"] == "api"
        and server["parent_id"] == "d000000000000002"
    )
    assert server["start_us"] == 2_500 and server["duration_us"] == 5_000 and bool(server["is_error"])
    local = df.loc["d000000000000003"]
    assert local["kind"] == "internal" and local["service"] == "api"
    assert local["parent_id"] == "d000000000000002-s"  # called from the server half
    assert any("Zipkin v1" in w for w in tel.warnings)


# --- defect 9: a host name is no pod ------------------------------------------------------------------------------


def _jaeger_trace(processes):
    spans = [
        {"traceID": "e0000000000000e1", "spanID": f"e00000000000000{i}", "operationName": f"op{i}",
         "references": [] if i == 1 else [{"refType": "CHILD_OF", "traceID": "e0000000000000e1",
                                            "spanID": f"e00000000000000{i - 1}"}],
         "startTime": 1_000 * i, "duration": 10_000 - 1_000 * i, "tags": [], "processID": f"p{i}"}
        for i in range(1, len(processes) + 1)
    ]  # fmt: skip
    return {"data": [{"traceID": "e0000000000000e1", "spans": spans, "processes": processes}]}


def _proc(service, **tags):
    return {"serviceName": service, "tags": [{"key": k.replace("_", "."), "type": "string", "value": v}
                                             for k, v in tags.items()]}  # fmt: skip


def test_jaeger_services_on_one_host_stay_apart(tmp_path):
    doc = _jaeger_trace(
        {"p1": _proc("service1", hostname="foobar.org"), "p2": _proc("service2", hostname="foobar.org")}
    )
    df = _by_id(load_traces(_write(tmp_path, "j.json", doc)))
    assert df["pod"].nunique() == 2  # the host is not one pod of two services
    assert set(df["pod"]) == {"service1", "service2"}
    assert set(df["node"]) == {"foobar.org"}


def test_jaeger_pod_and_instance_tags_win_over_the_host_name(tmp_path):
    doc = _jaeger_trace(
        {
            "p1": _proc("cart", hostname="node-7", k8s_pod_name="cart-6b8f9c7d5-q2w3e"),
            "p2": _proc("cart", hostname="node-8", service_instance_id="cart-instance-2"),
            "p3": _proc("db", hostname="node-7"),
        }
    )
    df = load_traces(_write(tmp_path, "j.json", doc)).set_index("operation")
    assert df.loc["op1", "pod"] == "cart-6b8f9c7d5-q2w3e" and df.loc["op1", "node"] == "node-7"
    assert df.loc["op2", "pod"] == "cart-instance-2" and df.loc["op2", "node"] == "node-8"
    assert df.loc["op3", "pod"] == "node-7"  # a host of one service may stand for its instance
    assert df.groupby("pod")["service"].nunique().max() == 1


# --- defect 10: what the Jaeger tools write, and folders --------------------------------------------------------


def test_bare_array_of_jaeger_spans(tmp_path):
    spans = [
        {"traceID": "f00000000000000f", "spanID": "f000000000000001", "operationName": "root", "references": [],
         "startTime": 1_605_000_000_000_000, "duration": 2_000, "tags": [{"key": "span.kind", "value": "server"}],
         "process": {"serviceName": "gateway", "tags": []}},
        {"traceID": "f00000000000000f", "spanID": "f000000000000002", "operationName": "child",
         "references": [{"refType": "CHILD_OF", "traceID": "f00000000000000f", "spanID": "f000000000000001"}],
         "startTime": 1_605_000_000_000_500, "duration": 1_000,
         "tags": [{"key": "error", "type": "bool", "value": "true"}], "process": {"serviceName": "users", "tags": []}},
    ]  # fmt: skip
    path = _write(tmp_path, "spans.json", spans)
    df = _by_id(load_traces(path))
    assert list(df.index) == ["f000000000000001", "f000000000000002"]
    assert df.loc["f000000000000002", "service"] == "users" and bool(df.loc["f000000000000002", "is_error"])
    assert df.loc["f000000000000002", "parent_id"] == "f000000000000001"


def test_jaeger_ui_trace_under_data(tmp_path):
    trace = _jaeger_trace({"p1": _proc("a"), "p2": _proc("b")})["data"][0]
    df = load_traces(_write(tmp_path, "ui.json", {"data": trace, "id": "x", "state": "FETCHED_TRACE"}))
    assert len(df) == 2


def test_jaeger_api_v3_result_wrapper(tmp_path):
    doc = {"result": {"resourceSpans": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "checkout"}}]}, "scopeSpans": [{"spans": [
        {"traceId": TRACE, "spanId": "0000000000000002", "name": "foobar", "kind": 2, "status": {"code": 2},
         "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000000500000000"}]}]}]}}  # fmt: skip
    path = tmp_path / "GetTrace.json"
    path.write_text(json.dumps(doc) + "\n" + json.dumps(doc).replace("0000000000000002", "0000000000000003"))
    df = _by_id(load_traces(path))  # two chunks of a streamed answer
    assert sorted(df.index) == ["0000000000000002", "0000000000000003"]
    assert df.loc["0000000000000002", "service"] == "checkout" and bool(
        df.loc["0000000000000002", "is_error"]
    )
    assert df.loc["0000000000000002", "duration_us"] == 500_000


def test_spans_without_times_are_named(tmp_path):
    doc = {"result": {"resourceSpans": [{"resource": {}, "scopeSpans": [{"spans": [
        {"traceId": TRACE, "spanId": "0000000000000002", "name": "foobar", "kind": 2}]}]}]}}  # fmt: skip
    path = _write(tmp_path, "GetTrace.json", doc)
    with pytest.raises(InputError, match="none of the 1 span.* has a start time"):
        load_traces(path)


def test_api_error_answer_is_one_line(tmp_path):
    path = _write(
        tmp_path, "answer.json", {"error": {"grpcCode": 5, "httpCode": 404, "message": "trace not found"}}
    )
    with pytest.raises(InputError, match="trace not found"):
        load_traces(path)


def test_a_folder_of_zipkin_files_is_read(tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    for i in range(3):
        tid = f"{i + 1:016x}"
        _write(folder, f"trace-{i}.json", [{"traceId": tid, "id": tid, "kind": "SERVER", "name": "get",
                                             "timestamp": 1_000 * (i + 1), "duration": 500,
                                             "localEndpoint": {"serviceName": f"svc{i}"}}])  # fmt: skip
    assert sniff_format(folder) == "zipkin"
    df = load_traces(folder)
    assert sorted(df["service"]) == ["svc0", "svc1", "svc2"]
    tel = load_telemetry(folder)
    assert tel.sources["traces"] == str(folder)


def test_jaeger_internal_model_is_named(tmp_path):
    doc = {"spans": [{"traceId": "AAAAAAAAAAAAAAAAAAAAAQ==", "spanId": "AAAAAAAAAAI=", "operationName": "x",
                      "startTime": "2017-01-26T16:46:31.639875139-05:00", "duration": "5000ns"}]}  # fmt: skip
    with pytest.raises(InputError, match="internal span model"):
        load_traces(_write(tmp_path, "domain.json", doc))
