"""RFT-FM closed loop on tiny real runs: what happens to a reward spike and to a broken tool, per seed.

Usage: python benchmarks/rft_supervisor_outcomes.py [--seeds 7 8 9] [--workdir DIR]

The normal profile is fitted on three real healthy runs of the same tiny shape (10 steps, 2 prompts x 4
completions), its threshold widened by one decade (margin) as anyone calibrating on so little data should; the
fingerprint rules diagnose (no classifier). Each seed then runs two supervised scenarios with the fault from
step 5: ``reward_spike`` easy (expected: detected at or after the onset, diagnosed RF, rolled back, recovered)
and ``tool_call_error`` easy (expected: stopped with the tool named as the cause, no retraining).

These are outcomes of real training, whose floating-point details differ from one CPU (and MKL code path) to
the next, so this is a benchmark that reports how often the expected outcome happens, not a test. Prints one
JSON document.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from faultwise.rft.faultbench import RunConfig, run
from faultwise.rft.fm import FMModel, Supervisor, fit_profile
from faultwise.rft.signals import extract_signals

SHAPE = {"steps": 10, "prompts_per_step": 2, "group_size": 4}
ONSET = 5


def signal_run(out) -> list[tuple[int, dict[str, float]]]:
    by: dict[int, list] = {}
    for t in out.trajectories:
        by.setdefault(t.step, []).append(t)
    return [(s.step, extract_signals(s, by.get(s.step))) for s in out.steps]


def scenario(model: FMModel, fault: str, seed: int, workdir: Path) -> dict:
    cfg = RunConfig(run_id=f"{fault}-{seed}", seed=seed, fault_type=fault, strength="easy", onset_step=ONSET,
                    **SHAPE)  # fmt: skip
    t0 = time.perf_counter()
    sup = Supervisor(model, save_every=2).run(cfg, workdir / cfg.run_id)
    rep = sup.report
    first = rep.attempts[0]
    no_false_alarm = first.first_alarm_step is not None and first.first_alarm_step >= ONSET
    if fault == "reward_spike":
        expected = (
            no_false_alarm
            and first.diagnosis is not None
            and first.diagnosis.family == "RF"
            and rep.status == "recovered"
            and [s.step for s in sup.steps] == list(range(1, cfg.steps + 1))
        )
    else:
        expected = (
            rep.status == "stopped"
            and rep.diagnosis is not None
            and rep.diagnosis.fault_type == fault
            and len(rep.attempts) == 1
        )
    return {
        "fault": fault,
        "seed": seed,
        "status": rep.status,
        "first_alarm_step": first.first_alarm_step,
        "diagnoses": [a.diagnosis.fault_type if a.diagnosis else None for a in rep.attempts],
        "stop_cause": rep.stop_cause,
        "expected_outcome": expected,
        "wall_s": round(time.perf_counter() - t0, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[7, 8])
    ap.add_argument("--workdir", type=Path, default=None, help="scratch directory (default: a temp dir)")
    args = ap.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="rft-supervisor-"))
    normal = [
        signal_run(
            run(RunConfig(run_id=f"n{seed}", seed=seed, **{**SHAPE, "steps": 7}), work / f"normal-{seed}")
        )
        for seed in (101, 102, 103)
    ]
    model = FMModel(profile=fit_profile(normal, margin=1.0))
    rows = [
        scenario(model, fault, seed, work)
        for seed in args.seeds
        for fault in ("reward_spike", "tool_call_error")
    ]
    by_fault = {
        fault: f"{sum(r['expected_outcome'] for r in rows if r['fault'] == fault)} / {len(args.seeds)}"
        for fault in ("reward_spike", "tool_call_error")
    }
    print(json.dumps({"expected_outcome": by_fault, "runs": rows}, indent=2))


if __name__ == "__main__":
    main()
