"""RCLAgent: the config-built analyzer users call, ``RCLAgent(config).find_root_causes(incident, normal)``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from faultwise.errors import InputError
from faultwise.rcl.method.coordinator import Coordinator, Schedule
from faultwise.rcl.method.selection import select_traces
from faultwise.rcl.method.synthesis import SynthesisConfig, synthesize
from faultwise.rcl.profile import NormalProfile
from faultwise.rcl.profile.graph import TraceGraph
from faultwise.rcl.profile.onset import settled_before
from faultwise.rcl.reasoners.base import Reasoner
from faultwise.rcl.reasoners.embedded import EmbeddedConfig, EmbeddedReasoner
from faultwise.rcl.records import EvidenceGraph, Ranking
from faultwise.rcl.telemetry.schema import Telemetry
from faultwise.rcl.tools import DataTools


class RCLConfig(BaseModel):
    """How the analyzer runs. Defaults are general; ablations switch modalities or the graph off.

    Example::

        RCLConfig(max_traces=40)                                  # fewer traces, faster
        RCLConfig(use_logs=False, use_metrics=False)              # traces only
        RCLConfig(synthesis=SynthesisConfig(use_graph_breadth=False))
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    concurrency: int = Field(16, ge=1, description="agent steps (LLM calls) run at once")
    schedule: Schedule = Field(
        "dependency",
        description="dependency: each consolidation starts once its children reported; levels: the "
        "barrier-per-level ablation",
    )
    max_traces: int = Field(150, ge=1, description="most anomalous traces to diagnose")
    min_trace_score: float = Field(
        0.1, ge=0, le=1, description="anomaly score a trace needs to be diagnosed at all"
    )
    use_logs: bool = Field(True, description="read logs (off: the no-logs ablation)")
    use_metrics: bool = Field(True, description="read metrics (off: the no-metrics ablation)")
    baseline_fraction: float = Field(
        1 / 3,
        gt=0,
        lt=1,
        description="with neither fault-free telemetry nor a start: the share of the incident's time range "
        "taken as normal",
    )
    onset_shift_factor: float | None = Field(
        None,
        gt=1,
        description="for a start that may be late: with declared fault-free telemetry, an operation whose "
        "median own time before the start is already this many times off its declared median (either way) "
        "is taken to be faulty there and its spans before the start do not join the baseline. Off (None) "
        "by default: on TrainTicket the hours between the declared baseline and the incident move medians "
        "too (leave-one-system-out in docs/rcl-bench.md)",
    )
    reasoner: EmbeddedConfig = Field(
        default_factory=EmbeddedConfig,
        description="the embedded reasoner's knobs; the trace selection scores with them whatever reasons",
    )
    synthesis: SynthesisConfig = Field(
        default_factory=SynthesisConfig, description="how the conclusions become one ranked list"
    )


class Diagnosis(Ranking):
    """The result of one incident: ranked candidates and what they rest on."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

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


class RCLAgent:
    """Multi-agent recursion-of-thought over trace graphs, with a pluggable reasoner.

    Args:
        config: how to run (:class:`RCLConfig`; defaults are general).
        reasoner: what decides inside each agent; default the embedded statistical reasoner built from
            ``config.reasoner``. An :class:`~faultwise.rcl.reasoners.llm.LLMReasoner` asks a model instead.

    Example::

        diagnosis = RCLAgent(RCLConfig()).find_root_causes(incident, normal, start_us=alarm_us)
        for c in diagnosis.candidates[:3]:
            print(c.component, c.level, c.fault_type, c.score)
    """

    def __init__(self, config: RCLConfig | None = None, reasoner: Reasoner | None = None):
        self.config = config or RCLConfig()
        self.reasoner: Reasoner = reasoner or EmbeddedReasoner(self.config.reasoner)

    def find_root_causes(
        self,
        incident: Telemetry,
        normal: Telemetry | None = None,
        start_us: int | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> Diagnosis:
        """Rank the likely root causes of ``incident``.

        ``normal`` is fault-free telemetry of the same system (the baseline); ``start_us`` the incident start
        (alarm or injection time). Spans before ``start_us`` join the baseline (with ``onset_shift_factor`` set,
        but for the operations already shifted there against ``normal``). With neither, the first
        ``baseline_fraction`` of the incident's time range is taken as normal.
        """
        t0 = time.perf_counter()
        cfg = self.config
        spans = incident.spans
        if not len(spans):
            raise InputError(incident.sources.get("traces", "<traces>"), "no spans to diagnose")
        lo, hi = incident.time_range_us()
        if start_us is None and normal is None:
            start_us = int(lo + (hi - lo) * cfg.baseline_fraction)
        logs_on = cfg.use_logs and incident.logs is not None and len(incident.logs) > 0
        base_spans: list[pd.DataFrame] = []
        base_logs: list[pd.DataFrame] = []
        base_src: list[str] = []
        if normal is not None and len(normal.spans):
            base_spans.append(normal.spans)
            if cfg.use_logs and normal.logs is not None:
                base_logs.append(normal.logs)
            base_src.append(normal.sources.get("traces", "baseline"))
        if start_us is not None:
            before = spans[spans["start_us"] < start_us]
            if base_spans and cfg.onset_shift_factor is not None:  # operations already shifted stay out
                before, _ = settled_before(before, base_spans[0], cfg.onset_shift_factor)
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
        profile = NormalProfile.fit(
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
        metric_normal = normal.metrics if (normal is not None and cfg.use_metrics) else None
        tools = DataTools(
            inc,
            profile,
            metric_normal=metric_normal,
            window_us=window,
            call_shift_z=cfg.reasoner.z0,
            call_share_change=cfg.reasoner.call_share_change,
            similar_factor=cfg.reasoner.similar_factor,
            median_z=cfg.reasoner.median_z,
        )

        chosen = select_traces(tools, start_us, cfg.max_traces, cfg.min_trace_score, cfg.reasoner)
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
        ranked = synthesize(gegs, tools, cfg.synthesis)

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
