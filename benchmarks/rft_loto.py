"""Leave-one-type-out detection table of RFT-FM: fit with one fault type's runs left out, score that type.

    python benchmarks/rft_loto.py FIT_BENCH EVAL_BENCH [--use-accuracy] [--types kl_explosion,...]
        [--baseline HEALTHY_BENCH ...] [--also-fit BENCH ...] [--also-eval BENCH ...]

For every fault type, the model is fitted on FIT_BENCH without that type's runs and scored on that type's runs
of EVAL_BENCH (another seed), as the online monitor emits: run-level recall per strength (an event at or after
the labelled onset), early alarms (an event before the onset), median delay, and how often the emitted
diagnosis names the left-out type (it cannot be right: the diagnoser never saw it) or its family. The normal
runs of EVAL_BENCH are scored once: the detector's profile is fitted on the normal runs only, which no fold
leaves out, so every fold has the same profile (checked) and the same false alarms. With ``--baseline``, every
fold's model is re-baselined on those benches' normal runs (``rft rebaseline``: EVAL_BENCH of another setup).
``--also-fit`` / ``--also-eval`` pool more benches on either side (the default model is fitted on three seeds).

Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from faultwise.rft.faultbench.config import trainer_setup_of
from faultwise.rft.faultbench.load import load_bench
from faultwise.rft.fm.evaluation import fit_model, rebaseline_model, run_monitor, signals_of
from faultwise.rft.records import FAMILY_OF, FAULT_TYPES


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("fit_bench", type=Path)
    ap.add_argument("eval_bench", type=Path)
    ap.add_argument("--use-accuracy", action="store_true", help="true task accuracy as an input")
    ap.add_argument("--types", default="", help="comma-separated fault types (default: every type)")
    ap.add_argument(
        "--baseline",
        type=Path,
        action="append",
        default=[],
        help="re-baseline every fold's model on this bench's normal runs (repeatable)",
    )
    ap.add_argument("--also-fit", type=Path, action="append", default=[], help="another fitting bench")
    ap.add_argument("--also-eval", type=Path, action="append", default=[], help="another bench to score")
    args = ap.parse_args()
    healthy = [r for b in args.baseline for r in load_bench(b).runs if not r.is_faulty]
    fit_benches, eval_benches = [args.fit_bench, *args.also_fit], [args.eval_bench, *args.also_eval]
    fit_runs = [r for b in fit_benches for r in load_bench(b).runs]
    eval_runs = [r for b in eval_benches for r in load_bench(b).runs]
    types = [t for t in args.types.split(",") if t] or [t for t in FAULT_TYPES if t != "none"]
    unknown = sorted(set(types) - set(FAULT_TYPES))
    if unknown:
        ap.error(f"unknown fault type(s): {', '.join(unknown)}")
    rows = {}
    profile = None
    for ftype in types:
        model = fit_model(
            [r for r in fit_runs if r.info.fault_type != ftype],
            fitted_on=f"{','.join(map(str, fit_benches))} without {ftype}",
            use_accuracy=args.use_accuracy,
        )
        if healthy:
            model = rebaseline_model(
                model,
                [signals_of(r, args.use_accuracy) for r in healthy],
                [trainer_setup_of(r.info.config) for r in healthy],
                baseline=",".join(str(b) for b in args.baseline),
            )
        if profile is None:
            profile = model.profile
        assert model.profile == profile, "the profile depends on the normal runs only"
        outs = [run_monitor(model, r) for r in eval_runs if r.info.fault_type == ftype]
        row = {}
        for strength in ("easy", "hard"):
            sub = [o for o in outs if o.strength == strength]
            row[strength] = {
                "runs": len(sub),
                "detected": sum(o.alarm_after_onset is not None for o in sub),
                "early_alarm": sum(o.false_alarm for o in sub),
            }
        delays = [o.alarm_after_onset - o.onset for o in outs if o.alarm_after_onset is not None]
        row["median_delay_steps"] = statistics.median(delays) if delays else None
        row["diagnoser_classes"] = len(model.diagnoser.classes) if model.diagnoser else 0
        row["diagnoser_knows_type"] = bool(model.diagnoser and ftype in model.diagnoser.classes)
        row["diagnosed_as_left_out_type"] = sum(o.predicted == ftype for o in outs)
        row["diagnosed_family"] = sum(FAMILY_OF.get(o.predicted or "", "") == FAMILY_OF[ftype] for o in outs)
        row["diagnoses"] = sorted({o.predicted or "unknown" for o in outs})
        rows[ftype] = row
    normal = [run_monitor(model, r) for r in eval_runs if not r.is_faulty]
    doc = {
        "fit_bench": ",".join(map(str, fit_benches)),
        "eval_bench": ",".join(map(str, eval_benches)),
        "baseline": [str(b) for b in args.baseline],
        "profile_normal_runs": profile.n_normal_runs if profile is not None else 0,
        "signals": "real-trainer signals + true accuracy"
        if args.use_accuracy
        else "real-trainer signals only",
        "normal_runs": len(normal),
        "false_alarms_on_normal_runs": sum(o.false_alarm for o in normal),
        "types": rows,
    }
    for strength in ("easy", "hard"):
        det = sum(r[strength]["detected"] for r in rows.values())
        n = sum(r[strength]["runs"] for r in rows.values())
        doc[f"recall_{strength}"] = round(det / n, 4) if n else None
    print(json.dumps(doc, indent=1))


if __name__ == "__main__":
    main()
