"""OpenTelemetry OTLP JSON, as the collector's file exporter writes it (one export request per line).

Accepts ``scopeSpans`` and the older ``instrumentationLibrarySpans`` (likewise for logs and metrics), hex or
base64 ids, span kinds as numbers or names, nanosecond times as strings or numbers, the binary (protobuf) and
compressed records of the file exporter (see :mod:`decode`), Jaeger's API v3 ``{"result": ...}`` answers, and
one file holding several modalities.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
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
    warn,
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


TOP_KEYS = {"traces": "resourceSpans", "logs": "resourceLogs", "metrics": "resourceMetrics"}
_WRAPPERS = ("result",)  # Jaeger's API v3 answers {"result": <OTLP traces>}


def _unwrap(doc: object, path: Path) -> object:
    """An OTLP document inside an API answer (``{"result": ...}``); an API error is one line."""
    if isinstance(doc, dict) and not any(k in doc for k in TOP_KEYS.values()):
        for key in _WRAPPERS:
            if isinstance(doc.get(key), dict):
                return doc[key]
        err = doc.get("error")
        if isinstance(err, dict) and ("message" in err or "grpcCode" in err or "httpCode" in err):
            raise InputError(path, f"the API answered an error, not traces: {err.get('message') or err}")
    return doc


@dataclass
class OTLPBlocks:
    """The resource blocks of every document of one OTLP file, by modality (a collector's file exporter
    shared by several pipelines writes traces, logs and metrics into one file)."""

    path: Path
    blocks: dict[str, list[dict]] = field(default_factory=lambda: {k: [] for k in TOP_KEYS})
    seen: set[str] = field(default_factory=set)  # modalities whose key appeared, even empty

    @property
    def present(self) -> list[str]:
        """The modalities the file holds (``traces``, ``logs``, ``metrics``)."""
        return [m for m, b in self.blocks.items() if b]

    def missing(self, modality: str) -> InputError:
        if modality in self.seen:
            nothing = {"traces": "no spans", "logs": "no log records", "metrics": "no metric data points"}
            return InputError(self.path, nothing[modality])
        held = self.present
        what = f"holds OTLP {' and '.join(held)} but no {modality}" if held else f"no OTLP {modality}"
        return InputError(self.path, f"{what} (no {TOP_KEYS[modality]!r} in any document)")


def read_otlp(path: str | Path) -> OTLPBlocks:
    """Every resource block of an OTLP file (JSON, JSON lines, or the collector's binary/compressed
    records), unwrapped from API answers."""
    path = Path(path)
    out = OTLPBlocks(path)
    for doc in iter_json_documents(path):
        doc = _unwrap(doc, path)
        if not isinstance(doc, dict):
            raise InputError(
                path, f"expected a JSON object with {TOP_KEYS['traces']!r}, got {type(doc).__name__}"
            )
        for modality, key in TOP_KEYS.items():
            if key not in doc:
                continue
            part = doc[key]
            out.seen.add(modality)
            if not isinstance(part, list):
                raise InputError(path, f"{key!r} is not a list")
            out.blocks[modality].extend(b for b in part if isinstance(b, dict))
    return out


def _time_ns(value: object, path: Path, what: str) -> int:
    """An OTLP time; missing (proto3 leaves zero out) is 0."""
    return 0 if value is None or value == "" else to_int(value, path, what)


def load_otlp_traces(path: str | Path, otlp: OTLPBlocks | None = None) -> pd.DataFrame:
    path = Path(path)
    otlp = otlp or read_otlp(path)
    if not otlp.blocks["traces"]:
        raise otlp.missing("traces")
    records: list[dict] = []
    untimed: list[str] = []
    unended: list[str] = []
    for rs in otlp.blocks["traces"]:
        service, pod, node = resource_identity(rs.get("resource"))
        for scope in _scopes(rs, "scopeSpans", "instrumentationLibrarySpans"):
            for sp in scope.get("spans") or []:
                if not isinstance(sp, dict):
                    continue
                start_ns = _time_ns(sp.get("startTimeUnixNano"), path, "startTimeUnixNano")
                end_ns = _time_ns(sp.get("endTimeUnixNano"), path, "endTimeUnixNano")
                if start_ns <= 0:
                    untimed.append(norm_id(sp.get("spanId")) or "?")
                    continue
                if end_ns <= 0:
                    unended.append(norm_id(sp.get("spanId")) or "?")
                    end_ns = start_ns
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
    if untimed and not records:
        raise InputError(
            path,
            f"none of the {len(untimed)} span(s) has a start time (startTimeUnixNano), e.g. span {untimed[0]}: "
            "spans without times cannot be placed",
        )
    if not records:
        raise InputError(path, "no spans")
    if untimed:
        warn(path, f"skipped {len(untimed)} span(s) without a start time: {_few(untimed)}")
    if unended:
        warn(path, f"{len(unended)} span(s) without an end time taken as lasting 0 us: {_few(unended)}")
    return spans_from_records(records, path)


def _few(ids: list[str], n: int = 3) -> str:
    return ", ".join(ids[:n]) + (f" and {len(ids) - n} more" if len(ids) > n else "")


def log_message(rec: dict) -> str:
    """A log record's text: its body (a structured body as compact JSON), after its event name."""
    body = any_value(rec.get("body"))
    if isinstance(body, dict | list):
        text = json.dumps(body, ensure_ascii=False, separators=(", ", ": "), default=str)
    else:
        text = "" if body is None else str(body)
    event = rec.get("eventName") or attrs_to_dict(rec.get("attributes")).get("event.name")
    if event:
        return f"{event}: {text}" if text else str(event)
    return text


def load_otlp_logs(path: str | Path, otlp: OTLPBlocks | None = None) -> pd.DataFrame:
    path = Path(path)
    otlp = otlp or read_otlp(path)
    if not otlp.blocks["logs"]:
        raise otlp.missing("logs")
    rows: list[dict] = []
    for rl in otlp.blocks["logs"]:
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
                rows.append(
                    {
                        "ts_us": ts_ns // 1000,
                        "service": service,
                        "pod": pod,
                        "node": node,
                        "level": level,
                        "message": log_message(rec),
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


def load_otlp_metrics(path: str | Path, otlp: OTLPBlocks | None = None) -> pd.DataFrame:
    """Gauge and sum points become one row each; histograms (explicit-bucket and exponential) and summaries
    give ``<name>_count`` and ``<name>_sum``.

    Data-point attributes that name an entity override the resource's; other attributes are folded into
    the metric name (``name{k=v}``) so distinct series stay distinct.
    """
    path = Path(path)
    otlp = otlp or read_otlp(path)
    if not otlp.blocks["metrics"]:
        raise otlp.missing("metrics")
    rows: list[tuple] = []
    for rm in otlp.blocks["metrics"]:
        res_entity = _resource_entity(rm.get("resource"))
        for scope in _scopes(rm, "scopeMetrics", "instrumentationLibraryMetrics"):
            for metric in scope.get("metrics") or []:
                if not isinstance(metric, dict):
                    continue
                name = str(metric.get("name") or "")
                for kind in ("gauge", "sum", "histogram", "exponentialHistogram", "summary"):
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


__all__ = [
    "OTLPBlocks",
    "TOP_KEYS",
    "load_otlp_logs",
    "load_otlp_metrics",
    "load_otlp_traces",
    "log_message",
    "read_otlp",
    "resource_identity",
]
