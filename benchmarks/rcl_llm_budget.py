"""What the LLM mode costs per incident, and whether it keeps the embedded ranking (not a test).

Runs the embedded reasoner and the LLM reasoner at several call budgets side by side on the same cases of a
Nezha-layout folder, against a loopback chat server that answers after a fixed latency with the statistical
reading each prompt shows (a model that agrees with the embedded reasoner). Reports per budget: calls,
prompt / completion / cached tokens and wall time per incident (median and max), questions in doubt,
asked and over budget, and AC@1 next to the embedded reasoner's.

    python benchmarks/rcl_llm_budget.py ROOT [--budgets 20,60,200,0] [--latency-ms 100]
        [--concurrency 16] [--limit N | --cases a,b] [--max-traces K] [--escalate doubt|all] [--json]

A budget of 0 is no limit. Targets (issue 16): with the default budget, median calls per incident <= 60 and
max <= 150; AC@1 of the agreeing model equals the embedded reasoner's.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
from pathlib import Path

from faultwise.rcl.bench import nezha_cases, run_bench, select_cases
from faultwise.rcl.bench.metrics import summarize
from faultwise.rcl.compare import RCLMethod
from faultwise.rcl.llm import LLMClient, LLMConfig
from faultwise.rcl.method.analyzer import RCLConfig
from faultwise.rcl.reasoners.escalation import EscalationRule
from faultwise.rcl.reasoners.llm import LLMReasoner, LLMReasonerConfig

# the loopback chat server is test support: it lives with the RCL tests, not in the package
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "rcl"))
from rcl_support.fakeserver import FakeChatServer, echo_answer  # noqa: E402


def _label(budget: int) -> str:
    return f"llm-{budget}" if budget else "llm-unlimited"


def run(
    root: str, ids: list[str] | None, limit: int | None, budgets: list[int], latency_s: float, args
) -> dict:
    config = RCLConfig(
        concurrency=args.concurrency, **({"max_traces": args.max_traces} if args.max_traces else {})
    )
    chosen = select_cases(root, ids, limit)
    # one server per budget, so that one run's prompts do not warm the (simulated) prompt cache of another
    servers = [FakeChatServer(echo_answer(latency_s)) for _ in budgets]
    methods = [RCLMethod(name="embedded", config=config)]
    for b, srv in zip(budgets, servers, strict=True):
        client = LLMClient(LLMConfig(base_url=srv.base_url, model="echo", max_retries=2, timeout_s=60))
        rcfg = LLMReasonerConfig(budget_calls=b or None, escalation=EscalationRule(mode=args.escalate))
        methods.append(RCLMethod(name=_label(b), config=config, reasoner=LLMReasoner(client, config=rcfg)))
    with contextlib.ExitStack() as stack:
        for srv in servers:
            stack.enter_context(srv)
        results = run_bench(nezha_cases(root, chosen), methods).results
    base = results["embedded"]
    report: dict = {
        "cases": len(base),
        "latency_ms": round(latency_s * 1000),
        "concurrency": args.concurrency,
        "escalate": args.escalate,
        "embedded": {
            "ac1": summarize(base).ac1,
            "seconds_median": statistics.median(r.seconds for r in base),
        },
        "budgets": {},
    }
    for b in budgets:
        rs = results[_label(b)]
        per = [r.llm or {} for r in rs]

        def col(key: str, per=per) -> list[int]:
            return [p.get(key, 0) for p in per]

        report["budgets"][_label(b)] = {
            "budget_calls": b or None,
            "ac1": summarize(rs).ac1,
            "same_ranks_as_embedded": sum(r.ranked == e.ranked for r, e in zip(rs, base, strict=True)),
            "calls_median": statistics.median(col("calls")),
            "calls_max": max(col("calls")),
            "prompt_tokens_median": statistics.median(col("prompt_tokens")),
            "prompt_tokens_max": max(col("prompt_tokens")),
            "completion_tokens_median": statistics.median(col("completion_tokens")),
            "cached_prompt_tokens_median": statistics.median(col("cached_prompt_tokens")),
            "seconds_median": statistics.median(r.seconds for r in rs),
            "seconds_max": max(r.seconds for r in rs),
            "questions_in_doubt_median": statistics.median(col("questions_in_doubt")),
            "questions_asked_median": statistics.median(col("questions_asked")),
            "questions_over_budget_total": sum(col("questions_over_budget")),
            "escalated_spans_median": statistics.median(col("escalated_spans")),
            "fallbacks_total": sum(col("fallbacks")),
            "cases": [
                {"case_id": r.case_id, "rank": r.rank, "seconds": r.seconds, **(r.llm or {})} for r in rs
            ],
        }
    return report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root")
    ap.add_argument("--budgets", default="20,60,200,0", help="calls per incident, 0 = no limit")
    ap.add_argument("--latency-ms", type=float, default=100.0)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--cases", default=None)
    ap.add_argument("--max-traces", type=int, default=None)
    ap.add_argument("--escalate", default="doubt", choices=("doubt", "all"))
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    ids = [c for c in a.cases.split(",") if c] if a.cases else None
    report = run(a.root, ids, a.limit, [int(x) for x in a.budgets.split(",")], a.latency_ms / 1000, a)
    if a.json:
        print(json.dumps(report, indent=2))
        return
    e = report["embedded"]
    print(
        f"{report['cases']} cases, {report['latency_ms']} ms per answer, concurrency {report['concurrency']}, "
        f"escalate {report['escalate']}; embedded AC@1 {e['ac1']:.3f}, {e['seconds_median']:.1f} s/case"
    )
    print(
        "budget | AC@1 | same ranks | calls med/max | prompt tok med/max | cached med | s med/max | asked/doubt med"
    )
    for label, r in report["budgets"].items():
        print(
            f"{label} | {r['ac1']:.3f} | {r['same_ranks_as_embedded']}/{report['cases']} | "
            f"{r['calls_median']}/{r['calls_max']} | {r['prompt_tokens_median']}/{r['prompt_tokens_max']} | "
            f"{r['cached_prompt_tokens_median']} | {r['seconds_median']:.1f}/{r['seconds_max']:.1f} | "
            f"{r['questions_asked_median']}/{r['questions_in_doubt_median']}"
        )


if __name__ == "__main__":
    main()
