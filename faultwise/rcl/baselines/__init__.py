"""Label-free comparison methods and ablations behind one interface, for the side-by-side bench."""

from faultwise.rcl.baselines.base import Method, Periods, candidates_from_pod_scores, split_periods
from faultwise.rcl.baselines.log_errors import LogErrorRate
from faultwise.rcl.baselines.metric_dev import MetricDeviation
from faultwise.rcl.baselines.pagerank import AnomalyPageRank, anomaly_walk
from faultwise.rcl.baselines.random_rank import RandomRanking
from faultwise.rcl.baselines.registry import (
    ABLATIONS,
    BASELINES,
    FACTORIES,
    GROUPS,
    make_methods,
    method_names,
)
from faultwise.rcl.baselines.self_time import SelfTimeDeviation

__all__ = [
    "ABLATIONS",
    "BASELINES",
    "FACTORIES",
    "GROUPS",
    "AnomalyPageRank",
    "LogErrorRate",
    "Method",
    "MetricDeviation",
    "Periods",
    "RandomRanking",
    "SelfTimeDeviation",
    "anomaly_walk",
    "candidates_from_pod_scores",
    "make_methods",
    "method_names",
    "split_periods",
]
