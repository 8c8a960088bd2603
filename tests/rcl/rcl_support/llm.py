"""Helpers of the LLM tests: a client against a scripted loopback server, quick to fail and retry."""

from __future__ import annotations

import json

from faultwise.rcl.llm import LLMClient, LLMConfig
from rcl_support.fakeserver import Answer

FAST = {"timeout_s": 5.0, "max_retries": 2, "backoff_s": 0.01, "backoff_max_s": 0.05}


def client_for(base_url: str, cache=None, **overrides) -> LLMClient:
    return LLMClient(LLMConfig(base_url=base_url, model="test-model", **{**FAST, **overrides}), cache=cache)


def json_answer(obj) -> Answer:
    return Answer(content=json.dumps(obj))


def last_user(request: dict) -> str:
    return next(m["content"] for m in reversed(request["messages"]) if m["role"] == "user")


def span_id_in(request: dict) -> str | None:
    """The span id the agent prompt is about (the first ``"span_id":"..."`` of the first user message)."""
    first = next(m["content"] for m in request["messages"] if m["role"] == "user")
    marker = '"span_id":"'
    i = first.find(marker)
    return first[i + len(marker) : first.index('"', i + len(marker))] if i >= 0 else None


class InProcessClient(LLMClient):
    """The real client (ladder, tools, prompts, accounting) with the HTTP hop replaced by a direct call of
    the script: for measuring prompts over thousands of agents quickly. HTTP is tested elsewhere."""

    def __init__(self, script, **overrides):
        super().__init__(
            LLMConfig(base_url="http://in-process/v1", model="test-model", **{**FAST, **overrides})
        )
        self.script = script
        self.prompt_sizes: list[int] = []

    async def chat(self, messages, tools=None, response_format=None, final=False):
        from faultwise.rcl.llm.client import ChatReply, ToolCall
        from rcl_support.fakeserver import approx_tokens

        request = {"model": self.config.model, "messages": messages, "temperature": 0.0, "max_tokens": 512}
        if tools:
            request["tools"] = tools
        if response_format:
            request["response_format"] = response_format
        size = len(json.dumps(request, ensure_ascii=False))
        self.prompt_sizes.append(size)
        self.usage.max_prompt_chars = max(self.usage.max_prompt_chars, size)
        ans = self.script(request)
        self.usage.calls += 1
        self.usage.prompt_tokens += approx_tokens(json.dumps(messages))
        self.usage.completion_tokens += approx_tokens(ans.content or "")
        return ChatReply(
            ans.content, [ToolCall(f"call_{i}", n, a) for i, (n, a) in enumerate(ans.tool_calls)]
        )


def blaming_script(request: dict):
    """See :func:`rcl_support.fakeserver.blaming_answer`."""
    from rcl_support.fakeserver import blaming_answer

    return blaming_answer()(request)


class LLMKit:
    """The helpers above as one object, handed to the tests by the ``llm`` fixture."""

    client = staticmethod(client_for)
    json_answer = staticmethod(json_answer)
    last_user = staticmethod(last_user)
    span_id_in = staticmethod(span_id_in)
    in_process_client = InProcessClient
    blaming_script = staticmethod(blaming_script)
