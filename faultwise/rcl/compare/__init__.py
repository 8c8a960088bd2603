"""Root-cause methods side by side: the label-free comparison methods and our method's ablations, all
answering ``find_root_causes(incident, normal, start_us)`` like the analyzer, registered by name."""

from faultwise.rcl.compare.base import Method, Periods, candidates_from_pod_scores, split_periods
from faultwise.rcl.compare.log_errors import LogErrorRate
from faultwise.rcl.compare.metric_dev import MetricDeviation
from faultwise.rcl.compare.pagerank import AnomalyPageRank, anomaly_walk
from faultwise.rcl.compare.random_rank import RandomRanking
from faultwise.rcl.compare.rcl import RCLMethod
from faultwise.rcl.compare.registry import (
    FunctionMethod,
    MethodFactory,
    MethodSettings,
    make_methods,
    method_groups,
    method_names,
    register_method,
    registered_methods,
)
from faultwise.rcl.compare.self_time import SelfTimeDeviation

__all__ = [
    "AnomalyPageRank",
    "FunctionMethod",
    "LogErrorRate",
    "Method",
    "MethodFactory",
    "MethodSettings",
    "MetricDeviation",
    "Periods",
    "RCLMethod",
    "RandomRanking",
    "SelfTimeDeviation",
    "anomaly_walk",
    "candidates_from_pod_scores",
    "make_methods",
    "method_groups",
    "method_names",
    "register_method",
    "registered_methods",
    "split_periods",
]
