"""How much of a Nezha case's fault is visible in its traces at all (not a method: a ceiling check).

For every case, the spans of the case's own trace files are split at the labelled injection time: traces that
start before it are the control, traces that start after it the incident. Same minutes, same workload, no
drift, the true onset: the most favourable comparison traces allow. Every service is then scored two ways:

- **timing**: the largest |log ratio| of an operation's median duration, after against before;
- **structure**: the largest Poisson z of a change in how many child calls of each kind an operation makes
  per call (calls that vanished or appeared), after against before.

The rank of the labelled service under each score says whether the traces carry the fault. A fault type
whose root cause ranks low even here cannot be localised from traces alone; the method is then bounded by
the data, not by its constants.

    python benchmarks/rcl_trace_signal.py ../shared/data/nezha-tt [--min-spans 3] [--json F]
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

from faultwise.rcl.bench import select_cases
from faultwise.rcl.profile.calls import parent_rows
from faultwise.rcl.telemetry.enrich import dedupe_spans
from faultwise.rcl.telemetry.nezha import load_nezha_traces


def service_scores(spans: pd.DataFrame, start_us: int, min_spans: int) -> tuple[pd.Series, pd.Series]:
    """(timing, structure) score per service of one case's incident spans, split at ``start_us``."""
    s = spans[["trace_id", "span_id", "parent_id", "service", "operation", "start_us", "duration_us"]].copy()
    s["after"] = s.groupby("trace_id")["start_us"].transform("min") >= start_us

    med = (
        s.groupby(["service", "operation", "after"])["duration_us"].agg(["count", "median"]).unstack("after")
    )
    med = med.dropna()
    med = med[(med[("count", True)] >= min_spans) & (med[("count", False)] >= min_spans)]
    timing = (
        np.log(med[("median", True)].clip(lower=1) / med[("median", False)].clip(lower=1))
        .abs()
        .groupby(level="service")
        .max()
    )

    # calls per parent operation and child operation, before and after: the child-call table the profile uses
    s["key"] = s["service"] + "|" + s["operation"]
    prow = parent_rows(s)
    kids = s[prow >= 0].assign(parent_key=s["key"].to_numpy()[prow[prow >= 0]])
    parents = (
        s.groupby(["key", "after"]).size().unstack(fill_value=0).reindex(columns=[False, True], fill_value=0)
    )
    calls = kids.groupby(["parent_key", "key", "after"]).size().unstack(fill_value=0)
    calls = calls.reindex(columns=[False, True], fill_value=0)
    n = parents.reindex(calls.index.get_level_values("parent_key")).to_numpy()
    ok = (n >= min_spans).all(axis=1)
    expected = calls[False].to_numpy() / np.maximum(n[:, 0], 1) * n[:, 1]
    z = np.abs(calls[True].to_numpy() - expected) / np.sqrt(expected + 1)
    rows = [
        (pk.split("|", 1)[0], zi)
        for pk, zi, keep in zip(calls.index.get_level_values("parent_key"), z, ok, strict=True)
        if keep
    ]
    structure = pd.DataFrame(rows, columns=["service", "z"]).groupby("service")["z"].max()
    return timing, structure


def rank_of(scores: pd.Series, service: str) -> int | None:
    if service not in scores.index:
        return None
    return int((scores > scores[service]).sum()) + 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", help="a Nezha-layout folder")
    ap.add_argument("--min-spans", type=int, default=3, help="spans an operation needs on each side")
    ap.add_argument("--json", type=Path, help="also write every case's ranks here")
    args = ap.parse_args()
    per_type: dict[str, list[tuple[int | None, int | None]]] = defaultdict(list)
    doc = []
    root = Path(args.root)
    for case in select_cases(args.root):  # the trace files alone: logs and metrics are not read
        spans = dedupe_spans(pd.concat([load_nezha_traces(root / f) for f in case.trace_files]))
        timing, structure = service_scores(spans, case.inject_unix_utc * 1_000_000, args.min_spans)
        truth = case.root_cause_service
        rt, rs = rank_of(timing, truth), rank_of(structure, truth)
        per_type[case.fault_type].append((rt, rs))
        doc.append(
            {"case": case.case_id, "fault_type": case.fault_type, "timing_rank": rt, "structure_rank": rs}
        )
        print(f"{case.case_id:18s} {case.fault_type:15s} timing rank {rt}  structure rank {rs}", flush=True)

    def ac(ranks: list[int | None], k: int) -> float:
        return sum(r is not None and r <= k for r in ranks) / max(len(ranks), 1)

    print("fault type        cases  timing AC@1/AC@3  structure AC@1/AC@3  either AC@1")
    for ft, rs in sorted(per_type.items()):
        t, s = [r[0] for r in rs], [r[1] for r in rs]
        either = [min(x for x in r if x is not None) if any(x is not None for x in r) else None for r in rs]
        print(
            f"{ft:17s} {len(rs):5d}  {ac(t, 1):.2f}/{ac(t, 3):.2f}          {ac(s, 1):.2f}/{ac(s, 3):.2f}"
            f"           {ac(either, 1):.2f}"
        )
    if args.json:
        args.json.write_text(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
