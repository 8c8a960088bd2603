"""Escalation: the embedded reasoner decides what is clear, the model is asked what is in doubt, within a
budget spent on the most doubtful questions first; a model that agrees changes nothing, one that disagrees
moves the ranking."""

from __future__ import annotations

import asyncio

import pytest
from rcl_support.fakeserver import Answer, FakeChatServer, children_in, echo_answer, reading_in, record_name

from faultwise.rcl.method.analyzer import RCLAgent, RCLConfig
from faultwise.rcl.reasoners.escalation import (
    EscalationRule,
    Question,
    consolidate_doubt,
    plan_questions,
    verify_doubt,
)
from faultwise.rcl.reasoners.llm import LLMReasoner, LLMReasonerConfig
from faultwise.rcl.records import AgentReport, SelfEvidence
from faultwise.rcl.telemetry.schema import Span, service_of_pod

RULE = EscalationRule()
RUN = RCLConfig(max_traces=20)
UNLIMITED = LLMReasonerConfig(budget_calls=None)


def _diagnose(inc, reasoner=None, config=RUN):
    return RCLAgent(config, reasoner=reasoner).find_root_causes(
        inc.incident, inc.normal, start_us=int(inc.truth.inject_ts_s * 1e6)
    )


def _ranking(d):
    return [(c.component, c.level, c.score, c.fault_type) for c in d.candidates]


@pytest.fixture(scope="module")
def incident(small_incident):
    return small_incident("cpu", 0)


@pytest.fixture(scope="module")
def embedded(incident):
    return _diagnose(incident)


# --- the rule --------------------------------------------------------------------------------------------


def _ev(score: float, abnormal: bool | None = None, local: float = 0.0) -> SelfEvidence:
    return SelfEvidence(
        span_id="s", service="svc", pod="svc-0", operation="GET /x",
        is_abnormal=score >= 0.1 if abnormal is None else abnormal, has_error=False, has_error_logs=False,
        has_metric_anomaly=False, score=score, self_time_score=local,
    )  # fmt: skip


def _child(sid: str, pod: str, confidence: float) -> AgentReport:
    return AgentReport(
        span_id=f"c-{sid}", root_cause_span=sid, component=pod, service=pod[:-2], confidence=confidence,
        path=[f"c-{sid}", sid], reason=f"{pod} is slow",
    )  # fmt: skip


def test_a_verdict_is_in_doubt_only_near_the_threshold():
    assert verify_doubt(_ev(0.1), 0.1, RULE) == 1.0
    assert verify_doubt(_ev(0.07), 0.1, RULE) == pytest.approx(0.4)
    assert verify_doubt(_ev(0.13), 0.1, RULE) == pytest.approx(0.4)
    for clear in (0.0, 0.04, 0.16, 0.9):  # normal evidence, or one overwhelming signal
        assert verify_doubt(_ev(clear), 0.1, RULE) == 0.0
    assert verify_doubt(_ev(0.07), 0.1, EscalationRule(verify_band=0.2)) == 0.0


def test_a_consolidation_is_in_doubt_when_options_compete():
    quiet = _ev(0.0, abnormal=False)
    assert consolidate_doubt(quiet, [_child("a", "db-0", 0.5), _child("b", "cache-0", 0.45)], 0.1, RULE) > 0
    assert consolidate_doubt(quiet, [_child("a", "db-0", 0.9), _child("b", "cache-0", 0.2)], 0.1, RULE) == 0
    # the same component twice is one option; a cause below the threshold does not compete
    assert consolidate_doubt(quiet, [_child("a", "db-0", 0.5), _child("b", "db-0", 0.5)], 0.1, RULE) == 0
    assert consolidate_doubt(quiet, [_child("a", "db-0", 0.09), _child("b", "x-0", 0.08)], 0.1, RULE) == 0
    # the span's own local evidence against a child's cause
    assert consolidate_doubt(_ev(0.5, local=0.4), [_child("a", "db-0", 0.5)], 0.1, RULE) > 0
    assert consolidate_doubt(_ev(0.5, local=0.0), [_child("a", "db-0", 0.5)], 0.1, RULE) == 0


