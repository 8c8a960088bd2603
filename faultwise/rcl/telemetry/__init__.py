"""Telemetry: canonical records and the loaders of the formats users have."""

from faultwise.rcl.telemetry.aiops2022_full import aiops2022_incidents, load_aiops2022_bed
from faultwise.rcl.telemetry.levels import error_lines_per_pod, is_error_line, norm_level
from faultwise.rcl.telemetry.load import (
    FAMILIES,
    FORMATS,
    load_logs,
    load_metrics,
    load_telemetry,
    load_traces,
    sniff_format,
)
from faultwise.rcl.telemetry.nezha import MetricCache, NezhaCase, load_nezha_case, read_nezha_cases
from faultwise.rcl.telemetry.rcaeval import RCAEvalCase, find_rcaeval_cases, load_rcaeval_case
from faultwise.rcl.telemetry.schema import (
    LOG_COLUMNS,
    METRIC_COLUMNS,
    SPAN_COLUMNS,
    Span,
    Telemetry,
    service_of_pod,
)

__all__ = [
    "FAMILIES",
    "FORMATS",
    "LOG_COLUMNS",
    "METRIC_COLUMNS",
    "MetricCache",
    "NezhaCase",
    "RCAEvalCase",
    "SPAN_COLUMNS",
    "Span",
    "Telemetry",
    "aiops2022_incidents",
    "error_lines_per_pod",
    "find_rcaeval_cases",
    "is_error_line",
    "load_aiops2022_bed",
    "load_logs",
    "load_metrics",
    "load_nezha_case",
    "load_rcaeval_case",
    "load_telemetry",
    "load_traces",
    "norm_level",
    "read_nezha_cases",
    "service_of_pod",
    "sniff_format",
]
