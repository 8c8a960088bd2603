"""Label-free comparison methods and ablations behind one interface, for the side-by-side bench."""

from faultwise.rcl.compare.base import Method, Periods, candidates_from_pod_scores, split_periods
from faultwise.rcl.compare.log_errors import LogErrorRate
from faultwise.rcl.compare.metric_dev import MetricDeviation
from faultwise.rcl.compare.pagerank import AnomalyPageRank, anomaly_walk
from faultwise.rcl.compare.random_rank import RandomRanking
from faultwise.rcl.compare.registry import (
    ABLATIONS,
    BASELINES,
    FACTORIES,
    GROUPS,
    make_methods,
    method_names,
)
from faultwise.rcl.compare.self_time import SelfTimeDeviation

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
