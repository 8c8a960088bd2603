"""The LLM reasoner inside RCLAgent: fallback per agent, consolidation and synthesis decisions, bounded
prompts, the concurrency bound, and cancellation. Most tests here ask the model for every decision (the
blanket mode, ``EVERY``): they are about what happens to an asked decision, not about which are asked."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest
from rcl_support.fakeserver import Answer, FakeChatServer, record_name, schema_answer

from faultwise.errors import InputError
from faultwise.rcl.method.analyzer import RCLAgent, RCLConfig
from faultwise.rcl.method.coordinator import Coordinator
from faultwise.rcl.reasoners.escalation import EscalationRule
from faultwise.rcl.reasoners.factory import check_answered
from faultwise.rcl.reasoners.llm import LLMReasoner, LLMReasonerConfig, SynthesisDecision, rerank
from faultwise.rcl.records import AgentReport, Candidate, SelfEvidence
from faultwise.rcl.simulate import generate_large_trace
from faultwise.rcl.telemetry.schema import Span

SMALL_RUN = RCLConfig(max_traces=3)
EVERY = LLMReasonerConfig(escalation=EscalationRule(mode="all"), budget_calls=None)


def _diagnose(inc, reasoner, config=SMALL_RUN):
    return RCLAgent(config, reasoner=reasoner).find_root_causes(
        inc.incident, inc.normal, start_us=int(inc.truth.inject_ts_s * 1e6)
    )


@pytest.fixture(scope="module")
def incident(small_incident):
    return small_incident("cpu", 0)


def test_every_agent_falls_back_when_the_llm_is_down(incident, llm):
    embedded = _diagnose(incident, None)
    with FakeChatServer(lambda req: Answer(status=503)) as srv:
        reasoner = LLMReasoner(llm.client(srv.base_url, max_retries=0, breaker_failures=3), config=EVERY)
        d = _diagnose(incident, reasoner)
        # the breaker stops hammering a dead endpoint: only the requests already in flight when it opened
        assert len(srv.requests) <= 3 + SMALL_RUN.concurrency < d.spans_analyzed
    u = reasoner.usage
    # each span's verification fell back; consolidations of abnormal branches and the synthesis did too:
    # summarised per stage (count and the first message), not listed one by one
    by_stage = u.fallbacks_by_stage
    assert by_stage["verify"].count == d.spans_analyzed and "HTTP 503" in by_stage["verify"].first_error
    assert by_stage["synthesize"].count == 1 and u.fallbacks == sum(f.count for f in by_stage.values())
    assert all(n.decided_by == "embedded_llm_failed" for g in d.graphs for n in g.nodes.values())
    # fallback decisions are the embedded reasoner's: same candidates in the same order
    assert [(c.component, c.score) for c in d.candidates] == [
        (c.component, c.score) for c in embedded.candidates
    ]
    with pytest.raises(InputError, match="never answered"):
        check_answered(reasoner)


def test_only_the_failing_agent_falls_back(incident, llm):
    bad: dict[str, str] = {}
    lock = threading.Lock()
    fine = schema_answer()

    def script(req):
        # only the span's own verification is broken: which span comes first depends on scheduling, and a
        # branch consolidation names its root span too (it must still be answered)
        sid = None if record_name(req) == "branch_report" else llm.span_id_in(req)
        with lock:
            if sid and not bad:
                bad["span"] = sid
        if sid == bad.get("span"):
            return Answer(content="I think it is fine")  # never a record: repair fails too
        return fine(req)

    with FakeChatServer(script) as srv:
        reasoner = LLMReasoner(llm.client(srv.base_url), config=EVERY)
        d = _diagnose(incident, reasoner)
    fell = reasoner.usage.fallbacks_by_stage
    assert list(fell) == ["verify"] and fell["verify"].count == 1
    assert fell["verify"].first_error.startswith(f"{bad['span']}: ")
    failed = [n.span_id for g in d.graphs for n in g.nodes.values() if n.decided_by == "embedded_llm_failed"]
    assert failed == [bad["span"]]
    assert reasoner.usage.repairs >= 1 and d.candidates
    check_answered(reasoner)  # the endpoint did answer


def _span(sid: str, service: str = "orders", pod: str = "orders-0") -> Span:
    return Span("t1", sid, "", service, pod, "node-1", "GET /x", "server", 0, 1000, False)


def _own(sid: str, abnormal: bool) -> SelfEvidence:
    return SelfEvidence(
        span_id=sid, service="orders", pod="orders-0", node="node-1", operation="GET /x", is_abnormal=abnormal,
        has_error=False, has_error_logs=False, has_metric_anomaly=False, score=0.5 if abnormal else 0.0,
    )  # fmt: skip


CHILD = AgentReport(
    span_id="c1", root_cause_span="g1", component="db-0", service="db", node="node-2",
    fault_type="exception", confidence=0.9, path=["c1", "g1"], reason="errors in db",
)  # fmt: skip


def test_consolidation_follows_the_model_to_a_childs_cause(llm):
    answer = {"root_cause_span": "g1", "fault_type": "error_return", "reason": "db failed"}
    with FakeChatServer(lambda req: llm.json_answer(answer)) as srv:
        reasoner = LLMReasoner(llm.client(srv.base_url), config=EVERY)
        rep = asyncio.run(reasoner.consolidate(_span("p1"), _own("p1", True), [CHILD]))
        prompt = srv.requests[0]["messages"][1]["content"]
    embedded = reasoner.fallback.consolidate_sync(_span("p1"), _own("p1", True), [CHILD])
    assert rep.root_cause_span == "g1" and rep.component == "db-0" and rep.path == ["p1", "c1", "g1"]
    # the model agreed with the embedded choice: its words and fault type, the measured confidence
    assert (rep.fault_type, rep.reason, rep.decided_by) == ("error_return", "db failed", "llm")
    assert rep.confidence == embedded.confidence
    assert '"root_cause_span":"g1"' in prompt and "errors in db" in prompt


def test_consolidation_can_keep_the_blame_or_clear_it(llm):
    keep = {"root_cause_span": "p1", "fault_type": "cpu", "reason": "own time"}
    with FakeChatServer(lambda req: llm.json_answer(keep)) as srv:
        rep = asyncio.run(
            LLMReasoner(llm.client(srv.base_url), config=EVERY).consolidate(
                _span("p1"), _own("p1", True), [CHILD]
            )
        )
    # against the embedded choice (the child): the span's own measured score
    assert (rep.root_cause_span, rep.component, rep.path, rep.confidence) == ("p1", "orders-0", ["p1"], 0.5)
    clear = {"root_cause_span": None, "fault_type": "unknown", "reason": "noise"}
    with FakeChatServer(lambda req: llm.json_answer(clear)) as srv:
        rep = asyncio.run(
            LLMReasoner(llm.client(srv.base_url), config=EVERY).consolidate(
                _span("p1"), _own("p1", True), [CHILD]
            )
        )
    assert rep.root_cause_span is None and rep.component is None and rep.decided_by == "llm"


def test_an_invented_span_is_repaired_then_falls_back(llm):
    bogus = {"root_cause_span": "zz9", "fault_type": "cpu", "reason": "?"}
    with FakeChatServer(lambda req: llm.json_answer(bogus)) as srv:
        reasoner = LLMReasoner(llm.client(srv.base_url), config=EVERY)
        rep = asyncio.run(reasoner.consolidate(_span("p1"), _own("p1", False), [CHILD]))
        assert len(srv.requests) == 2 and "must be null" in srv.requests[1]["messages"][-1]["content"]
    assert reasoner.usage.fallbacks == 1 and list(reasoner.usage.fallbacks_by_stage) == ["consolidate"]
    assert rep.root_cause_span == "g1"  # the embedded rule: blame the abnormal descendant
    assert rep.decided_by == "embedded_llm_failed"


def test_normal_leaf_branches_need_no_call(llm):
    with FakeChatServer(lambda req: Answer(status=500)) as srv:
        reasoner = LLMReasoner(llm.client(srv.base_url), config=EVERY)
        normal = AgentReport(span_id="c2", confidence=0.0)
        rep = asyncio.run(reasoner.consolidate(_span("p1"), _own("p1", False), [normal]))
        assert srv.requests == [] and rep.root_cause_span is None
    assert reasoner.usage.skipped_consolidations == 1


def _cands():
    return [
        Candidate(component=c, level="pod", fault_type="latency", score=s, rationale="r", service=c[:-2])
        for c, s in (("a-0", 3.0), ("b-0", 2.0), ("c-0", 1.0))
    ]


def test_synthesis_reranks_only_known_candidates_and_keeps_the_score_scale(llm):
    answer = {"ranking": [{"component": "c-0", "fault_type": "cpu", "rationale": "cpu saturated first"}]}
    with FakeChatServer(lambda req: llm.json_answer(answer)) as srv:
        out = asyncio.run(LLMReasoner(llm.client(srv.base_url)).synthesize(_cands(), []))
        prompt = srv.requests[0]["messages"][1]["content"]
    assert [c.component for c in out] == ["c-0", "a-0", "b-0"]
    assert [c.score for c in out] == [3.0, 2.0, 1.0]
    assert (out[0].fault_type, out[0].rationale) == ("cpu", "cpu saturated first")
    assert '"component":"a-0"' in prompt


def test_synthesis_that_invents_a_component_falls_back_to_the_statistical_ranking(llm):
    answer = {"ranking": [{"component": "mystery-svc", "fault_type": "cpu", "rationale": "?"}]}
    with FakeChatServer(lambda req: llm.json_answer(answer)) as srv:
        reasoner = LLMReasoner(llm.client(srv.base_url))
        out = asyncio.run(reasoner.synthesize(_cands(), []))
    assert out == _cands() and reasoner.usage.fallbacks_by_stage["synthesize"].count == 1


def test_rerank_with_duplicate_names_keeps_every_candidate():
    cands = _cands() + [Candidate(component="a-0", level="service", score=0.5, rationale="")]
    out = rerank(cands, SynthesisDecision(ranking=[{"component": "a-0"}, {"component": "a-0"}]))
    assert len(out) == 4 and [c.level for c in out[:2]] == ["pod", "service"]


# --- bounded context -------------------------------------------------------------------------------------

# the whole request (messages, tool and schema definitions) as JSON; the largest is a consolidation that
# continues its own verification, whose first part is that verification's request (a cached prefix)
PROMPT_BOUND_CHARS = 12_000


def test_largest_prompt_stays_bounded_as_the_trace_grows(llm):
    largest = {}
    for n in (10, 100, 1000):
        inc = generate_large_trace(n, seed=0)
        client = llm.in_process_client(llm.blaming_script)
        reasoner = LLMReasoner(client, config=EVERY)
        d = _diagnose(inc, reasoner, RCLConfig(max_traces=1))
        graph = d.trace_graphs[0]
        assert len(graph) >= 0.9 * n and reasoner.usage.fallbacks == 0
        if n == 1000:  # the child-report cap really is exercised: some span has many blaming children
            assert max(len(c) for c in graph.children.values()) > LLMReasonerConfig().max_children
        largest[n] = client.usage.max_prompt_chars
        assert client.usage.calls >= 2 * len(graph)
    assert max(largest.values()) < PROMPT_BOUND_CHARS, largest
    assert largest[1000] < 1.5 * largest[10], largest


def test_synthesis_prompt_is_capped(incident, llm):
    client = llm.in_process_client(llm.blaming_script)
    reasoner = LLMReasoner(client, config=EVERY)
    d = _diagnose(incident, reasoner, RCLConfig(max_traces=20))
    cands, graphs = reasoner.synthesis_view(d.candidates * 5, d.graphs * 5)
    cap = reasoner.config.max_synthesis_chars // 2
    assert len(cands) <= cap and len(graphs) <= cap
    assert json.loads(graphs)[0]["abnormal_spans"]  # the pruned graph's abnormal spans are there


# --- concurrency and cancellation ------------------------------------------------------------------------


def test_concurrent_requests_never_exceed_the_bound(incident, llm):
    state = {"now": 0, "peak": 0}
    lock = threading.Lock()
    inner = schema_answer(latency_s=0.02)

    def script(req):
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        try:
            ans = inner(req)
            import time

            time.sleep(ans.delay_s)
            return Answer(content=ans.content, tool_calls=ans.tool_calls)
        finally:
            with lock:
                state["now"] -= 1

    with FakeChatServer(script) as srv:
        _diagnose(
            incident,
            LLMReasoner(llm.client(srv.base_url), config=EVERY),
            RCLConfig(max_traces=2, concurrency=3),
        )
    assert 2 <= state["peak"] <= 3


def _cancel_midway(incident, llm):
    """Start one trace's recursion against a slow server, cancel it once a request is in flight; returns
    the reasoner and the tasks still pending after the cancellation settled."""
    from faultwise.rcl.profile import NormalProfile
    from faultwise.rcl.profile.graph import TraceGraph
    from faultwise.rcl.tools import DataTools

    started = threading.Event()

    def slow(req):
        started.set()
        return Answer(content="{}", delay_s=3.0)

    spans = incident.incident.spans
    tools = DataTools(incident.incident, NormalProfile.fit(incident.normal.spans, incident.normal.logs))
    tid = spans["trace_id"].iloc[0]
    graph = TraceGraph.from_frame(spans[spans["trace_id"] == tid])

    async def main(reasoner):
        task = asyncio.ensure_future(Coordinator(reasoner, concurrency=4).run_traces([graph], tools))
        while not started.is_set():
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        for _ in range(5):  # let cancelled tasks finish their cleanup
            await asyncio.sleep(0.01)
        return [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]

    with FakeChatServer(slow) as srv:
        reasoner = LLMReasoner(llm.client(srv.base_url, max_retries=0), config=EVERY)
        leftover = asyncio.run(main(reasoner))
    return reasoner, leftover


def test_cancellation_propagates_and_is_not_a_fallback(incident, llm):
    reasoner, _ = _cancel_midway(incident, llm)
    assert reasoner.usage.fallbacks == 0 and reasoner.usage.calls == 0 and reasoner.usage.failed_calls == 0


def test_cancellation_leaves_no_agent_running(incident, llm):
    _, leftover = _cancel_midway(incident, llm)
    assert leftover == []
