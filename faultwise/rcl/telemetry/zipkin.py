"""Zipkin JSON: v2 (a list of spans, or the API's list of traces, each a list of spans) and v1.

v2 as Zipkin defines it:

- ``timestamp`` and ``duration`` are optional. Instrumentation reports one span in pieces (a late piece
  carries only tags or annotations and no timestamp): pieces with the same trace id, span id and local
  endpoint are merged back into one span first. A span still without a timestamp is placed at its
  earliest child's start (else its parent's), one without a duration lasts until its last child ends
  (else 0); both are counted in a warning.
- A span without ``kind`` is a local (in-process) span: kind ``internal``.
- The client and the server half of one RPC may share an id (the server half says ``shared: true``); a
  message sent to several consumers even gives one client half several server halves. Our span table needs
  one id per span, so the first server half becomes ``<id>-s``, the next ``<id>-s2`` ..., each a child of
  the client half, and a span whose parent was the shared id hangs under the server half on its own
  endpoint that started last before it (it was called from there).

v1 (spans whose annotations carry endpoints: ``cs``/``cr`` client, ``sr``/``ss`` server, ``ms``/``mr``
messaging, ``lc`` local component) is converted to v2 the way Zipkin's own converter does: one v1 span
with both a client and a server side becomes a client span and a shared server span.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from faultwise.errors import InputError
from faultwise.rcl.telemetry._common import iter_json_documents, norm_id, norm_kind, to_int, warn
from faultwise.rcl.telemetry.schema import service_of_pod, spans_from_records

SERVER_HALF_SUFFIX = "-s"


def _flatten(doc: object, path: Path) -> list[dict]:
    if isinstance(doc, dict) and "traceId" in doc:
        return [doc]
    if not isinstance(doc, list):
        raise InputError(path, "not Zipkin JSON: expected a list of spans")
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


# --- v1 -> v2 -----------------------------------------------------------------------------------------------

_V1_SIDES = {
    "cs": "CLIENT",
    "cr": "CLIENT",
    "sr": "SERVER",
    "ss": "SERVER",
    "ms": "PRODUCER",
    "mr": "CONSUMER",
}
_V1_BEGIN = {"CLIENT": "cs", "SERVER": "sr", "PRODUCER": "ms", "CONSUMER": "mr"}
_V1_END = {"CLIENT": "cr", "SERVER": "ss"}
_V1_ADDRESSES = {"ca", "sa", "ma"}


def is_v1_span(sp: dict) -> bool:
    """A Zipkin v1 span: its annotations name their endpoint, or it has binary annotations."""
    if "binaryAnnotations" in sp:
        return True
    return any(isinstance(a, dict) and "endpoint" in a for a in sp.get("annotations") or [])


def _v1_to_v2(sp: dict, path: Path) -> list[dict]:
    """One v1 span as its v2 span(s): one per side (client, server, producer, consumer) it records, the
    later sides shared; a span with no side is a local span of its ``lc`` (or first) endpoint."""
    notes = [a for a in sp.get("annotations") or [] if isinstance(a, dict)]
    binary = [b for b in sp.get("binaryAnnotations") or [] if isinstance(b, dict)]
    sides: dict[str, dict[str, dict]] = {}
    for a in notes:
        kind = _V1_SIDES.get(str(a.get("value")))
        if kind:
            sides.setdefault(kind, {})[str(a["value"])] = a
    tags = {
        str(b["key"]): str(b.get("value"))
        for b in binary
        if "key" in b and str(b["key"]) not in _V1_ADDRESSES and b["key"] != "lc"
    }
    base = {k: sp[k] for k in ("traceId", "id", "parentId", "name") if k in sp}
    out: list[dict] = []
    started_by = next((k for k in ("CLIENT", "PRODUCER", "SERVER", "CONSUMER") if k in sides), None)
    for kind in ("CLIENT", "PRODUCER", "SERVER", "CONSUMER"):
        if kind not in sides:
            continue
        marks = sides[kind]
        begin = marks.get(_V1_BEGIN[kind])
        end = marks.get(_V1_END.get(kind, ""))
        first = begin or end
        v2 = dict(base, kind=kind, localEndpoint=(first or {}).get("endpoint") or {})
        if begin is not None and "timestamp" in begin:
            v2["timestamp"] = begin["timestamp"]
            if end is not None and "timestamp" in end:
                v2["duration"] = to_int(end["timestamp"], path, "annotation timestamp") - to_int(
                    begin["timestamp"], path, "annotation timestamp"
                )
        if kind == started_by:
            v2.setdefault("timestamp", sp.get("timestamp"))
            v2.setdefault("duration", sp.get("duration"))
        else:
            v2["shared"] = True
        v2 = {k: v for k, v in v2.items() if v is not None}
        if tags:
            v2["tags"] = dict(tags)
        out.append(v2)
    if not out:
        lc = next((b for b in binary if b.get("key") == "lc"), None)
        endpoint = (lc or {}).get("endpoint") or next(
            (x.get("endpoint") for x in notes + binary if x.get("endpoint")), {}
        )
        local = dict(base, localEndpoint=endpoint)
        for k in ("timestamp", "duration"):
            if sp.get(k) is not None:
                local[k] = sp[k]
        if tags:
            local["tags"] = tags
        out.append(local)
    return out


# --- pieces of one span -------------------------------------------------------------------------------------


def _endpoint_key(ep: object) -> tuple:
    ep = ep if isinstance(ep, dict) else {}
    return (str(ep.get("serviceName") or ""), ep.get("ipv4"), ep.get("ipv6"), ep.get("port"))


def _merge_pieces(raw: list[dict]) -> list[dict]:
    """Pieces of one span reported apart (same trace, id and local endpoint; a piece has no timestamp, or
    the very same one) merged into the span they belong to; distinct spans sharing an id are kept apart."""
    groups: dict[tuple, list[dict]] = {}
    order: list[tuple] = []
    for sp in raw:
        key = (str(sp["traceId"]), str(sp["id"]), _endpoint_key(sp.get("localEndpoint")))
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(sp)
    out: list[dict] = []
    for key in order:
        group = groups[key]
        if len(group) == 1:
            out.append(group[0])
            continue
        timed: dict[tuple, dict] = {}
        pieces: list[dict] = []
        for sp in group:
            if sp.get("timestamp") is None:
                pieces.append(sp)
                continue
            ident = (sp["timestamp"], str(sp.get("kind") or ""), bool(sp.get("shared")))
            if ident in timed:
                timed[ident] = _merged(timed[ident], sp)
            else:
                timed[ident] = dict(sp)
        spans = list(timed.values())
        for piece in pieces:
            kind = str(piece.get("kind") or "")
            home = next((s for s in spans if kind and str(s.get("kind") or "") == kind), None)
            if home is None and spans:
                home = spans[0]
            if home is None:
                spans.append(dict(piece))
            else:
                spans[spans.index(home)] = _merged(home, piece)
        out.extend(spans)
    return out


def _merged(a: dict, b: dict) -> dict:
    """``a`` completed with what ``b`` knows (tags and annotations joined)."""
    out = dict(a)
    for k, v in b.items():
        if k == "tags" and isinstance(v, dict):
            out["tags"] = {**(out.get("tags") or {}), **v}
        elif k == "annotations" and isinstance(v, list):
            out["annotations"] = [*(out.get("annotations") or []), *v]
        elif out.get(k) in (None, "", {}):
            out[k] = v
    return out


_V2_SIDE_MARKS = {"cs": "client", "cr": "client", "sr": "server", "ss": "server"}


def _kind(sp: dict) -> str:
    """The span's kind; without one, the side its ``cs``/``sr`` annotations mark, else a local span."""
    if sp.get("kind"):
        return norm_kind(sp["kind"])
    marks = {str(a.get("value")) for a in sp.get("annotations") or [] if isinstance(a, dict)}
    return next((_V2_SIDE_MARKS[m] for m in ("cs", "sr", "cr", "ss") if m in marks), "internal")


