"""Metric deviation (the NSigma / BARO family): rank components by the largest standardised change of any
of their metrics between the normal reference and the abnormal window.

Each (entity, metric) series is scaled robustly on the reference (median and inter-quartile range, as BARO
does; the standard deviation where the IQR is zero; for a series flat in the reference, 5 % of its level or
of the metric's typical non-zero level across components, so that it does not score infinitely) and the component scores its
largest absolute scaled value in the window. Pod metrics score pods, node metrics nodes, service metrics
services.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from faultwise.rcl.compare.base import candidates_from_pod_scores, split_periods
from faultwise.rcl.records import Ranking
from faultwise.rcl.telemetry.schema import Telemetry


def metric_scores(reference: pd.DataFrame | None, window: pd.DataFrame | None) -> pd.DataFrame:
    """Per entity: the largest robust |z| of its metrics, with its ``entity_kind`` (pod | node | service)."""
    if reference is None or window is None or not len(reference) or not len(window):
        return pd.DataFrame(columns=["entity", "entity_kind", "score"])
    ref = reference.dropna(subset=["value"])
    g = ref.groupby(["entity", "metric"])["value"]
    stats = pd.DataFrame(
        {"med": g.median(), "iqr": g.quantile(0.75) - g.quantile(0.25), "std": g.std(), "n": g.size()}
    )
    stats = stats[stats["n"] >= 2]
    # a series flat in the reference (IQR and std zero, up to float noise) would turn any wiggle into an
    # infinite score: scale it by 5 % of its level, or of the metric's typical non-zero level over all
    # components (1 where the metric is zero everywhere)
    nonzero = ref.loc[ref["value"] != 0, "value"].abs()
    typical = nonzero.groupby(ref.loc[nonzero.index, "metric"]).median()
    level = typical.reindex(stats.index.get_level_values("metric")).fillna(1.0).to_numpy()
    basis = np.maximum(stats["med"].abs().to_numpy(), level)
    tiny = 1e-6 * basis
    iqr, std = stats["iqr"].fillna(0.0).to_numpy(), stats["std"].fillna(0.0).to_numpy()
    stats["scale"] = np.where(iqr > tiny, iqr, np.where(std > tiny, std, 0.05 * basis))
    w = window.dropna(subset=["value"]).join(stats[["med", "scale"]], on=["entity", "metric"], how="inner")
    if not len(w):
        return pd.DataFrame(columns=["entity", "entity_kind", "score"])
    w["z"] = ((w["value"] - w["med"]) / w["scale"]).abs().clip(upper=1e6)
    w = w.replace([np.inf, -np.inf], np.nan).dropna(subset=["z"])
    out = w.groupby(["entity", "entity_kind"], as_index=False)["z"].max()
    return out.rename(columns={"z": "score"})


@dataclass(frozen=True)
class MetricDeviation:
    name: str = "metric-dev"

    def find_root_causes(
        self, incident: Telemetry, normal: Telemetry | None = None, start_us: int | None = None
    ) -> Ranking:
        periods = split_periods(incident, normal, start_us)
        scores = metric_scores(periods.normal_metrics, periods.metrics)
        pods: dict[str, float] = {}
        services: dict[str, float] = {}
        nodes: dict[str, float] = {}
        target = {"pod": pods, "service": services, "node": nodes}
        for ent, kind, s in zip(scores["entity"], scores["entity_kind"], scores["score"], strict=True):
            target.get(str(kind), pods)[str(ent)] = float(s)
        for pod in periods.pod_service:  # a pod without metrics scores 0, as in the other methods
            pods.setdefault(pod, 0.0)
        return Ranking(
            candidates=candidates_from_pod_scores(pods, periods, self.name, "unknown", services, nodes)
        )
