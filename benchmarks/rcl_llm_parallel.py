"""LLM reasoner benchmark (not a test), against a loopback fake chat-completions server:

1. parallel dependency-driven scheduling vs serial, on a ~70-span trace, with a fixed answer latency
   (default 50 ms per call, every span escalated: its full verify + consolidate calls, no budget);
2. the largest prompt (whole request JSON, characters) as a trace grows 10 -> 100 -> 1,000 spans, with
   the worst-case fake (every agent escalated, abnormal, blaming, long texts);
3. optionally, LLM calls and tokens per Nezha case (``--nezha ROOT``), with the generic schema fake
   (its judgement is meaningless: this measures cost, not accuracy).

    python benchmarks/rcl_llm_parallel.py [--latency-ms 50] [--spans 70] [--concurrency 16]
        [--prompt-spans 10,100,1000] [--nezha ROOT --limit N --max-traces K] [--json]

Target (issue 5): at least 5x faster than serial at concurrency 16.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from faultwise.rcl.llm import LLMClient, LLMConfig
from faultwise.rcl.method.analyzer import RCLAgent, RCLConfig
from faultwise.rcl.method.coordinator import Coordinator
from faultwise.rcl.profile import NormalProfile
from faultwise.rcl.profile.graph import TraceGraph
from faultwise.rcl.reasoners.escalation import EscalationRule
from faultwise.rcl.reasoners.llm import LLMReasoner, LLMReasonerConfig
from faultwise.rcl.simulate import generate_large_trace
from faultwise.rcl.tools import DataTools

# the loopback chat server is test support: it lives with the RCL tests, not in the package
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "rcl"))
from rcl_support.fakeserver import FakeChatServer, blaming_answer, schema_answer  # noqa: E402

US_PER_S = 1_000_000
EVERY_SPAN = {"escalation": EscalationRule(mode="all"), "budget_calls": None}


def _reasoner(base_url: str, **cfg) -> LLMReasoner:
    client = LLMClient(LLMConfig(base_url=base_url, model="fake", max_retries=0, timeout_s=30))
    return LLMReasoner(client, config=LLMReasonerConfig(**cfg))


def _trace(n_spans: int, seed: int = 0):
    inc = generate_large_trace(n_spans, seed=seed)
    spans = inc.incident.spans
    start_us = int(inc.truth.inject_ts_s * US_PER_S)
    lo, hi = int(spans["start_us"].min()), int(spans["start_us"].max())
    tools = DataTools(
        inc.incident,
        NormalProfile.fit(inc.normal.spans, inc.normal.logs),
        metric_normal=inc.normal.metrics,
        window_us=(min(start_us, lo), hi),
    )
    tid = spans.groupby("trace_id").size().idxmax()
    return TraceGraph.from_frame(spans[spans["trace_id"] == tid]), tools


def parallel_vs_serial(n_spans: int, latency_s: float, concurrency: int) -> dict:
    graph, tools = _trace(n_spans)
    runs = {}
    with FakeChatServer(schema_answer(latency_s)) as srv:
        for label, conc, schedule in (
            ("serial", 1, "dependency"),
            (f"dependency@{concurrency}", concurrency, "dependency"),
            (f"levels@{concurrency}", concurrency, "levels"),
        ):
            # every span escalated: verify + consolidate calls
            reasoner = _reasoner(srv.base_url, skip_trivial=False, **EVERY_SPAN)
            t0 = time.perf_counter()
            Coordinator(reasoner, concurrency=conc, schedule=schedule).run([graph], tools)
            runs[label] = {
                "seconds": round(time.perf_counter() - t0, 3),
                "calls": reasoner.usage.calls,
                "escalated_spans": reasoner.usage.escalated_spans,
                "fallbacks": reasoner.usage.fallbacks,
            }
    serial = runs["serial"]["seconds"]
    return {
        "spans": len(graph),
        "depth": max(graph.depth().values()) + 1,
        "latency_ms": round(latency_s * 1000),
        "runs": runs,
        "speedup_dependency": round(serial / runs[f"dependency@{concurrency}"]["seconds"], 2),
        "speedup_levels": round(serial / runs[f"levels@{concurrency}"]["seconds"], 2),
    }


def prompt_growth(sizes: list[int]) -> list[dict]:
    out = []
    with FakeChatServer(blaming_answer()) as srv:
        for n in sizes:
            inc = generate_large_trace(n, seed=0)
            reasoner = _reasoner(srv.base_url, **EVERY_SPAN)
            d = RCLAgent(RCLConfig(max_traces=1), reasoner=reasoner).find_root_causes(
                inc.incident, inc.normal, start_us=int(inc.truth.inject_ts_s * US_PER_S)
            )
            u = reasoner.usage
            out.append(
                {
                    "trace_spans": d.spans_analyzed,
                    "max_fan_out": max(len(c) for c in d.trace_graphs[0].children.values()),
                    "calls": u.calls,
                    "max_prompt_chars": u.max_prompt_chars,
                    "prompt_tokens_per_call": round(u.prompt_tokens / max(u.calls, 1)),
                }
            )
    return out


def nezha_costs(root: str, limit: int, max_traces: int | None) -> list[dict]:
    from faultwise.rcl.bench import nezha_cases, run_bench, select_cases
    from faultwise.rcl.compare import RCLMethod

    cfg = RCLConfig() if max_traces is None else RCLConfig(max_traces=max_traces)
    with FakeChatServer(schema_answer()) as srv:
        method = RCLMethod(config=cfg, reasoner=_reasoner(srv.base_url))
        results = run_bench(nezha_cases(root, select_cases(root, None, limit)), [method]).results["rcl"]
    return [{"case_id": r.case_id, "seconds": r.seconds, **(r.llm or {})} for r in results]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latency-ms", type=float, default=50.0)
    ap.add_argument("--spans", type=int, default=70)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument(
        "--prompt-spans", default="10,100,1000", help="trace sizes for the prompt bound ('' = skip)"
    )
    ap.add_argument(
        "--nezha", default=None, help="Nezha-layout folder: also report calls and tokens per case"
    )
    ap.add_argument("--limit", type=int, default=3)
    ap.add_argument("--max-traces", type=int, default=None)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    report: dict = {"parallel": parallel_vs_serial(a.spans, a.latency_ms / 1000, a.concurrency)}
    if a.prompt_spans:
        report["prompt_growth"] = prompt_growth([int(x) for x in a.prompt_spans.split(",")])
    if a.nezha:
        report["nezha"] = nezha_costs(str(Path(a.nezha)), a.limit, a.max_traces)
    if a.json:
        print(json.dumps(report, indent=2))
        return
    p = report["parallel"]
    print(f"{p['spans']}-span trace (depth {p['depth']}), {p['latency_ms']} ms per call:")
    for label, r in p["runs"].items():
        print(
            f"  {label:16s} {r['seconds']:7.2f} s  {r['calls']} calls  {r['escalated_spans']} escalated "
            f"decisions  {r['fallbacks']} fallbacks"
        )
    print(f"  speed-up over serial: dependency {p['speedup_dependency']}x, levels {p['speedup_levels']}x")
    for g in report.get("prompt_growth", []):
        print(
            f"  {g['trace_spans']:5d} spans (fan-out {g['max_fan_out']}): largest prompt "
            f"{g['max_prompt_chars']} chars, {g['calls']} calls, ~{g['prompt_tokens_per_call']} tokens/call"
        )
    for c in report.get("nezha", []):
        print(
            f"  nezha {c['case_id']}: {c['calls']} calls, {c['prompt_tokens']} prompt + "
            f"{c['completion_tokens']} completion tokens, {c['seconds']} s"
        )


if __name__ == "__main__":
    main()
