"""Tools bound to one span's own component and window: the whole of an agent's view of the world."""

from __future__ import annotations

from dataclasses import dataclass

from faultwise.rcl.telemetry.schema import Span
from faultwise.rcl.tools.data_tools import (
    DataTools,
    LogEvidence,
    MetricEvidence,
    OperationStats,
    TimingEvidence,
)


@dataclass(frozen=True)
class ScopedTools:
    """The data tools of one Dedicated Agent: they answer only about its span, pod, node and operation."""

    span: Span
    tools: DataTools

    def timing(self) -> TimingEvidence:
        """Duration, own processing time and network gap of the span, against its operation's baseline."""
        return self.tools.span_timing(self.span.span_id)

    def logs(self) -> LogEvidence:
        """Log lines the span emitted, as templates new to / missing from its operation's normal pattern."""
        return self.tools.span_logs(self.span.span_id)

    def pod_metrics(self) -> MetricEvidence:
        """Strongest metric deviations of the span's pod in the incident window."""
        return self.tools.metric_deviations(self.span.pod)

    def node_metrics(self) -> MetricEvidence:
        """Strongest metric deviations of the node hosting the span's pod."""
        node = self.span.node or self.tools.node_of(self.span.pod)
        return self.tools.metric_deviations(node) if node else MetricEvidence(entity="")

    def operation_stats(self) -> OperationStats:
        """Incident vs baseline statistics of the span's operation."""
        return self.tools.operation_stats(self.span.service, self.span.operation)
