"""A loopback chat-completions server with scripted answers, for tests and benchmarks.

It speaks enough of the OpenAI protocol for the SDK (``POST .../chat/completions``, JSON in and out, error
bodies, usage), answers from a ``script(request) -> Answer`` function in a thread per request, and records
every request. :func:`schema_answer` is a generic script: it calls every offered tool once, then answers
with the smallest instance of the requested JSON schema, so it exercises the plumbing, not the judgement.
"""

from __future__ import annotations

import json
import math
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


def _completion(request: dict, ans: Answer) -> dict:
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
        "usage": {"prompt_tokens": pt, "completion_tokens": ct, "total_tokens": pt + ct},
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
        with self.server.lock:
            self.server.requests.append(request)
        ans = self.server.script(request)
        if ans.delay_s:
            time.sleep(ans.delay_s)
        if ans.status != 200:
            self._send(ans.status, {"error": {"message": ans.error, "type": "fake"}}, ans.headers)
            return
        self._send(200, _completion(request, ans), ans.headers)

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
    lock: threading.Lock


class FakeChatServer:
    """``with FakeChatServer(script) as srv: ... srv.base_url ...``; ``srv.requests`` holds what came in."""

    def __init__(self, script: Script):
        self._srv = _Server(("127.0.0.1", 0), _Handler)
        self._srv.script = script
        self._srv.requests = []
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


def schema_answer(latency_s: float = 0.0) -> Script:
    """Call each offered tool once, then answer with the smallest instance of the ``json_schema`` format."""

    def script(request: dict) -> Answer:
        msgs = request.get("messages", [])
        if request.get("tools") and not any(m.get("role") == "tool" for m in msgs):
            return Answer(
                tool_calls=[(t["function"]["name"], "{}") for t in request["tools"]], delay_s=latency_s
            )
        fmt = request.get("response_format") or {}
        schema = (fmt.get("json_schema") or {}).get("schema")
        body = example_of(schema) if schema else {}
        return Answer(content=json.dumps(body), delay_s=latency_s)

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
        first = next((m["content"] for m in msgs if m.get("role") == "user"), "")
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
            schema = ((request.get("response_format") or {}).get("json_schema") or {}).get("schema")
            body = example_of(schema) if schema else {}
        return Answer(content=json.dumps(body), delay_s=latency_s)

    return script
