"""Which real-incident mechanism costs the method what: the synthetic bench clean, with each mechanism of
``SynthConfig.realism`` alone (at the ``REALISTIC`` strength), and with all of them.

    python benchmarks/rcl_realism.py [--seeds 1] [--methods rcl] [--leave-out] [--only all,clean] [--json F]

Prints one row per mechanism set: AC@1 / AC@3 overall and per fault type. Synthetic figures are a sanity
check: a mechanism that drops a fault type to zero names what the method does not yet handle.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from faultwise.rcl.bench import run_bench, summarize, synthetic_cases, synthetic_plan
from faultwise.rcl.compare import make_methods
from faultwise.rcl.simulate import REALISTIC, Realism, SynthConfig

MECHANISMS = ("onset_error_s", "tail_drift", "handler_share", "vanished_s")


def variants(leave_out: bool = False) -> dict[str, Realism]:
    """clean, each mechanism alone at the REALISTIC strength, all of them; with ``leave_out``, all of them
    but one (which mechanisms only hurt together)."""
    out = {"clean": Realism()}
    for name in MECHANISMS:
        out[name] = Realism(**{name: getattr(REALISTIC, name)})
    out["all"] = REALISTIC
    if leave_out:
        for name in MECHANISMS:
            out[f"all-{name}"] = REALISTIC.model_copy(update={name: Realism.model_fields[name].default})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=1, help="incidents per fault type")
    ap.add_argument("--methods", default="rcl", help="methods to score (as --methods of the bench)")
    ap.add_argument("--json", type=Path, help="also write every summary here")
    ap.add_argument("--leave-out", action="store_true", help="also all mechanisms but one, for each")
    ap.add_argument("--only", help="comma-separated variant labels to run (default: every one)")
    args = ap.parse_args()
    methods = make_methods(args.methods)
    doc: dict[str, dict] = {}
    chosen = variants(args.leave_out)
    if args.only:
        chosen = {k: v for k, v in chosen.items() if k in args.only.split(",")}
    for label, realism in chosen.items():
        plan = synthetic_plan(args.seeds, None, SynthConfig(realism=realism))
        run = run_bench(synthetic_cases(plan), methods)
        doc[label] = {m: summarize(rs).model_dump() for m, rs in run.results.items()}
        for m, s in doc[label].items():
            per_type = "  ".join(f"{t} {v['ac1']:.2f}/{v['ac3']:.2f}" for t, v in s["by_fault_type"].items())
            print(f"{label:14s} {m:10s} AC@1 {s['ac1']:.3f} AC@3 {s['ac3']:.3f}  | {per_type}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
