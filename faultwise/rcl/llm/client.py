"""The chat client: one request with retries, budget, cache and accounting; structured records; tool rounds.

Retries are ours (the SDK's are off) so that backoff, the circuit breaker and the counters are in one
place. Only what can pass is retried: timeouts, connection errors, 429 and 503-like overload (502, 503,
504, 529, or a 5xx saying it is overloaded). A server that does not support a parameter says so in many
ways (400, 404, 415, 422, 500 or 501, with a message naming ``response_format``, ``json_schema``, ``tools``
...): that is recognised by the message, and the client steps down its ladder once for the whole run
(json_schema -> json_object -> prompted JSON; native tools -> prompted tools), recording what the server
said; any other refusal fails that request for good. Cancellation (Ctrl-C) is never caught here: only
``Exception`` subclasses are, and asyncio's ``CancelledError`` is not one.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import openai
from pydantic import BaseModel, Field

from faultwise.rcl.llm.budget import Budget, estimate_tokens
from faultwise.rcl.llm.cache import ResponseCache
from faultwise.rcl.llm.config import LLMConfig
from faultwise.rcl.llm.errors import LLMBadOutput, LLMRejected, LLMUnavailable, LLMUnsupported
from faultwise.rcl.llm.prompts import render
from faultwise.rcl.llm.records import RecordError, compact, dumps_capped, parse_record
from faultwise.rcl.llm.usage import LLMUsage

T = TypeVar("T", bound=BaseModel)
LADDER = ("json_schema", "json_object", "prompted")
#: what servers answer to a parameter they do not support (llama.cpp's server answers 500)
UNSUPPORTED = (400, 404, 415, 422, 500, 501)
#: overload: worth waiting for (with 429, timeouts and connection errors)
OVERLOAD = (502, 503, 504, 529)
#: how a refusal names the parameter it refuses, per parameter we may send
NAMES_PARAMETER = {
    "response_format": re.compile(r"response_format|json_schema|json_object|structured output", re.I),
    "tools": re.compile(r"\btools?\b|tool_choice|tool[ _]call|function[ _]call|\bfunctions\b", re.I),
}
_OVERLOADED = re.compile(r"overload|capacity|too busy|try again later", re.I)


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str = "{}"


@dataclass
class ChatReply:
    content: str | None
    tool_calls: list[ToolCall] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_prompt_tokens: int = 0
    cached: bool = False

    def to_dict(self) -> dict:
        return {
            "content": self.content,
            "tool_calls": [[c.id, c.name, c.arguments] for c in self.tool_calls],
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cached_prompt_tokens": self.cached_prompt_tokens,
        }

    @classmethod
    def from_dict(cls, d: dict, cached: bool = False) -> ChatReply:
        return cls(
            content=d.get("content"),
            tool_calls=[ToolCall(*c) for c in d.get("tool_calls", [])],
            prompt_tokens=int(d.get("prompt_tokens", 0)),
            completion_tokens=int(d.get("completion_tokens", 0)),
            cached_prompt_tokens=int(d.get("cached_prompt_tokens", 0)),
            cached=cached,
        )


@dataclass(frozen=True)
class Tool:
    """A data tool the model may call. Our tools take no arguments: their scope is fixed by the agent."""

    name: str
    description: str
    run: Callable[[], Any]

    def spec(self) -> dict:
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": {"type": "object", "properties": {}},
            },
        }


class ToolRequest(BaseModel):
    """The prompted stand-in for function calling: which tools to run (none = answer now)."""

    tools: list[str] = Field(default_factory=list, description="names of the tools to call")


class LLMClient:
    """Async client of one endpoint. One instance serves a whole run (its counters are the run's)."""

    def __init__(
        self,
        config: LLMConfig,
        cache: ResponseCache | None = None,
        usage: LLMUsage | None = None,
        max_tool_result_chars: int = 1200,
    ):
        self.config = config
        self.cache = cache
        self.usage = usage or LLMUsage()
        self.max_tool_result_chars = max_tool_result_chars
        first = "json_schema" if config.response_format == "auto" else config.response_format
        self._rung = LADDER.index(first)
        self._native_tools = config.tool_calling != "prompted"
        self._failures_in_a_row = 0
        self.budget = Budget()  # no limit until an incident sets one
        self._sdk_loop: asyncio.AbstractEventLoop | None = None
        self._sdk: openai.AsyncOpenAI | None = None
        self._closers: list = []

    # --- one request -------------------------------------------------------------------------------------

    async def _client(self) -> openai.AsyncOpenAI:
        """One SDK client per event loop: its connection pool belongs to the loop that opened it, and it is
        closed when that loop shuts down (``asyncio.run`` finalises open async generators, see below)."""
        loop = asyncio.get_running_loop()
        if self._sdk is None or self._sdk_loop is not loop:
            sdk = openai.AsyncOpenAI(
                base_url=self.config.base_url,
                api_key=self.config.api_key,
                timeout=self.config.timeout_s,
                max_retries=0,
            )
            closer = _close_at_loop_end(sdk)
            await closer.__anext__()
            self._closers.append(closer)  # keep it alive until the loop finalises it
            self._sdk, self._sdk_loop = sdk, loop
        return self._sdk

    async def chat(
        self,
        messages: list[dict],
        tools: list[dict] | None = None,
        response_format: dict | None = None,
        final: bool = False,
    ) -> ChatReply:
        """One chat completion: cache, budget, then up to ``max_retries`` retries on timeouts, 429 and
        overload. ``final`` requests (the synthesis) may use the budget's reserve."""
        cfg = self.config
        request: dict[str, Any] = {
            "model": cfg.model,
            "messages": messages,
            "temperature": cfg.temperature,
            "max_tokens": cfg.max_tokens,
        }
        if tools:
            request["tools"] = tools
        if response_format:
            request["response_format"] = response_format
        size = len(json.dumps(request, ensure_ascii=False))
        self.usage.max_prompt_chars = max(self.usage.max_prompt_chars, size)
        cache_key = {"base_url": cfg.base_url, **request}
        if self.cache is not None:
            hit = self.cache.get(cache_key)
            if hit is not None:
                self.usage.cache_hits += 1
                return ChatReply.from_dict(hit, cached=True)
        if self._failures_in_a_row >= cfg.breaker_failures:
            raise LLMUnavailable(
                f"{cfg.base_url}: {self._failures_in_a_row} requests in a row failed; giving up"
            )

        attempt = 0
        while True:
            reserved = self._admit(size, final)
            try:
                resp = await (await self._client()).chat.completions.create(**request)
                break
            except openai.APIStatusError as exc:
                self._settle(reserved, 0)
                status, text = exc.status_code, _message(exc)
                if not _retryable(status, text):
                    self.usage.failed_calls += 1
                    named = [p for p in ("response_format", "tools") if p in request and _names(exc, p)]
                    if status in UNSUPPORTED and named:  # a capability, not this request: no breaker
                        raise LLMUnsupported(
                            f"{cfg.base_url}: HTTP {status}: {text}", status, named[0]
                        ) from None
                    self._failures_in_a_row += 1
                    raise LLMRejected(f"{cfg.base_url}: HTTP {status}: {text}", status) from None
                problem, wait_hint = f"HTTP {status}: {text}", _retry_after(exc)
            except openai.APIConnectionError as exc:  # includes timeouts
                self._settle(reserved, 0)
                problem = "timed out" if isinstance(exc, openai.APITimeoutError) else f"connection: {exc}"
                wait_hint = None
            except BaseException:  # cancelled: hand the reservation back
                self._settle(reserved, 0)
                raise
            if attempt >= cfg.max_retries:
                self.usage.failed_calls += 1
                self._failures_in_a_row += 1
                raise LLMUnavailable(f"{cfg.base_url}: {problem} (after {attempt} retries)")
            delay = min(cfg.backoff_max_s, cfg.backoff_s * 2**attempt) * (0.5 + random.random() / 2)
            if wait_hint is not None:
                delay = min(cfg.backoff_max_s, max(delay, wait_hint))
            attempt += 1
            self.usage.retries += 1
            await asyncio.sleep(delay)

        self._failures_in_a_row = 0
        usage = getattr(resp, "usage", None)
        details = getattr(usage, "prompt_tokens_details", None)
        prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
        completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
        self._settle(reserved, prompt_tokens + completion_tokens)
        self.usage.prompt_tokens += prompt_tokens
        self.usage.completion_tokens += completion_tokens
        if not getattr(resp, "choices", None):
            self.usage.failed_calls += 1
            raise LLMBadOutput(f"{cfg.base_url}: the answer has no choices")
        msg = resp.choices[0].message
        calls = [
            ToolCall(c.id or f"call_{i}", c.function.name, c.function.arguments or "{}")
            for i, c in enumerate(msg.tool_calls or [])
            if getattr(c, "function", None) is not None
        ]
        reply = ChatReply(
            content=msg.content,
            tool_calls=calls,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cached_prompt_tokens=int(getattr(details, "cached_tokens", 0) or 0),
        )
        self.usage.calls += 1
        self.usage.cached_prompt_tokens += reply.cached_prompt_tokens
        if self.cache is not None:
            self.cache.put(cache_key, reply.to_dict())
        return reply

    def _admit(self, request_chars: int, final: bool) -> int:
        reserved = self.budget.admit(estimate_tokens(request_chars, self.config.max_tokens), final)
        self.usage.budget_calls_used += 1
        return reserved

    def _settle(self, reserved: int, spent_tokens: int) -> None:
        self.budget.settle(reserved, spent_tokens)
        self.usage.budget_tokens_used += spent_tokens

    # --- structured records ------------------------------------------------------------------------------

    @property
    def format_rung(self) -> str:
        return LADDER[self._rung]

    async def structured(
        self,
        messages: list[dict],
        model: type[T],
        name: str = "record",
        check: Callable[[T], None] | None = None,
        final: bool = False,
    ) -> T:
        """Ask for one ``model`` record, going down the ladder json_schema -> json_object -> prompted JSON
        when the server says it does not support a response format; one repair retry when an answer does
        not validate."""
        while True:
            rung = self._rung
            try:
                return await self._structured_at(LADDER[rung], messages, model, name, check, final)
            except LLMUnsupported as exc:
                if LADDER[rung] == "prompted" or exc.parameter != "response_format":
                    raise
                if self._rung == rung:  # concurrent agents may have stepped down already: once per rung
                    self._rung += 1
                    self.usage.format_downgrades += 1
                    self.usage.record_step(
                        "response_format", LADDER[rung], LADDER[rung + 1], exc.status, str(exc)
                    )

    async def _structured_at(
        self,
        rung: str,
        messages: list[dict],
        model: type[T],
        name: str,
        check: Callable[[T], None] | None,
        final: bool,
    ) -> T:
        schema = model.model_json_schema()
        ask = {"role": "user", "content": render("structured", name=name, schema=json.dumps(schema))}
        msgs = [*messages, ask]
        fmt: dict | None = None
        if rung == "json_schema":
            fmt = {"type": "json_schema", "json_schema": {"name": name, "schema": schema}}
        elif rung == "json_object":
            fmt = {"type": "json_object"}
        reply = await self.chat(msgs, response_format=fmt, final=final)
        try:
            return parse_record(reply.content, model, check)
        except RecordError as err:
            self.usage.repairs += 1
            fix = {"role": "user", "content": render("repair", name=name, error=str(err)[:300])}
            again = await self.chat(
                [*msgs, {"role": "assistant", "content": reply.content or ""}, fix],
                response_format=fmt,
                final=final,
            )
            try:
                return parse_record(again.content, model, check)
            except RecordError as err2:
                raise LLMBadOutput(f"{name}: {err2}") from None

    # --- tools -------------------------------------------------------------------------------------------

    def _run_tool(self, name: str, tools: dict[str, Tool]) -> str:
        tool = tools.get(name)
        if tool is None:
            return json.dumps({"error": f"no tool named {name!r}; available: {', '.join(tools)}"})
        self.usage.tool_calls += 1
        return dumps_capped(compact(tool.run()), self.max_tool_result_chars)

    async def gather(
        self, messages: list[dict], tools: list[Tool], rounds: int = 1
    ) -> tuple[list[dict], str | None]:
        """Let the model call ``tools`` for up to ``rounds`` rounds. Returns the conversation with the
        results, and the model's text when it answered instead of calling (``None`` otherwise)."""
        by_name = {t.name: t for t in tools}
        msgs = list(messages)
        done = 0
        while done < rounds:
            if self._native_tools:
                try:
                    reply = await self.chat(msgs, tools=[t.spec() for t in tools])
                except LLMUnsupported as exc:
                    if self.config.tool_calling == "native" or exc.parameter != "tools":
                        raise
                    if self._native_tools:  # no function calling here: prompted from now on, once
                        self._native_tools = False
                        self.usage.record_step("tool_calling", "native", "prompted", exc.status, str(exc))
                    continue
                if not reply.tool_calls:
                    return msgs, reply.content
                msgs.append(
                    {
                        "role": "assistant",
                        "content": reply.content,
                        "tool_calls": [
                            {
                                "id": c.id,
                                "type": "function",
                                "function": {"name": c.name, "arguments": c.arguments},
                            }
                            for c in reply.tool_calls
                        ],
                    }
                )
                for c in reply.tool_calls:
                    msgs.append(
                        {"role": "tool", "tool_call_id": c.id, "content": self._run_tool(c.name, by_name)}
                    )
            else:
                menu = "\n".join(f"- {t.name}: {t.description}" for t in tools)
                ask = [*msgs, {"role": "user", "content": render("tools_prompted", tools=menu)}]

                def known(req: ToolRequest) -> None:
                    bad = [n for n in req.tools if n not in by_name]
                    if bad:
                        raise ValueError(
                            f"unknown tool(s) {', '.join(bad)}; choose from {', '.join(by_name)}"
                        )

                req = await self.structured(ask, ToolRequest, name="tool_request", check=known)
                self.usage.prompted_tool_rounds += 1
                if not req.tools:
                    return msgs, None
                text = "\n".join(f"{n}: {self._run_tool(n, by_name)}" for n in dict.fromkeys(req.tools))
                msgs.append({"role": "user", "content": f"Tool results:\n{text}"})
            done += 1
        return msgs, None

    async def decide(
        self,
        messages: list[dict],
        tools: list[Tool],
        model: type[T],
        name: str,
        check: Callable[[T], None] | None = None,
        rounds: int = 1,
        transcript: list[dict] | None = None,
    ) -> T:
        """Tool rounds, then the record: the model's own final text when it validates, else a structured ask.
        ``transcript``, when given, receives the conversation with the tool results and the record as the
        model's answer, for a later call of the same agent to continue without sending them again."""
        msgs, text = await self.gather(messages, tools, rounds)
        record: T | None = None
        if text:
            try:
                record = parse_record(text, model, check)
            except RecordError:
                pass
        if record is None:
            record = await self.structured(msgs, model, name, check)
        if transcript is not None:
            transcript.extend([*msgs, {"role": "assistant", "content": record.model_dump_json()}])
        return record


async def _close_at_loop_end(sdk: openai.AsyncOpenAI):
    """Suspended until the event loop shuts down, then closes the client's connections on that loop."""
    try:
        yield
    finally:
        await sdk.close()


def _retryable(status: int, text: str) -> bool:
    """Worth retrying: rate limits and overload, never a refusal of the request itself."""
    return status == 429 or status in OVERLOAD or (status >= 500 and bool(_OVERLOADED.search(text)))


def _names(exc: openai.APIStatusError, parameter: str) -> bool:
    """Whether the refusal names ``parameter`` (in its message or anywhere in its error body)."""
    body = exc.body if exc.body is not None else ""
    text = f"{exc.message} {json.dumps(body, default=str) if not isinstance(body, str) else body}"
    return bool(NAMES_PARAMETER[parameter].search(text))


def _message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])[:200]
    return str(exc.message)[:200]


def _retry_after(exc: openai.APIStatusError) -> float | None:
    try:
        value = exc.response.headers.get("retry-after")
        return float(value) if value is not None else None
    except (AttributeError, ValueError):
        return None
