"""Scale benchmark of RCLAgent (not a test): time and peak memory of

- one Nezha case: load its files (traces, logs, metrics, baseline) and diagnose it;
- one synthetic trace of about 10,000 spans (``generate_large_trace``) diagnosed against normal traffic.

Each scenario runs in a fresh Python process so its peak resident memory (``ru_maxrss``) is its own; the
figure includes the interpreter and imports, reported separately as ``rss_before_mib``.

    python benchmarks/rcl_scale.py [--nezha ROOT] [--case CASE_ID] [--spans N] [--json]

Targets (issue 2): under 5 s and under 1 GB per Nezha case.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

DEFAULT_NEZHA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "nezha-tt"


def _rss_mib() -> float:
    """Peak resident set of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _nezha(root: str, case_id: str | None) -> dict:
    from faultwise.rcl.method.analyzer import RCLAgent, RCLConfig
    from faultwise.rcl.telemetry import load_nezha_case, read_nezha_cases

    cases = read_nezha_cases(root)
    case = next((c for c in cases if c.case_id == case_id), None) if case_id else cases[0]
    if case is None:
        raise SystemExit(f"no case {case_id} in {root}")
    before = _rss_mib()
    t0 = time.perf_counter()
    incident, baseline = load_nezha_case(root, case)
    t1 = time.perf_counter()
    d = RCLAgent(RCLConfig()).find_root_causes(incident, baseline, start_us=case.inject_unix_utc * 1_000_000)
    t2 = time.perf_counter()
    return {
        "scenario": f"nezha {case.case_id}",
        "spans": int(len(incident.spans) + len(baseline.spans)),
        "traces_analyzed": d.traces_analyzed,
        "spans_analyzed": d.spans_analyzed,
        "load_s": round(t1 - t0, 3),
        "diagnose_s": round(t2 - t1, 3),
        "total_s": round(t2 - t0, 3),
        "rss_before_mib": round(before, 1),
        "peak_rss_mib": round(_rss_mib(), 1),
    }


def _large(n_spans: int) -> dict:
    from faultwise.rcl.method.analyzer import RCLAgent, RCLConfig
    from faultwise.rcl.simulate import generate_large_trace

    inc = generate_large_trace(n_spans=n_spans, seed=0)
    sizes = inc.incident.spans.groupby("trace_id").size()
    before = _rss_mib()
    t0 = time.perf_counter()
    d = RCLAgent(RCLConfig()).find_root_causes(
        inc.incident, inc.normal, start_us=int(inc.truth.inject_ts_s * 1e6)
    )
    t1 = time.perf_counter()
    top = [c.component for c in d.candidates[:3]]
    return {
        "scenario": f"synthetic {int(sizes.max())}-span trace",
        "spans": int(len(inc.incident.spans) + len(inc.normal.spans)),
        "traces_analyzed": d.traces_analyzed,
        "spans_analyzed": d.spans_analyzed,
        "load_s": 0.0,
        "diagnose_s": round(t1 - t0, 3),
        "total_s": round(t1 - t0, 3),
        "rss_before_mib": round(before, 1),
        "peak_rss_mib": round(_rss_mib(), 1),
        "truth_in_top3": inc.truth.component in top,
    }


def _child(args: argparse.Namespace) -> None:
    result = _nezha(args.nezha, args.case) if args.one == "nezha" else _large(args.spans)
    print(json.dumps(result))


def _run_child(extra: list[str]) -> dict:
    proc = subprocess.run([sys.executable, __file__, *extra], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return {"scenario": extra[1], "error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nezha", default=str(DEFAULT_NEZHA), help="Nezha-layout folder")
    p.add_argument("--case", default=None, help="case id (default: the first)")
    p.add_argument("--spans", type=int, default=10_000, help="spans of the large synthetic trace")
    p.add_argument("--json", action="store_true", help="print one JSON list instead of a table")
    p.add_argument("--one", choices=["nezha", "large"], help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        _child(args)
        return
    rows = []
    if (Path(args.nezha) / "cases.csv").exists():
        extra = ["--one", "nezha", "--nezha", args.nezha] + (["--case", args.case] if args.case else [])
        rows.append(_run_child(extra))
    else:
        rows.append({"scenario": "nezha", "error": f"no cases.csv under {args.nezha}"})
    rows.append(_run_child(["--one", "large", "--spans", str(args.spans)]))
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="RCLAgent scale (one process per scenario)", title_justify="left")
    cols = ["scenario", "spans", "traces_analyzed", "spans_analyzed", "load_s", "diagnose_s", "total_s",
            "rss_before_mib", "peak_rss_mib"]  # fmt: skip
    for c in cols:
        table.add_column(c.replace("_", " "), justify="left" if c == "scenario" else "right", no_wrap=True)
    for r in rows:
        if "error" in r:
            table.add_row(r["scenario"], f"[red]{r['error']}[/red]", *[""] * (len(cols) - 2))
        else:
            table.add_row(*[str(r.get(c, "")) for c in cols])
    Console(width=None if sys.stdout.isatty() else 150).print(table)


if __name__ == "__main__":
    main()
