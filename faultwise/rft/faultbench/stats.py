"""Counts and the fingerprint table of a bench: how much each fault moves each signal against normal runs.

Effect size, per faulty run and signal: the mean of the signal over the run's fault-active steps (``step >=
onset``), minus the mean of the normal runs over the same step window, in units of the normal runs' standard
deviation of that window mean (Glass's delta; the sd is floored at ``1e-3 + 5 % of |mean|`` so a signal that is
constant in normal runs does not divide by zero). The table reports the median over the runs of a
(type, strength). ``|effect| >= 1`` is called a move.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from faultwise.rft.faultbench.load import Bench

SIGNALS: tuple[str, ...] = (
    "reward_mean",
    "reward_std",
    "reward_max",
    "task_accuracy",
    "reward_accuracy_gap",
    "kl",
    "entropy",
    "policy_loss",
    "grad_norm",
    "learning_rate",
    "response_length_mean",
    "response_length_max",
    "tool_calls_per_traj",
    "tool_errors_per_traj",
    "advantage_mean",
    "advantage_std",
    "adv_reward_corr",
    "repetition_ratio_mean",
    "unique_token_ratio_mean",
    "empty_ratio",
    "short_ratio",
    "long_ratio",
    "format_ratio",
)
MOVE = 1.0


def _with_derived(steps: pd.DataFrame) -> pd.DataFrame:
    df = steps.copy()
    df["reward_accuracy_gap"] = df["reward_mean"] - df["task_accuracy"]
    for s in SIGNALS:
        if s not in df.columns:
            df[s] = np.nan
    return df


def counts(bench: Bench) -> dict[str, Any]:
    """Runs by family, type/strength and onset, and the number of step and trajectory records."""
    infos = bench.infos
    c_family = Counter(r.family for r in infos)
    c_type = Counter((r.fault_type, r.strength) for r in infos)
    onsets = Counter(
        "none" if r.fault_type == "none" else ("step1" if r.onset_step <= 1 else "mid") for r in infos
    )
    return {
        "runs": len(infos),
        "normal_runs": c_family.get("none", 0),
        "faulty_runs": len(infos) - c_family.get("none", 0),
        "step_records": sum(len(r.steps) for r in bench.runs),
        "trajectory_records": sum(r.trajectory_count for r in bench.runs),
        "by_family": dict(sorted(c_family.items())),
        "by_type_strength": {f"{t}/{s}": n for (t, s), n in sorted(c_type.items())},
        "by_onset": dict(onsets),
    }


def fingerprint(bench: Bench) -> dict[str, dict[str, dict[str, float]]]:
    """``{fault_type: {strength: {signal: median effect}}}`` (signals without data are left out)."""
    df = _with_derived(bench.steps_frame())
    info = {r.run_id: r for r in bench.infos}
    normal_ids = [r.run_id for r in bench.infos if r.fault_type == "none"]
    if not normal_ids:
        return {}
    normal = df[df["run_id"].isin(normal_ids)]
    ref_cache: dict[int, tuple[pd.Series, pd.Series]] = {}

    def ref(onset: int) -> tuple[pd.Series, pd.Series]:
        if onset not in ref_cache:
            per_run = normal[normal["step"] >= onset].groupby("run_id")[list(SIGNALS)].mean()
            mean, sd = per_run.mean(), per_run.std(ddof=1).fillna(0.0)
            floor = 1e-3 + 0.05 * mean.abs().fillna(0.0)
            ref_cache[onset] = (mean, sd.where(sd > floor, floor))
        return ref_cache[onset]

    effects: dict[tuple[str, str], list[pd.Series]] = {}
    faulty = df[~df["run_id"].isin(normal_ids)]
    for run_id, g in faulty.groupby("run_id"):
        r = info[run_id]
        onset = max(r.onset_step, 1)
        mean, sd = ref(onset)
        x = g[g["step"] >= onset][list(SIGNALS)].mean()
        effects.setdefault((r.fault_type, r.strength), []).append((x - mean) / sd)
    out: dict[str, dict[str, dict[str, float]]] = {}
    for (ftype, strength), rows in sorted(effects.items()):
        med = pd.concat(rows, axis=1).median(axis=1, skipna=True).dropna()
        out.setdefault(ftype, {})[strength] = {k: round(float(v), 3) for k, v in med.items()}
    return out


def moved_signals(effects: dict[str, float], top: int = 4) -> list[tuple[str, float]]:
    """The signals with ``|effect| >= 1``, largest first (at most ``top``)."""
    moved = [(k, v) for k, v in effects.items() if abs(v) >= MOVE and np.isfinite(v)]
    return sorted(moved, key=lambda kv: -abs(kv[1]))[:top]


def bench_stats(bench: Bench) -> dict[str, Any]:
    """Counts, the fingerprint table, and the (type, strength) pairs that leave no trace."""
    fp = fingerprint(bench)
    return {
        "counts": counts(bench),
        "fingerprint": fp,
        "traceless": [f"{t}/{s}" for t, by in fp.items() for s, eff in by.items() if not moved_signals(eff)],
    }
