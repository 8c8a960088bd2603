"""Telemetry: canonical records and the loaders of the formats users have."""

from faultwise.rcl.telemetry.schema import (
    LOG_COLUMNS,
    METRIC_COLUMNS,
    SPAN_COLUMNS,
    Span,
    Telemetry,
    service_of_pod,
)

__all__ = ["LOG_COLUMNS", "METRIC_COLUMNS", "SPAN_COLUMNS", "Span", "Telemetry", "service_of_pod"]
