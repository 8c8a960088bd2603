"""How much of a Nezha case's fault is visible in its traces at all (not a method: a ceiling check).

For every case, the spans of the case's own trace files are split at the labelled injection time: traces that
start before it are the control, traces that start after it the incident. Same minutes, same workload, no
drift, the true onset: the most favourable comparison traces allow. Every service is then scored two ways:

- **timing**: the largest |log ratio| of an operation's median duration, after against before;
- **structure**: the largest Poisson z of a change in how many child calls of each kind an operation makes
  per call (calls that vanished or appeared), after against before;
- **novelty**: per call, the set of operations it calls (its signature); the largest Poisson z of the count of
  calls after whose signature no call before had, against the rate at which the second half of the calls
  before show signatures the first half did not (a fault on a minority of calls that cuts them short changes
  neither the median nor the mean call mix, but gives those calls a signature of their own).

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


def novelty_scores(s: pd.DataFrame, prow: np.ndarray, min_spans: int) -> pd.Series:
    """Largest novelty z per service (see the module docstring); ``s`` has ``key`` and ``after``."""
    child = pd.Series(s["key"].to_numpy()[prow >= 0], index=prow[prow >= 0])
    sig = child.groupby(level=0).agg(lambda k: "|".join(sorted(set(k))))
    s = s.assign(sig=sig.reindex(range(len(s))).fillna("").to_numpy())
    best: dict[str, float] = {}
    for key, g in s.groupby("key"):
        before, after = g.loc[~g["after"], "sig"], g.loc[g["after"], "sig"]
        if len(before) < 2 * min_spans or len(after) < min_spans:
            continue
        half = len(before) // 2
        rate = float((~before.iloc[half:].isin(set(before.iloc[:half]))).mean()) / 2  # a set twice as large
        expected = rate * len(after)
        z = (float((~after.isin(set(before))).sum()) - expected) / np.sqrt(expected + 1)
        svc = key.split("|", 1)[0]
        best[svc] = max(best.get(svc, 0.0), z)
    return pd.Series(best, dtype=float)


def service_scores(
    spans: pd.DataFrame, start_us: int, min_spans: int
) -> tuple[pd.Series, pd.Series, pd.Series]:
    """(timing, structure, novelty) score per service of one case's incident spans, split at ``start_us``."""
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
    return timing, structure, novelty_scores(s.reset_index(drop=True), prow, min_spans)


def rank_of(scores: pd.Series, service: str) -> int | None:
    """The service's rank, ties counted against it (a service tied at zero with others is not found)."""
    if service not in scores.index:
        return None
    return int((scores >= scores[service]).sum())


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
        timing, structure, novelty = service_scores(spans, case.inject_unix_utc * 1_000_000, args.min_spans)
        truth = case.root_cause_service
        rt, rs, rn = rank_of(timing, truth), rank_of(structure, truth), rank_of(novelty, truth)
        per_type[case.fault_type].append((rt, rs, rn))
        doc.append(
            {
                "case": case.case_id,
                "fault_type": case.fault_type,
                "timing_rank": rt,
                "structure_rank": rs,
                "novelty_rank": rn,
                "novelty_z": None if rn is None else round(float(novelty[truth]), 2),
            }
        )
        print(
            f"{case.case_id:18s} {case.fault_type:15s} timing rank {rt}  structure rank {rs}  novelty rank {rn}",
            flush=True,
        )

    def ac(ranks: list[int | None], k: int) -> float:
        return sum(r is not None and r <= k for r in ranks) / max(len(ranks), 1)

    print("fault type        cases  timing AC@1/AC@3  structure AC@1/AC@3  novelty AC@1/AC@3  any AC@1")
    for ft, rs in sorted(per_type.items()):
        t, s, n = [r[0] for r in rs], [r[1] for r in rs], [r[2] for r in rs]
        either = [min(x for x in r if x is not None) if any(x is not None for x in r) else None for r in rs]
        print(
            f"{ft:17s} {len(rs):5d}  {ac(t, 1):.2f}/{ac(t, 3):.2f}          {ac(s, 1):.2f}/{ac(s, 3):.2f}"
            f"            {ac(n, 1):.2f}/{ac(n, 3):.2f}          {ac(either, 1):.2f}"
        )
    if args.json:
        args.json.write_text(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
