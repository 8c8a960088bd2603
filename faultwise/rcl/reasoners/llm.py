"""The LLM reasoner: the embedded reasoner decides every span, the model is asked where that is in doubt.

Before an incident's recursion runs, :meth:`LLMReasoner.prepare` lets the embedded reasoner decide every
span of every diagnosed trace, finds the decisions in doubt (:mod:`~faultwise.rcl.reasoners.escalation`),
and plans the incident's budget over them, most doubtful first across all traces. During the recursion a
span whose decision was planned asks the model (an identical question is asked once and its answer shared);
every other span keeps the embedded decision. The final synthesis is asked once per incident. Each record
says who decided it (``decided_by``).

Prompts are cheap and bounded: every request starts with the same system message (the agent's rules and
the incident summary) so that provider-side prompt caches hit, and ends with the span's specifics. A span
whose verification and consolidation are both asked continues one conversation, so its evidence is sent
once. An agent sees its own span, its tool results (each size-capped), and at most ``max_children`` compact
child reports; the synthesis sees the top candidates and capped, pruned evidence graphs.

The model makes the judgement (abnormal or not, which option is the cause, the fault type, the words); the
measured strengths stay the embedded reasoner's, so a model that agrees with the embedded verdicts gives
the embedded ranking exactly. When the model fails for good, or the budget is spent, the embedded decision
stands and :class:`~faultwise.rcl.llm.usage.LLMUsage` counts it.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections import Counter
from collections.abc import Awaitable, Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from faultwise.rcl.llm.budget import Budget, estimate_tokens
from faultwise.rcl.llm.client import LLMClient, Tool
from faultwise.rcl.llm.errors import LLMError, LLMOverBudget
from faultwise.rcl.llm.prompts import load_prompt, render
from faultwise.rcl.llm.records import compact, dumps_capped, dumps_fitting, pick_fields
from faultwise.rcl.llm.usage import Prices
from faultwise.rcl.profile.graph import TraceGraph
from faultwise.rcl.reasoners.base import no_cause_report, self_report
from faultwise.rcl.reasoners.embedded import EmbeddedReasoner
from faultwise.rcl.reasoners.escalation import (
    NONE,
    SELF,
    EmbeddedPass,
    EscalationRule,
    SpanKey,
    Stage,
    consolidate_doubt,
    consolidate_key,
    decision_label,
    embedded_pass,
    find_questions,
    has_decision,
    own_strength,
    plan_questions,
    verify_doubt,
    verify_key,
)
from faultwise.rcl.records import AgentReport, Candidate, EvidenceGraph, FaultType, SelfEvidence
from faultwise.rcl.telemetry.schema import Span, service_of_pod
from faultwise.rcl.tools import DataTools, ScopedTools

VerifyDecision = pick_fields(SelfEvidence, "VerifyDecision", ["is_abnormal", "hypothesis", "key_symptoms"])
ConsolidateDecision = pick_fields(
    AgentReport, "ConsolidateDecision", ["root_cause_span", "fault_type", "reason"]
)
SYNTHESIS_OVERHEAD_CHARS = 4000  # system message, instructions and schema around the synthesis data


class RankedChoice(BaseModel):
    component: str = Field(description="one of the listed candidates' components")
    fault_type: FaultType = "unknown"
    rationale: str = ""


class SynthesisDecision(BaseModel):
    ranking: list[RankedChoice] = Field(description="candidates, most likely root cause first")


class LLMReasonerConfig(BaseModel):
    """When the model is asked, what an incident may spend, and the prompt bounds (characters of JSON)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    escalation: EscalationRule = Field(
        default_factory=EscalationRule, description="which span decisions the model is asked for"
    )
    budget_calls: int | None = Field(
        60,
        ge=1,
        description="requests one incident may send (retries and repairs included, one held back for the "
        "synthesis); None: no limit",
    )
    budget_tokens: int | None = Field(
        None, ge=1, description="prompt + completion tokens one incident may spend; None: no limit"
    )
    plan_tokens_per_call: int = Field(
        1500, ge=1, description="tokens a request is expected to cost, to plan a token budget"
    )
    tool_rounds: int = Field(
        1, ge=0, description="rounds of tool calls an agent may make (0: its tool results are in the prompt)"
    )
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
    max_summary_chars: int = Field(
        900, ge=100, description="characters of the incident summary every request starts with"
    )
    skip_trivial: bool = Field(
        True,
        description="escalation mode all: a normal span with no blamed descendant is reported normal "
        "without a call",
    )


