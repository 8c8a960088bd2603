"""RCLAgent: the config-built analyzer users call, ``RCLAgent(config).find_root_causes(incident, baseline)``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from faultwise.errors import InputError
from faultwise.rcl.method.coordinator import Coordinator, Schedule
from faultwise.rcl.method.selection import select_traces
from faultwise.rcl.method.synthesis import SynthesisConfig, synthesize
from faultwise.rcl.profile import NormalProfile
from faultwise.rcl.profile.graph import TraceGraph
from faultwise.rcl.reasoners.base import Reasoner
from faultwise.rcl.reasoners.embedded import EmbeddedConfig, EmbeddedReasoner
from faultwise.rcl.records import Candidate, EvidenceGraph
from faultwise.rcl.telemetry.schema import Telemetry
from faultwise.rcl.tools.data_tools import DataTools


@dataclass(frozen=True)
class RCLConfig:
    """How the analyzer runs. Defaults are general; ablations switch modalities or the graph off."""

    concurrency: int = 16
    schedule: Schedule = "dependency"
    max_traces: int = 150
    min_trace_score: float = 0.1
    use_logs: bool = True
    use_metrics: bool = True
    use_graph_breadth: bool = True
    baseline_fraction: float = 1 / 3  # with neither a baseline nor a start: the first third is normal
    reasoner: EmbeddedConfig = field(default_factory=EmbeddedConfig)


class Diagnosis(BaseModel):
    """The result of one incident: ranked candidates and what they rest on."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    candidates: list[Candidate]
    modalities: list[str]
    traces_total: int
    traces_analyzed: int
    spans_analyzed: int
    window_us: tuple[int, int]
    baseline_source: str
    seconds: float
    reasoner: str
    warnings: list[str] = Field(default_factory=list)
    graphs: list[EvidenceGraph] = Field(default_factory=list, exclude=True)
    trace_graphs: list[TraceGraph] = Field(default_factory=list, exclude=True)

    def services(self) -> list[str]:
        """Services in rank order (pod candidates map to their service; nodes are skipped)."""
        out: list[str] = []
        for c in self.candidates:
            svc = c.component if c.level == "service" else c.service
            if c.level != "node" and svc and svc not in out:
                out.append(svc)
        return out


class RCLAgent:
    """Multi-agent recursion-of-thought over trace graphs, with a pluggable reasoner."""

    def __init__(self, config: RCLConfig | None = None, reasoner: Reasoner | None = None):
        self.config = config or RCLConfig()
        rc = self.config.reasoner
        if not self.config.use_logs or not self.config.use_metrics:
            rc = EmbeddedConfig(
                **{**rc.__dict__, "use_logs": self.config.use_logs, "use_metrics": self.config.use_metrics}
            )
        self.reasoner: Reasoner = reasoner or EmbeddedReasoner(rc)

    def find_root_causes(
        self,
        incident: Telemetry,
        baseline: Telemetry | None = None,
        start_us: int | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> Diagnosis:
        """Rank the likely root causes of ``incident``.

        ``baseline`` is fault-free telemetry of the same system; ``start_us`` the incident start (alarm or
        injection time). Spans before ``start_us`` join the baseline. With neither, the first
        ``baseline_fraction`` of the incident's time range is taken as normal.
        """
        t0 = time.perf_counter()
        cfg = self.config
        spans = incident.spans
        if not len(spans):
            raise InputError(incident.sources.get("traces", "<traces>"), "no spans to diagnose")
        lo, hi = incident.time_range_us()
        if start_us is None and baseline is None:
            start_us = int(lo + (hi - lo) * cfg.baseline_fraction)
        logs_on = cfg.use_logs and incident.logs is not None and len(incident.logs) > 0
        base_spans: list[pd.DataFrame] = []
        base_logs: list[pd.DataFrame] = []
        base_src: list[str] = []
        if baseline is not None and len(baseline.spans):
            base_spans.append(baseline.spans)
            if cfg.use_logs and baseline.logs is not None:
                base_logs.append(baseline.logs)
            base_src.append(baseline.sources.get("traces", "baseline"))
        if start_us is not None:
            before = spans[spans["start_us"] < start_us]
            if len(before):
                base_spans.append(before)
                if logs_on:
                    base_logs.append(incident.logs[incident.logs["ts_us"] < start_us])
                base_src.append("period before the incident")
        if not base_spans:
            raise InputError(
                incident.sources.get("traces", "<traces>"),
                "no fault-free period to learn the normal baseline from",
            )
        base = NormalProfile.fit(
            pd.concat(base_spans, ignore_index=True),
            pd.concat([lg.assign(segment=i) for i, lg in enumerate(base_logs)], ignore_index=True)
            if base_logs
            else None,
        )

        window = (start_us if start_us is not None else lo, hi)
        inc = (
            incident if cfg.use_logs else Telemetry(incident.spans, None, incident.metrics, incident.sources)
        )
        if not cfg.use_metrics:
            inc = Telemetry(inc.spans, inc.logs, None, inc.sources)
        metric_base = baseline.metrics if (baseline is not None and cfg.use_metrics) else None
        tools = DataTools(inc, base, metric_baseline=metric_base, window_us=window)

        chosen = select_traces(tools, start_us, cfg.max_traces, cfg.min_trace_score)
        warnings: list[str] = []
        graphs: list[TraceGraph] = []
        by_trace = spans[spans["trace_id"].isin(set(chosen))].groupby("trace_id", sort=False)
        for tid in chosen:
            g = TraceGraph.from_frame(by_trace.get_group(tid))
            if g.broken_cycles:
                warnings.append(
                    f"trace {tid}: parent cycle broken at span(s) {', '.join(g.broken_cycles[:3])}"
                )
            if g.orphans:
                warnings.append(
                    f"trace {tid}: {len(g.orphans)} span(s) with a missing parent treated as roots"
                )
            graphs.append(g)

        done = 0

        def tick(_: EvidenceGraph) -> None:
            nonlocal done
            done += 1
            if progress:
                progress(done, len(graphs))

        coord = Coordinator(
            self.reasoner, concurrency=cfg.concurrency, schedule=cfg.schedule, on_trace_done=tick
        )
        gegs = coord.run(graphs, tools)
        ranked = synthesize(gegs, tools, SynthesisConfig(use_graph_breadth=cfg.use_graph_breadth))

        ranked = asyncio.run(self.reasoner.synthesize(ranked, [g.pruned() for g in gegs]))
        all_traces = spans["trace_id"].nunique()
        return Diagnosis(
            candidates=ranked,
            modalities=inc.modalities,
            traces_total=int(all_traces),
            traces_analyzed=len(graphs),
            spans_analyzed=sum(len(g) for g in graphs),
            window_us=(int(window[0]), int(window[1])),
            baseline_source=" + ".join(base_src),
            seconds=round(time.perf_counter() - t0, 3),
            reasoner=self.reasoner.name,
            warnings=warnings[:20],
            graphs=gegs,
            trace_graphs=graphs,
        )
