"""When the LLM is asked: the escalation rule, identical questions, and the budget plan of one incident.

The embedded reasoner decides every span first. The rule reads only a small interface of its decisions,
so that a change of the embedded evidence moves the numbers, not the rule:

- a verification: the verdict's ``score`` (:class:`~faultwise.rcl.records.SelfEvidence`) against the
  embedded threshold ``abnormal_at``. It is in doubt when the score lies within ``verify_band`` of the
  threshold (relative, either side); the closer, the more.
- a consolidation: its options, each with a strength: every component a child blamed (the child report's
  ``confidence``) and the span itself (the strongest of its own ``self_time_score``, ``gap_score`` and
  ``log_pattern_score``, when it is abnormal); options weaker than ``abnormal_at`` do not compete. It is in
  doubt when the second strongest option reaches ``competing_ratio`` of the strongest: competing children,
  or the span's own evidence against a child's.

A clear verdict (normal evidence and no abnormal descendant, or one overwhelming signal) is never asked.
Spans of one incident often ask the same question: the same pod and operation with the same evidence, or
the same options. Such a question is asked once and its answer applies to every span that asks it.

The plan spends the budget on the questions in doubt, most doubtful first across all traces (ties: the
question more spans share first), each at its expected number of calls; what does not fit is decided by the
embedded reasoner and counted as over budget.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from faultwise.rcl.profile.graph import TraceGraph
from faultwise.rcl.records import AgentReport, SelfEvidence
from faultwise.rcl.telemetry.schema import Span
from faultwise.rcl.tools import DataTools, ScopedTools

SELF = "<this span>"  # the consolidation option "the span itself" (never a pod name)
NONE = "<no cause>"  # the consolidation option "nowhere in this branch"
SpanKey = tuple[str, str]  # (trace id, span id)
Stage = Literal["verify", "consolidate"]


class EscalationRule(BaseModel):
    """Which span decisions the LLM is asked for (see the module docstring for the rule)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Literal["doubt", "all"] = Field(
        "doubt",
        description="doubt: only decisions the rule finds in doubt; all: every verification and every "
        "consolidation with something to decide (the blanket mode of the original RCLAgent)",
    )
    verify_band: float = Field(
        0.5,
        gt=0,
        le=1,
        description="a verification is in doubt when its score is within this fraction of the embedded "
        "threshold abnormal_at on either side (0.5 at abnormal_at 0.1: scores 0.05 to 0.15)",
    )
    competing_ratio: float = Field(
        0.6,
        gt=0,
        lt=1,
        description="a consolidation is in doubt when its second strongest option reaches this share of "
        "the strongest",
    )
    reuse_answers: bool = Field(
        True,
        description="ask an identical question (same pod and operation, same evidence or options) once "
        "per incident and apply the answer to every span that asks it",
    )
    synthesis: bool = Field(True, description="ask the model for the final ranking (one call per incident)")


class EmbeddedJudge(Protocol):
    """What the escalation needs of the embedded reasoner: its two decisions, and its threshold."""

    def verify_sync(self, span: Span, tools: ScopedTools) -> SelfEvidence: ...

    def consolidate_sync(self, span: Span, own: SelfEvidence, children: list[AgentReport]) -> AgentReport: ...


# --- the rule --------------------------------------------------------------------------------------------


def verify_doubt(evidence: SelfEvidence, threshold: float, rule: EscalationRule) -> float:
    """0 for a clear verdict; up to 1 for a score on the threshold."""
    if threshold <= 0:
        return 0.0
    distance = abs(evidence.score - threshold) / (rule.verify_band * threshold)
    return 0.0 if distance >= 1 else max(1e-3, round(1 - distance, 4))


def own_strength(own: SelfEvidence) -> float:
    """The strength of the option "the span itself": its own local evidence, when it is abnormal."""
    return max(own.self_time_score, own.gap_score, own.log_pattern_score) if own.is_abnormal else 0.0


def consolidation_options(
    own: SelfEvidence, children: list[AgentReport], threshold: float
) -> dict[str, float]:
    """The competing options of a consolidation with their strengths (at least ``threshold``)."""
    options: dict[str, float] = {}
    for r in children:
        if r.root_cause_span is not None and r.component and r.confidence >= threshold:
            options[r.component] = max(options.get(r.component, 0.0), r.confidence)
    mine = own_strength(own)
    if mine >= threshold and mine > 0:
        options[SELF] = mine
    return options


def consolidate_doubt(
    own: SelfEvidence, children: list[AgentReport], threshold: float, rule: EscalationRule
) -> float:
    """0 unless two options compete; up to 1 for two options of equal strength."""
    strengths = sorted(consolidation_options(own, children, threshold).values(), reverse=True)
    if len(strengths) < 2 or strengths[0] <= 0:
        return 0.0
    ratio = strengths[1] / strengths[0]
    if ratio < rule.competing_ratio:
        return 0.0
    return max(1e-3, round((ratio - rule.competing_ratio) / (1 - rule.competing_ratio), 4))


def has_decision(own: SelfEvidence, children: list[AgentReport]) -> bool:
    """Whether a consolidation has anything to decide: the span is abnormal or a child blamed a cause."""
    return own.is_abnormal or any(r.root_cause_span is not None for r in children)


