"""Query-layer benchmark (not a test): build the data tools over a large incident, then time tool calls.

    python benchmarks/rcl_tools_query.py [--rps 120] [--seconds 180]

Prints the incident's size, the one-off build time of ``DataTools`` (vectorised pandas: timings, baseline
shifts, templates, metric statistics) and the mean latency of each tool call afterwards.
"""

from __future__ import annotations

import argparse
import random
import time

from faultwise.rcl.profile import NormalProfile
from faultwise.rcl.simulate import generate_incident
from faultwise.rcl.telemetry.schema import span_at
from faultwise.rcl.tools import DataTools, ScopedTools


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rps", type=float, default=120.0)
    ap.add_argument("--seconds", type=float, default=180.0)
    ap.add_argument("--calls", type=int, default=2000)
    a = ap.parse_args()
    t0 = time.perf_counter()
    inc = generate_incident(
        fault_type="cpu", seed=0, requests_per_s=a.rps, incident_s=a.seconds, normal_s=60.0
    )
    gen_s = time.perf_counter() - t0
    t = inc.incident
    pods = t.spans["pod"].nunique()
    print(
        f"incident: {len(t.spans):,} spans, {len(t.logs):,} log lines, {len(t.metrics):,} metric rows, {pods} pods "
        f"(generated in {gen_s:.1f} s)"
    )
    t0 = time.perf_counter()
    base = NormalProfile.fit(inc.normal.spans, inc.normal.logs)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    start = int(inc.truth.inject_ts_s * 1e6)
    tools = DataTools(t, base, window_us=(start, t.time_range_us()[1]))
    build_s = time.perf_counter() - t0
    print(f"baseline fit {fit_s:.2f} s, tools build {build_s:.2f} s (once per incident)")
    rng = random.Random(0)
    rows = [rng.randrange(len(tools.spans)) for _ in range(a.calls)]
    scoped = [ScopedTools(span_at(tools.spans, i), tools) for i in rows]
    for name in ("timing", "logs", "pod_metrics", "node_metrics", "operation_stats"):
        t0 = time.perf_counter()
        for s in scoped:
            getattr(s, name)()
        per_call_ms = (time.perf_counter() - t0) / len(scoped) * 1e3
        print(f"  {name:16s} {per_call_ms:.3f} ms per call")


if __name__ == "__main__":
    main()
