"""Method names the bench accepts, and the groups ``all``, ``baselines`` and ``ablations``."""

from __future__ import annotations

from collections.abc import Callable

from faultwise.errors import InputError
from faultwise.rcl.compare.base import Method
from faultwise.rcl.compare.log_errors import LogErrorRate
from faultwise.rcl.compare.metric_dev import MetricDeviation
from faultwise.rcl.compare.pagerank import AnomalyPageRank
from faultwise.rcl.compare.random_rank import RandomRanking
from faultwise.rcl.compare.self_time import SelfTimeDeviation


def _rcl(name: str, **flags) -> Callable[[], Method]:
    def make() -> Method:
        from faultwise.rcl.compare.rcl import RCLMethod
        from faultwise.rcl.method.analyzer import RCLConfig

        return RCLMethod(name, RCLConfig(**flags))

    return make


FACTORIES: dict[str, Callable[[], Method]] = {
    "rcl": _rcl("rcl"),
    "random": RandomRanking,
    "self-time": SelfTimeDeviation,
    "log-errors": LogErrorRate,
    "metric-dev": MetricDeviation,
    "pagerank": AnomalyPageRank,
    "rcl-no-logs": _rcl("rcl-no-logs", use_logs=False),
    "rcl-no-metrics": _rcl("rcl-no-metrics", use_metrics=False),
    "rcl-no-graph": _rcl("rcl-no-graph", use_graph_breadth=False),
    "rcl-levels": _rcl("rcl-levels", schedule="levels"),
}
BASELINES = ("random", "self-time", "log-errors", "metric-dev", "pagerank")
ABLATIONS = ("rcl", "rcl-no-logs", "rcl-no-metrics", "rcl-no-graph", "rcl-levels")
GROUPS: dict[str, tuple[str, ...]] = {
    "all": tuple(FACTORIES),
    "baselines": ("rcl", *BASELINES),
    "ablations": ABLATIONS,
}


def method_names(spec: str) -> list[str]:
    """``all``, ``baselines``, ``ablations`` or comma-separated names (groups may be mixed in), in order,
    without repeats; an unknown name is a one-line error."""
    out: list[str] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        names = GROUPS.get(part, (part,))
        for n in names:
            if n not in FACTORIES:
                known = ", ".join([*GROUPS, *FACTORIES])
                raise InputError("--methods", f"unknown method {n!r}; use {known}")
            if n not in out:
                out.append(n)
    if not out:
        raise InputError("--methods", "no method named")
    return out


def make_methods(spec: str) -> list[Method]:
    return [FACTORIES[n]() for n in method_names(spec)]
