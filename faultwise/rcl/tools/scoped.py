"""Tools bound to one span's own component and window: the whole of an agent's view of the world."""

from __future__ import annotations

from dataclasses import dataclass

from faultwise.rcl.telemetry.schema import Span
from faultwise.rcl.tools.data_tools import DataTools
from faultwise.rcl.tools.records import (
    LogEvidence,
    MetricEvidence,
    OperationStats,
    StructureEvidence,
    TimingEvidence,
)


@dataclass(frozen=True)
class ScopedTools:
    """The data tools of one Dedicated Agent: they answer only about its span, pod, node and operation.

    ``ScopedTools(span, tools)``; the incident-wide :class:`DataTools` stay private to the view.
    """

    span: Span
    _tools: DataTools

    def timing(self) -> TimingEvidence:
        """Duration, own processing time and network gap of the span, against its operation's baseline."""
        return self._tools.span_timing(self.span.span_id)

    def structure(self) -> StructureEvidence:
        """The span's child calls against its operation's usual ones (vanished, new, changed counts)."""
        return self._tools.span_structure(self.span.span_id)

    def logs(self) -> LogEvidence:
        """Log lines the span emitted, as templates new to / missing from its operation's normal pattern."""
        return self._tools.span_logs(self.span.span_id)

    def pod_metrics(self) -> MetricEvidence:
        """Strongest metric deviations of the span's pod in the incident window."""
        return self._tools.metric_shifts(self.span.pod)

    def node(self) -> str:
        """The node hosting the span's pod ("" where the telemetry does not say)."""
        return self.span.node or self._tools.node_of(self.span.pod)

    def node_metrics(self) -> MetricEvidence:
        """Strongest metric deviations of the node hosting the span's pod."""
        node = self.node()
        return self._tools.metric_shifts(node) if node else MetricEvidence(entity="")

    def operation_stats(self) -> OperationStats:
        """Incident vs baseline statistics of the span's operation."""
        return self._tools.operation_stats(self.span.service, self.span.operation)
