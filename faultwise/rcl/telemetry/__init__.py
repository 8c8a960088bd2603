"""Telemetry: canonical records and the loaders of the formats users have."""

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
    "Span",
    "Telemetry",
    "load_logs",
    "load_metrics",
    "load_nezha_case",
    "load_telemetry",
    "load_traces",
    "read_nezha_cases",
    "service_of_pod",
    "sniff_format",
]
