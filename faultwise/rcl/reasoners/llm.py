"""The LLM reasoner: an LLM decides each agent's self-evidence, its consolidation and the final synthesis.

Same coordinator, tools, records and synthesis as the embedded reasoner; only the three decisions move to
the model. Every prompt is bounded by construction: an agent sees its own span, its tool results (each
size-capped), and at most ``max_children`` compact child reports (the rest are counted, not listed); the
synthesis sees the top candidates and capped, pruned evidence graphs. So the largest prompt does not grow
with the trace.

The measured strengths of :class:`SelfEvidence` (self-time, gap, metric and log scores, used by the
statistical aggregation) come from the embedded reasoner over the same tools; the LLM gives the judgement
(abnormal or not, symptoms, hypothesis, score). When the LLM fails for good for one agent (after retries,
the format ladder and the repair retry), that agent's decision is the embedded reasoner's, and the run's
:class:`LLMUsage` lists it.
"""

from __future__ import annotations

import json

from pydantic import BaseModel, ConfigDict, Field

from faultwise.rcl.llm.client import LLMClient, Tool
from faultwise.rcl.llm.errors import LLMError
from faultwise.rcl.llm.prompts import load_prompt, render
from faultwise.rcl.llm.records import compact, dumps_capped, dumps_fitting, pick_fields
from faultwise.rcl.reasoners.base import no_cause_report, self_report
from faultwise.rcl.reasoners.embedded import EmbeddedReasoner
from faultwise.rcl.records import AgentReport, Candidate, EvidenceGraph, FaultType, SelfEvidence
from faultwise.rcl.telemetry.schema import Span
from faultwise.rcl.tools import ScopedTools

VerifyDecision = pick_fields(
    SelfEvidence,
    "VerifyDecision",
    ["is_abnormal", "has_error_logs", "has_metric_anomaly", "key_symptoms", "hypothesis", "score"],
)
ConsolidateDecision = pick_fields(
    AgentReport, "ConsolidateDecision", ["root_cause_span", "fault_type", "reason", "confidence"]
)


class RankedChoice(BaseModel):
    component: str = Field(description="one of the listed candidates' components")
    fault_type: FaultType = "unknown"
    rationale: str = ""


class SynthesisDecision(BaseModel):
    ranking: list[RankedChoice] = Field(description="candidates, most likely root cause first")


