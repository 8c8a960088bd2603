"""Benchmarks of the method: datasets yield labelled cases, one runner scores every method on them.

Datasets: :mod:`~faultwise.rcl.bench.nezha`, :mod:`~faultwise.rcl.bench.synthetic`,
:mod:`~faultwise.rcl.bench.rcaeval`, :mod:`~faultwise.rcl.bench.aiops2022`, :mod:`~faultwise.rcl.bench.replay`
(faults injected into fault-free telemetry) (each yields
:class:`BenchCase` records); :func:`run_bench` runs any methods (:mod:`faultwise.rcl.compare`) over them;
:mod:`~faultwise.rcl.bench.metrics` scores, :mod:`~faultwise.rcl.bench.report` prints.
"""

from faultwise.rcl.bench.aiops2022 import aiops2022_cases, find_beds
from faultwise.rcl.bench.cases import MODALITY_SETS, BenchCase, parse_modalities, with_modalities
from faultwise.rcl.bench.metrics import BenchSummary, CaseResult, FaultTypeScore, summarize
from faultwise.rcl.bench.nezha import nezha_cases, select_cases
from faultwise.rcl.bench.rcaeval import rcaeval_cases, select_rcaeval_cases
from faultwise.rcl.bench.replay import (
    ReplaySource,
    ReplaySpec,
    file_sources,
    nezha_sources,
    replay_cases,
    replay_plan,
    replay_sources,
)
from faultwise.rcl.bench.report import MethodsReport, methods_report
from faultwise.rcl.bench.runner import BenchRun, run_bench, score_case
from faultwise.rcl.bench.synthetic import synthetic_cases, synthetic_plan

__all__ = [
    "BenchCase",
    "BenchRun",
    "BenchSummary",
    "CaseResult",
    "FaultTypeScore",
    "MODALITY_SETS",
    "MethodsReport",
    "ReplaySource",
    "ReplaySpec",
    "aiops2022_cases",
    "file_sources",
    "find_beds",
    "methods_report",
    "nezha_cases",
    "nezha_sources",
    "parse_modalities",
    "rcaeval_cases",
    "replay_cases",
    "replay_plan",
    "replay_sources",
    "run_bench",
    "score_case",
    "select_cases",
    "select_rcaeval_cases",
    "summarize",
    "synthetic_cases",
    "synthetic_plan",
    "with_modalities",
]
