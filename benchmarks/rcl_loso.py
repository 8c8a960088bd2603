"""Leave-one-system-out check of a method constant on the Nezha development systems.

For each system, each modality set and each value of one ``EmbeddedConfig`` or ``RCLConfig`` constant, rank every case and
score it. Then choose the value on one system (best AC@1, ties by MRR) and report what it scores on the other:
a constant that only helps the system it was chosen on is tuning, not method.

    python benchmarks/rcl_loso.py ../shared/data/nezha-tt ../shared/data/nezha-ob --constant z0 --values 2,3,4,5

Each system is scored in its own process (the two run in parallel); a case is loaded once and ranked with
every value and modality set.

``--replay FAULTS`` scores the replay bench of each system instead of its real
cases (docs/rcl-replay.md: the fault models injected into the system's fault-free minutes, easy and hard,
10 targets, seed 0), the second check a constant must pass:

    python benchmarks/rcl_loso.py ../shared/data/nezha-tt ../shared/data/nezha-ob --constant median_z \
        --values off,1.645 --replay network_delay,cpu_contention,cpu_hog,exception,error_return

``--sensitivity`` scores every numeric constant of the embedded reasoner, plus the analyzer's
``min_trace_score``, at x0.5 and x2 of its default (kept within the field's bounds) beside the default: one
table of AC@1 per system and modality set, then, per constant, the value chosen on each system (default
unless another scores a higher AC@1) and what it scores on the other (with ``--replay`` too):

    python benchmarks/rcl_loso.py ../shared/data/nezha-tt ../shared/data/nezha-ob --sensitivity
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


def bench_cases(root: str, replay: list[str] | None) -> Iterator[BenchCase]:
    """The real cases of a Nezha folder, or (``replay``: fault models) its replay bench, easy and hard, 10
    targets, seed 0."""
    if not replay:
        return nezha_cases(root, select_cases(root))
    sources = replay_sources([Path(root)])
    return replay_cases(sources, replay_plan(sources, replay, ("easy", "hard"), targets=10, seeds=1))


def score_configs(
    root: str,
    configs: dict[str, RCLConfig],
    replay: list[str] | None = None,
    sets: tuple[str, ...] = tuple(MODALITY_SETS),
) -> dict[str, dict[str, dict]]:
    """{modality set: {label: summary}} for every case of one Nezha folder (or of its replay bench), each case
    loaded once and ranked with every configuration."""
    methods = {label: RCLMethod(config=cfg) for label, cfg in configs.items()}
    results: dict[str, dict[str, list]] = {m: {label: [] for label in configs} for m in sets}
    for case in bench_cases(root, replay):
        for mset in sets:
            mods = MODALITY_SETS[mset]
            view = with_modalities(case, mods)
            for label, method in methods.items():
                results[mset][label].append(score_case(view, method))
    return {
        m: {label: summarize(rs).model_dump() for label, rs in by_label.items()}
        for m, by_label in results.items()
    }


# The analyzer's method constants scored by --sensitivity beside the reasoner's (the others are limits or
# switches: max_traces, use_logs, ...; onset_shift_factor and median_z are off by default, with their own tables).
ANALYZER_CONSTANTS = ("min_trace_score",)


def sensitivity_configs(only: set[str] | None = None) -> dict[str, RCLConfig]:
    """``default`` and ``<constant>=<value>`` for every numeric constant (or those in ``only``) at x0.5 and x2 of
    its default, clamped to the field's bounds (a value the bounds collapse onto the default is left out)."""
    import annotated_types as at

    configs = {"default": RCLConfig()}
    fields = [(n, f) for n, f in EmbeddedConfig.model_fields.items()] + [
        (n, RCLConfig.model_fields[n]) for n in ANALYZER_CONSTANTS
    ]
    for name, field in fields:
        if only is not None and name not in only:
            continue
        default = field.default
        if isinstance(default, bool) or not isinstance(default, (int, float)):
            continue
        lo = next((m.ge for m in field.metadata if isinstance(m, at.Ge)), None)
        hi = next((m.le for m in field.metadata if isinstance(m, at.Le)), None)
        for factor in (0.5, 2.0):
            v = default * factor
            v = min(v, hi) if hi is not None else v
            v = max(v, lo) if lo is not None else v
            if v != default:
                configs[f"{name}={v:g}"] = config_with(name, v)
    return configs


