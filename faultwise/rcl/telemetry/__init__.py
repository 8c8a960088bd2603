"""Telemetry: canonical records and the loaders of the formats users have."""

from faultwise.rcl.telemetry.aiops2022_full import aiops2022_incidents, load_aiops2022_bed
from faultwise.rcl.telemetry.load import (
    FAMILIES,
    FORMATS,
    load_logs,
    load_metrics,
    load_telemetry,
    load_traces,
    sniff_format,
)
from faultwise.rcl.telemetry.nezha import NezhaCase, load_nezha_case, read_nezha_cases
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
    "SPAN_COLUMNS",
    "NezhaCase",
    "RCAEvalCase",
    "aiops2022_incidents",
    "find_rcaeval_cases",
    "Span",
    "Telemetry",
    "load_aiops2022_bed",
    "load_logs",
    "load_metrics",
    "load_nezha_case",
    "load_rcaeval_case",
    "load_telemetry",
    "load_traces",
    "read_nezha_cases",
    "service_of_pod",
    "sniff_format",
]
