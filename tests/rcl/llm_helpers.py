"""Helpers of the LLM tests: a client against a scripted loopback server, quick to fail and retry."""

from __future__ import annotations

import json

from faultwise.rcl.llm import LLMClient, LLMConfig
from faultwise.rcl.llm.fakeserver import Answer

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
