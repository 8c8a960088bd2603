"""Loader benchmark (not a test): ``python -m faultwise.rcl.telemetry.loadbench [NEZHA_ROOT] [--spans N]``.

Times loading one Nezha case (its trace, log and metric files, plus the baseline) and round trips of a
synthetic N-span table through each JSON writer and loader. Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from faultwise.rcl.telemetry.load import load_traces
from faultwise.rcl.telemetry.nezha import load_nezha_case, read_nezha_cases
from faultwise.rcl.telemetry.schema import SPAN_COLUMNS, conform
from faultwise.rcl.telemetry.writers import write_jaeger, write_otlp_traces, write_zipkin


def synthetic_spans(n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` spans in traces of 20: a server root, then alternating client/server calls down a chain."""
    rng = np.random.default_rng(seed)
    per = 20
    i = np.arange(n)
    trace = i // per
    pos = i % per
    span_ids = np.char.mod("%016x", i + 1)
    parent = np.where(pos == 0, "", np.char.mod("%016x", i))
    services = np.array([f"svc-{k}" for k in range(10)])
    svc = services[(trace + pos // 2) % 10]
    return conform(
        pd.DataFrame(
            {
                "trace_id": np.char.mod("%032x", trace + 1),
                "span_id": span_ids,
                "parent_id": parent,
                "service": svc,
                "pod": np.char.add(svc, "-0"),
                "node": np.char.add("node-", ((trace + pos) % 4).astype(str)),
                "operation": np.char.add("op-", pos.astype(str)),
                "kind": np.where(pos % 2 == 1, "client", "server"),
                "start_us": 1_700_000_000_000_000 + trace * 10_000 + pos * 10,
                "duration_us": rng.integers(100, 10_000, n),
                "is_error": rng.random(n) < 0.01,
                "status_code": "",
            }
        ),
        SPAN_COLUMNS,
        "synthetic",
        "spans",
    )


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(fn):
    """(result, wall seconds, CPU seconds of this process): on a shared machine the CPU time is the
    figure that does not depend on what else runs."""
    t, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t, time.process_time() - c


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("nezha_root", nargs="?", default=None)
    ap.add_argument("--spans", type=int, default=100_000)
    args = ap.parse_args(argv)
    report: dict[str, object] = {}
    if args.nezha_root:
        root = Path(args.nezha_root)
        case = read_nezha_cases(root)[0]
        load_nezha_case(root, case)  # warm the file cache: measure parsing, not the disk
        (incident, baseline), secs, cpu = _timed(lambda: load_nezha_case(root, case))
        report["nezha_case"] = {
            "case_id": case.case_id,
            "seconds_incident_and_baseline": round(secs, 3),
            "cpu_seconds_incident_and_baseline": round(cpu, 3),
            "spans": len(incident.spans),
            "log_lines": len(incident.logs) if incident.logs is not None else 0,
            "metric_rows": len(incident.metrics) if incident.metrics is not None else 0,
            "baseline_spans": len(baseline.spans),
        }
    spans = synthetic_spans(args.spans)
    with tempfile.TemporaryDirectory() as tmp:
        for name, writer in (("otlp", write_otlp_traces), ("jaeger", write_jaeger), ("zipkin", write_zipkin)):
            path = Path(tmp) / f"{name}.json"
            _, wsecs, _ = _timed(lambda w=writer, p=path: w(spans, p))
            got, rsecs, rcpu = _timed(lambda p=path: load_traces(p))
            assert len(got) == len(spans)
            report[f"{name}_{args.spans}_spans"] = {
                "write_seconds": round(wsecs, 3),
                "load_seconds": round(rsecs, 3),
                "load_cpu_seconds": round(rcpu, 3),
                "file_mb": round(path.stat().st_size / 1e6, 1),
            }
    report["peak_rss_mb"] = round(_peak_rss_mb(), 1)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
