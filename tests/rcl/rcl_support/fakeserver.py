"""A loopback chat-completions server with scripted answers, for tests and benchmarks.

It speaks enough of the OpenAI protocol for the SDK (``POST .../chat/completions``, JSON in and out, error
bodies, usage with ``prompt_tokens_details.cached_tokens``), answers from a ``script(request) -> Answer``
function in a thread per request, and records every request. Its prompt cache is a simple model of a
provider's: the longest run of leading messages (and tools) already seen in an earlier request counts as
cached tokens.

Scripts: :func:`schema_answer` calls every offered tool once, then answers with the smallest instance of
the requested JSON schema (the plumbing, not the judgement); :func:`blaming_answer` is the worst case for
sizes; :func:`echo_answer` answers every question with the statistical reading the prompt shows (a model
that agrees with the embedded reasoner), and takes overrides to disagree.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Answer:
    """What the server sends back: a message (content and/or tool calls), or an error status."""

    content: str | None = None
    tool_calls: list[tuple[str, str]] = field(default_factory=list)  # (name, arguments JSON)
    status: int = 200
    error: str = "scripted error"
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    usage: tuple[int, int] | None = None  # (prompt, completion) tokens when the script counts them itself


Script = Callable[[dict], Answer]


def approx_tokens(text: str) -> int:
    """About four characters per token: enough for accounting tests and size figures."""
    return max(1, math.ceil(len(text) / 4))


def _prefix_hashes(request: dict) -> list[tuple[str, int]]:
    """(hash, tokens) of each run of leading messages, tools first (what a provider's prompt cache keys on)."""
    h = hashlib.sha256(json.dumps(request.get("tools") or [], sort_keys=True).encode())
    out, size = [], 0
    for m in request.get("messages", []):
        text = json.dumps(m, sort_keys=True)
        h.update(text.encode())
        size += len(text)
        out.append((h.hexdigest(), approx_tokens("x" * size)))
    return out


def _completion(request: dict, ans: Answer, cached_tokens: int = 0) -> dict:
    message: dict[str, Any] = {"role": "assistant", "content": ans.content}
    if ans.tool_calls:
        message["tool_calls"] = [
            {"id": f"call_{i}", "type": "function", "function": {"name": n, "arguments": a}}
            for i, (n, a) in enumerate(ans.tool_calls)
        ]
    prompt = json.dumps(request.get("messages", []))
    completion = (ans.content or "") + json.dumps(ans.tool_calls)
    pt, ct = ans.usage or (approx_tokens(prompt), approx_tokens(completion))
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.get("model", "fake"),
        "choices": [
            {"index": 0, "message": message, "finish_reason": "tool_calls" if ans.tool_calls else "stop"}
        ],
        "usage": {
            "prompt_tokens": pt,
            "completion_tokens": ct,
            "total_tokens": pt + ct,
            "prompt_tokens_details": {"cached_tokens": min(cached_tokens, pt)},
        },
    }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, *args) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        try:
            request = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self._send(400, {"error": {"message": "body is not JSON"}})
            return
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send(404, {"error": {"message": f"no route {self.path}"}})
            return
        prefixes = _prefix_hashes(request)
        with self.server.lock:
            self.server.requests.append(request)
            seen = self.server.prefixes
            # the last message is the new question: only what came before it can be cached
            cached = max((tok for h, tok in prefixes[:-1] if h in seen), default=0)
            seen.update(h for h, _ in prefixes)
        ans = self.server.script(request)
        if ans.delay_s:
            time.sleep(ans.delay_s)
        if ans.status != 200:
            self._send(ans.status, {"error": {"message": ans.error, "type": "fake"}}, ans.headers)
            return
        self._send(200, _completion(request, ans, cached), ans.headers)

    def _send(self, status: int, body: dict, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout, cancel)
            pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    script: Script
    requests: list[dict]
    prefixes: set[str]
    lock: threading.Lock


