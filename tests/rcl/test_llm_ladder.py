"""What the client does with what a server says: a refused parameter steps the ladder down once for the
whole client (recognised by the message, whatever the status), other errors are not retried unless they are
overload, and the server's prompt-cache count is reported."""

from __future__ import annotations

import asyncio
import threading

import pytest
from pydantic import BaseModel
from rcl_support.fakeserver import Answer, FakeChatServer

from faultwise.rcl.llm import LLMRejected, Tool

ASK = [{"role": "user", "content": "judge this"}]
# what llama-cpp-python's server answers to a json_schema response format it does not know
LLAMA_CPP_500 = "[{'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), 'msg': \"Input should be 'text' or 'json_object'\"}]"


class Verdict(BaseModel):
    abnormal: bool


def _ok(req):
    return Answer(content='{"abnormal": true}')


def test_http_500_naming_json_schema_steps_down_once_for_every_concurrent_request(llm):
    lock = threading.Lock()
    seen: list[str | None] = []

    def script(req):
        kind = (req.get("response_format") or {}).get("type")
        with lock:
            seen.append(kind)
        if kind == "json_schema":
            return Answer(status=500, error=LLAMA_CPP_500, delay_s=0.05)
        return _ok(req)

    async def many(client):
        return await asyncio.gather(*(client.structured(ASK, Verdict, "verdict") for _ in range(8)))

    with FakeChatServer(script) as srv:
        client = llm.client(srv.base_url, max_retries=3)
        assert all(v.abnormal for v in asyncio.run(many(client)))
        asyncio.run(client.structured(ASK, Verdict, "verdict"))
    u = client.usage
    # each request in flight was refused once, none retried; one step down for the whole client, said once
    assert seen.count("json_schema") == 8 and seen.count("json_object") == 9
    assert u.retries == 0 and u.format_downgrades == 1 and client.format_rung == "json_object"
    (step,) = u.ladder
    assert (step.ladder, step.from_rung, step.to_rung, step.status) == (
        "response_format",
        "json_schema",
        "json_object",
        500,
    )
    assert "json_object" in step.message


@pytest.mark.parametrize(
    ("status", "error"), [(400, "context length exceeded"), (500, "CUDA error: device-side assert")]
)
def test_a_refusal_that_names_no_parameter_fails_that_request_without_a_step_or_retry(llm, status, error):
    with FakeChatServer(lambda req: Answer(status=status, error=error)) as srv:
        client = llm.client(srv.base_url, max_retries=3)
        with pytest.raises(LLMRejected, match=f"HTTP {status}: {error}"):
            asyncio.run(client.structured(ASK, Verdict))
        assert len(srv.requests) == 1
    u = client.usage
    assert u.retries == 0 and u.ladder == [] and client.format_rung == "json_schema"


def test_tools_refused_with_500_go_prompted_once_and_say_so(llm):
    def script(req):
        if "tools" in req:
            return Answer(status=500, error="'tools' is not supported with this chat format")
        if any("Tools you can ask for" in (m.get("content") or "") for m in req["messages"]):
            return Answer(content='{"tools": []}')
        return _ok(req)

    tool = Tool("timing", "how slow", lambda: {"slow": True})
    with FakeChatServer(script) as srv:
        client = llm.client(srv.base_url)
        for _ in range(2):
            assert asyncio.run(client.decide(ASK, [tool], Verdict, "verdict")).abnormal
        assert sum("tools" in r for r in srv.requests) == 1
    (step,) = client.usage.ladder
    assert (step.ladder, step.from_rung, step.to_rung, step.status) == (
        "tool_calling",
        "native",
        "prompted",
        500,
    )


def test_cached_prompt_tokens_are_reported(llm):
    system = {"role": "system", "content": "the same long prefix " * 50}
    with FakeChatServer(_ok) as srv:
        client = llm.client(srv.base_url, response_format="prompted")
        for q in ("first span", "second span"):
            asyncio.run(client.chat([system, {"role": "user", "content": q}]))
    u = client.usage
    assert u.calls == 2 and 0 < u.cached_prompt_tokens < u.prompt_tokens


def test_the_budget_admits_requests_while_they_fit_and_keeps_the_reserve_for_the_final_one():
    from faultwise.rcl.llm import Budget, LLMOverBudget

    b = Budget(calls=3, tokens=1000, reserve_calls=1, reserve_tokens=300)
    first = b.admit(400)
    with pytest.raises(LLMOverBudget, match="token budget"):  # 400 in flight + 400 > 1000 - 300
        b.admit(400)
    b.settle(first, 150)  # the answer cost less than its estimate
    b.admit(100)
    with pytest.raises(LLMOverBudget, match="call budget"):  # two sent, the third call is the reserve
        b.admit(10)
    b.admit(10, final=True)
    with pytest.raises(LLMOverBudget):
        b.admit(10, final=True)
    assert (b.calls_used, b.refused) == (3, 3)