def test_the_plan_pays_for_the_most_doubtful_questions_first():
    qs = [
        Question("verify", "a", 0.2, 2, [("t1", "s1")]),
        Question("consolidate", "b", 0.9, 1, [("t2", "s2")]),
        Question("verify", "c", 0.9, 2, [("t3", "s3"), ("t4", "s4")]),
        Question("verify", "d", 0.5, 2, [("t1", "s5")]),
    ]
    asked, left = plan_questions(qs, calls=4, tokens=None, tokens_per_call=1000)
    # same doubt: the question more spans share first; what does not fit is left, smaller ones still fit
    assert [q.key for q in asked] == ["c", "b"] and [q.key for q in left] == ["d", "a"]
    asked, left = plan_questions(qs, calls=None, tokens=5000, tokens_per_call=1000)
    assert [q.key for q in asked] == ["c", "b", "d"]
    assert plan_questions(qs, None, None, 1000)[1] == []


# --- the model agrees, or not ----------------------------------------------------------------------------


def test_a_model_that_agrees_gives_the_embedded_ranking(incident, embedded, llm):
    with FakeChatServer(echo_answer()) as srv:
        reasoner = LLMReasoner(llm.client(srv.base_url), config=UNLIMITED)
        d = _diagnose(incident, reasoner)
        served = len(srv.requests)
    u = reasoner.usage
    assert _ranking(d) == _ranking(embedded)
    assert u.questions_asked == u.questions_in_doubt > 0 and u.calls == served and u.fallbacks == 0
    # far fewer requests than agents; identical questions asked once and their answer shared
    assert served < d.spans_analyzed / 10
    assert u.answers_reused > 0 and u.escalated_spans == u.questions_asked + u.answers_reused
    llm_verdicts = [n for g in d.graphs for n in g.nodes.values() if n.decided_by == "llm"]
    assert llm_verdicts and all(verify_doubt(n, 0.1, RULE) > 0 for n in llm_verdicts)


def test_a_model_that_disagrees_on_an_escalated_span_moves_the_ranking(small_incident, llm):
    incident = small_incident("exception", 0)
    embedded = _diagnose(incident)
    chosen: set[str] = set()

    def other(request, reading):  # competing causes: the model prefers the one the statistics did not
        rival = next((c for c in children_in(request) if c.get("component") != reading["component"]), None)
        if rival is None:
            return None
        chosen.add(rival["component"])
        return {"root_cause_span": rival["root_cause_span"], "fault_type": "cpu", "reason": "the other one"}

    with FakeChatServer(echo_answer(choices=other)) as srv:
        reasoner = LLMReasoner(llm.client(srv.base_url), config=UNLIMITED)
        d = _diagnose(incident, reasoner)
    assert chosen and reasoner.usage.questions_asked > 0 and _ranking(d) != _ranking(embedded)
    # the causes the model preferred gain the votes of the requests it was asked about: one of their
    # services now leads, where the embedded reasoner put another first
    services = {service_of_pod(p) for p in chosen}
    assert embedded.services()[0] not in services and d.services()[0] in services
    moved = [r for g in d.graphs for r in g.root_reports if r.component in chosen]
    assert len(moved) > len([r for g in embedded.graphs for r in g.root_reports if r.component in chosen])


def _span(sid: str) -> Span:
    return Span("t1", sid, "", "orders", "orders-0", "node-1", "GET /x", "server", 0, 1000, False)


