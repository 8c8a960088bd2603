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
from collections import defaultdict
from pathlib import Path

from faultwise.rcl.bench import MODALITY_SETS, nezha_cases, score_case, select_cases, with_modalities
from faultwise.rcl.bench.replay import replay_cases, replay_plan, replay_sources
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
    if args.replay:
        sources = replay_sources([Path(args.root)])
        plan = replay_plan(sources, args.replay.split(","), ("easy", "hard"), targets=10, seeds=1)
        cases = replay_cases(sources, plan)
    else:
        cases = nezha_cases(args.root, select_cases(args.root))
    hits: dict[str, dict[str, list[int]]] = defaultdict(lambda: {k: [0, 0, 0] for k in methods})
    for case in cases:
        view = with_modalities(case, MODALITY_SETS[args.modalities])
        scored = {label: score_case(view, m) for label, m in methods.items()}
        ranks = {label: r.rank for label, r in scored.items()}
        line = f"{case.case_id[:50]:50s} {case.fault_type[:22]:22s} {case.truth[:28]:28s} {ranks}"
        if len(set(ranks.values())) > 1:
            first = {label: (r.ranked[0] if r.ranked else None) for label, r in scored.items()}
            line += f" {first}  <-- differs"
        print(line, flush=True)
        for key in (case.fault_type.split("/")[0], "all cases"):
            for label, rank in ranks.items():
                h = hits[key][label]
                h[0] += 1
                h[1] += rank == 1
                h[2] += rank is not None and rank <= 3
    print("\nAC@1 / AC@3")
    for key, by_label in sorted(hits.items()):
        n = next(iter(by_label.values()))[0]
        cells = "  ".join(f"{label}: {h[1] / n:.2f} / {h[2] / n:.2f}" for label, h in by_label.items())
        print(f"  {key:16s} ({n:3d})  {cells}")


if __name__ == "__main__":
    main()
