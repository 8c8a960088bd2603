"""The one interface every root-cause method implements, and the pieces the comparison methods share.

A method answers the analyzer's verb, ``find_root_causes(incident, normal, start_us)``: it sees exactly what
:class:`~faultwise.rcl.method.analyzer.RCLAgent` sees, the incident's telemetry, optional fault-free telemetry
of the same system and the incident start (alarm or injection time), never labels. It answers with a
:class:`~faultwise.rcl.records.Ranking` of candidates at pod, service and node level, so the bench scores
every method the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import pandas as pd

from faultwise.errors import InputError
from faultwise.rcl.records import Candidate, FaultType, Ranking
from faultwise.rcl.telemetry.schema import Telemetry, service_of_pod

US_PER_S = 1_000_000
#: Metrics taken as normal when a method has no baseline file: this long before the incident start.
METRIC_REFERENCE_S = 30 * 60


@runtime_checkable
class Method(Protocol):
    """A label-free root-cause method: a name for the tables, and the analyzer's verb."""

    name: str

    def find_root_causes(
        self, incident: Telemetry, normal: Telemetry | None = None, start_us: int | None = None
    ) -> Ranking:
        """Rank the likely root causes of ``incident`` (``normal``: fault-free telemetry, ``start_us``: the
        incident start; both optional)."""
        ...


@dataclass(frozen=True)
class Periods:
    """The telemetry split into a normal reference and the abnormal window, as every comparison method needs.

    ``normal_*`` joins the fault-free telemetry and the incident's own data before ``start_us``; ``window_us`` is
    the abnormal window (from the start to the end of the incident's spans).
    """

    normal_spans: pd.DataFrame
    normal_logs: pd.DataFrame | None
    normal_metrics: pd.DataFrame | None
    spans: pd.DataFrame
    logs: pd.DataFrame | None
    metrics: pd.DataFrame | None
    window_us: tuple[int, int]
    normal_us: float  # length of the normal period, for rates
    pod_service: dict[str, str]
    pod_node: dict[str, str]


def _concat(frames: list[pd.DataFrame | None]) -> pd.DataFrame | None:
    frames = [f for f in frames if f is not None and len(f)]
    if not frames:
        return None
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def _span_extent_us(spans: pd.DataFrame) -> float:
    if not len(spans):
        return 0.0
    return float((spans["start_us"] + spans["duration_us"]).max() - spans["start_us"].min())


def split_periods(
    incident: Telemetry,
    normal: Telemetry | None,
    start_us: int | None,
    baseline_fraction: float = 1 / 3,
) -> Periods:
    """Split into normal reference and abnormal window (same rule as ``RCLAgent``: with neither fault-free
    telemetry nor a start, the first ``baseline_fraction`` of the incident's time range is normal)."""
    spans = incident.spans
    if not len(spans):
        raise InputError(incident.sources.get("traces", "<traces>"), "no spans to rank")
    lo, hi = incident.time_range_us()
    if start_us is None and normal is None:
        start_us = int(lo + (hi - lo) * baseline_fraction)
    start = int(start_us) if start_us is not None else lo
    before = spans[spans["start_us"] < start]
    after = spans[spans["start_us"] >= start]
    if not len(after):
        raise InputError(incident.sources.get("traces", "<traces>"), "no spans after the incident start")
    logs = incident.logs
    logs_before = logs[logs["ts_us"] < start] if logs is not None else None
    logs_after = logs[logs["ts_us"] >= start] if logs is not None else None
    metrics = incident.metrics
    m_before = m_after = None
    if metrics is not None and len(metrics):
        ts_us = metrics["ts_s"].to_numpy() * US_PER_S
        m_after = metrics[(ts_us >= start) & (ts_us <= hi)]
        m_before = metrics[(ts_us < start) & (ts_us >= start - METRIC_REFERENCE_S * US_PER_S)]
    base_spans = normal.spans if normal is not None else None
    normal_spans = _concat([base_spans, before])
    normal_us = _span_extent_us(before) + (_span_extent_us(base_spans) if base_spans is not None else 0.0)
    pod_service: dict[str, str] = {}
    for df in (spans, base_spans):
        if df is not None and len(df):
            pairs = df[["pod", "service"]].drop_duplicates("pod")
            for pod, svc in zip(pairs["pod"], pairs["service"], strict=True):
                pod_service.setdefault(str(pod), str(svc))
    pod_node = dict(normal.pod_nodes()) if normal is not None else {}
    pod_node.update(incident.pod_nodes())
    return Periods(
        normal_spans=normal_spans if normal_spans is not None else spans.iloc[:0],
        normal_logs=_concat([normal.logs if normal is not None else None, logs_before]),
        normal_metrics=_concat([normal.metrics if normal is not None else None, m_before]),
        spans=after,
        logs=logs_after,
        metrics=m_after,
        window_us=(start, hi),
        normal_us=normal_us,
        pod_service=pod_service,
        pod_node=pod_node,
    )


def candidates_from_pod_scores(
    pod_scores: Mapping[str, float],
    periods: Periods,
    method: str,
    fault_type: FaultType = "unknown",
    service_scores: Mapping[str, float] | None = None,
    node_scores: Mapping[str, float] | None = None,
) -> list[Candidate]:
    """Candidates at every level from per-pod scores, best first.

    A service scores as its strongest pod (or its own score, whichever is higher); a node as the mean of
    its pods' scores (a node fault degrades several of its pods together), or its own score where given.
    Ties are broken by name, so a ranking is deterministic.
    """
    svc: dict[str, float] = dict(service_scores or {})
    for pod, s in pod_scores.items():
        name = periods.pod_service.get(pod) or service_of_pod(pod)
        svc[name] = max(svc.get(name, float("-inf")), s)
    nodes: dict[str, float] = dict(node_scores or {})
    by_node: dict[str, list[float]] = {}
    for pod, s in pod_scores.items():
        node = periods.pod_node.get(pod, "")
        if node:
            by_node.setdefault(node, []).append(s)
    for node, ss in by_node.items():
        nodes[node] = max(nodes.get(node, float("-inf")), sum(ss) / len(ss))
    out: list[Candidate] = []
    for pod, s in pod_scores.items():
        service = periods.pod_service.get(pod) or service_of_pod(pod)
        out.append(_cand(pod, "pod", s, method, fault_type, service))
    out.extend(_cand(name, "service", s, method, fault_type, name) for name, s in svc.items())
    out.extend(_cand(name, "node", s, method, fault_type, "") for name, s in nodes.items())
    order = {"pod": 0, "service": 1, "node": 2}
    out.sort(key=lambda c: (-c.score, order[c.level], c.component))
    return out


def _cand(name: str, level: str, score: float, method: str, fault_type: FaultType, service: str) -> Candidate:
    value = float(score) if score == score else 0.0  # NaN -> 0
    return Candidate(
        component=name,
        level=level,  # type: ignore[arg-type]
        fault_type=fault_type,
        score=value,
        rationale=f"{method}: score {value:.3g}",
        service=service,
    )
