"""Leave-one-system-out check of a method constant on the Nezha development systems.

For each system, each modality set and each value of one ``EmbeddedConfig`` or ``RCLConfig`` constant, rank every case and
score it. Then choose the value on one system (best AC@1, ties by MRR) and report what it scores on the other:
a constant that only helps the system it was chosen on is tuning, not method.

    python benchmarks/rcl_loso.py ../shared/data/nezha-tt ../shared/data/nezha-ob --constant z0 --values 2,3,4,5

Each system is scored in its own process (the two run in parallel); a case is loaded once and ranked with
every value and modality set. ``--replay FAULTS`` scores the replay bench of each system instead of its real
cases (docs/rcl-replay.md: the fault models injected into the system's fault-free minutes, easy and hard,
10 targets, seed 0), the second check a constant must pass:

    python benchmarks/rcl_loso.py ../shared/data/nezha-tt ../shared/data/nezha-ob --constant median_z \
        --values off,1.645 --replay network_delay,cpu_contention,cpu_hog,exception,error_return
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from faultwise.rcl.bench import MODALITY_SETS as ALL_SETS
from faultwise.rcl.bench import BenchCase, nezha_cases, score_case, select_cases, summarize, with_modalities
from faultwise.rcl.bench.replay import replay_cases, replay_plan, replay_sources
from faultwise.rcl.compare import RCLMethod
from faultwise.rcl.method.analyzer import RCLConfig
from faultwise.rcl.reasoners.embedded import EmbeddedConfig

MODALITY_SETS = {name: ALL_SETS[name] for name in ("all", "traces")}


def config_with(constant: str, value: float | None) -> RCLConfig:
    """The default configuration with one constant set: an analyzer field, or else a reasoner field."""
    if constant in RCLConfig.model_fields and constant not in ("reasoner", "synthesis"):
        return RCLConfig(**{constant: value})
    return RCLConfig(reasoner=EmbeddedConfig(**{constant: value}))


def default_of(constant: str) -> object:
    if constant in RCLConfig.model_fields:
        return RCLConfig().model_dump()[constant]
    return EmbeddedConfig().model_dump()[constant]


def _cases(root: str, replay: list[str] | None) -> Iterator[BenchCase]:
    if not replay:
        return nezha_cases(root, select_cases(root))
    sources = replay_sources([Path(root)])
    return replay_cases(sources, replay_plan(sources, replay, ("easy", "hard"), targets=10, seeds=1))


def score_system(
    root: str, constant: str, values: list[float | None], replay: list[str] | None = None
) -> dict[str, dict[str, dict]]:
    """{modality set: {value: summary}} for every case of one Nezha folder (or of its replay bench)."""
    methods = {v: RCLMethod(config=config_with(constant, v)) for v in values}
    results: dict[str, dict[float | None, list]] = {m: {v: [] for v in values} for m in MODALITY_SETS}
    for case in _cases(root, replay):
        for mset, mods in MODALITY_SETS.items():
            view = with_modalities(case, mods)
            for v, method in methods.items():
                results[mset][v].append(score_case(view, method))
    return {
        m: {str(v): summarize(rs).model_dump() for v, rs in by_value.items()}
        for m, by_value in results.items()
    }


def _best(summaries: dict[str, dict]) -> str:
    return max(summaries, key=lambda v: (summaries[v]["ac1"], summaries[v]["mrr"]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("roots", nargs=2, help="two Nezha folders (two systems)")
    ap.add_argument("--constant", default="z0", help="an EmbeddedConfig or RCLConfig field")
    ap.add_argument(
        "--values",
        default="2,3,4,5",
        help="comma-separated values to try ('off': None, for a rule that can be off)",
    )
    ap.add_argument("--json", type=Path, help="also write every summary here")
    ap.add_argument("--replay", help="comma-separated fault models: score each system's replay bench instead")
    args = ap.parse_args()
    values = [None if x in ("off", "none") else float(x) for x in args.values.split(",")]
    names = [Path(r).name for r in args.roots]
    with ProcessPoolExecutor(max_workers=2) as pool:
        replay = args.replay.split(",") if args.replay else None
        futures = [pool.submit(score_system, r, args.constant, values, replay) for r in args.roots]
        scored = dict(zip(names, (f.result() for f in futures), strict=True))
    print(
        f"{args.constant}: AC@1 / AC@3 per system, modality set and value (default {default_of(args.constant)})"
    )
    for mset in MODALITY_SETS:
        for name in names:
            row = "  ".join(f"{v}: {s['ac1']:.3f}/{s['ac3']:.3f}" for v, s in scored[name][mset].items())
            print(f"  {mset:7s} {name:10s} {row}")
    print("leave one system out: value chosen on one system, scored on the other")
    for mset in MODALITY_SETS:
        for src, dst in (names, names[::-1]):
            v = _best(scored[src][mset])
            s, own = scored[dst][mset][v], scored[dst][mset][_best(scored[dst][mset])]
            print(
                f"  {mset:7s} chosen on {src:10s} {args.constant}={v}: {dst} AC@1 {s['ac1']:.3f} AC@3 {s['ac3']:.3f}"
                f" MRR {s['mrr']:.3f} (best on {dst} itself: AC@1 {own['ac1']:.3f})"
            )
    if args.json:
        args.json.write_text(json.dumps(scored, indent=2))


if __name__ == "__main__":
    main()