def test_competing_children_are_asked_and_the_answer_is_followed(llm):
    own = _ev(0.0, abnormal=False)
    kids = [_child("a", "db-0", 0.5), _child("b", "cache-0", 0.45)]
    prefer_cache = lambda req, reading: {"root_cause_span": "b", "fault_type": "cpu", "reason": "cache first"}  # noqa: E731
    for script, pod, confidence in (
        (echo_answer(), "db-0", 0.5),
        (echo_answer(choices=prefer_cache), "cache-0", 0.45),
    ):
        with FakeChatServer(script) as srv:
            rep = asyncio.run(LLMReasoner(llm.client(srv.base_url)).consolidate(_span("p"), own, kids))
            (req,) = srv.requests
        assert record_name(req) == "branch_report" and reading_in(req, "branch_report")["component"] == "db-0"
        assert (rep.component, rep.confidence, rep.decided_by, rep.path) == (
            pod,
            confidence,
            "llm",
            ["p", f"c-{rep.root_cause_span}", rep.root_cause_span],
        )
    # a clear choice is not asked
    with FakeChatServer(echo_answer()) as srv:
        clear = [_child("a", "db-0", 0.9), _child("b", "cache-0", 0.2)]
        rep = asyncio.run(LLMReasoner(llm.client(srv.base_url)).consolidate(_span("p"), own, clear))
        assert srv.requests == [] and (rep.component, rep.decided_by) == ("db-0", "embedded")


# --- the budget ------------------------------------------------------------------------------------------


def test_the_call_budget_is_respected_and_the_rest_is_said_to_be_embedded(incident, llm):
    every = EscalationRule(mode="all")
    agree = echo_answer()

    def needs_repairs(request):  # every first answer is prose: more calls than the plan expects
        repairing = "That answer is not a valid" in (request["messages"][-1].get("content") or "")
        if record_name(request) in ("self_verdict", "branch_report") and not repairing:
            return Answer(content="It looks fine to me.")
        return agree(request)

    with FakeChatServer(needs_repairs) as srv:
        config = LLMReasonerConfig(escalation=every, budget_calls=12)
        reasoner = LLMReasoner(llm.client(srv.base_url), config=config)
        d = _diagnose(incident, reasoner)
        names = [record_name(r) for r in srv.requests]
    u = reasoner.usage
    # the client refused what the plan did not foresee; the synthesis kept its call
    assert len(names) == u.budget_calls_used == 12 and names[-1] == "final_ranking" and u.repairs > 0
    assert u.questions_over_budget > 0 and u.incidents_over_budget == 1
    over = [n for g in d.graphs for n in g.nodes.values() if n.decided_by == "embedded_over_budget"]
    assert len(over) > 0


def test_the_budget_goes_to_the_most_doubtful_questions_across_traces(incident, llm):
    with FakeChatServer(echo_answer()) as srv:
        reasoner = LLMReasoner(llm.client(srv.base_url), config=LLMReasonerConfig(budget_calls=5))
        d = _diagnose(incident, reasoner)
        asked = [reading_in(r, "self_verdict") for r in srv.requests if record_name(r) == "self_verdict"]
    threshold = reasoner.threshold
    asked_doubt = [verify_doubt(_ev(r["score"]), threshold, RULE) for r in asked]
    left = [n for g in d.graphs for n in g.nodes.values() if n.decided_by == "embedded_over_budget"]
    assert asked and left and reasoner.usage.budget_calls_used <= 5
    assert len({g.trace_id for g in d.graphs for n in g.nodes.values() if n.decided_by != "embedded"}) > 1
    # scores in the prompt are rounded to 3 decimals
    assert min(asked_doubt) >= max(verify_doubt(n, threshold, RULE) for n in left) - 0.01


def test_the_token_budget_is_respected(incident, llm):
    every = EscalationRule(mode="all")
    with FakeChatServer(echo_answer()) as srv:
        config = LLMReasonerConfig(escalation=every, budget_calls=None, budget_tokens=30_000)
        reasoner = LLMReasoner(llm.client(srv.base_url), config=config)
        _diagnose(incident, reasoner)
    u = reasoner.usage
    assert 0 < u.prompt_tokens + u.completion_tokens == u.budget_tokens_used <= 30_000
    assert u.questions_over_budget > 0
