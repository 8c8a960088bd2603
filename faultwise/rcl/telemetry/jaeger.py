"""Jaeger UI JSON export (``{"data": [trace, ...]}``; also a bare trace, a list of traces or of spans).

Parents come from ``CHILD_OF`` references (``FOLLOWS_FROM`` only when there is no ``CHILD_OF``, and the old
``parentSpanID`` field last); service and instance from the trace's ``processes``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from faultwise.errors import InputError
from faultwise.rcl.telemetry._common import iter_json_documents, norm_id, norm_kind, to_int, truthy
from faultwise.rcl.telemetry.schema import service_of_pod, spans_from_records

_STATUS_TAGS = ("http.status_code", "http.response.status_code", "rpc.grpc.status_code")


_SPAN_TAGS = frozenset(("span.kind", "error", "otel.status_code", *_STATUS_TAGS))


def _tags(tags: object, wanted: frozenset[str] | None = None) -> dict[str, object]:
    """Jaeger ``[{key, type, value}]`` tags as a dict (only the ``wanted`` keys, when given)."""
    if isinstance(tags, dict):
        return tags
    out: dict[str, object] = {}
    for t in tags or ():
        if isinstance(t, dict):
            key = t.get("key")
            if key is not None and (wanted is None or key in wanted):
                out[str(key)] = t.get("value")
    return out


def _is_span(item: object) -> bool:
    return isinstance(item, dict) and "spanID" in item and "spans" not in item


def _traces(doc: object, path: Path) -> list[dict]:
    """The traces of one document: the UI export ``{"data": [trace, ...]}`` (or one trace under ``data``), a
    bare trace, a list of traces, or a bare list of spans (one trace; each span carries its ``process``)."""
    if isinstance(doc, dict) and "data" in doc:
        data = doc["data"]
        if isinstance(data, dict) and "spans" in data:
            return [data]
        if not isinstance(data, list):
            raise InputError(path, "'data' is neither a list of traces nor a trace")
        return [t for t in data if isinstance(t, dict)]
    if isinstance(doc, dict) and "spans" in doc:
        return [doc]
    if _is_span(doc):
        return [{"spans": [doc]}]
    if isinstance(doc, list):
        if doc and all(_is_span(x) for x in doc):
            return [{"spans": doc}]
        return [t for t in doc if isinstance(t, dict) and "spans" in t]
    raise InputError(path, "not a Jaeger export: no 'data', 'spans' or spans")


def _parent(span: dict) -> str:
    refs = [r for r in span.get("references") or [] if isinstance(r, dict)]
    for wanted in ("CHILD_OF", "FOLLOWS_FROM"):
        for r in refs:
            if str(r.get("refType", "")).upper() == wanted and r.get("spanID"):
                return norm_id(r["spanID"])
    return norm_id(span.get("parentSpanID"))


def _is_http_5xx(value: object) -> bool:
    try:
        return 500 <= int(float(str(value))) < 600
    except (TypeError, ValueError):
        return False


#: Process tags naming the instance, best first: a host name is only the instance when nothing better is there
#: (and :func:`~faultwise.rcl.telemetry.enrich.separate_services` splits a host shared by several services).
_INSTANCE_TAGS = ("k8s.pod.name", "service.instance.id", "hostname", "host.name")


def _identity(proc: object, inline: object) -> tuple[str, str, str]:
    """(service, pod, node) of a Jaeger process: the pod from ``k8s.pod.name`` or ``service.instance.id``,
    else the host name; the node from ``k8s.node.name``, else the host name when something else names
    the pod."""
    proc = proc or inline or {}
    if not isinstance(proc, dict):
        return "", "", ""
    ptags = _tags(proc.get("tags"))
    service = str(proc.get("serviceName") or "")
    pod = next((str(ptags[k]) for k in _INSTANCE_TAGS if ptags.get(k)), "") or service
    host = str(ptags.get("hostname") or ptags.get("host.name") or "")
    node = str(ptags.get("k8s.node.name") or "") or (host if host and host != pod else "")
    return (service or service_of_pod(pod)), pod, node


def load_jaeger(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    records: list[dict] = []
    for doc in iter_json_documents(path):
        for trace in _traces(doc, path):
            processes = trace.get("processes") or {}
            identities: dict[str, tuple[str, str, str]] = {}
            for sp in trace.get("spans") or []:
                if not isinstance(sp, dict):
                    continue
                pid = sp.get("processID")
                ident = identities.get(pid) if isinstance(pid, str) else None
                if ident is None:
                    ident = _identity(processes.get(pid) if isinstance(pid, str) else None, sp.get("process"))
                    if isinstance(pid, str):
                        identities[pid] = ident
                service, pod, node = ident
                tags = _tags(sp.get("tags"), _SPAN_TAGS)
                otel_status = str(tags.get("otel.status_code") or "").upper()
                http = next((tags[k] for k in _STATUS_TAGS if k in tags), None)
                is_error = (
                    truthy(tags.get("error", False))
                    or otel_status == "ERROR"
                    or (http is not None and _is_http_5xx(http))
                )
                status = str(http) if http is not None else otel_status
                if not status and is_error:
                    status = "ERROR"
                records.append(
                    {
                        "trace_id": norm_id(sp.get("traceID") or trace.get("traceID")),
                        "span_id": norm_id(sp.get("spanID")),
                        "parent_id": _parent(sp),
                        "service": service,
                        "pod": pod,
                        "node": node,
                        "operation": str(sp.get("operationName") or ""),
                        "kind": norm_kind(tags.get("span.kind")),
                        "start_us": to_int(sp.get("startTime"), path, "startTime"),
                        "duration_us": to_int(sp.get("duration"), path, "duration"),
                        "is_error": is_error,
                        "status_code": status,
                    }
                )
    if not records:
        raise InputError(path, "no spans")
    return spans_from_records(records, path)