class LLMReasonerConfig(BaseModel):
    """Prompt bounds and call budget. Sizes are characters of JSON text."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tool_rounds: int = Field(1, ge=0, description="rounds of tool calls an agent may make before it answers")
    max_children: int = Field(
        8, ge=1, description="child reports listed in a consolidation prompt (the rest counted)"
    )
    max_text: int = Field(160, ge=16, description="characters kept of any one text (symptom, reason, name)")
    max_children_chars: int = Field(2400, ge=200, description="characters of the listed child reports")
    max_candidates: int = Field(10, ge=1, description="candidates the synthesis prompt shows")
    max_graphs: int = Field(3, ge=0, description="pruned evidence graphs the synthesis prompt shows")
    max_graph_nodes: int = Field(12, ge=1, description="abnormal spans shown per evidence graph")
    max_synthesis_chars: int = Field(
        6000, ge=400, description="characters of the whole synthesis prompt's data"
    )
    skip_trivial: bool = Field(
        True, description="a normal span with no blamed descendant is reported normal without a call"
    )


def _span_view(span: Span, max_text: int) -> str:
    return dumps_capped(
        compact(
            {
                "span_id": span.span_id,
                "service": span.service,
                "pod": span.pod,
                "node": span.node,
                "operation": span.operation,
                "kind": span.kind,
                "duration_us": span.duration_us,
                "failed": span.is_error,
                "status": span.status_code,
            },
            max_str=max_text,
        ),
        4 * max_text,
    )


class LLMReasoner:
    """:class:`~faultwise.rcl.reasoners.base.Reasoner` backed by an OpenAI-compatible endpoint."""

    name = "llm"

    def __init__(
        self,
        client: LLMClient,
        fallback: EmbeddedReasoner | None = None,
        config: LLMReasonerConfig | None = None,
    ):
        self.client = client
        self.fallback = fallback or EmbeddedReasoner()
        self.config = config or LLMReasonerConfig()

    @property
    def usage(self):
        return self.client.usage

    def _system(self) -> dict:
        return {"role": "system", "content": load_prompt("agent_system")}

    # --- self-state verification -------------------------------------------------------------------------

    async def verify(self, span: Span, tools: ScopedTools) -> SelfEvidence:
        measured = self.fallback.verify_sync(span, tools)
        agent_tools = [
            Tool("timing", ScopedTools.timing.__doc__ or "", tools.timing),
            Tool("logs", ScopedTools.logs.__doc__ or "", tools.logs),
            Tool("pod_metrics", ScopedTools.pod_metrics.__doc__ or "", tools.pod_metrics),
            Tool("node_metrics", ScopedTools.node_metrics.__doc__ or "", tools.node_metrics),
            Tool("operation_stats", ScopedTools.operation_stats.__doc__ or "", tools.operation_stats),
        ]
        messages = [
            self._system(),
            {"role": "user", "content": render("verify", span=_span_view(span, self.config.max_text))},
        ]
        try:
            d = await self.client.decide(
                messages, agent_tools, VerifyDecision, "self_verdict", rounds=self.config.tool_rounds
            )
        except LLMError as exc:
            self.usage.record_fallback(span.span_id, "verify", exc)
            return measured
        t = self.config.max_text
        return measured.model_copy(
            update={
                "is_abnormal": d.is_abnormal,
                "has_error_logs": d.has_error_logs,
                "has_metric_anomaly": d.has_metric_anomaly,
                "key_symptoms": [s[:t] for s in d.key_symptoms[:5]],
                "hypothesis": d.hypothesis,
                "score": round(min(1.0, max(0.0, float(d.score))), 4),
            }
        )

    # --- consolidation -----------------------------------------------------------------------------------

    def _children_view(self, children: list[AgentReport]) -> str:
        c = self.config
        blamed = sorted((r for r in children if r.root_cause_span), key=lambda r: -r.confidence)
        shown = [
            compact(
                {
                    "child_span": r.span_id,
                    "root_cause_span": r.root_cause_span,
                    "component": r.component,
                    "service": r.service,
                    "fault_type": r.fault_type,
                    "confidence": r.confidence,
                    "reason": r.reason,
                    "depth": len(r.path),
                },
                max_str=c.max_text,
            )
            for r in blamed[: c.max_children]
        ]
        listed = dumps_fitting(shown, c.max_children_chars - 80)
        rest = len(children) - len(json.loads(listed)) if listed.endswith("]") else len(children)
        note = f"{rest} more children ({len(children) - len(blamed)} report no abnormal span)" if rest else ""
        return listed + ("\n" + note if note else "")

    async def consolidate(self, span: Span, own: SelfEvidence, children: list[AgentReport]) -> AgentReport:
        blamed = {r.root_cause_span: r for r in children if r.root_cause_span}
        if self.config.skip_trivial and not own.is_abnormal and not blamed:
            self.usage.skipped_consolidations += 1
            return no_cause_report(span, "normal, and no abnormal descendant")
        shown = sorted(blamed.values(), key=lambda r: -r.confidence)[: self.config.max_children]
        allowed = {span.span_id} | {r.root_cause_span for r in shown}

        def valid_choice(d) -> None:
            if d.root_cause_span is not None and d.root_cause_span not in allowed:
                raise ValueError(
                    f"root_cause_span must be null, {span.span_id} (this span) or a child's root_cause_span"
                )

        own_view = dumps_capped(
            compact(
                own.model_dump(exclude={"service", "pod", "node", "operation"}), max_str=self.config.max_text
            ),
            1200,
        )
        messages = [
            self._system(),
            {
                "role": "user",
                "content": render(
                    "consolidate",
                    span=_span_view(span, self.config.max_text),
                    own=own_view,
                    children=self._children_view(children),
                ),
            },
        ]
        try:
            d = await self.client.structured(
                messages, ConsolidateDecision, "branch_report", check=valid_choice
            )
        except LLMError as exc:
            self.usage.record_fallback(span.span_id, "consolidate", exc)
            return self.fallback.consolidate_sync(span, own, children)
        conf = round(min(1.0, max(0.0, float(d.confidence))), 4)
        reason = d.reason[: self.config.max_text]
        if d.root_cause_span is None:
            return no_cause_report(span, reason or "no abnormal span found")
        if d.root_cause_span == span.span_id:
            return self_report(span, own.node, d.fault_type, conf, reason)
        child = blamed[d.root_cause_span]
        return child.model_copy(
            update={
                "span_id": span.span_id,
                "failed": span.is_error,
                "fault_type": d.fault_type,
                "confidence": conf,
                "reason": reason,
                "path": [span.span_id, *child.path],
            }
        )

    # --- synthesis ---------------------------------------------------------------------------------------

    def synthesis_view(self, ranked: list[Candidate], graphs: list[EvidenceGraph]) -> tuple[str, str]:
        """The two bounded texts the synthesis prompt holds: top candidates and pruned evidence graphs."""
        c = self.config
        cands = [
            compact(
                {
                    "component": x.component,
                    "level": x.level,
                    "service": x.service,
                    "fault_type": x.fault_type,
                    "score": x.score,
                    "rationale": x.rationale,
                    "evidence": x.evidence,
                },
                max_items=3,
                max_str=c.max_text,
            )
            for x in ranked[: c.max_candidates]
        ]
        views = []
        chosen = sorted(graphs, key=lambda g: -g.trace_anomaly)[: c.max_graphs]
        per_graph = c.max_synthesis_chars // 2 // max(1, len(chosen))
        for g in chosen:
            p = g.pruned()
            nodes = sorted(p.nodes.values(), key=lambda n: -n.score)[: c.max_graph_nodes]
            keep = {n.span_id for n in nodes}
            views.append(
                {
                    "trace": g.trace_id,
                    "root_reports": [
                        compact(r.model_dump(exclude={"path"}), max_str=c.max_text)
                        for r in p.root_reports[:2]
                    ],
                    "abnormal_spans": [
                        compact(
                            {
                                "span": n.span_id,
                                "service": n.service,
                                "pod": n.pod,
                                "operation": n.operation,
                                "abnormal": n.is_abnormal,
                                "hypothesis": n.hypothesis,
                                "score": n.score,
                                "symptoms": n.key_symptoms,
                            },
                            max_items=2,
                            max_str=c.max_text,
                        )
                        for n in nodes
                    ],
                    "calls": [[a, b] for a, b in p.edges if a in keep and b in keep][: 2 * c.max_graph_nodes],
                }
            )
            # whole spans only: drop the weakest until this graph fits its share
            view = views[-1]
            while (
                len(json.dumps(view, separators=(",", ":"))) > per_graph and len(view["abnormal_spans"]) > 1
            ):
                gone = view["abnormal_spans"].pop()["span"]
                view["calls"] = [e for e in view["calls"] if gone not in e]
        half = c.max_synthesis_chars // 2
        return dumps_fitting(cands, half), dumps_fitting(views, half)

    async def synthesize(self, ranked: list[Candidate], graphs: list[EvidenceGraph]) -> list[Candidate]:
        if not ranked:
            return ranked
        top = ranked[: self.config.max_candidates]
        names = {x.component for x in top}

        def known(d: SynthesisDecision) -> None:
            bad = [r.component for r in d.ranking if r.component not in names]
            if bad:
                raise ValueError(f"unknown component(s) {', '.join(bad[:3])}; use only the listed candidates")

        cand_text, graph_text = self.synthesis_view(ranked, graphs)
        messages = [
            self._system(),
            {"role": "user", "content": render("synthesize", candidates=cand_text, graphs=graph_text)},
        ]
        try:
            d = await self.client.structured(messages, SynthesisDecision, "final_ranking", check=known)
        except LLMError as exc:
            self.usage.record_fallback("-", "synthesize", exc)
            return ranked
        return rerank(ranked, d, self.config.max_text)


def rerank(ranked: list[Candidate], decision: SynthesisDecision, max_text: int = 160) -> list[Candidate]:
    """Reorder ``ranked`` as the model said; unnamed candidates keep their order after the named ones. The
    score scale is kept: the i-th candidate gets the i-th highest original score."""
    left = list(ranked)
    order: list[Candidate] = []
    for choice in decision.ranking:
        x = next((y for y in left if y.component == choice.component), None)
        if x is None:
            continue
        left.remove(x)
        rationale = choice.rationale[:max_text] or x.rationale
        order.append(x.model_copy(update={"fault_type": choice.fault_type, "rationale": rationale}))
    order += left
    scores = sorted((x.score for x in ranked), reverse=True)
    return [x.model_copy(update={"score": s}) for x, s in zip(order, scores, strict=True)]
