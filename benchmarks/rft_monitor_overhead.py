"""RFT-FM monitor overhead: time per step and memory over a 10,000-step run.

Usage: python benchmarks/rft_monitor_overhead.py [--steps 10000] [--with-trajectories 32]

The profile is fitted on synthetic healthy runs generated here (random walks with the shape of GRPO signals),
then one long run is fed step by step through the full online path (signals -> detector -> diagnosis on
alarm). Prints one JSON document: per-step latency (mean/p50/p99, ms) and traced Python memory (KiB) after
1,000 steps and at the end — bounded memory means the two are about equal.
"""

from __future__ import annotations

import argparse
import json
import time
import tracemalloc

import numpy as np

from faultwise.rft.fm import FailureMonitor, FMModel, fit_profile
from faultwise.rft.records import StepRecord, TrajectoryRecord
from faultwise.rft.signals import extract_signals


def synthetic_step(rng: np.random.Generator, t: int, n: int) -> StepRecord:
    prog = min(t / 200, 1.0)
    acc = float(np.clip(0.4 + 0.3 * prog + rng.normal(0, 0.03), 0, 1))
    return StepRecord(
        step=t,
        reward_mean=acc + 0.2,
        reward_std=0.4 + rng.normal(0, 0.02),
        kl=0.01 + 0.02 * prog,
        entropy=1.5 - 0.3 * prog + rng.normal(0, 0.03),
        policy_loss=rng.normal(0, 0.02),
        grad_norm=1 + rng.normal(0, 0.1),
        learning_rate=1e-5,
        response_length_mean=40 + rng.normal(0, 1.5),
        response_length_max=70 + rng.normal(0, 3),
        clip_ratio=0.05,
        tool_calls_per_traj=1.0,
        tool_errors_per_traj=0.0,
        advantage_mean=0.0,
        advantage_std=0.9,
        repetition_ratio_mean=0.1,
        empty_ratio=0.0,
        task_accuracy=acc,
    )


def synthetic_trajs(rng: np.random.Generator, t: int, n: int) -> list[TrajectoryRecord]:
    return [
        TrajectoryRecord.model_validate(
            {
                "step": t,
                "index": i,
                "reward": float(c) + 0.2,
                "correct": bool(c),
                "response_length": 40,
                "advantage": float(rng.normal()),
                "return": float(c) + 0.2,
                "repetition_ratio": 0.1,
                "unique_token_ratio": 0.6,
                "tool_calls": 1,
                "tool_errors": 0,
                "is_empty": False,
                "is_short": False,
                "is_long": False,
            }
        )
        for i, c in enumerate(rng.random(n) < 0.5)
    ]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=10_000)
    ap.add_argument(
        "--with-trajectories", type=int, default=0, help="trajectories per step (0: step records only)"
    )
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    n = args.with_trajectories
    normal = []
    for _ in range(20):
        run = []
        for t in range(1, 41):
            rec = synthetic_step(rng, t, n)
            run.append((t, extract_signals(rec, synthetic_trajs(rng, t, n) if n else None)))
        normal.append(run)
    model = FMModel(profile=fit_profile(normal))
    records = [synthetic_step(rng, t, n) for t in range(1, 201)]  # reused cyclically: the monitor's cost only
    trajs = [synthetic_trajs(rng, t, n) if n else None for t in range(1, 201)]
    fm = FailureMonitor(model)
    lat = np.empty(args.steps)
    for i in range(args.steps):  # pass 1: latency, nothing else running
        rec = records[i % 200].model_copy(update={"step": i + 1})
        t0 = time.perf_counter()
        fm.update(rec, trajs[i % 200])
        lat[i] = time.perf_counter() - t0
    fm = FailureMonitor(model)
    tracemalloc.start()  # pass 2: memory
    mem_1k = 0
    for i in range(args.steps):
        fm.update(records[i % 200].model_copy(update={"step": i + 1}), trajs[i % 200])
        if i == 999:
            mem_1k = tracemalloc.get_traced_memory()[0]
    mem_end, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        json.dumps(
            {
                "steps": args.steps,
                "trajectories_per_step": n,
                "ms_per_step": {
                    "mean": round(lat.mean() * 1e3, 4),
                    "p50": round(float(np.median(lat)) * 1e3, 4),
                    "p99": round(float(np.quantile(lat, 0.99)) * 1e3, 4),
                },
                "traced_memory_kib": {
                    "after_1000_steps": round(mem_1k / 1024, 1),
                    "after_all_steps": round(mem_end / 1024, 1),
                    "peak": round(peak / 1024, 1),
                },
                "alarms": fm.first_alarm_step is not None,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
