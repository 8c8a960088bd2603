"""The Global Evidence Graph (GEG): every agent's self-evidence, in the shape of its trace."""

from __future__ import annotations

from dataclasses import dataclass, field

from faultwise.rcl.records import AgentReport, SelfEvidence


@dataclass
class EvidenceGraph:
    """Nodes are spans with their agent's :class:`SelfEvidence`; edges are parent -> child calls.

    ``reports`` holds each agent's consolidated report; ``root_reports`` the reports of the trace roots,
    which are the recursion's conclusions for this trace.
    """

    trace_id: str
    nodes: dict[str, SelfEvidence] = field(default_factory=dict)
    edges: list[tuple[str, str]] = field(default_factory=list)
    reports: dict[str, AgentReport] = field(default_factory=dict)
    roots: list[str] = field(default_factory=list)
    trace_anomaly: float = 0.0

    def __repr__(self) -> str:
        # compact on purpose: asyncio (3.11) formats the repr of a finished task's result when it installs
        # its SIGINT handler, and a full repr of thousands of typed nodes costs seconds
        return f"EvidenceGraph(trace_id={self.trace_id!r}, nodes={len(self.nodes)}, edges={len(self.edges)})"

    @property
    def root_reports(self) -> list[AgentReport]:
        return [self.reports[r] for r in self.roots if r in self.reports]

    def abnormal(self) -> list[SelfEvidence]:
        return [n for n in self.nodes.values() if n.is_abnormal]

    def pruned(self) -> EvidenceGraph:
        """Abnormal nodes and the paths from them to the roots: what a final reasoner needs to see."""
        parent = {c: p for p, c in self.edges}
        keep: set[str] = set()
        for n in self.abnormal():
            sid = n.span_id
            while sid and sid not in keep:
                keep.add(sid)
                sid = parent.get(sid, "")
        return EvidenceGraph(
            trace_id=self.trace_id,
            nodes={k: v for k, v in self.nodes.items() if k in keep},
            edges=[(p, c) for p, c in self.edges if p in keep and c in keep],
            reports={k: v for k, v in self.reports.items() if k in keep},
            roots=[r for r in self.roots if r in keep],
            trace_anomaly=self.trace_anomaly,
        )

    def to_dict(self) -> dict:
        return {
            "trace_id": self.trace_id,
            "nodes": [n.model_dump() for n in self.nodes.values()],
            "edges": [list(e) for e in self.edges],
            "root_reports": [r.model_dump() for r in self.root_reports],
        }