def print_sensitivity(scored: dict[str, dict[str, dict[str, dict]]]) -> None:
    """One row per configuration: AC@1 per system and modality set (markdown); then, per constant and modality
    set, the value each system chooses (the default unless another has a higher AC@1) scored on the other."""
    names = list(scored)
    sets = list(scored[names[0]])
    cols = [(n, m) for m in sets for n in names]
    labels = list(scored[names[0]][sets[0]])
    print("| constant = value | " + " | ".join(f"{n} {m}" for n, m in cols) + " |")
    print("|---" * (len(cols) + 1) + "|")
    for label in labels:
        cells = [f"{scored[n][m][label]['ac1']:.3f}" for n, m in cols]
        print(f"| {label} | " + " | ".join(cells) + " |")
    print("\nleave one system out: value chosen on one system (AC@1 above the default's), AC@1 on the other")
    constants = dict.fromkeys(label.split("=")[0] for label in labels if label != "default")
    for const in constants:
        own = ["default"] + [label for label in labels if label.split("=")[0] == const]
        for mset in sets:
            for src, dst in (names, names[::-1]):
                by = scored[src][mset]
                pick = max(own, key=lambda lb, by=by: (by[lb]["ac1"], lb == "default"))
                got, base = scored[dst][mset][pick]["ac1"], scored[dst][mset]["default"]["ac1"]
                print(
                    f"  {const:20s} {mset:7s} chosen on {src:10s} {pick:24s} {dst}: {got:.3f} (default {base:.3f})"
                )


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
    ap.add_argument(
        "--sensitivity", action="store_true", help="every constant at x0.5 and x2 of its default, one table"
    )
    ap.add_argument("--constants", help="with --sensitivity: only these constants (comma-separated)")
    ap.add_argument(
        "--sets", default=",".join(MODALITY_SETS), help="modality sets to score (default: all,traces)"
    )
    args = ap.parse_args()
    sets = tuple(args.sets.split(","))
    for name in sets:
        if name not in MODALITY_SETS:
            ap.error(f"--sets: unknown modality set {name!r} (use {', '.join(MODALITY_SETS)})")
    names = [Path(r).name for r in args.roots]
    replay = args.replay.split(",") if args.replay else None
    if args.sensitivity:
        configs = sensitivity_configs(set(args.constants.split(",")) if args.constants else None)
    else:
        values = [None if x in ("off", "none") else float(x) for x in args.values.split(",")]
        configs = {str(v): config_with(args.constant, v) for v in values}
    with ProcessPoolExecutor(max_workers=2) as pool:  # one process per system
        futures = [pool.submit(score_configs, r, configs, replay, sets) for r in args.roots]
        scored = dict(zip(names, (f.result() for f in futures), strict=True))
    if args.json:
        args.json.write_text(json.dumps(scored, indent=2))
    if args.sensitivity:
        print_sensitivity(scored)
        return
    print(
        f"{args.constant}: AC@1 / AC@3 per system, modality set and value (default {default_of(args.constant)})"
    )
    for mset in sets:
        for name in names:
            row = "  ".join(f"{v}: {s['ac1']:.3f}/{s['ac3']:.3f}" for v, s in scored[name][mset].items())
            print(f"  {mset:7s} {name:10s} {row}")
    print("leave one system out: value chosen on one system, scored on the other")
    for mset in sets:
        for src, dst in (names, names[::-1]):
            v = _best(scored[src][mset])
            s, own = scored[dst][mset][v], scored[dst][mset][_best(scored[dst][mset])]
            print(
                f"  {mset:7s} chosen on {src:10s} {args.constant}={v}: {dst} AC@1 {s['ac1']:.3f} AC@3 {s['ac3']:.3f}"
                f" MRR {s['mrr']:.3f} (best on {dst} itself: AC@1 {own['ac1']:.3f})"
            )


if __name__ == "__main__":
    main()
