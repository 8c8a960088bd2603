"""Write canonical tables as the files real users have: OTLP JSON lines, Jaeger UI JSON, Zipkin v2 JSON.

The synthetic incident generator and the demo use these so that what we diagnose went through the same
loaders as a user's files. Every writer is atomic (nothing half-written looks complete).
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from faultwise.io import atomic_open
from faultwise.rcl.telemetry.schema import LOG_COLUMNS, METRIC_COLUMNS, SPAN_COLUMNS, Telemetry

_KIND_TO_OTLP = {"": 0, "internal": 1, "server": 2, "client": 3, "producer": 4, "consumer": 5}
_LEVEL_TO_SEVERITY = {"DEBUG": 5, "INFO": 9, "WARN": 13, "ERROR": 17}


def _rows(df: pd.DataFrame, columns: dict[str, str]) -> Iterator[dict]:
    """Rows as plain Python values (ints, bools, strs)."""
    cols = list(columns)
    arrays = [df[c].to_numpy(dtype=object) for c in cols]
    for values in zip(*arrays, strict=True):
        row = {}
        for c, v in zip(cols, values, strict=True):
            if isinstance(v, np.generic):
                v = v.item()
            row[c] = "" if v is None or v is pd.NA else v
        yield row


def _attr(key: str, value: object) -> dict:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    if isinstance(value, float):
        return {"key": key, "value": {"doubleValue": value}}
    return {"key": key, "value": {"stringValue": str(value)}}


def _otlp_id(hex_id: str, ids: str) -> str:
    if ids == "base64" and hex_id:
        try:
            return base64.b64encode(bytes.fromhex(hex_id)).decode("ascii")
        except ValueError:
            return hex_id
    return hex_id


def _resource(service: str, pod: str, node: str) -> dict:
    attrs = [_attr("service.name", service)]
    if pod:
        attrs.append(_attr("k8s.pod.name", pod))
    if node:
        attrs.append(_attr("k8s.node.name", node))
    return {"attributes": attrs}


def _numeric_status(status: str) -> int | None:
    try:
        return int(status)
    except (TypeError, ValueError):
        return None


def _open(path: str | Path):
    """Atomic text writer; ``.gz`` paths are gzip-compressed."""
    path = Path(path)
    if path.suffix == ".gz":
        return _GzipAtomic(path)
    return atomic_open(path, "w")


class _GzipAtomic:
    def __init__(self, path: Path):
        self._ctx = atomic_open(path, "wb", encoding=None)

    def __enter__(self):
        raw = self._ctx.__enter__()
        self._gz = gzip.open(raw, "wt", encoding="utf-8")
        return self._gz

    def __exit__(self, *exc):
        self._gz.close()
        return self._ctx.__exit__(*exc)


def write_otlp_traces(
    spans: pd.DataFrame,
    path: str | Path,
    *,
    spans_per_line: int = 1000,
    ids: str = "hex",
    legacy_scope: bool = False,
    kind_as: str = "int",
    pretty: bool = False,
) -> None:
    """OTLP JSON as the collector's file exporter writes it: one ``{"resourceSpans": [...]}`` per line.

    ``ids="base64"`` and ``legacy_scope=True`` (``instrumentationLibrarySpans``) reproduce older exporters;
    ``kind_as="string"`` writes ``SPAN_KIND_SERVER``; ``pretty=True`` writes one indented document.
    """
    rows = list(_rows(spans, SPAN_COLUMNS))
    scope_key, scope_name_key = (
        ("instrumentationLibrarySpans", "instrumentationLibrary") if legacy_scope else ("scopeSpans", "scope")
    )
    docs = []
    for start in range(0, max(len(rows), 1), spans_per_line):
        by_resource: dict[tuple[str, str, str], list[dict]] = {}
        for r in rows[start : start + spans_per_line]:
            kind = r["kind"] if r["kind"] in _KIND_TO_OTLP else ""
            attrs = []
            code = _numeric_status(r["status_code"])
            if code is not None:
                attrs.append(_attr("http.status_code" if code >= 100 else "rpc.grpc.status_code", code))
            sp = {
                "traceId": _otlp_id(r["trace_id"], ids),
                "spanId": _otlp_id(r["span_id"], ids),
                "parentSpanId": _otlp_id(r["parent_id"], ids),
                "name": r["operation"],
                "kind": f"SPAN_KIND_{(kind or 'unspecified').upper()}"
                if kind_as == "string"
                else _KIND_TO_OTLP[kind],
                "startTimeUnixNano": str(int(r["start_us"]) * 1000),
                "endTimeUnixNano": str((int(r["start_us"]) + int(r["duration_us"])) * 1000),
                "attributes": attrs,
                "status": {"code": 2} if r["is_error"] else {},
            }
            by_resource.setdefault((r["service"], r["pod"], r["node"]), []).append(sp)
        docs.append(
            {
                "resourceSpans": [
                    {
                        "resource": _resource(*res),
                        scope_key: [{scope_name_key: {"name": "faultwise"}, "spans": group}],
                    }
                    for res, group in by_resource.items()
                ]
            }
        )
    with _open(path) as fh:
        if pretty:
            merged = {"resourceSpans": [rs for d in docs for rs in d["resourceSpans"]]}
            fh.write(json.dumps(merged, indent=2) + "\n")
        else:
            for d in docs:
                fh.write(json.dumps(d, separators=(",", ":")) + "\n")


def _jaeger_tags(r: dict) -> list[dict]:
    tags = []
    if r["kind"]:
        tags.append({"key": "span.kind", "type": "string", "value": r["kind"]})
    code = _numeric_status(r["status_code"])
    if code is not None:
        tags.append({"key": "http.status_code", "type": "int64", "value": code})
    if r["is_error"]:
        tags.append({"key": "error", "type": "bool", "value": True})
    return tags


def write_jaeger(spans: pd.DataFrame, path: str | Path) -> None:
    """Jaeger UI "Download JSON": ``{"data": [{traceID, spans, processes}]}``, times in microseconds."""
    traces: dict[str, list[dict]] = {}
    for r in _rows(spans, SPAN_COLUMNS):
        traces.setdefault(r["trace_id"], []).append(r)
    data = []
    for trace_id, rows in traces.items():
        processes: dict[tuple[str, str, str], str] = {}
        out_spans = []
        for r in rows:
            key = (r["service"], r["pod"], r["node"])
            pid = processes.setdefault(key, f"p{len(processes) + 1}")
            out_spans.append(
                {
                    "traceID": trace_id,
                    "spanID": r["span_id"],
                    "operationName": r["operation"],
                    "references": (
                        [{"refType": "CHILD_OF", "traceID": trace_id, "spanID": r["parent_id"]}]
                        if r["parent_id"]
                        else []
                    ),
                    "startTime": int(r["start_us"]),
                    "duration": int(r["duration_us"]),
                    "tags": _jaeger_tags(r),
                    "logs": [],
                    "processID": pid,
                    "warnings": None,
                }
            )
        procs = {}
        for (service, pod, node), pid in processes.items():
            tags = [{"key": "hostname", "type": "string", "value": pod}] if pod else []
            if node:
                tags.append({"key": "k8s.node.name", "type": "string", "value": node})
            procs[pid] = {"serviceName": service, "tags": tags}
        data.append({"traceID": trace_id, "spans": out_spans, "processes": procs, "warnings": None})
    with _open(path) as fh:
        fh.write(json.dumps({"data": data, "total": 0, "limit": 0, "offset": 0, "errors": None}))


def write_zipkin(spans: pd.DataFrame, path: str | Path, *, shared: bool = False) -> None:
    """Zipkin v2 JSON, a list of spans, times in microseconds.

    With ``shared=True`` a server span whose parent is a client span reuses the client's id and says
    ``shared: true`` (as Zipkin's B3 propagation does); its children then name that shared id as parent.
    """
    rows = list(_rows(spans, SPAN_COLUMNS))
    by_id = {(r["trace_id"], r["span_id"]): r for r in rows}
    rename: dict[tuple[str, str], str] = {}
    if shared:
        for r in rows:
            parent = by_id.get((r["trace_id"], r["parent_id"]))
            if r["kind"] == "server" and parent is not None and parent["kind"] == "client":
                rename[(r["trace_id"], r["span_id"])] = parent["span_id"]
    out = []
    for r in rows:
        key = (r["trace_id"], r["span_id"])
        sp: dict = {"traceId": r["trace_id"], "id": rename.get(key, r["span_id"])}
        if key in rename:
            sp["shared"] = True
            parent = by_id[(r["trace_id"], r["parent_id"])]
            if parent["parent_id"]:
                sp["parentId"] = parent["parent_id"]
        elif r["parent_id"]:
            sp["parentId"] = rename.get((r["trace_id"], r["parent_id"]), r["parent_id"])
        if r["kind"] in ("client", "server", "producer", "consumer"):
            sp["kind"] = r["kind"].upper()
        sp.update(
            {
                "name": r["operation"],
                "timestamp": int(r["start_us"]),
                "duration": int(r["duration_us"]),
                "localEndpoint": {"serviceName": r["service"]},
            }
        )
        tags = {}
        if r["pod"] and r["pod"] != r["service"]:
            tags["k8s.pod.name"] = r["pod"]
        if r["node"]:
            tags["k8s.node.name"] = r["node"]
        if _numeric_status(r["status_code"]) is not None:
            tags["http.status_code"] = str(r["status_code"])
        if r["is_error"]:
            tags["error"] = r["status_code"] or "true"
        if tags:
            sp["tags"] = tags
        out.append(sp)
    with _open(path) as fh:
        fh.write(json.dumps(out))


def write_otlp_logs(logs: pd.DataFrame, path: str | Path, *, records_per_line: int = 1000) -> None:
    rows = list(_rows(logs, LOG_COLUMNS))
    with _open(path) as fh:
        for start in range(0, len(rows), records_per_line):
            by_resource: dict[tuple[str, str, str], list[dict]] = {}
            for r in rows[start : start + records_per_line]:
                rec = {
                    "timeUnixNano": str(int(r["ts_us"]) * 1000),
                    "severityText": r["level"],
                    "severityNumber": _LEVEL_TO_SEVERITY.get(r["level"], 0),
                    "body": {"stringValue": r["message"]},
                    "traceId": r["trace_id"],
                    "spanId": r["span_id"],
                }
                by_resource.setdefault((r["service"], r["pod"], r["node"]), []).append(rec)
            doc = {
                "resourceLogs": [
                    {
                        "resource": _resource(*res),
                        "scopeLogs": [{"scope": {"name": "faultwise"}, "logRecords": recs}],
                    }
                    for res, recs in by_resource.items()
                ]
            }
            fh.write(json.dumps(doc, separators=(",", ":")) + "\n")


def write_otlp(
    telemetry: Telemetry,
    traces: str | Path,
    logs: str | Path | None = None,
    metrics: str | Path | None = None,
) -> None:
    """A telemetry's spans, and its logs and metrics where it has them and a path is given, as the OTLP JSON
    files a collector's file exporter writes."""
    write_otlp_traces(telemetry.spans, traces)
    if logs is not None and telemetry.logs is not None:
        write_otlp_logs(telemetry.logs, logs)
    if metrics is not None and telemetry.metrics is not None:
        write_otlp_metrics(telemetry.metrics, metrics)


def _metric_resource(entity: str, kind: str) -> dict:
    key = {"pod": "k8s.pod.name", "node": "k8s.node.name"}.get(kind, "service.name")
    return {"attributes": [_attr(key, entity)]}


def write_otlp_metrics(metrics: pd.DataFrame, path: str | Path) -> None:
    """One line per entity: gauges with one data point per sample (NaN samples are left out: OTLP has
    no NaN gauge value in JSON)."""
    with _open(path) as fh:
        for (entity, kind), group in metrics.groupby(["entity", "entity_kind"], sort=False):
            ms = []
            for name, g in group.groupby("metric", sort=False):
                points = [
                    {"timeUnixNano": str(int(round(t * 1e9))), "asDouble": float(v)}
                    for t, v in zip(g["ts_s"].to_numpy(), g["value"].to_numpy(), strict=True)
                    if np.isfinite(v)
                ]
                if points:
                    ms.append({"name": str(name), "gauge": {"dataPoints": points}})
            if not ms:
                continue
            doc = {
                "resourceMetrics": [
                    {
                        "resource": _metric_resource(str(entity), str(kind)),
                        "scopeMetrics": [{"scope": {"name": "faultwise"}, "metrics": ms}],
                    }
                ]
            }
            fh.write(json.dumps(doc, separators=(",", ":")) + "\n")


def _write_csv(df: pd.DataFrame, columns: dict[str, str], path: str | Path) -> None:
    with _open(path) as fh:
        df[list(columns)].to_csv(fh, index=False)


def write_spans_csv(spans: pd.DataFrame, path: str | Path) -> None:
    _write_csv(spans, SPAN_COLUMNS, path)


def write_logs_csv(logs: pd.DataFrame, path: str | Path) -> None:
    _write_csv(logs, LOG_COLUMNS, path)


def write_metrics_csv(metrics: pd.DataFrame, path: str | Path) -> None:
    _write_csv(metrics, METRIC_COLUMNS, path)
