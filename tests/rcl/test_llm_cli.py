"""``--reasoner llm`` on the command line: accounting in --json, config from the environment, one-line
errors, the bench cache, and Ctrl-C leaving no half-written report."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from rcl_support.fakeserver import Answer, FakeChatServer, schema_answer

from faultwise.rcl.simulate import write_incident_otlp

LLM_KEYS = {
    "calls", "prompt_tokens", "completion_tokens", "cached_prompt_tokens", "fallbacks", "fallbacks_by_stage",
    "questions_in_doubt", "questions_asked", "questions_over_budget", "escalated_spans", "budget_calls_used",
    "budget", "decisions", "ladder",
}  # fmt: skip


@pytest.fixture(scope="module", autouse=True)
def private_llm_cache(tmp_path_factory):
    """Every test here, and every CLI it starts, gets its own empty answer cache: answers cached by one test
    (or by an earlier run in the user's home) must not answer another test's requests."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FAULTWISE_LLM_CACHE_DIR", str(tmp_path_factory.mktemp("llm-cache")))
        yield


@pytest.fixture(autouse=True)
def fresh_llm_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("FAULTWISE_LLM_CACHE_DIR", str(tmp_path / "llm-cache"))


@pytest.fixture(scope="module")
def files(tmp_path_factory, small_incident):
    return write_incident_otlp(small_incident("cpu", 0), tmp_path_factory.mktemp("llmcli"))


def _args(paths):
    return [
        "rcl", "diagnose", "--traces", paths["traces"], "--logs", paths["logs"], "--metrics", paths["metrics"],
        "--baseline", paths["baseline"], "--baseline-logs", paths["baseline_logs"],
        "--baseline-metrics", paths["baseline_metrics"], "--max-traces", "2",
    ]  # fmt: skip


def test_diagnose_json_carries_llm_accounting(files, cli):
    with FakeChatServer(schema_answer()) as srv:
        args = [*_args(files), "--reasoner", "llm", "--llm-base-url", srv.base_url, "--llm-model", "m"]
        rc, out, err = cli([*args, "--json", "--concurrency", "4"])
        n = len(srv.requests)
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["reasoner"] == "llm" and doc["candidates"]
    llm = doc["llm"]
    assert LLM_KEYS <= set(llm)
    assert llm["calls"] == n > 0 and llm["prompt_tokens"] > 0 and llm["completion_tokens"] > 0
    assert llm["fallbacks"] == 0 and llm["fallbacks_by_stage"] == {} and llm["ladder"] == []
    assert llm["budget"] == {"calls_per_incident": 60, "tokens_per_incident": None}
    assert llm["budget_calls_used"] == n and "cost" not in llm
    # every verdict and consolidation says who made it; those the model made are the escalated ones
    decisions = llm["decisions"]
    made_by_llm = sum(v for k, v in decisions.items() if k.endswith(":llm"))
    assert made_by_llm == llm["escalated_spans"] and decisions["verify:embedded"] > made_by_llm


def test_diagnose_spends_at_most_its_budget_and_prices_it(files, cli):
    with FakeChatServer(schema_answer()) as srv:
        args = [*_args(files), "--reasoner", "llm", "--llm-base-url", srv.base_url, "--llm-model", "m"]
        extra = ["--llm-escalate", "all", "--llm-budget", "5", "--llm-price-in", "2", "--llm-price-out", "10"]
        rc, out, err = cli([*args, *extra, "--json"])
        n = len(srv.requests)
    assert rc == 0, err
    doc = json.loads(out)
    llm = doc["llm"]
    assert n == llm["calls"] <= 5 and llm["budget"]["calls_per_incident"] == 5
    total = (2 * llm["prompt_tokens"] + 10 * llm["completion_tokens"]) / 1e6
    assert llm["cost"]["total"] == pytest.approx(total) and llm["cost"]["input_per_mtok"] == 2
    assert llm["questions_over_budget"] > 0 and llm["decisions"].get("verify:embedded_over_budget", 0) > 0
    assert any("LLM budget (5 calls per incident) ran out" in w for w in doc["warnings"])


