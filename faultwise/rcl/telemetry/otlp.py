"""OpenTelemetry OTLP JSON, as the collector's file exporter writes it (one export request per line).

Accepts ``scopeSpans`` and the older ``instrumentationLibrarySpans`` (likewise for logs and metrics), hex or
base64 ids, span kinds as numbers or names, nanosecond times as strings or numbers.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from faultwise.errors import InputError
from faultwise.rcl.telemetry._common import (
    any_value,
    attrs_to_dict,
    iter_json_documents,
    norm_id,
    norm_kind,
    to_int,
)
from faultwise.rcl.telemetry.levels import level_of_severity_number, norm_level
from faultwise.rcl.telemetry.schema import (
    LOG_COLUMNS,
    METRIC_COLUMNS,
    conform,
    service_of_pod,
    spans_from_records,
)

_HTTP_STATUS_KEYS = ("http.status_code", "http.response.status_code", "rpc.grpc.status_code")


def resource_identity(resource: object) -> tuple[str, str, str]:
    """(service, pod, node) from OTLP resource attributes.

    The pod is ``k8s.pod.name``, else ``host.name`` (a container's host name), else ``service.instance.id``,
    else the service; the node is ``k8s.node.name``, or ``host.name`` when that differs from a known pod.
    """
    attrs = attrs_to_dict((resource or {}).get("attributes") if isinstance(resource, dict) else None)
    service = str(attrs.get("service.name") or "")
    k8s_pod = str(attrs.get("k8s.pod.name") or "")
    host = str(attrs.get("host.name") or "")
    instance = str(attrs.get("service.instance.id") or "")
    pod = k8s_pod or host or instance or service
    node = str(attrs.get("k8s.node.name") or "")
    if not node and k8s_pod and host and host != k8s_pod:
        node = host
    if not service and pod:
        service = service_of_pod(pod)
    return service, pod, node


def _scopes(resource_block: dict, new_key: str, old_key: str) -> list[dict]:
    scopes = resource_block.get(new_key)
    if scopes is None:
        scopes = resource_block.get(old_key)
    return scopes if isinstance(scopes, list) else []


def _documents(path: Path, top_key: str) -> list[dict]:
    """The resource blocks under ``top_key`` of every document in the file."""
    blocks: list[dict] = []
    seen_key = False
    for doc in iter_json_documents(path):
        if not isinstance(doc, dict):
            raise InputError(path, f"expected a JSON object with {top_key!r}, got {type(doc).__name__}")
        if top_key not in doc:
            continue
        seen_key = True
        part = doc[top_key]
        if not isinstance(part, list):
            raise InputError(path, f"{top_key!r} is not a list")
        blocks.extend(b for b in part if isinstance(b, dict))
    if not seen_key:
        raise InputError(path, f"no {top_key!r} in any document")
    return blocks


def load_otlp_traces(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    records: list[dict] = []
    for rs in _documents(path, "resourceSpans"):
        service, pod, node = resource_identity(rs.get("resource"))
        for scope in _scopes(rs, "scopeSpans", "instrumentationLibrarySpans"):
            for sp in scope.get("spans") or []:
                if not isinstance(sp, dict):
                    continue
                start_ns = to_int(sp.get("startTimeUnixNano"), path, "startTimeUnixNano")
                end_ns = to_int(sp.get("endTimeUnixNano"), path, "endTimeUnixNano")
                status = sp.get("status") or {}
                code = status.get("code", "") if isinstance(status, dict) else ""
                code_s = str(code).upper()
                is_error = code_s in ("2", "STATUS_CODE_ERROR", "ERROR")
                attrs = attrs_to_dict(sp.get("attributes"))
                raw_status = next((str(attrs[k]) for k in _HTTP_STATUS_KEYS if k in attrs), "")
                if not raw_status:
                    raw_status = {"1": "OK", "STATUS_CODE_OK": "OK", "OK": "OK"}.get(code_s, "")
                    raw_status = "ERROR" if is_error else raw_status
                records.append(
                    {
                        "trace_id": norm_id(sp.get("traceId")),
                        "span_id": norm_id(sp.get("spanId")),
                        "parent_id": norm_id(sp.get("parentSpanId")),
                        "service": service,
                        "pod": pod,
                        "node": node,
                        "operation": str(sp.get("name") or ""),
                        "kind": norm_kind(sp.get("kind")),
                        "start_us": start_ns // 1000,
                        "duration_us": max(end_ns - start_ns, 0) // 1000,
                        "is_error": is_error,
                        "status_code": raw_status,
                    }
                )
    if not records:
        raise InputError(path, "no spans")
    return spans_from_records(records, path)


def load_otlp_logs(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    rows: list[dict] = []
    for rl in _documents(path, "resourceLogs"):
        service, pod, node = resource_identity(rl.get("resource"))
        for scope in _scopes(rl, "scopeLogs", "instrumentationLibraryLogs"):
            for rec in scope.get("logRecords") or []:
                if not isinstance(rec, dict):
                    continue
                t = rec.get("timeUnixNano") or rec.get("observedTimeUnixNano")
                ts_ns = to_int(t, path, "timeUnixNano")
                level = norm_level(rec.get("severityText"))
                if not level and rec.get("severityNumber") is not None:
                    sev = rec.get("severityNumber")
                    level = (
                        level_of_severity_number(to_int(sev, path, "severityNumber"))
                        if str(sev).isdigit()
                        else ""
                    )
                body = any_value(rec.get("body"))
                rows.append(
                    {
                        "ts_us": ts_ns // 1000,
                        "service": service,
                        "pod": pod,
                        "node": node,
                        "level": level,
                        "message": "" if body is None else str(body),
                        "trace_id": norm_id(rec.get("traceId")),
                        "span_id": norm_id(rec.get("spanId")),
                    }
                )
    if not rows:
        raise InputError(path, "no log records")
    return conform(pd.DataFrame.from_records(rows), LOG_COLUMNS, path, "logs")


_ENTITY_ATTRS = {"k8s.pod.name", "k8s.node.name", "service.name", "host.name", "service.instance.id"}


def _entity(attrs: dict, default: tuple[str, str]) -> tuple[str, str]:
    if attrs.get("k8s.pod.name"):
        return str(attrs["k8s.pod.name"]), "pod"
    if attrs.get("k8s.node.name"):
        return str(attrs["k8s.node.name"]), "node"
    if attrs.get("service.name"):
        return str(attrs["service.name"]), "service"
    return default


def _resource_entity(resource: object) -> tuple[str, str]:
    attrs = attrs_to_dict((resource or {}).get("attributes") if isinstance(resource, dict) else None)
    ent = _entity(attrs, ("", ""))
    if ent[0]:
        return ent
    host = str(attrs.get("host.name") or attrs.get("service.instance.id") or "")
    return (host, "pod") if host else ("", "")


def _point_value(dp: dict, path: Path) -> float:
    for key in ("asDouble", "asInt", "value"):
        if key in dp:
            try:
                return float(dp[key])
            except (TypeError, ValueError):
                raise InputError(path, f"metric data point {key} is not a number: {dp[key]!r}") from None
    return float("nan")


def load_otlp_metrics(path: str | Path) -> pd.DataFrame:
    """Gauge and sum points become one row each; histograms give ``<name>_count`` and ``<name>_sum``.

    Data-point attributes that name an entity override the resource's; other attributes are folded into
    the metric name (``name{k=v}``) so distinct series stay distinct.
    """
    path = Path(path)
    rows: list[tuple] = []
    for rm in _documents(path, "resourceMetrics"):
        res_entity = _resource_entity(rm.get("resource"))
        for scope in _scopes(rm, "scopeMetrics", "instrumentationLibraryMetrics"):
            for metric in scope.get("metrics") or []:
                if not isinstance(metric, dict):
                    continue
                name = str(metric.get("name") or "")
                for kind in ("gauge", "sum", "histogram", "summary"):
                    body = metric.get(kind)
                    if not isinstance(body, dict):
                        continue
                    for dp in body.get("dataPoints") or []:
                        attrs = attrs_to_dict(dp.get("attributes"))
                        entity, entity_kind = _entity(attrs, res_entity)
                        extra = sorted((k, v) for k, v in attrs.items() if k not in _ENTITY_ATTRS)
                        series = name + ("{" + ",".join(f"{k}={v}" for k, v in extra) + "}" if extra else "")
                        ts_s = to_int(dp.get("timeUnixNano"), path, "timeUnixNano") / 1e9
                        if kind in ("gauge", "sum"):
                            rows.append((ts_s, entity, entity_kind, series, _point_value(dp, path)))
                        else:
                            for field in ("count", "sum"):
                                if field in dp:
                                    rows.append(
                                        (ts_s, entity, entity_kind, f"{series}_{field}", float(dp[field]))
                                    )
    if not rows:
        raise InputError(path, "no metric data points")
    df = pd.DataFrame.from_records(rows, columns=list(METRIC_COLUMNS))
    return conform(df, METRIC_COLUMNS, path, "metrics")


__all__ = ["load_otlp_logs", "load_otlp_metrics", "load_otlp_traces", "resource_identity"]
