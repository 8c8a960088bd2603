"""The dependency-driven scheduler: order respects the tree, concurrency stays bounded, levels ablation."""

import asyncio

import pandas as pd
import pytest

from faultwise.rcl.method.coordinator import Coordinator
from faultwise.rcl.profile.graph import TraceGraph
from faultwise.rcl.records import AgentReport, SelfEvidence


def _tree() -> TraceGraph:
    # a -> b -> c -> d (deep branch), a -> e (shallow branch)
    rows = []
    for sid, parent in [("a", ""), ("b", "a"), ("c", "b"), ("d", "c"), ("e", "a")]:
        rows.append(
            dict(
                trace_id="t",
                span_id=sid,
                parent_id=parent,
                service=sid,
                pod=f"{sid}-1",
                node="",
                operation="op",
                kind="server",
                start_us=0,
                duration_us=10,
                is_error=False,
                status_code="",
            )
        )
    return TraceGraph.from_frame(pd.DataFrame(rows))


class SlowReasoner:
    """Verification of the deep leaf is slow; everything else is quick. Tracks concurrency."""

    name = "fake"

    def __init__(self):
        self.running = 0
        self.max_running = 0

    async def _work(self, seconds):
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        await asyncio.sleep(seconds)
        self.running -= 1

    async def verify(self, span, tools):
        await self._work(0.2 if span.span_id == "d" else 0.01)
        return SelfEvidence(
            span_id=span.span_id,
            service=span.service,
            pod=span.pod,
            operation=span.operation,
            is_abnormal=span.span_id == "d",
            has_error=False,
            has_error_logs=False,
            has_metric_anomaly=False,
            score=0.9 if span.span_id == "d" else 0.0,
        )

    async def consolidate(self, span, own, children):
        await self._work(0.01)
        blamed = [c for c in children if c.root_cause_span]
        if blamed:
            return blamed[0].model_copy(
                update={"span_id": span.span_id, "path": [span.span_id, *blamed[0].path]}
            )
        if own.is_abnormal:
            return AgentReport(
                span_id=span.span_id,
                root_cause_span=span.span_id,
                component=span.pod,
                service=span.service,
                confidence=own.score,
                path=[span.span_id],
            )
        return AgentReport(span_id=span.span_id)

    async def synthesize(self, ranked, graphs):
        return ranked


def _run(schedule, concurrency=16):
    r = SlowReasoner()
    c = Coordinator(r, concurrency=concurrency, schedule=schedule, record_events=True)
    (geg,) = c.run([_tree()], tools=None)
    return r, c.events, geg


@pytest.mark.parametrize("schedule", ["dependency", "levels"])
def test_consolidation_waits_for_all_children_and_own_verification(schedule):
    _, events, geg = _run(schedule)
    end = {(e.kind, e.span_id): e.end_s for e in events}
    start = {(e.kind, e.span_id): e.start_s for e in events}
    g = _tree()
    for sid in g.spans:
        assert start[("consolidate", sid)] >= end[("verify", sid)]
        for child in g.children[sid]:
            assert start[("consolidate", sid)] >= end[("consolidate", child)]
    (root,) = geg.root_reports
    assert root.root_cause_span == "d" and root.path == ["a", "b", "c", "d"]


def test_dependency_schedule_does_not_wait_for_unrelated_branches():
    _, events, _ = _run("dependency")
    t = {(e.kind, e.span_id): e for e in events}
    # the shallow branch consolidates while the deep leaf is still verifying
    assert t[("consolidate", "e")].end_s < t[("verify", "d")].end_s
    _, events, _ = _run("levels")
    t = {(e.kind, e.span_id): e for e in events}
    assert t[("consolidate", "e")].start_s >= t[("verify", "d")].end_s  # the barrier waits for all


def test_concurrency_bound_is_respected():
    r, _, _ = _run("dependency", concurrency=2)
    assert r.max_running <= 2
    r, _, _ = _run("dependency", concurrency=16)
    assert r.max_running > 2  # and it really runs in parallel when allowed


def test_evidence_graph_repr_stays_small_whatever_its_size():
    from faultwise.rcl.records import EvidenceGraph, SelfEvidence

    nodes = {
        str(i): SelfEvidence(
            span_id=str(i),
            service="s",
            pod="s-1",
            operation="op",
            is_abnormal=False,
            has_error=False,
            has_error_logs=False,
            has_metric_anomaly=False,
        )
        for i in range(5000)
    }
    text = repr(EvidenceGraph(trace_id="t", nodes=nodes, edges=[("0", "1")]))
    assert text == "EvidenceGraph(trace_id='t', nodes=5000, edges=1)"


def test_a_reasoner_that_never_waits_gets_the_same_reports_without_a_task_per_step(small_incident):
    """The embedded reasoner's traces run in dependency order in one go: every report and every evidence
    node is what the scheduled path (taken when step events are recorded) gives."""
    from faultwise.rcl.profile import NormalProfile
    from faultwise.rcl.reasoners.embedded import EmbeddedReasoner
    from faultwise.rcl.tools import DataTools

    inc = small_incident("exception", 1)
    start_us = int(inc.truth.inject_ts_s * 1e6)
    tools = DataTools(
        inc.incident, NormalProfile.fit(inc.normal.spans, inc.normal.logs), window_us=(start_us, 2**62)
    )
    spans = inc.incident.spans
    tids = spans.loc[spans["is_error"], "trace_id"].unique()[:3]
    graphs = [TraceGraph.from_frame(spans[spans["trace_id"] == t]) for t in tids]
    assert len(graphs) == 3 and all(len(g) > 2 for g in graphs)
    fast = Coordinator(EmbeddedReasoner())
    scheduled = Coordinator(EmbeddedReasoner(), record_events=True)
    assert fast._never_waits() and not scheduled._never_waits()
    a, b = fast.run(graphs, tools), scheduled.run(graphs, tools)
    assert scheduled.events and not fast.events
    for x, y in zip(a, b, strict=True):
        assert list(x.reports) == list(y.reports)  # the same (post-)order
        assert x.reports == y.reports and x.nodes == y.nodes
