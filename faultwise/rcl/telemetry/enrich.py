"""Small pure functions that join what one modality knows into another (pod -> node)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def node_map(logs: pd.DataFrame | None) -> dict[str, str]:
    """Pod -> node from a log table (first node seen per pod)."""
    if logs is None or not len(logs):
        return {}
    known = logs.loc[logs["node"] != "", ["pod", "node"]].drop_duplicates("pod")
    return dict(zip(known["pod"].astype(str), known["node"].astype(str), strict=True))


def fill_nodes(spans: pd.DataFrame, pod_nodes: dict[str, str]) -> pd.DataFrame:
    """Set the node of spans that have none from a pod -> node map."""
    if not pod_nodes or not len(spans):
        return spans
    missing = spans["node"] == ""
    if not missing.any():
        return spans
    out = spans.copy()
    out.loc[missing, "node"] = out.loc[missing, "pod"].map(pod_nodes).fillna("").astype("string")
    return out


def dedupe_spans(spans: pd.DataFrame) -> pd.DataFrame:
    """Keep each (trace, span) once: consecutive export files (e.g. Nezha's minute files) overlap."""
    dup = spans.duplicated(["trace_id", "span_id"])
    return spans[~dup].reset_index(drop=True) if dup.any() else spans


def separate_services(spans: pd.DataFrame) -> pd.DataFrame:
    """Never let two services share one pod: where a pod name carries spans of several services (a host
    name taken for the instance, with several services on that host), each service becomes its own pod
    there (``<service>``, or ``<service>@<host>`` when the service runs on several such hosts) and the
    shared name becomes their node, where no node was known."""
    if not len(spans):
        return spans
    per_pod = spans.groupby("pod", sort=False)["service"].nunique()
    shared = per_pod.index[per_pod > 1]
    if not len(shared):
        return spans
    out = spans.copy()
    rows = out["pod"].isin(set(shared))
    hosts_per_service = out.loc[rows].groupby("service")["pod"].nunique()
    host = out.loc[rows, "pod"].astype(str)
    service = out.loc[rows, "service"].astype(str)
    on_many = service.map(hosts_per_service).to_numpy() > 1
    new_pod = service.where(~on_many, service + "@" + host)
    no_node = out.loc[rows, "node"] == ""
    out.loc[rows & (out["node"] == ""), "node"] = host[no_node.to_numpy()]
    out.loc[rows, "pod"] = new_pod.astype("string")
    return out


def spans_off_roots(spans: pd.DataFrame) -> dict[str, list[str]]:
    """Per trace, the spans no root leads to: spans on a parent cycle, and below one. A root is a span
    with no parent, or whose parent is not in the trace (an orphan). Empty when every span hangs under a
    root."""
    if not len(spans):
        return {}
    trace = spans["trace_id"].astype(str).to_numpy(dtype=object)
    own = pd.Index(trace + "\x00" + spans["span_id"].astype(str).to_numpy(dtype=object))
    parent_key = trace + "\x00" + spans["parent_id"].astype(str).to_numpy(dtype=object)
    parent_pos = own.get_indexer(parent_key)  # -1: no parent in the trace, a root
    has_parent = parent_pos >= 0
    reached = ~has_parent
    while True:  # one step down the trees per round
        step = reached | (has_parent & reached[np.where(has_parent, parent_pos, 0)])
        if (step == reached).all():
            break
        reached = step
    off = spans.loc[~reached, ["trace_id", "span_id"]].astype(str)
    return {str(t): g["span_id"].tolist() for t, g in off.groupby("trace_id", sort=False)}


#: The service of spans whose source names none (OpenTelemetry SDKs say the same).
UNKNOWN_SERVICE = "unknown_service"


def name_unknown_services(spans: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Spans with no service (and no pod) get :data:`UNKNOWN_SERVICE`; returns them and how many."""
    if not len(spans):
        return spans, 0
    missing = spans["service"].fillna("").astype(str) == ""
    n = int(missing.sum())
    if not n:
        return spans, 0
    out = spans.copy()
    out.loc[missing, "service"] = UNKNOWN_SERVICE
    out.loc[missing & (out["pod"].fillna("").astype(str) == ""), "pod"] = UNKNOWN_SERVICE
    return out, n
