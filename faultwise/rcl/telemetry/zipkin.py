"""Zipkin v2 JSON: a list of spans (or the API's list of traces, each a list of spans).

Zipkin lets the client and the server half of one RPC share an id (the server half says ``shared: true``).
A span without ``kind`` is, by Zipkin's definition, a local (in-process) span: kind ``internal``.
Our span table needs one id per span, so the server half becomes ``<id>-s``, a child of the client half,
and the spans whose parent was the shared id hang under the server half (they were called from there).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from faultwise.errors import InputError
from faultwise.rcl.telemetry._common import iter_json_documents, norm_id, norm_kind, to_int
from faultwise.rcl.telemetry.schema import service_of_pod, spans_from_records

SERVER_HALF_SUFFIX = "-s"


def _flatten(doc: object, path: Path) -> list[dict]:
    if isinstance(doc, dict) and "traceId" in doc:
        return [doc]
    if not isinstance(doc, list):
        raise InputError(path, "not Zipkin v2 JSON: expected a list of spans")
    out: list[dict] = []
    for item in doc:
        if isinstance(item, list):
            out.extend(s for s in item if isinstance(s, dict))
        elif isinstance(item, dict):
            out.append(item)
    return out


def _is_http_5xx(value: object) -> bool:
    try:
        return 500 <= int(float(str(value))) < 600
    except (TypeError, ValueError):
        return False


def load_zipkin(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    raw: list[dict] = []
    for doc in iter_json_documents(path):
        raw.extend(_flatten(doc, path))
    records: list[dict] = []
    for sp in raw:
        if "traceId" not in sp or "id" not in sp:
            raise InputError(path, "Zipkin span without traceId or id")
        ep = sp.get("localEndpoint") or {}
        tags = sp.get("tags") or {}
        service = str(ep.get("serviceName") or "")
        pod = str(tags.get("k8s.pod.name") or tags.get("host.name") or service)
        if not service:
            service = service_of_pod(pod)
        http = tags.get("http.status_code", tags.get("http.response.status_code"))
        is_error = "error" in tags or (http is not None and _is_http_5xx(http))
        status = str(http) if http is not None else ("ERROR" if "error" in tags else "")
        records.append(
            {
                "trace_id": norm_id(sp["traceId"]),
                "span_id": norm_id(sp["id"]),
                "parent_id": norm_id(sp.get("parentId")),
                "service": service,
                "pod": pod,
                "node": str(tags.get("k8s.node.name") or ""),
                "operation": str(sp.get("name") or ""),
                "kind": norm_kind(sp.get("kind")) if sp.get("kind") else "internal",  # no kind: a local span
                "start_us": to_int(sp.get("timestamp"), path, "timestamp"),
                "duration_us": to_int(sp.get("duration", 0), path, "duration"),
                "is_error": is_error,
                "status_code": status,
                "_shared": bool(sp.get("shared", False)),
            }
        )
    if not records:
        raise InputError(path, "no spans")
    _split_shared_ids(records)
    for r in records:
        del r["_shared"]
    return spans_from_records(records, path)


def _split_shared_ids(records: list[dict]) -> None:
    """Give the server half of a shared client/server id its own id, under the client half."""
    by_key: dict[tuple[str, str], list[dict]] = {}
    for r in records:
        by_key.setdefault((r["trace_id"], r["span_id"]), []).append(r)
    renamed: dict[tuple[str, str], str] = {}
    for (trace_id, span_id), group in by_key.items():
        if len(group) < 2:
            continue
        client = next((r for r in group if r["kind"] == "client" and not r["_shared"]), None)
        server = next((r for r in group if r is not client and (r["kind"] == "server" or r["_shared"])), None)
        if client is None or server is None:
            continue  # plain duplicates, not two halves: load_traces keeps one
        new_id = span_id + SERVER_HALF_SUFFIX
        server["span_id"] = new_id
        server["parent_id"] = span_id
        renamed[(trace_id, span_id)] = new_id
    if not renamed:
        return
    for r in records:
        key = (r["trace_id"], r["parent_id"])
        if key in renamed and r["span_id"] != renamed[key]:
            r["parent_id"] = renamed[key]