def test_embedded_json_has_no_llm_block(files, cli):
    rc, out, _ = cli([*_args(files), "--json"])
    assert rc == 0 and "llm" not in json.loads(out)


def test_endpoint_from_the_environment(files, monkeypatch, cli):
    with FakeChatServer(schema_answer()) as srv:
        monkeypatch.setenv("FAULTWISE_LLM_BASE_URL", srv.base_url)
        monkeypatch.setenv("FAULTWISE_LLM_MODEL", "env-model")
        rc, out, err = cli([*_args(files), "--reasoner", "llm", "--json"])
        assert rc == 0, err
        assert {r["model"] for r in srv.requests} == {"env-model"}


def test_partial_fallbacks_are_reported(files, cli):
    fine = schema_answer()
    seen = {"n": 0}
    lock = threading.Lock()

    def flaky(req):
        with lock:
            seen["n"] += 1
            k = seen["n"]
        return Answer(status=400, error="context too long") if k % 7 == 0 else fine(req)

    with FakeChatServer(flaky) as srv:
        args = [*_args(files), "--reasoner", "llm", "--llm-base-url", srv.base_url, "--llm-model", "m"]
        rc, out, err = cli([*args, "--llm-escalate", "all", "--llm-budget", "0", "--json"])
    assert rc == 0, err
    doc = json.loads(out)
    llm = doc["llm"]
    # summarised per stage: a count and the first message, not one entry per agent
    assert llm["fallbacks"] == sum(f["count"] for f in llm["fallbacks_by_stage"].values()) > 1
    assert all("context too long" in f["first_error"] for f in llm["fallbacks_by_stage"].values())
    assert out.count("context too long") == len(llm["fallbacks_by_stage"])
    assert any("embedded reasoner made those" in w for w in doc["warnings"])


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--reasoner", "oracle"], "--reasoner: unknown reasoner"),
        (["--reasoner", "llm", "--llm-base-url", "http://127.0.0.1:9/v1"], "--llm-model"),
        (["--reasoner", "llm", "--concurrency", "0"], "--concurrency: must be at least 1"),
        (["--reasoner", "llm", "--llm-budget", "-1"], "--llm-budget: must be at least 0"),
        (["--reasoner", "llm", "--llm-escalate", "sometimes"], "--llm-escalate"),
        (["--reasoner", "llm", "--llm-price-in", "-1"], "--llm-price-in: must be at least 0"),
        (
            ["--reasoner", "llm", "--llm-base-url", "http://127.0.0.1:9/v1", "--llm-model", "m"],
            "never answered",
        ),
    ],
)
def test_bad_llm_settings_are_one_line_errors(files, monkeypatch, extra, needle, cli):
    for var in ("FAULTWISE_LLM_BASE_URL", "FAULTWISE_LLM_MODEL", "FAULTWISE_LLM_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    rc, out, err = cli([*_args(files), *extra, "--json"])
    assert rc != 0 and out == ""
    assert needle in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_bench_caches_answers_and_reports_calls_per_case(monkeypatch, tmp_path: Path, cli):
    monkeypatch.setenv("FAULTWISE_LLM_CACHE_DIR", str(tmp_path / "cache"))
    args = [
        "rcl", "bench", "synthetic", "--seeds", "1", "--fault-types", "cpu", "--requests-per-s", "5",
        "--max-traces", "2", "--reasoner", "llm", "--llm-model", "m", "--llm-price-in", "3", "--json",
    ]  # fmt: skip
    docs = []
    with FakeChatServer(schema_answer()) as srv:
        for extra in ([], [], ["--no-cache"]):
            rc, out, err = cli([*args, "--llm-base-url", srv.base_url, *extra])
            assert rc == 0, err
            docs.append(json.loads(out)["llm"])
    first, again, uncached = docs
    assert first["calls"] > 0 and first["cache_hits"] == 0
    (case,) = first["cases"]
    assert case["case_id"] == "cpu-seed0" and case["calls"] == first["calls"] == case["budget_calls_used"]
    assert case["prompt_tokens"] == first["prompt_tokens"] > 0
    assert {"cached_prompt_tokens", "escalated_spans", "questions_over_budget"} <= set(case)
    assert first["budget"] == {"calls_per_incident": 60, "tokens_per_incident": None}
    assert case["cost"] == first["cost"]["total"] == pytest.approx(3 * case["prompt_tokens"] / 1e6)
    assert again["calls"] == 0 and again["cache_hits"] == first["calls"]  # a re-run costs nothing
    assert uncached["calls"] == first["calls"] and uncached["cache_hits"] == 0


def test_bench_methods_side_by_side_with_the_llm_reasoner(cli):
    """--methods and the LLM reasoner go together: each rcl method has its own reasoner and counts."""
    args = [
        "rcl", "bench", "synthetic", "--seeds", "1", "--fault-types", "cpu", "--requests-per-s", "5",
        "--max-traces", "2", "--methods", "random,rcl,rcl-no-logs", "--reasoner", "llm", "--llm-model", "m",
        "--no-cache", "--json",
    ]  # fmt: skip
    with FakeChatServer(schema_answer()) as srv:
        rc, out, err = cli([*args, "--llm-base-url", srv.base_url])
        served = len(srv.requests)
    assert rc == 0, err
    doc = json.loads(out)
    assert list(doc["methods"]) == ["random", "rcl", "rcl-no-logs"]
    assert set(doc["llm"]) == {"rcl", "rcl-no-logs"}  # the comparison method asks no model
    (plain,) = doc["results"]["random"]
    assert plain["llm"] is None
    for name in ("rcl", "rcl-no-logs"):
        (case,) = doc["results"][name]
        assert case["llm"]["calls"] == doc["llm"][name]["calls"] > 0
    assert doc["llm"]["rcl"]["calls"] + doc["llm"]["rcl-no-logs"]["calls"] == served


@pytest.fixture(scope="module")
def interrupted(files, tmp_path_factory):
    """Run ``diagnose --reasoner llm --html`` in a subprocess, press Ctrl-C while LLM calls are in flight."""
    started = threading.Event()

    def slow(req):
        started.set()
        return Answer(content="{}", delay_s=5.0)

    out_dir = tmp_path_factory.mktemp("interrupted")
    html = out_dir / "report.html"
    repo = Path(__file__).resolve().parents[2]
    with FakeChatServer(slow) as srv:
        args = [*_args(files), "--reasoner", "llm", "--llm-base-url", srv.base_url, "--llm-model", "m"]
        proc = subprocess.Popen(
            [sys.executable, "-m", "faultwise.cli", *map(str, args), "--html", str(html)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=repo,
            # a runner started in the background (`cmd &` in a script) ignores SIGINT, and children inherit
            # that: give the CLI the default disposition, as in a terminal
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
            env={
                **os.environ,
                "PYTHONPATH": str(repo),
                "FAULTWISE_LLM_CACHE_DIR": str(tmp_path_factory.mktemp("interrupted-cache")),
            },
        )
        try:
            assert started.wait(120), "the CLI never reached the LLM"
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=180)  # generous: a loaded CI machine is slow to unwind
        finally:
            if proc.poll() is None:
                proc.kill()
    return proc.returncode, out, err, out_dir


def test_ctrl_c_leaves_no_half_written_report(interrupted):
    rc, out, err, out_dir = interrupted
    assert list(out_dir.iterdir()) == []  # neither the report nor a temporary part of it
    assert "Traceback" not in err and "report:" not in out


def test_ctrl_c_exits_130(interrupted):
    rc, _, err, _ = interrupted
    assert rc == 130, err
