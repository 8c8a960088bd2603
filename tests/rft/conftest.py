"""Shared pieces of the RFT tests: CPU pinning, the ``trl`` marker's skip, synthetic runs and benches.

Pinning: real training differs in its floating-point details from one CPU (and thread count) to the next, so
torch runs on one thread with deterministic algorithms, and the BLAS libraries on one thread. Tests of real
runs assert properties that hold on any CPU; exact outcomes of real runs belong to the slow benchmark.
``FAULTWISE_TEST_TORCH_THREADS`` overrides the thread count (used to check that the tests hold with others).

Markers (see ``pyproject.toml``): ``trl`` — trains real GRPO runs with TRL (skipped when TRL is not installed,
left out of the default run unless also marked ``smoke``); ``slow`` — long benchmarks, left out by default.
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

TORCH_THREADS = int(os.environ.get("FAULTWISE_TEST_TORCH_THREADS", "1"))
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(TORCH_THREADS)  # read when the libraries load; torch is pinned again below

from faultwise.rft.records import FAMILY_OF, FAULT_TYPES, RunInfo, StepRecord  # noqa: E402


def has_trl() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("torch", "transformers", "trl"))


def pytest_runtest_setup(item: pytest.Item) -> None:
    """``require_trl``: a test marked ``trl`` is skipped (not failed) without the rft extra."""
    if item.get_closest_marker("trl") is not None and not has_trl():
        pytest.skip("needs the faultwise[rft] extra (torch, transformers, trl)")


@pytest.fixture(scope="session", autouse=True)
def pinned_torch() -> None:
    """One torch thread and deterministic algorithms for every test of this folder (when torch is there)."""
    if importlib.util.find_spec("torch") is None:
        return
    import torch

    torch.set_num_threads(TORCH_THREADS)
    torch.use_deterministic_algorithms(True)


# --- synthetic step records: a stand-in with known effects, no training --------------------------------------

# signal -> relative size of each fault's effect, applied multiplicatively around the normal value
EFFECTS: dict[str, dict[str, float]] = {
    "reward_spike": {"reward_std": 2.0, "reward_mean": 0.6},
    "reward_collapse": {"reward_mean": -0.8, "reward_std": -0.8, "advantage_std": -0.8},
    "reward_hacking": {"reward_mean": 0.5, "task_accuracy": -0.5},
    "empty_response": {"empty_ratio": 1.0, "response_length_mean": -0.6},
    "repetition_collapse": {"repetition_ratio_mean": 2.0},
    "length_too_short": {"response_length_mean": -0.6, "response_length_max": -0.5},
    "length_too_long": {"response_length_mean": 1.0, "response_length_max": 1.5},
    # a blow-up: KL from hundredths of a nat to nats (the CPU bench's reach 2-34), not to the 0.1-1 nat a
    # healthy run wanders to as it learns
    "kl_explosion": {"kl": 99.0, "grad_norm": 3.0, "clip_ratio": 3.0},
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

MakeRun = Callable[..., list[StepRecord]]
WriteBench = Callable[..., Path]


def synthetic_run(
    seed: int, fault: str = "none", strength: str = "none", onset: int = 0, steps: int = 30
) -> list[StepRecord]:
    """A run of StepRecords: noisy healthy dynamics, and from ``onset`` the signals ``fault`` moves, by an
    ``easy`` (large) or ``hard`` (smaller) amount."""
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


def synthetic_bench(root: Path, seed0: int, per_type: int = 2, normals: int = 24, steps: int = 30) -> Path:
    """A bench directory in the RFT-FaultBench layout (step records only), from :func:`synthetic_run`."""
    import pandas as pd

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
        recs = synthetic_run(seed, ft, strength, onset, steps)
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
    pd.DataFrame([r.model_dump() for r in rows]).to_csv(root / "registry.csv", index=False)
    return root


@pytest.fixture(scope="session")
def make_run() -> MakeRun:
    """``make_run(seed, fault="none", strength="none", onset=0, steps=30)``: a synthetic run."""
    return synthetic_run


@pytest.fixture(scope="session")
def write_bench() -> WriteBench:
    """``write_bench(root, seed0, per_type=2, normals=24, steps=30)``: a synthetic bench directory."""
    return synthetic_bench


@pytest.fixture(scope="session")
def normal_signal_runs() -> Callable[[int], list[list[tuple[int, dict[str, float]]]]]:
    """``normal_signal_runs(n)``: the (step, signals) of ``n`` synthetic healthy runs (seeds 0..n-1)."""
    from faultwise.rft.signals import extract_signals

    def runs(n: int) -> list[list[tuple[int, dict[str, float]]]]:
        return [[(s.step, extract_signals(s)) for s in synthetic_run(seed)] for seed in range(n)]

    return runs


@pytest.fixture(scope="session")
def flat_diagnoser() -> Callable[[dict[str, float]], Any]:
    """A diagnoser whose answer is its intercepts alone (no feature moves a logit; every window is in range)."""
    from faultwise.rft.fm.diagnose import FEATURE_NAMES, DiagnoserModel

    def make(intercepts: dict[str, float]) -> DiagnoserModel:
        n, k = len(FEATURE_NAMES), len(intercepts)
        return DiagnoserModel(
            classes=list(intercepts), features=list(FEATURE_NAMES), mean=[0.0] * n, scale=[1.0] * n,
            coef=np.zeros((k, n)).tolist(), intercept=list(intercepts.values()), max_distance=1e9,
            centroids=np.zeros((k, n)).tolist(), span=[1e9] * n,
        )  # fmt: skip

    return make


@pytest.fixture(scope="session")
def smoke_bench(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``smoke`` bench (5 real GRPO runs of base seed 0), generated once per session; for tests marked
    ``trl``."""
    if not has_trl():
        pytest.skip("needs the faultwise[rft] extra (torch, transformers, trl)")
    from faultwise.rft.faultbench import generate

    out = tmp_path_factory.mktemp("smoke") / "bench"
    generate(out, scale="smoke", seed=0, workers=1)
    return out