# --- the loader ---------------------------------------------------------------------------------------------


def load_zipkin(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    raw: list[dict] = []
    n_v1 = 0
    for doc in iter_json_documents(path):
        for sp in _flatten(doc, path):
            if "traceId" not in sp or "id" not in sp:
                raise InputError(path, "Zipkin span without traceId or id")
            if is_v1_span(sp):
                n_v1 += 1
                raw.extend(_v1_to_v2(sp, path))
            else:
                raw.append(sp)
    if not raw:
        raise InputError(path, "no spans")
    records: list[dict] = []
    for sp in _merge_pieces(raw):
        ep = sp.get("localEndpoint") or {}
        tags = sp.get("tags") or {}
        service = str(ep.get("serviceName") or "")
        pod = str(tags.get("k8s.pod.name") or tags.get("host.name") or service)
        if not service:
            service = service_of_pod(pod)
        http = tags.get("http.status_code", tags.get("http.response.status_code"))
        is_error = "error" in tags or (http is not None and _is_http_5xx(http))
        status = str(http) if http is not None else ("ERROR" if "error" in tags else "")
        ts = sp.get("timestamp")
        dur = sp.get("duration")
        records.append(
            {
                "trace_id": norm_id(sp["traceId"]),
                "span_id": norm_id(sp["id"]),
                "parent_id": norm_id(sp.get("parentId")),
                "service": service,
                "pod": pod,
                "node": str(tags.get("k8s.node.name") or ""),
                "operation": str(sp.get("name") or ""),
                "kind": _kind(sp),
                "start_us": None if ts is None else to_int(ts, path, "timestamp"),
                "duration_us": None if dur is None else to_int(dur, path, "duration"),
                "is_error": is_error,
                "status_code": status,
                "_shared": bool(sp.get("shared", False)),
                "_endpoint": _endpoint_key(ep),
            }
        )
    _split_shared_ids(records)
    _fill_times(records, path)
    if n_v1:
        warn(path, f"read {n_v1} Zipkin v1 span(s), converted to v2 (client and server sides apart)")
    for r in records:
        del r["_shared"], r["_endpoint"]
    return spans_from_records(records, path)


def _split_shared_ids(records: list[dict]) -> None:
    """Give every server half of a shared id its own id, under the client half, and hang the spans whose
    parent was the shared id under the server half that called them."""
    by_key: dict[tuple[str, str], list[dict]] = {}
    for r in records:
        by_key.setdefault((r["trace_id"], r["span_id"]), []).append(r)
    halves: dict[tuple[str, str], list[dict]] = {}
    for (trace_id, span_id), group in by_key.items():
        if len(group) < 2:
            continue
        client = next((r for r in group if r["kind"] in ("client", "producer") and not r["_shared"]), None)
        owner = client or next((r for r in group if not r["_shared"]), None)
        servers = sorted(
            (r for r in group if r is not owner and (r["_shared"] or r["kind"] in ("server", "consumer"))),
            key=lambda r: (r["start_us"] is None, r["start_us"] or 0),
        )
        if owner is None and servers:
            owner = servers.pop(0)  # no client half reported: the first server half keeps the id
        if not servers:
            continue  # plain duplicates, not halves: load_traces keeps one
        calls_out = owner is not None and owner["kind"] in ("client", "producer")
        for i, server in enumerate(servers, start=1):
            server["span_id"] = span_id + SERVER_HALF_SUFFIX + ("" if i == 1 else str(i))
            if calls_out:
                server["parent_id"] = span_id
        halves[(trace_id, span_id)] = servers if calls_out else [owner, *servers]
    if not halves:
        return
    for r in records:
        servers = halves.get((r["trace_id"], r["parent_id"]))
        if servers is None or any(r is s for s in servers):
            continue
        r["parent_id"] = _calling_half(r, servers)["span_id"]


def _calling_half(child: dict, servers: list[dict]) -> dict:
    """The server half that called ``child``: on its endpoint (else its service), the last to start before
    it (else the first of them)."""
    same = [s for s in servers if s["_endpoint"] == child["_endpoint"]] or [
        s for s in servers if s["service"] == child["service"]
    ]
    pool = same or servers
    start = child["start_us"]
    if start is None:
        return pool[0]
    before = [s for s in pool if s["start_us"] is not None and s["start_us"] <= start]
    if before:
        return max(before, key=lambda s: s["start_us"])
    return min(pool, key=lambda s: abs((s["start_us"] or 0) - start))


def _fill_times(records: list[dict], path: Path) -> None:
    """Timestamps and durations Zipkin left out (both are optional): a span without a timestamp starts with
    its earliest child (else its parent, else its trace); one without a duration ends with its last child
    (else lasts 0). Counted in a warning."""
    untimed = [r for r in records if r["start_us"] is None]
    unlasting = [r for r in records if r["duration_us"] is None]
    if not untimed and not unlasting:
        return
    by_id = {(r["trace_id"], r["span_id"]): r for r in records}
    children: dict[tuple[str, str], list[dict]] = {}
    trace_start: dict[str, int] = {}
    for r in records:
        children.setdefault((r["trace_id"], r["parent_id"]), []).append(r)
        if r["start_us"] is not None:
            t = r["trace_id"]
            trace_start[t] = min(trace_start.get(t, r["start_us"]), r["start_us"])
    for _ in range(len(untimed) + 1):  # a parent may itself wait for its own placement
        pending = [r for r in untimed if r["start_us"] is None]
        if not pending:
            break
        for r in pending:
            kids = [k["start_us"] for k in children.get((r["trace_id"], r["span_id"]), []) if k["start_us"]]
            parent = by_id.get((r["trace_id"], r["parent_id"]))
            if kids:
                r["start_us"] = min(kids)
            elif parent is not None and parent["start_us"] is not None:
                r["start_us"] = parent["start_us"]
    for r in untimed:
        if r["start_us"] is None:
            r["start_us"] = trace_start.get(r["trace_id"], 0)
    for r in unlasting:
        ends = [
            k["start_us"] + (k["duration_us"] or 0)
            for k in children.get((r["trace_id"], r["span_id"]), [])
            if k["start_us"] is not None
        ]
        r["duration_us"] = max(0, max(ends) - r["start_us"]) if ends else 0
    if untimed:
        warn(
            path,
            f"{len(untimed)} span(s) without a timestamp (and no piece that has one) placed at their child's "
            f"or parent's start: {', '.join(r['span_id'] for r in untimed[:3])}",
        )
    if unlasting:
        warn(
            path,
            f"{len(unlasting)} span(s) without a duration taken to end with their last child (else 0 us)",
        )


__all__ = ["SERVER_HALF_SUFFIX", "is_v1_span", "load_zipkin"]