class FakeChatServer:
    """``with FakeChatServer(script) as srv: ... srv.base_url ...``; ``srv.requests`` holds what came in."""

    def __init__(self, script: Script):
        self._srv = _Server(("127.0.0.1", 0), _Handler)
        self._srv.script = script
        self._srv.requests = []
        self._srv.prefixes = set()
        self._srv.lock = threading.Lock()
        self._thread = threading.Thread(
            target=self._srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._srv.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def requests(self) -> list[dict]:
        with self._srv.lock:
            return list(self._srv.requests)

    def __enter__(self) -> FakeChatServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._srv.shutdown()
        self._srv.server_close()
        self._thread.join(timeout=5)


# --- a generic script ------------------------------------------------------------------------------------


def example_of(schema: dict, defs: dict | None = None) -> Any:
    """The smallest value that validates against ``schema`` (pydantic-style JSON schema)."""
    defs = defs if defs is not None else schema.get("$defs", {})
    if "$ref" in schema:
        return example_of(defs[schema["$ref"].split("/")[-1]], defs)
    if "default" in schema:
        return schema["default"]
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = schema[key]
            null = next((o for o in options if o.get("type") == "null"), None)
            return None if null is not None else example_of(options[0], defs)
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        return {k: example_of(props[k], defs) for k in schema.get("required", [])}
    if kind == "array":
        return [example_of(schema["items"], defs) for _ in range(schema.get("minItems", 0))]
    if kind in ("number", "integer"):
        lo = schema.get("minimum", 0)
        return int(lo) if kind == "integer" else float(lo)
    if kind == "boolean":
        return False
    if kind == "string":
        return "x" * schema.get("minLength", 0)
    return None


def smallest_record(request: dict) -> Any:
    """The smallest instance of the request's ``json_schema`` format (``{}`` without one)."""
    schema = ((request.get("response_format") or {}).get("json_schema") or {}).get("schema")
    return example_of(schema) if schema else {}


def schema_answer(latency_s: float = 0.0) -> Script:
    """Call each offered tool once, then answer with the smallest instance of the ``json_schema`` format."""

    def script(request: dict) -> Answer:
        msgs = request.get("messages", [])
        if request.get("tools") and not any(m.get("role") == "tool" for m in msgs):
            return Answer(
                tool_calls=[(t["function"]["name"], "{}") for t in request["tools"]], delay_s=latency_s
            )
        return Answer(content=json.dumps(smallest_record(request)), delay_s=latency_s)

    return script


def _first_value(text: str, key: str) -> str | None:
    """The string value of the first ``"key":"..."`` in compact JSON text (fake-server routing only)."""
    marker = f'"{key}":"'
    i = text.find(marker)
    return text[i + len(marker) : text.index('"', i + len(marker))] if i >= 0 else None


def blaming_answer(latency_s: float = 0.0) -> Script:
    """Worst case for prompt sizes and call counts: every agent calls every tool, finds its span abnormal
    with long symptoms, and blames the first child's cause it is shown (or its own span)."""

    def script(request: dict) -> Answer:
        msgs = request.get("messages", [])
        if request.get("tools") and not any(m.get("role") == "tool" for m in msgs):
            return Answer(
                tool_calls=[(t["function"]["name"], "{}") for t in request["tools"]], delay_s=latency_s
            )
        name = ((request.get("response_format") or {}).get("json_schema") or {}).get("name")
        # the question is the last user message before the structured-output ask (a consolidation may
        # continue the agent's verification conversation)
        asks = [m["content"] for m in msgs if m.get("role") == "user"]
        first = asks[-2] if len(asks) >= 2 else (asks[0] if asks else "")
        if name == "self_verdict":
            body = {
                "is_abnormal": True, "has_error_logs": True, "has_metric_anomaly": True,
                "key_symptoms": ["slow " * 60] * 9, "hypothesis": "cpu", "score": 0.8,
            }  # fmt: skip
        elif name == "branch_report":
            target = _first_value(first, "root_cause_span") or _first_value(first, "span_id")
            body = {"root_cause_span": target, "fault_type": "cpu", "reason": "why " * 100, "confidence": 0.7}
        elif name == "final_ranking":
            body = {"ranking": []}
        else:
            body = smallest_record(request)
        return Answer(content=json.dumps(body), delay_s=latency_s)

    return script


# --- a model that agrees with the embedded reasoner ------------------------------------------------------

READINGS = {
    "self_verdict": "The statistical check's reading, in doubt: ",
    "branch_report": "The statistical rule's choice, in doubt: ",
}
_RECORD_NAME = re.compile(r"reply with the (\w+) as one JSON object")


def record_name(request: dict) -> str | None:
    """The record a request asks for: from its json_schema format, else from the structured-output ask."""
    name = ((request.get("response_format") or {}).get("json_schema") or {}).get("name")
    if name:
        return name
    for m in reversed(request.get("messages", [])):
        if m.get("role") == "user":
            found = _RECORD_NAME.search(m.get("content") or "")
            if found:
                return found.group(1)
    return None


def reading_in(request: dict, name: str) -> dict:
    """The statistical reading the prompt shows for ``name`` (the last one, in a continued conversation)."""
    marker = READINGS[name]
    for m in reversed(request.get("messages", [])):
        text = m.get("content") or ""
        i = text.find(marker) if m.get("role") == "user" else -1
        if i >= 0:
            return json.loads(text[i + len(marker) :].split("\n", 1)[0])
    raise ValueError(f"no reading for {name} in the request")


def span_asked(request: dict) -> str | None:
    """The span a verification or consolidation request is about (the last span view in the prompt)."""
    for m in reversed(request.get("messages", [])):
        if m.get("role") == "user":
            found = re.search(r'"span_id":"([^"]+)"', m.get("content") or "")
            if found:
                return found.group(1)
    return None


def children_in(request: dict) -> list[dict]:
    """The child reports a consolidation request lists (the last consolidation in the conversation)."""
    marker = "(each names the deepest abnormal span it found, if any):\n"
    for m in reversed(request.get("messages", [])):
        text = m.get("content") or ""
        i = text.find(marker) if m.get("role") == "user" else -1
        if i >= 0:
            return json.loads(text[i + len(marker) :].split("\n", 1)[0])
    return []


def candidates_in(request: dict) -> list[dict]:
    """The candidates a synthesis request lists."""
    text = next(m["content"] for m in request["messages"] if m.get("role") == "user")
    return json.loads(text.split("\n", 2)[1])


def echo_answer(
    latency_s: float = 0.0,
    verdicts: Callable[[dict, dict], dict | None] | None = None,
    choices: Callable[[dict, dict], dict | None] | None = None,
    call_tools: bool = True,
) -> Script:
    """A model that agrees with the statistical reading shown in each prompt (after calling every offered
    tool once, when ``call_tools``). ``verdicts(request, reading)`` / ``choices(request, reading)`` may
    return another answer to disagree (``None``: agree)."""

    def script(request: dict) -> Answer:
        msgs = request.get("messages", [])
        if request.get("tools") and not any(m.get("role") == "tool" for m in msgs):
            if call_tools:
                return Answer(
                    tool_calls=[(t["function"]["name"], "{}") for t in request["tools"]], delay_s=latency_s
                )
        name = record_name(request)
        if name == "self_verdict":
            r = reading_in(request, name)
            body = (verdicts and verdicts(request, r)) or {
                "is_abnormal": r["is_abnormal"], "hypothesis": r["hypothesis"],
                "key_symptoms": r.get("key_symptoms", []),
            }  # fmt: skip
        elif name == "branch_report":
            r = reading_in(request, name)
            body = (choices and choices(request, r)) or {
                "root_cause_span": r.get("root_cause_span"), "fault_type": r["fault_type"], "reason": "agreed",
            }  # fmt: skip
        elif name == "final_ranking":
            body = {
                "ranking": [
                    {
                        "component": c["component"],
                        "fault_type": c.get("fault_type", "unknown"),
                        "rationale": "",
                    }
                    for c in candidates_in(request)
                ]
            }
        elif name == "tool_request":
            body = {"tools": []}
        else:
            body = smallest_record(request)
        return Answer(content=json.dumps(body), delay_s=latency_s)

    return script
