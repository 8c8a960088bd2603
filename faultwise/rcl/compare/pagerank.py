"""A PageRank-style random walk over the pod call graph, weighted by anomaly (the MicroRank / TraceRCA /
MonitorRank family).

Anomaly of a pod: the share of its spans in the abnormal window that are slow for their operation (robust z
of duration above 3) or failed beyond the operation's normal error rate. The walker starts where anomaly
is (personalisation), moves from a caller to its callees in proportion to the callees' anomaly, stays on a
pod in proportion to how much more anomalous it is than its callees, and steps back to a caller with a
small weight. The stationary distribution, by power iteration (numpy, no graph library), ranks the pods:
mass gathers on the most anomalous pods at the bottom of anomalous call chains.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from faultwise.rcl.compare.base import candidates_from_pod_scores, split_periods
from faultwise.rcl.compare.spans import ABNORMAL_Z, timed_spans
from faultwise.rcl.records import Ranking
from faultwise.rcl.telemetry.schema import Telemetry


def pod_anomaly(window: pd.DataFrame) -> pd.Series:
    """Share of each pod's window spans that are abnormal (slow, or an error the operation rarely has)."""
    slow = window["dur_z"].fillna(0.0).to_numpy() > ABNORMAL_Z
    err = window["is_error"].to_numpy(dtype=bool) & (window["err_rate0"].to_numpy() < 0.5)
    flags = pd.Series(slow | err, index=window.index, dtype=float)
    return flags.groupby(window["pod"]).mean()


def call_edges(window: pd.DataFrame) -> pd.DataFrame:
    """Distinct caller pod -> callee pod pairs of the window (a span whose parent runs on another pod)."""
    key = window["trace_id"].astype(str) + "\x1f" + window["span_id"].astype(str)
    pod_of = pd.Series(window["pod"].to_numpy(), index=key.to_numpy())
    pod_of = pod_of[~pod_of.index.duplicated()]
    parent_key = window["trace_id"].astype(str) + "\x1f" + window["parent_id"].astype(str)
    caller = parent_key.map(pod_of)
    edges = pd.DataFrame({"src": caller.to_numpy(), "dst": window["pod"].to_numpy()}).dropna()
    edges = edges[edges["src"] != edges["dst"]]
    return edges.drop_duplicates().reset_index(drop=True)


def anomaly_walk(
    nodes: list[str],
    edges: pd.DataFrame,
    anomaly: np.ndarray,
    damping: float = 0.85,
    back_weight: float = 0.1,
    iterations: int = 200,
) -> np.ndarray:
    """Stationary probabilities of the anomaly-weighted walk (sums to 1)."""
    n = len(nodes)
    if n == 0:
        return np.zeros(0)
    idx = {p: i for i, p in enumerate(nodes)}
    eps = 1e-3
    a = np.asarray(anomaly, dtype=float) + eps
    w = np.zeros((n, n))
    src = np.array([idx[s] for s in edges["src"]], dtype=int)
    dst = np.array([idx[d] for d in edges["dst"]], dtype=int)
    if len(src):
        w[src, dst] += a[dst]  # forward: towards anomalous callees
        w[dst, src] += back_weight * a[src]  # backward: a little, towards anomalous callers
    best_callee = np.zeros(n)
    if len(src):
        np.maximum.at(best_callee, src, a[dst])
    w[np.arange(n), np.arange(n)] += np.clip(a - best_callee, 0.0, None) + eps  # stay where it is worst
    w /= w.sum(axis=1, keepdims=True)
    p = a / a.sum()
    pi = np.full(n, 1.0 / n)
    for _ in range(iterations):
        nxt = (1 - damping) * p + damping * (pi @ w)
        if np.abs(nxt - pi).sum() < 1e-12:
            pi = nxt
            break
        pi = nxt
    return pi / pi.sum()


@dataclass(frozen=True)
class AnomalyPageRank:
    name: str = "pagerank"
    damping: float = 0.85

    def find_root_causes(
        self, incident: Telemetry, normal: Telemetry | None = None, start_us: int | None = None
    ) -> Ranking:
        periods = split_periods(incident, normal, start_us)
        window = timed_spans(incident, normal, periods).window
        anomaly = pod_anomaly(window)
        nodes = sorted(periods.pod_service)
        a = anomaly.reindex(nodes).fillna(0.0).to_numpy()
        pi = anomaly_walk(nodes, call_edges(window), a, self.damping)
        scores = {p: float(v) for p, v in zip(nodes, pi, strict=True)}
        return Ranking(candidates=candidates_from_pod_scores(scores, periods, self.name, "latency"))
