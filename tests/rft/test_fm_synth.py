"""Synthetic StepRecord runs for the failure-manager tests (not a bench: a stand-in with known effects).

Each fault type moves the signals its fingerprint names, by an ``easy`` (large) or ``hard`` (smaller) amount,
from its onset step. Used so the detector/diagnoser tests do not need a generated bench.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from faultwise.rft.records import FAMILY_OF, FAULT_TYPES, RunInfo, StepRecord

# signal -> (direction, relative size) for each fault, applied multiplicatively around the normal value
EFFECTS: dict[str, dict[str, float]] = {
    "reward_spike": {"reward_std": 2.0, "reward_mean": 0.6},
    "reward_collapse": {"reward_mean": -0.8, "reward_std": -0.8, "advantage_std": -0.8},
    "reward_hacking": {"reward_mean": 0.5, "task_accuracy": -0.5},
    "empty_response": {"empty_ratio": 1.0, "response_length_mean": -0.6},
    "repetition_collapse": {"repetition_ratio_mean": 2.0},
    "length_too_short": {"response_length_mean": -0.6, "response_length_max": -0.5},
    "length_too_long": {"response_length_mean": 1.0, "response_length_max": 1.5},
    "kl_explosion": {"kl": 8.0, "grad_norm": 3.0, "clip_ratio": 3.0},
    "update_freeze": {"grad_norm": -0.95, "kl": -0.9, "clip_ratio": -0.95},
    "entropy_collapse": {"entropy": -0.8},
    "value_mismatch": {"advantage_mean": 1.0},
    "advantage_instability": {"advantage_std": 2.0, "grad_norm": 1.0},
    "delayed_credit": {"advantage_std": -0.6, "policy_loss": 3.0},
    "tool_call_error": {"tool_errors_per_traj": 1.0},
    "observation_corruption": {"task_accuracy": -0.6, "reward_mean": -0.4, "tool_calls_per_traj": 0.5},
    "termination_error": {"response_length_max": 1.0, "tool_calls_per_traj": 1.5},
}
ADDITIVE = {"empty_ratio", "tool_errors_per_traj", "advantage_mean"}


def make_run(
    seed: int, fault: str = "none", strength: str = "none", onset: int = 0, steps: int = 30
) -> list[StepRecord]:
    rng = np.random.default_rng(seed)
    lr = float(rng.choice([5e-6, 1e-5, 2e-5]))
    acc0 = rng.uniform(0.3, 0.5)
    out = []
    for t in range(steps):
        prog = t / steps
        acc = float(np.clip(acc0 + 0.3 * prog + rng.normal(0, 0.03), 0, 1))
        sig = {
            "reward_mean": acc + 0.2 + rng.normal(0, 0.02),
            "reward_std": 0.4 + rng.normal(0, 0.02),
            "kl": 0.01 + 0.02 * prog + abs(rng.normal(0, 0.002)),
            "entropy": 1.5 - 0.3 * prog + rng.normal(0, 0.03),
            "policy_loss": rng.normal(0, 0.02),
            "grad_norm": 1.0 + rng.normal(0, 0.1),
            "learning_rate": lr,
            "response_length_mean": 40 + rng.normal(0, 1.5),
            "response_length_max": 70 + rng.normal(0, 3),
            "clip_ratio": 0.05 + abs(rng.normal(0, 0.005)),
            "tool_calls_per_traj": 1.0 + rng.normal(0, 0.05),
            "tool_errors_per_traj": abs(rng.normal(0, 0.01)),
            "advantage_mean": rng.normal(0, 0.01),
            "advantage_std": 0.9 + rng.normal(0, 0.03),
            "repetition_ratio_mean": 0.1 + abs(rng.normal(0, 0.01)),
            "empty_ratio": 0.0,
            "task_accuracy": acc,
        }
        active = fault != "none" and t >= onset
        if active:
            k = 1.0 if strength == "easy" else 0.35
            for name, rel in EFFECTS[fault].items():
                if name in ADDITIVE:
                    sig[name] += rel * k
                else:
                    sig[name] *= max(0.02, 1 + rel * k)
        out.append(
            StepRecord(
                step=t,
                **sig,
                fault_type=fault if active else "none",
                fault_family=FAMILY_OF.get(fault, "none") if active else "none",
                strength=strength if active else "none",
                fault_active=active,
            )
        )
    return out


def write_bench(root: Path, seed0: int, per_type: int = 2, normals: int = 24, steps: int = 30) -> Path:
    """A bench directory in the RFT-FaultBench layout, from :func:`make_run`."""
    rows = []
    rng = np.random.default_rng(seed0)
    specs = [("none", "none", 0)] * normals
    for ft in FAULT_TYPES:
        for strength in ("easy", "hard"):
            for _ in range(per_type):
                specs.append((ft, strength, int(rng.choice([0, 8, 15]))))
    for i, (ft, strength, onset) in enumerate(specs):
        seed = seed0 + i
        run_id = f"r{i:04d}-{ft}-{strength}"
        recs = make_run(seed, ft, strength, onset, steps)
        d = root / "runs" / run_id
        d.mkdir(parents=True, exist_ok=True)
        (d / "steps.jsonl").write_text("".join(r.model_dump_json() + "\n" for r in recs))
        rows.append(
            RunInfo(
                run_id=run_id,
                family=FAMILY_OF.get(ft, "none"),
                fault_type=ft,
                strength=strength,
                onset_step=onset,
                seed=seed,
                steps=steps,
                trajectories_per_step=8,
                config=json.dumps({"seed": seed}),
            )
        )
    import pandas as pd

    pd.DataFrame([r.model_dump() for r in rows]).to_csv(root / "registry.csv", index=False)
    return root


def test_fault_changes_its_signals():
    base = make_run(3)
    hit = make_run(3, "entropy_collapse", "easy", onset=10)
    assert hit[20].entropy < 0.5 * base[20].entropy
    assert hit[5].entropy == base[5].entropy and not hit[5].fault_active and hit[10].fault_active