def decision_label(span: Span, report: AgentReport) -> str:
    """The option a consolidation chose: the span itself, a component a child blamed, or none."""
    if report.root_cause_span is None:
        return NONE
    if report.root_cause_span == span.span_id:
        return SELF
    return report.component or NONE


# --- identical questions ---------------------------------------------------------------------------------


def _r(x: float) -> float:
    return round(float(x), 2)


def verify_key(span: Span, evidence: SelfEvidence) -> tuple:
    """Spans with the same key ask the same verification question (pod, operation, measured evidence)."""
    e = evidence
    return (
        "verify", e.pod, e.operation, span.is_error, e.is_abnormal, e.hypothesis, _r(e.score),
        _r(e.self_time_score), _r(e.gap_score), _r(e.log_score), _r(e.metric_score), tuple(e.down_pods),
    )  # fmt: skip


def consolidate_key(span: Span, own: SelfEvidence, children: list[AgentReport]) -> tuple:
    """Spans with the same key ask the same consolidation question (pod, operation, own verdict, and the
    causes their children blamed)."""
    blamed = sorted(
        (r.component or "", r.fault_type, _r(r.confidence), r.failed)
        for r in children
        if r.root_cause_span is not None
    )
    return (
        "consolidate", span.pod, span.operation, span.is_error, own.is_abnormal, _r(own.score),
        _r(own_strength(own)), own.hypothesis, tuple(blamed),
    )  # fmt: skip


# --- the embedded pass and the plan ----------------------------------------------------------------------


@dataclass
class EmbeddedPass:
    """The embedded reasoner's decisions for every span of an incident's diagnosed traces."""

    evidence: dict[SpanKey, SelfEvidence] = field(default_factory=dict)
    reports: dict[SpanKey, AgentReport] = field(default_factory=dict)
    children: dict[SpanKey, list[AgentReport]] = field(default_factory=dict)


def embedded_pass(graphs: Iterable[TraceGraph], tools: DataTools, judge: EmbeddedJudge) -> EmbeddedPass:
    out = EmbeddedPass()
    for g in graphs:
        for sid, sp in g.spans.items():
            out.evidence[(g.trace_id, sid)] = judge.verify_sync(sp, ScopedTools(sp, tools))
        for sid in g.post_order():
            key = (g.trace_id, sid)
            kids = [out.reports[(g.trace_id, c)] for c in g.children[sid]]
            out.children[key] = kids
            out.reports[key] = judge.consolidate_sync(g.spans[sid], out.evidence[key], kids)
    return out


@dataclass
class Question:
    """One decision to put to the model, shared by the spans that ask it identically."""

    stage: Stage
    key: Hashable
    doubt: float
    calls: int  # expected requests to answer it
    members: list[SpanKey] = field(default_factory=list)


def find_questions(
    graphs: Iterable[TraceGraph],
    done: EmbeddedPass,
    rule: EscalationRule,
    threshold: float,
    verify_calls: int,
    skip_trivial: bool = True,
) -> list[Question]:
    """Every question in doubt (mode ``doubt``) or every decision (mode ``all``), identical ones merged
    when ``rule.reuse_answers``."""
    found: dict[Hashable, Question] = {}

    def add(stage: Stage, key: Hashable, doubt: float, member: SpanKey, calls: int) -> None:
        q = found.get(key)
        if q is None:
            q = found[key] = Question(stage, key, doubt, calls)
        q.doubt = max(q.doubt, doubt)
        q.members.append(member)

    blanket = rule.mode == "all"
    for g in graphs:
        for sid, sp in g.spans.items():
            member = (g.trace_id, sid)
            ev = done.evidence[member]
            doubt = 1.0 if blanket else verify_doubt(ev, threshold, rule)
            if doubt > 0:
                key = verify_key(sp, ev) if rule.reuse_answers and not blanket else ("verify", member)
                add("verify", key, doubt, member, verify_calls)
            kids = done.children[member]
            if blanket:
                doubt = 1.0 if has_decision(ev, kids) or not skip_trivial else 0.0
            else:
                doubt = consolidate_doubt(ev, kids, threshold, rule)
            if doubt > 0:
                key = (
                    consolidate_key(sp, ev, kids)
                    if rule.reuse_answers and not blanket
                    else ("consolidate", member)
                )
                add("consolidate", key, doubt, member, 1)
    return list(found.values())


def plan_questions(
    questions: list[Question], calls: int | None, tokens: int | None, tokens_per_call: int
) -> tuple[list[Question], list[Question]]:
    """Split the questions into those the budget pays for and those left over, most doubtful first (ties:
    the one more spans share first). ``None`` limits nothing; ``tokens`` is planned at ``tokens_per_call``."""
    order = sorted(questions, key=lambda q: (-q.doubt, -len(q.members), q.stage, str(q.key)))
    cap = calls
    if tokens is not None:
        by_tokens = tokens // max(1, tokens_per_call)
        cap = by_tokens if cap is None else min(cap, by_tokens)
    if cap is None:
        return order, []
    asked: list[Question] = []
    left: list[Question] = []
    spent = 0
    for q in order:
        if spent + q.calls <= cap:
            asked.append(q)
            spent += q.calls
        else:
            left.append(q)
    return asked, left
