"""Rank every case of a Nezha folder (or of its replay bench) with several reasoner configurations side by side.

Where ``rcl_loso.py`` reports one summary per value, this prints each case's rank under every configuration,
marks the cases where they differ (with each configuration's first answer), and ends with AC@1 / AC@3 per fault
type: what a change of the method gains and loses, case by case.

    python benchmarks/rcl_configs.py ../shared/data/nezha-tt all \\
        '{"before": {"effect_scale": null}, "default": {}, "half": {"effect_scale": 0.5}}'
    python benchmarks/rcl_configs.py ../shared/data/nezha-tt traces '{...}' \\
        --replay network_delay,cpu_contention,cpu_hog,exception,error_return

A configuration is a JSON object of ``EmbeddedConfig`` fields (``{}``: the defaults).
"""

from __future__ import annotations

import argparse
import json

from rcl_loso import bench_cases  # this folder's leave-one-system-out script: the same cases

from faultwise.rcl.bench import MODALITY_SETS, CaseResult, score_case, summarize, with_modalities
from faultwise.rcl.compare import RCLMethod
from faultwise.rcl.method.analyzer import RCLConfig
from faultwise.rcl.reasoners.embedded import EmbeddedConfig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", help="a Nezha folder")
    ap.add_argument("modalities", choices=sorted(MODALITY_SETS), help="modality set given to the method")
    ap.add_argument("configs", help='JSON: {"label": {EmbeddedConfig field: value, ...}, ...}')
    ap.add_argument("--replay", help="comma-separated fault models: the folder's replay bench (easy, hard)")
    args = ap.parse_args()
    methods = {
        label: RCLMethod(config=RCLConfig(reasoner=EmbeddedConfig(**fields)))
        for label, fields in json.loads(args.configs).items()
    }
    replay = args.replay.split(",") if args.replay else None
    results: dict[str, list[CaseResult]] = {label: [] for label in methods}
    for case in bench_cases(args.root, replay):
        view = with_modalities(case, MODALITY_SETS[args.modalities])
        scored = {label: score_case(view, m) for label, m in methods.items()}
        ranks = {label: r.rank for label, r in scored.items()}
        line = f"{case.case_id[:50]:50s} {case.fault_type[:22]:22s} {case.truth[:28]:28s} {ranks}"
        if len(set(ranks.values())) > 1:
            first = {label: (r.ranked[0] if r.ranked else None) for label, r in scored.items()}
            line += f" {first}  <-- differs"
        print(line, flush=True)
        for label, r in scored.items():  # scored per fault model, both strengths together
            results[label].append(r.model_copy(update={"fault_type": r.fault_type.split("/")[0]}))
    summaries = {label: summarize(rs) for label, rs in results.items()}
    print("\nAC@1 / AC@3")
    rows = {"all cases": {label: (s.cases, s.ac1, s.ac3) for label, s in summaries.items()}}
    for label, s in summaries.items():
        for ft, t in s.by_fault_type.items():
            rows.setdefault(ft, {})[label] = (t.cases, t.ac1, t.ac3)
    for key, by_label in sorted(rows.items()):
        n = next(iter(by_label.values()))[0]
        cells = "  ".join(f"{label}: {a1:.2f} / {a3:.2f}" for label, (_, a1, a3) in by_label.items())
        print(f"  {key:16s} ({n:3d})  {cells}")


if __name__ == "__main__":
    main()
