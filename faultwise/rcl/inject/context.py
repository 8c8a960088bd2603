"""What a fault model works with: the span forest, the effects it fills in, the target, the onset, a seeded
random generator, and the notes it leaves for the log and metric edits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from faultwise.rcl.inject.shifter import Effects
from faultwise.rcl.inject.tree import SpanForest

#: How failures are recorded: HTTP status codes, gRPC status codes, an error flag only, or not at all (the
#: format has no status, e.g. the Nezha layout: failures show only as timing and structure).
StatusStyle = Literal["http", "grpc", "plain", "none"]

#: Status code per kind of failure and style.
STATUS_CODES: dict[str, dict[str, str]] = {
    "http": {"error": "500", "unavailable": "503", "timeout": "504"},
    "grpc": {"error": "2", "unavailable": "14", "timeout": "4"},
    "plain": {"error": "", "unavailable": "", "timeout": ""},
}


@dataclass(frozen=True)
class NewLogLine:
    """A log line the fault makes a span write, at an original time of that span's timeline."""

    span_row: int
    at_us: int
    text: str


@dataclass(frozen=True)
class MetricNote:
    """A resource change for the metric edit: CPU taken by a stressor on a pod or node (percentage points of
    its CPU), or a pod that reports nothing between two times."""

    entity: str
    entity_kind: str  # pod | node
    cpu_add_pct: float = 0.0
    silent_from_us: int | None = None
    silent_to_us: int | None = None


@dataclass
class InjectionContext:
    """One injection in progress. ``pods`` are the target's pods; spans of theirs that start at or after
    ``onset_us`` (and before ``until_us``) are the fault's."""

    forest: SpanForest
    fx: Effects
    rng: np.random.Generator
    pods: frozenset[str]
    onset_us: int
    until_us: int
    statuses: StatusStyle
    log_times: dict[int, list[int]] = field(default_factory=dict)  # span row -> times of its log lines
    log_pods: set[str] = field(default_factory=set)  # pods that write log lines at all
    new_lines: list[NewLogLine] = field(default_factory=list)
    metric_notes: list[MetricNote] = field(default_factory=list)
    silent: list[tuple[str, int, int]] = field(default_factory=list)  # (pod, from, to): it writes no logs
    muted: list[tuple[int, int]] = field(default_factory=list)  # (span row, from): its later lines vanish
    counts: dict[str, int] = field(default_factory=dict)
    details: dict[str, str] = field(default_factory=dict)  # what the model chose (for the label)

    def count(self, what: str, n: int = 1) -> None:
        self.counts[what] = self.counts.get(what, 0) + n

    def in_window(self, rows: np.ndarray, until_us: int | None = None) -> np.ndarray:
        f = self.forest
        stop = self.until_us if until_us is None else until_us
        return rows[(f.start[rows] >= self.onset_us) & (f.start[rows] < stop)]

    def target_rows(self, until_us: int | None = None) -> np.ndarray:
        """The target's spans that start while the fault is on."""
        rows = np.flatnonzero(np.isin(self.forest.pod, list(self.pods)))
        return self.in_window(rows, until_us)

    def calls_into(self, until_us: int | None = None) -> np.ndarray:
        """The target's spans called from another pod (the server side of calls into it) while the fault is on."""
        rows = np.flatnonzero(np.isin(self.forest.pod, list(self.pods)) & self.forest.crosses_pods())
        return self.in_window(rows, until_us)

    def entries(self, until_us: int | None = None) -> np.ndarray:
        """The target's spans that begin a request in it: called from another pod, or a trace's root."""
        f = self.forest
        rows = np.flatnonzero(np.isin(f.pod, list(self.pods)) & (f.crosses_pods() | (f.parent < 0)))
        return self.in_window(rows, until_us)

    def status_code(self, kind: str) -> str:
        return STATUS_CODES.get(self.statuses, STATUS_CODES["plain"])[kind]

    def logged_span(self, row: int) -> int:
        """``row`` or its nearest ancestor in the same pod that writes log lines; ``row`` itself when none
        does but the pod logs at all (-1: the pod writes no logs)."""
        f = self.forest
        x, seen = row, set()
        while x >= 0 and x not in seen and f.pod[x] == f.pod[row]:
            if x in self.log_times:
                return x
            seen.add(x)
            x = int(f.parent[x])
        return row if str(f.pod[row]) in self.log_pods else -1

    def log_line(self, row: int, at_us: int, text: str) -> None:
        """Have the span (or its nearest ancestor in the pod that logs) write an error line at ``at_us``."""
        x = self.logged_span(row)
        if x >= 0:
            self.new_lines.append(NewLogLine(x, at_us, text))
