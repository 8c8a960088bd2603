"""Small pure functions that join what one modality knows into another (pod -> node)."""

from __future__ import annotations

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
