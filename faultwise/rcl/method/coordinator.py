"""Parallel recursion over the trace graph.

``dependency`` schedule (default): every self-verification starts at once; each consolidation starts as
soon as its own verification and all of its children's consolidations are done. ``levels`` schedule (an
ablation): all verifications, then consolidation level by level from the deepest, with a barrier between
levels. Both run under one concurrency bound (what limits parallel LLM calls).

A reasoner that plans an incident before its recursion (the LLM reasoner: which decisions are in doubt,
and the budget spent on them across all traces) has a ``prepare(graphs, tools)`` method; it is called
once per incident, with every trace graph, before any agent runs. A reasoner that never waits (the
embedded one) runs each trace's steps in that same dependency order without a task per step.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

from faultwise.rcl.method.agent import DedicatedAgent
from faultwise.rcl.profile.graph import TraceGraph
from faultwise.rcl.reasoners.base import Reasoner
from faultwise.rcl.records import AgentReport, EvidenceGraph
from faultwise.rcl.tools import DataTools, ScopedTools

Schedule = Literal["dependency", "levels"]


@contextmanager
def _collector_paused() -> Iterator[None]:
    """The agents allocate several records per span and keep them all until the synthesis: the cyclic
    garbage collector would rescan that growing heap again and again (about a tenth of a 10,000-span trace's
    time) and free nothing. Reference counting still frees; the collector's prior state is restored."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@dataclass
class StepEvent:
    """One scheduled step, for tests and timing: ``kind`` is verify or consolidate."""

    kind: str
    span_id: str
    start_s: float
    end_s: float


@dataclass
class Coordinator:
    reasoner: Reasoner
    concurrency: int = 16
    schedule: Schedule = "dependency"
    record_events: bool = False
    events: list[StepEvent] = field(default_factory=list)
    on_trace_done: Callable[[EvidenceGraph], None] | None = None

    async def run_traces(self, graphs: list[TraceGraph], tools: DataTools) -> list[EvidenceGraph]:
        prepare = getattr(self.reasoner, "prepare", None)
        if callable(prepare):
            prepare(graphs, tools)
        sem = asyncio.Semaphore(max(1, self.concurrency))
        return list(await asyncio.gather(*(self._run_trace(g, tools, sem) for g in graphs)))

    def run(self, graphs: list[TraceGraph], tools: DataTools) -> list[EvidenceGraph]:
        """Synchronous entry point."""
        with _collector_paused():
            return asyncio.run(self.run_traces(graphs, tools))

    async def _step(self, sem: asyncio.Semaphore, kind: str, sid: str, make):
        """Run one agent step under the bound; ``make`` creates the coroutine only once a slot is free."""
        async with sem:
            t0 = time.perf_counter()
            out = await make()
            if self.record_events:
                self.events.append(StepEvent(kind, sid, t0, time.perf_counter()))
            return out

    async def _run_trace(self, graph: TraceGraph, tools: DataTools, sem: asyncio.Semaphore) -> EvidenceGraph:
        agents = {
            sid: DedicatedAgent(sp, ScopedTools(sp, tools), self.reasoner) for sid, sp in graph.spans.items()
        }
        if self._never_waits():
            reports = self._in_order(graph, agents)
        elif self.schedule == "levels":
            reports = await self._levels(graph, agents, sem)
        else:
            reports = await self._dependency(graph, agents, sem)
        geg = EvidenceGraph(
            trace_id=graph.trace_id,
            nodes={sid: a.evidence for sid, a in agents.items() if a.evidence is not None},
            edges=[(p, c) for c, p in graph.parent.items()],
            reports=reports,
            roots=list(graph.roots),
        )
        geg.trace_anomaly = max((n.score for n in geg.nodes.values()), default=0.0)
        if self.on_trace_done:
            self.on_trace_done(geg)
        return geg

    def _never_waits(self) -> bool:
        """A reasoner whose steps are plain computations (it offers ``verify_sync`` and ``consolidate_sync``,
        as the embedded one does) gains nothing from a task per step: its trace runs in dependency order in one
        go, with the same reports. Recording step events keeps the scheduled path (they describe it)."""
        r = self.reasoner
        return (
            not self.record_events
            and callable(getattr(r, "verify_sync", None))
            and callable(getattr(r, "consolidate_sync", None))
        )

    def _in_order(self, graph: TraceGraph, agents: dict[str, DedicatedAgent]) -> dict[str, AgentReport]:
        r = self.reasoner
        for a in agents.values():
            a.evidence = r.verify_sync(a.span, a.tools)  # type: ignore[attr-defined]
        reports: dict[str, AgentReport] = {}
        for sid in graph.post_order():  # children before their parents, as the dependency schedule
            a = agents[sid]
            kids = [reports[c] for c in graph.children[sid]]
            reports[sid] = r.consolidate_sync(a.span, a.evidence, kids)  # type: ignore[attr-defined]
        return reports

    async def _dependency(self, graph, agents, sem) -> dict[str, AgentReport]:
        verify = {
            sid: asyncio.ensure_future(self._step(sem, "verify", sid, a.verify)) for sid, a in agents.items()
        }
        consolidated: dict[str, asyncio.Future] = {}

        async def consolidate(sid: str) -> AgentReport:
            kids = graph.children[sid]
            child_reports = list(await asyncio.gather(*(consolidated[c] for c in kids)))
            await verify[sid]
            return await self._step(sem, "consolidate", sid, lambda: agents[sid].consolidate(child_reports))

        for sid in graph.post_order():  # children are scheduled before their parents
            consolidated[sid] = asyncio.ensure_future(consolidate(sid))
        try:
            await asyncio.gather(*consolidated.values())
        except BaseException:
            # one agent failed (or we were cancelled): stop the rest instead of leaving them running
            for f in [*verify.values(), *consolidated.values()]:
                f.cancel()
            await asyncio.gather(*verify.values(), *consolidated.values(), return_exceptions=True)
            raise
        return {sid: f.result() for sid, f in consolidated.items()}

    async def _levels(self, graph, agents, sem) -> dict[str, AgentReport]:
        await asyncio.gather(*(self._step(sem, "verify", sid, a.verify) for sid, a in agents.items()))
        depth = graph.depth()
        reports: dict[str, AgentReport] = {}
        for level in sorted(set(depth.values()), reverse=True):
            sids = [s for s, d in depth.items() if d == level]
            outs = await asyncio.gather(
                *(
                    self._step(
                        sem,
                        "consolidate",
                        s,
                        lambda s=s: agents[s].consolidate([reports[c] for c in graph.children[s]]),
                    )
                    for s in sids
                )
            )
            reports.update(zip(sids, outs, strict=True))
        return reports
