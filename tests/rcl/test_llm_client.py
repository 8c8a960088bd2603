"""The LLM client against a real loopback chat-completions server: ladder, repair, retries, tools, cache."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path

import pytest
from pydantic import BaseModel, Field
from rcl_support.fakeserver import Answer, FakeChatServer, example_of

from faultwise.errors import InputError
from faultwise.rcl.llm import LLMBadOutput, LLMRejected, LLMUnavailable, ResponseCache, Tool, load_llm_config


class Verdict(BaseModel):
    abnormal: bool
    reason: str = Field(description="one sentence")
    score: float = 0.0


GOOD = {"abnormal": True, "reason": "cpu saturated", "score": 0.9}
ASK = [{"role": "user", "content": "judge this"}]


def run(coro):
    return asyncio.run(coro)


def test_json_schema_rung_sends_the_schema_and_counts_tokens(llm):
    with FakeChatServer(lambda req: llm.json_answer(GOOD)) as srv:
        client = llm.client(srv.base_url)
        out = run(client.structured(ASK, Verdict, "verdict"))
        (req,) = srv.requests
    assert out == Verdict(**GOOD)
    fmt = req["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["schema"] == Verdict.model_json_schema()
    assert req["model"] == "test-model"
    u = client.usage
    assert (u.calls, u.format_downgrades, u.repairs) == (1, 0, 0)
    assert u.prompt_tokens > 0 and u.completion_tokens > 0
    assert u.max_prompt_chars >= len(json.dumps(req["messages"]))


def test_ladder_steps_down_on_rejection_and_remembers_it(llm):
    def script(req):
        kind = (req.get("response_format") or {}).get("type")
        if kind in ("json_schema", "json_object"):
            return Answer(status=400, error=f"response_format {kind} is not supported")
        return llm.json_answer(GOOD)

    with FakeChatServer(script) as srv:
        client = llm.client(srv.base_url)
        assert run(client.structured(ASK, Verdict, "verdict")).abnormal
        kinds = [(r.get("response_format") or {}).get("type") for r in srv.requests]
        assert kinds == ["json_schema", "json_object", None]
        # the prompted rung carries the schema in the text
        assert '"reason"' in llm.last_user(srv.requests[-1])
        run(client.structured(ASK, Verdict, "verdict"))  # the next record goes straight to the prompt
        assert len(srv.requests) == 4 and "response_format" not in srv.requests[-1]
    assert client.usage.format_downgrades == 2 and client.format_rung == "prompted"


def test_json_object_rung_when_only_schemas_are_unsupported(llm):
    def script(req):
        if (req.get("response_format") or {}).get("type") == "json_schema":
            return Answer(status=422, error="unknown response_format")
        return llm.json_answer(GOOD)

    with FakeChatServer(script) as srv:
        client = llm.client(srv.base_url)
        run(client.structured(ASK, Verdict))
        assert srv.requests[-1]["response_format"] == {"type": "json_object"}


def test_malformed_json_gets_one_repair_retry_with_the_error(llm):
    answers = iter([Answer(content='{"abnormal": true, "reason": '), llm.json_answer(GOOD)])
    with FakeChatServer(lambda req: next(answers)) as srv:
        client = llm.client(srv.base_url)
        assert run(client.structured(ASK, Verdict, "verdict")) == Verdict(**GOOD)
        second = srv.requests[1]
    assert client.usage.repairs == 1
    assert "not a valid verdict: not a JSON document" in llm.last_user(second)
    assert second["messages"][-2] == {"role": "assistant", "content": '{"abnormal": true, "reason": '}


def test_invalid_record_twice_is_bad_output(llm):
    with FakeChatServer(lambda req: llm.json_answer({"abnormal": "maybe"})) as srv:
        client = llm.client(srv.base_url)
        with pytest.raises(LLMBadOutput, match="abnormal"):
            run(client.structured(ASK, Verdict))
        assert len(srv.requests) == 2


def test_fenced_json_is_accepted_but_prose_around_json_is_not_substring_parsed(llm):
    fenced = "```json\n" + json.dumps(GOOD) + "\n```"
    with FakeChatServer(lambda req: Answer(content=fenced)) as srv:
        assert run(llm.client(srv.base_url).structured(ASK, Verdict)).abnormal
    prose = "Sure! Here it is: " + json.dumps(GOOD)
    with FakeChatServer(lambda req: Answer(content=prose)) as srv:
        with pytest.raises(LLMBadOutput):
            run(llm.client(srv.base_url).structured(ASK, Verdict))


def test_check_rules_feed_the_repair(llm):
    answers = iter([llm.json_answer({**GOOD, "score": 7}), llm.json_answer(GOOD)])

    def in_range(v: Verdict) -> None:
        if not 0 <= v.score <= 1:
            raise ValueError("score must be within 0..1")

    with FakeChatServer(lambda req: next(answers)) as srv:
        out = run(llm.client(srv.base_url).structured(ASK, Verdict, check=in_range))
        assert out.score == 0.9
        assert "within 0..1" in llm.last_user(srv.requests[1])


def test_overload_and_429_are_retried_with_backoff_then_succeed(llm):
    answers = iter(
        [
            Answer(status=502),
            Answer(status=429, headers={"retry-after": "0.01"}),
            Answer(status=503),
            Answer(status=500, error="the server is overloaded, try again later"),
            llm.json_answer(GOOD),
        ]
    )
    with FakeChatServer(lambda req: next(answers)) as srv:
        client = llm.client(srv.base_url, max_retries=4)
        assert run(client.structured(ASK, Verdict)).abnormal
        assert len(srv.requests) == 5
    assert client.usage.retries == 4 and client.usage.calls == 1 and client.usage.failed_calls == 0


def test_persistent_5xx_fails_for_good_after_the_retries(llm):
    with FakeChatServer(lambda req: Answer(status=502)) as srv:
        client = llm.client(srv.base_url, max_retries=2)
        with pytest.raises(LLMUnavailable, match="HTTP 502"):
            run(client.structured(ASK, Verdict))
        assert len(srv.requests) == 3
    assert client.usage.failed_calls == 1 and client.usage.calls == 0


def test_slow_answers_time_out_and_are_retried(llm):
    with FakeChatServer(lambda req: Answer(content=json.dumps(GOOD), delay_s=1.0)) as srv:
        client = llm.client(srv.base_url, timeout_s=0.2, max_retries=1)
        with pytest.raises(LLMUnavailable, match="timed out"):
            run(client.structured(ASK, Verdict))
        assert len(srv.requests) == 2


def test_other_4xx_is_not_retried(llm):
    with FakeChatServer(lambda req: Answer(status=401, error="bad key")) as srv:
        client = llm.client(srv.base_url, response_format="prompted")
        with pytest.raises(LLMRejected, match="401: bad key"):
            run(client.structured(ASK, Verdict))
        assert len(srv.requests) == 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_server_down_opens_the_breaker(llm):
    client = llm.client(f"http://127.0.0.1:{_free_port()}/v1", max_retries=0, breaker_failures=2)
    for _ in range(2):
        with pytest.raises(LLMUnavailable, match="connection"):
            run(client.chat(ASK))
    with pytest.raises(LLMUnavailable, match="in a row"):
        run(client.chat(ASK))
    assert client.usage.failed_calls == 2


# --- tools -----------------------------------------------------------------------------------------------


class Timing(BaseModel):
    duration_us: float
    slow: bool


def _tools(log: list[str]) -> list[Tool]:
    def timing():
        log.append("timing")
        return Timing(duration_us=1234.5, slow=True)

    def logs():
        log.append("logs")
        return {"error_lines": 3, "templates": [f"error {i}" for i in range(50)]}

    return [Tool("timing", "how slow the span is", timing), Tool("logs", "its log lines", logs)]


def test_native_tool_calls_run_our_tools_and_return_results(llm):
    def script(req):
        if not any(m["role"] == "tool" for m in req["messages"]):
            return Answer(tool_calls=[("timing", "{}"), ("logs", "{}"), ("nope", "{}")])
        return llm.json_answer(GOOD)

    ran: list[str] = []
    with FakeChatServer(script) as srv:
        client = llm.client(srv.base_url)
        out = run(client.decide(ASK, _tools(ran), Verdict, "verdict"))
        first, second = srv.requests[:2]
    assert out.abnormal and ran == ["timing", "logs"]
    assert [t["function"]["name"] for t in first["tools"]] == ["timing", "logs"]
    tool_msgs = [m for m in second["messages"] if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in tool_msgs] == ["call_0", "call_1", "call_2"]
    assert json.loads(tool_msgs[0]["content"]) == {"duration_us": 1234.5, "slow": True}
    assert "... 45 more" in tool_msgs[1]["content"]  # lists are capped
    assert "no tool named 'nope'" in tool_msgs[2]["content"]
    assert second["messages"][len(ASK)]["tool_calls"][0]["function"]["name"] == "timing"
    assert client.usage.tool_calls == 2


def test_final_answer_without_tool_calls_is_used_directly(llm):
    with FakeChatServer(lambda req: llm.json_answer(GOOD)) as srv:
        client = llm.client(srv.base_url)
        assert run(client.decide(ASK, _tools([]), Verdict, "verdict")).abnormal
        assert len(srv.requests) == 1


def test_prompted_tool_fallback_when_the_server_rejects_tools(llm):
    def script(req):
        if "tools" in req:
            return Answer(status=400, error="tools are not supported by this model")
        if any("Tools you can ask for" in m["content"] for m in req["messages"]):
            return llm.json_answer({"tools": ["logs"]})
        return llm.json_answer(GOOD)

    ran: list[str] = []
    with FakeChatServer(script) as srv:
        client = llm.client(srv.base_url)
        assert run(client.decide(ASK, _tools(ran), Verdict, "verdict")).abnormal
        assert ran == ["logs"]
        final = srv.requests[-1]
        assert any(
            "Tool results:" in m["content"] and "error_lines" in m["content"] for m in final["messages"]
        )
        n = len(srv.requests)
        run(client.decide(ASK, _tools(ran), Verdict, "verdict"))  # no second try of native tools
        assert all("tools" not in r for r in srv.requests[n:])
    assert client.usage.prompted_tool_rounds == 2


def test_native_only_setting_does_not_fall_back(llm):
    with FakeChatServer(lambda req: Answer(status=400, error="no tools")) as srv:
        client = llm.client(srv.base_url, tool_calling="native")
        with pytest.raises(LLMRejected):
            run(client.decide(ASK, _tools([]), Verdict, "verdict"))


# --- cache -----------------------------------------------------------------------------------------------


def test_cache_answers_the_exact_same_request_without_a_call(tmp_path: Path, llm):
    other = [{"role": "user", "content": "another span"}]
    with FakeChatServer(lambda req: llm.json_answer(GOOD)) as srv:
        first = llm.client(srv.base_url, cache=ResponseCache(tmp_path))
        run(first.structured(ASK, Verdict))
        again = llm.client(srv.base_url, cache=ResponseCache(tmp_path))
        assert run(again.structured(ASK, Verdict)) == Verdict(**GOOD)
        assert len(srv.requests) == 1
        assert (again.usage.calls, again.usage.cache_hits, again.usage.prompt_tokens) == (0, 1, 0)
        run(again.structured(other, Verdict))
        assert len(srv.requests) == 2
        files = list(tmp_path.rglob("*"))
        assert not [f for f in files if f.name.endswith(".part")]
        entries = sorted(f for f in files if f.suffix == ".json")
        assert len(entries) == 2
        for f in entries:
            f.write_text("{half")  # a damaged entry is a miss, not an answer
        third = llm.client(srv.base_url, cache=ResponseCache(tmp_path))
        run(third.structured(ASK, Verdict))
        assert len(srv.requests) == 3 and third.usage.cache_hits == 0
        run(third.structured(ASK, Verdict))  # rewritten whole, so now a hit
        assert len(srv.requests) == 3 and third.usage.cache_hits == 1
    with FakeChatServer(lambda req: llm.json_answer(GOOD)) as srv:  # another endpoint is another request
        run(llm.client(srv.base_url, cache=ResponseCache(tmp_path)).structured(ASK, Verdict))
        assert len(srv.requests) == 1


# --- config ----------------------------------------------------------------------------------------------


def test_config_flags_over_env_over_file(tmp_path: Path):
    toml = tmp_path / "llm.toml"
    toml.write_text('[llm]\nbase_url = "http://file/v1"\nmodel = "file-model"\ntimeout_s = 9\n')
    env = {"FAULTWISE_LLM_MODEL": "env-model", "FAULTWISE_LLM_API_KEY": "k"}
    cfg = load_llm_config({"base_url": None}, toml, env)
    assert (cfg.base_url, cfg.model, cfg.api_key, cfg.timeout_s) == ("http://file/v1", "env-model", "k", 9)
    cfg = load_llm_config({"model": "flag-model"}, None, {"FAULTWISE_LLM_CONFIG": str(toml), **env})
    assert cfg.model == "flag-model" and cfg.base_url == "http://file/v1"
    js = tmp_path / "llm.json"
    js.write_text(json.dumps({"base_url": "http://j/v1", "model": "m", "max_retries": 0}))
    assert load_llm_config(None, js, {}).max_retries == 0


@pytest.mark.parametrize(
    ("text", "suffix", "problem"),
    [
        ('base_url = "http://x/v1"\nmodel = "m"\ntimeout_s = -1\n', ".toml", "timeout_s"),
        ('base_url = "http://x/v1"\nmodel = "m"\ncolour = "red"\n', ".toml", "colour"),
        ("base_url = [", ".toml", "not valid TOML"),
        ("[1, 2]", ".json", "expected a table"),
    ],
)
def test_bad_config_files_are_one_line_input_errors(tmp_path: Path, text, suffix, problem):
    path = tmp_path / f"llm{suffix}"
    path.write_text(text)
    with pytest.raises(InputError, match=problem) as exc:
        load_llm_config(None, path, {})
    assert str(path) in str(exc.value) and "\n" not in str(exc.value)


def test_missing_endpoint_names_the_flag_and_variable():
    with pytest.raises(InputError, match="FAULTWISE_LLM_BASE_URL"):
        load_llm_config({"model": "m"}, None, {})
    with pytest.raises(InputError, match="--llm-model"):
        load_llm_config({"base_url": "http://x/v1"}, None, {})


def test_example_of_builds_valid_records_from_schemas():
    assert Verdict.model_validate(example_of(Verdict.model_json_schema()))