@dataclass(frozen=True)
class Choice:
    """A consolidation answer as an option (the span itself, a blamed component, or none), so that spans
    asking the same question can take it."""

    label: str
    fault_type: FaultType
    reason: str


@dataclass
class IncidentPlan:
    """The embedded decisions of one incident and what the model is asked (``ask``) or would have been
    asked without the budget (``over``), per (stage, span)."""

    done: EmbeddedPass
    status: dict[tuple[Stage, SpanKey], str] = field(default_factory=dict)
    shared: dict[Hashable, int] = field(default_factory=dict)  # question key -> spans asking it


Outcome = Any  # a decision record, a Choice, or the LLMError that stopped it
M = TypeVar("M", bound=BaseModel)


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


def incident_summary(graphs: list[TraceGraph], done: EmbeddedPass, max_chars: int) -> str:
    """What every agent of the incident is told first: its size, where the abnormal spans are, and what the
    statistical recursion blames (the same text for every request of the incident)."""
    abnormal = Counter(e.service for e in done.evidence.values() if e.is_abnormal)
    blamed: Counter = Counter()
    kinds: dict[str, Counter] = {}
    for g in graphs:
        for root in g.roots:
            r = done.reports.get((g.trace_id, root))
            if r is not None and r.component:
                blamed[r.component] += 1
                kinds.setdefault(r.component, Counter())[r.fault_type] += 1
    lines = [
        f"{len(graphs)} anomalous requests diagnosed, {len(done.evidence)} spans; "
        f"{sum(abnormal.values())} spans are abnormal by the statistical check.",
    ]
    if abnormal:
        lines.append(
            "Abnormal spans by service: " + ", ".join(f"{s} {n}" for s, n in abnormal.most_common(6))
        )
    if blamed:
        lines.append(
            "The statistical recursion blames: "
            + "; ".join(
                f"{c} in {n} of {len(graphs)} requests ({kinds[c].most_common(1)[0][0]})"
                for c, n in blamed.most_common(5)
            )
        )
    text = "\n".join(lines)
    return text if len(text) <= max_chars else text[: max_chars - 3] + "..."


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
        self._plan: IncidentPlan | None = None
        self._summary = ""
        self._answers: dict[Hashable, asyncio.Future] = {}
        self._answers_loop: asyncio.AbstractEventLoop | None = None
        self._transcripts: dict[SpanKey, list[dict]] = {}
        self._over_budget = False

    @property
    def usage(self):
        return self.client.usage

    @property
    def threshold(self) -> float:
        """The embedded reasoner's abnormal threshold, against which verdicts are in doubt."""
        return self.fallback.config.abnormal_at

    def report(self, prices: Prices | None = None) -> dict:
        """The ``"llm"`` block of the JSON output: the counters, the budget per incident, the cost."""
        return {
            **self.usage.summary(prices),
            "budget": {
                "calls_per_incident": self.config.budget_calls,
                "tokens_per_incident": self.config.budget_tokens,
            },
            "escalation": self.config.escalation.mode,
        }

    # --- the incident's plan -----------------------------------------------------------------------------

    def prepare(self, graphs: list[TraceGraph], tools: DataTools) -> None:
        """Decide every span with the embedded reasoner, find the questions in doubt and plan the budget.
        Called by the coordinator before an incident's recursion; resets the per-incident state."""
        cfg, rule = self.config, self.config.escalation
        self._answers.clear()
        self._transcripts.clear()
        done = embedded_pass(graphs, tools, self.fallback)
        questions = find_questions(graphs, done, rule, self.threshold, cfg.tool_rounds + 1, cfg.skip_trivial)
        reserve_calls = 1 if rule.synthesis else 0
        reserve_tokens = (
            estimate_tokens(cfg.max_synthesis_chars + SYNTHESIS_OVERHEAD_CHARS, self.client.config.max_tokens)
            if rule.synthesis
            else 0
        )
        calls = None if cfg.budget_calls is None else max(0, cfg.budget_calls - reserve_calls)
        tokens = None if cfg.budget_tokens is None else max(0, cfg.budget_tokens - reserve_tokens)
        asked, left = plan_questions(questions, calls, tokens, cfg.plan_tokens_per_call)
        plan = IncidentPlan(done)
        for verdict, qs in (("ask", asked), ("over", left)):
            for q in qs:
                plan.shared[q.key] = len(q.members)
                for m in q.members:
                    plan.status[(q.stage, m)] = verdict
        self._plan = plan
        self.client.budget = Budget(cfg.budget_calls, cfg.budget_tokens, reserve_calls, reserve_tokens)
        self.usage.questions_in_doubt += len(questions)
        self.usage.questions_over_budget += len(left)
        self._over_budget = bool(left)
        if left:
            self.usage.incidents_over_budget += 1
        self._summary = incident_summary(graphs, done, cfg.max_summary_chars)

    def _status(self, stage: Stage, member: SpanKey, doubt: Callable[[], float]) -> str | None:
        """``ask``, ``over`` (in doubt, no budget) or ``None`` (the embedded decision stands)."""
        if self._plan is not None:
            planned = self._plan.status.get((stage, member))
            # a consolidation's inputs may have changed since the plan: ask only while still in doubt
            if planned and stage == "consolidate" and self.config.escalation.mode == "doubt" and not doubt():
                return None
            return planned
        # no plan (a reasoner used outside the coordinator): the rule alone, no budget
        return "ask" if self.config.escalation.mode == "all" or doubt() > 0 else None

    def _question_key(self, stage: Stage, member: SpanKey, key: Callable[[], Hashable]) -> Hashable:
        rule = self.config.escalation
        return key() if rule.reuse_answers and rule.mode == "doubt" else (stage, member)

    async def _once(
        self, qkey: Hashable, span_id: str, stage: Stage, ask: Callable[[], Awaitable]
    ) -> Outcome:
        """Ask a question once per incident: the first span asks, the others with the same key wait for its
        answer. Returns the answer, or the :class:`LLMError` that stopped it (counted once)."""
        loop = asyncio.get_running_loop()
        if self._answers_loop is not loop:
            self._answers, self._answers_loop = {}, loop
        shared = self._answers.get(qkey)
        if shared is not None:
            self.usage.answers_reused += 1
            return await asyncio.shield(shared)
        mine = loop.create_future()
        self._answers[qkey] = mine
        try:
            outcome: Outcome = await ask()
            self.usage.questions_asked += 1
        except LLMOverBudget as exc:
            self.usage.questions_over_budget += 1
            if not self._over_budget:
                self._over_budget = True
                self.usage.incidents_over_budget += 1
            outcome = exc
        except LLMError as exc:
            self.usage.questions_asked += 1
            self.usage.record_fallback(span_id, stage, exc)
            outcome = exc
        except BaseException:
            mine.cancel()
            self._answers.pop(qkey, None)
            raise
        mine.set_result(outcome)
        return outcome

    async def _escalate(
        self, status: str, qkey: Hashable, span_id: str, stage: Stage, ask: Callable[[], Awaitable], kept: M
    ) -> tuple[Outcome | None, M]:
        """The model's answer to a planned question (``None`` when there is none) and the embedded decision,
        marked with why it stands when it does (over budget, or the model failed)."""
        if status == "over":
            return None, kept.model_copy(update={"decided_by": "embedded_over_budget"})
        outcome = await self._once(qkey, span_id, stage, ask)
        if isinstance(outcome, LLMOverBudget):
            return None, kept.model_copy(update={"decided_by": "embedded_over_budget"})
        if isinstance(outcome, LLMError):
            return None, kept.model_copy(update={"decided_by": "embedded_llm_failed"})
        return outcome, kept

    def _system(self) -> dict:
        text = load_prompt("agent_system")
        if self._summary:
            text += "\n\n" + render("incident", summary=self._summary)
        return {"role": "system", "content": text}

    # --- self-state verification -------------------------------------------------------------------------

    async def verify(self, span: Span, tools: ScopedTools) -> SelfEvidence:
        member = (span.trace_id, span.span_id)
        measured = self._plan.done.evidence.get(member) if self._plan is not None else None
        if measured is None:
            measured = self.fallback.verify_sync(span, tools)
        status = self._status(
            "verify", member, lambda: verify_doubt(measured, self.threshold, self.config.escalation)
        )
        if status is None:
            return measured
        qkey = self._question_key("verify", member, lambda: verify_key(span, measured))
        ask = functools.partial(self._ask_verify, span, tools, measured, qkey)
        outcome, kept = await self._escalate(status, qkey, span.span_id, "verify", ask, measured)
        if outcome is None:
            return kept
        self.usage.escalated_spans += 1
        return self._apply_verdict(measured, outcome)

    def _apply_verdict(self, measured: SelfEvidence, d: Any) -> SelfEvidence:
        """The model's verdict over the measured evidence: its judgement, the measured strengths (a span it
        finds abnormal scores at least the threshold, so that the recursion counts it)."""
        t = self.config.max_text
        update: dict[str, Any] = {
            "is_abnormal": d.is_abnormal,
            "hypothesis": d.hypothesis,
            "key_symptoms": [s[:t] for s in d.key_symptoms[:5]] or measured.key_symptoms,
            "decided_by": "llm",
        }
        if d.is_abnormal and not measured.is_abnormal:
            update["score"] = round(max(measured.score, self.threshold), 4)
        return measured.model_copy(update=update)

    def _tools(self, tools: ScopedTools) -> list[Tool]:
        return [
            Tool("timing", ScopedTools.timing.__doc__ or "", tools.timing),
            Tool("logs", ScopedTools.logs.__doc__ or "", tools.logs),
            Tool("pod_metrics", ScopedTools.pod_metrics.__doc__ or "", tools.pod_metrics),
            Tool("node_metrics", ScopedTools.node_metrics.__doc__ or "", tools.node_metrics),
            Tool("operation_stats", ScopedTools.operation_stats.__doc__ or "", tools.operation_stats),
        ]

    async def _ask_verify(
        self, span: Span, tools: ScopedTools, measured: SelfEvidence, qkey: Hashable
    ) -> Any:
        cfg = self.config
        reading = {
            "is_abnormal": measured.is_abnormal,
            "score": measured.score,
            "threshold": self.threshold,
            "hypothesis": measured.hypothesis,
            "key_symptoms": measured.key_symptoms,
        }
        others = (self._plan.shared.get(qkey, 1) - 1) if self._plan is not None else 0
        shared = (
            f"\n{others} other span(s) of this operation show the same evidence; your verdict applies to them too."
            if others > 0
            else ""
        )
        agent_tools = self._tools(tools)
        evidence = ""
        if cfg.tool_rounds == 0:  # no tool round: the evidence comes with the question
            parts = [
                f"{t.name}: {dumps_capped(compact(t.run()), self.client.max_tool_result_chars)}"
                for t in agent_tools
            ]
            evidence = "\n\nEvidence from your tools:\n" + "\n".join(parts)
        user = render(
            "verify",
            span=_span_view(span, cfg.max_text),
            reading=dumps_capped(compact(reading, max_str=cfg.max_text), 1200),
            shared=shared,
            evidence=evidence,
        )
        if cfg.tool_rounds > 0:
            user += "\n" + load_prompt("verify_tools")
        transcript: list[dict] = []
        d = await self.client.decide(
            [self._system(), {"role": "user", "content": user}],
            agent_tools if cfg.tool_rounds > 0 else [],
            VerifyDecision,
            "self_verdict",
            rounds=cfg.tool_rounds,
            transcript=transcript,
        )
        self._transcripts[(span.trace_id, span.span_id)] = transcript
        return d

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
        embedded = self.fallback.consolidate_sync(span, own, children).model_copy(
            update={"decided_by": "embedded"}
        )
        if self.config.skip_trivial and not has_decision(own, children):
            self.usage.skipped_consolidations += 1
            return embedded
        member = (span.trace_id, span.span_id)
        rule = self.config.escalation

        def doubt() -> float:
            return consolidate_doubt(own, children, self.threshold, rule)

        status = self._status("consolidate", member, doubt)
        qkey = self._question_key("consolidate", member, lambda: consolidate_key(span, own, children))
        if status is None and rule.mode == "doubt" and qkey in self._answers and doubt() > 0:
            status = "ask"  # newly in doubt, but an identical question was asked: its answer is free
        if status is None:
            return embedded
        ask = functools.partial(self._ask_consolidate, span, own, children, embedded)
        outcome, kept = await self._escalate(status, qkey, span.span_id, "consolidate", ask, embedded)
        if outcome is None:
            return kept
        report = self._apply_choice(span, own, children, embedded, outcome)
        if report.decided_by == "llm":
            self.usage.escalated_spans += 1
        return report

    async def _ask_consolidate(
        self, span: Span, own: SelfEvidence, children: list[AgentReport], embedded: AgentReport
    ) -> Choice:
        cfg = self.config
        blamed = {r.root_cause_span: r for r in children if r.root_cause_span}
        shown = sorted(blamed.values(), key=lambda r: -r.confidence)[: cfg.max_children]
        allowed = {span.span_id} | {r.root_cause_span for r in shown} | {embedded.root_cause_span} - {None}

        def valid_choice(d) -> None:
            if d.root_cause_span is not None and d.root_cause_span not in allowed:
                raise ValueError(
                    f"root_cause_span must be null, {span.span_id} (this span) or a child's root_cause_span"
                )

        transcript = self._transcripts.pop((span.trace_id, span.span_id), None)
        if transcript:  # this agent's verification was asked: continue it, its evidence is there already
            about = " Your span and your verdict about it are above."
        else:
            own_view = dumps_capped(
                compact(
                    own.model_dump(exclude={"service", "pod", "node", "operation", "decided_by"}),
                    max_str=cfg.max_text,
                ),
                1200,
            )
            about = f"\n{_span_view(span, cfg.max_text)}\n\nYour own verdict about it:\n{own_view}"
        reading = {
            "root_cause_span": embedded.root_cause_span,
            "component": embedded.component,
            "fault_type": embedded.fault_type,
            "confidence": embedded.confidence,
        }
        user = render(
            "consolidate",
            about=about,
            children=self._children_view(children),
            reading=dumps_capped(compact(reading, max_str=cfg.max_text), 600),
            span_id=span.span_id,
        )
        messages = [*(transcript or [self._system()]), {"role": "user", "content": user}]
        d = await self.client.structured(messages, ConsolidateDecision, "branch_report", check=valid_choice)
        if d.root_cause_span is None:
            label = NONE
        elif d.root_cause_span == span.span_id:
            label = SELF
        elif d.root_cause_span == embedded.root_cause_span:
            label = decision_label(span, embedded)
        else:
            label = blamed[d.root_cause_span].component or NONE
        return Choice(label, d.fault_type, d.reason[: cfg.max_text])

    def _apply_choice(
        self,
        span: Span,
        own: SelfEvidence,
        children: list[AgentReport],
        embedded: AgentReport,
        choice: Choice,
    ) -> AgentReport:
        """The report for the option the model chose. Agreeing with the embedded choice keeps its measured
        confidence; another option gets its own measured strength, at least the threshold."""
        llm = {"decided_by": "llm", "fault_type": choice.fault_type}
        if choice.label == decision_label(span, embedded):
            return embedded.model_copy(update={**llm, "reason": choice.reason or embedded.reason})
        if choice.label == NONE:
            return no_cause_report(span, choice.reason or "no abnormal span found").model_copy(update=llm)
        floor = self.threshold
        if choice.label == SELF:
            rep = self_report(
                span,
                own.node,
                choice.fault_type,
                round(max(own.score, own_strength(own), floor), 4),
                choice.reason,
            )
            if own.down_pods and own.hypothesis in ("pod_failure", "network_loss"):
                rep = rep.model_copy(
                    update={"component": own.down_pods[0], "service": service_of_pod(own.down_pods[0])}
                )
            return rep.model_copy(update={"decided_by": "llm"})
        options = [r for r in children if r.root_cause_span is not None and r.component == choice.label]
        if not options:  # an identical question whose option this span does not have: keep its own decision
            return embedded
        child = max(options, key=lambda r: r.confidence)
        return child.model_copy(
            update={
                **llm,
                "span_id": span.span_id,
                "failed": span.is_error,
                "confidence": round(max(child.confidence, floor), 4),
                "reason": choice.reason or child.reason,
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
                        compact(r.model_dump(exclude={"path", "decided_by"}), max_str=c.max_text)
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
        if not ranked or not self.config.escalation.synthesis:
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
            d = await self.client.structured(
                messages, SynthesisDecision, "final_ranking", check=known, final=True
            )
        except LLMOverBudget:
            self.usage.questions_over_budget += 1
            if not self._over_budget:
                self._over_budget = True
                self.usage.incidents_over_budget += 1
            return ranked
        except LLMError as exc:
            self.usage.record_fallback("-", "synthesize", exc)
            return ranked
        return rerank(ranked, d, self.config.max_text)


def decided_counts(graphs: Iterable[EvidenceGraph]) -> dict[str, int]:
    """How many verdicts and consolidations each decider made over an incident's evidence graphs."""
    counts: Counter = Counter()
    for g in graphs:
        counts.update(f"verify:{n.decided_by}" for n in g.nodes.values())
        counts.update(f"consolidate:{r.decided_by}" for r in g.reports.values())
    return dict(sorted(counts.items()))


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
