"""Data tools: what an agent may see of the incident beyond its own span, as small typed records.

:class:`DataTools` is the facade over the incident (built once, vectorised); :class:`ScopedTools` is one
agent's view of it, bound to its span.
"""

from faultwise.rcl.tools.data_tools import DataTools
from faultwise.rcl.tools.records import (
    MAX_ITEMS,
    CallShift,
    LogEvidence,
    MetricEvidence,
    MetricShift,
    OperationStats,
    StructureEvidence,
    TimingEvidence,
)
from faultwise.rcl.tools.scoped import ScopedTools

__all__ = [
    "CallShift",
    "DataTools",
    "LogEvidence",
    "MAX_ITEMS",
    "MetricEvidence",
    "MetricShift",
    "OperationStats",
    "ScopedTools",
    "StructureEvidence",
    "TimingEvidence",
]
