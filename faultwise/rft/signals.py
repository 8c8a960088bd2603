"""Turn one train step (and optionally its trajectories) into named numeric signals.

Every detector, diagnoser and reader goes through :func:`extract_signals`, so a signal has one name and one
meaning everywhere. Missing signals (a framework that does not log them) are absent from the dict; a logged
non-finite value stays in it as ``nan``/``inf`` so the hard rule can see it.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from faultwise.rft.records import StepRecord, TrajectoryRecord

STEP_SIGNALS: tuple[str, ...] = (
    "reward_mean",
    "reward_std",
    "kl",
    "entropy",
    "policy_loss",
    "grad_norm",
    "response_length_mean",
    "response_length_max",
    "clip_ratio",
    "tool_calls_per_traj",
    "tool_errors_per_traj",
    "advantage_mean",
    "advantage_std",
    "repetition_ratio_mean",
    "empty_ratio",
    "task_accuracy",
)
# What the run optimises (and, when watched, what it is evaluated on). Healthy runs differ most in it (how fast
# a run learns depends on its seed and settings), so the normal profile's slow channel does not alarm on its
# persistent offsets; the monitor reports its new lows inside an event.
OBJECTIVE_SIGNALS: tuple[str, ...] = ("reward_mean", "task_accuracy")
# Optional extras some producers add to StepRecord (the bench runner does); used when present.
EXTRA_SIGNALS: tuple[str, ...] = (
    "adv_reward_corr",
    "format_ratio",
    "unique_token_ratio_mean",
    "short_ratio",
    "long_ratio",
)
DERIVED_SIGNALS: tuple[str, ...] = ("reward_accuracy_gap",)
TRAJ_SIGNALS: tuple[str, ...] = (
    "traj_reward_incorrect_mean",
    "traj_return_reward_gap",
    "traj_advantage_abs_mean",
    "traj_unique_token_ratio",
    "traj_short_ratio",
    "traj_long_ratio",
    "traj_tool_error_ratio",
    "traj_reward_max",
    "traj_tool_user_accuracy",
    "traj_tool_accuracy_gap",
    "traj_env_terminated_ratio",
)
ALL_SIGNALS: tuple[str, ...] = STEP_SIGNALS + EXTRA_SIGNALS + DERIVED_SIGNALS + TRAJ_SIGNALS
# The learning rate is a setting, not a symptom: it differs between healthy runs and a remediation changes it,
# so it is read (readers, reports) but never scored.

# Which invariant a signal watches: the broken invariant reported for an alarm is the one of its top signal.
INVARIANT_OF: dict[str, str] = {
    "reward_mean": "return_stability",
    "reward_std": "return_stability",
    "advantage_mean": "return_stability",
    "advantage_std": "return_stability",
    "traj_return_reward_gap": "return_stability",
    "traj_advantage_abs_mean": "return_stability",
    "kl": "kl_dynamics",
    "clip_ratio": "kl_dynamics",
    "policy_loss": "kl_dynamics",
    "grad_norm": "kl_dynamics",
    "adv_reward_corr": "return_stability",
    "format_ratio": "generation_quality",
    "unique_token_ratio_mean": "generation_quality",
    "short_ratio": "generation_quality",
    "long_ratio": "generation_quality",
    "entropy": "entropy_profile",
    "response_length_mean": "generation_quality",
    "response_length_max": "generation_quality",
    "repetition_ratio_mean": "generation_quality",
    "empty_ratio": "generation_quality",
    "traj_unique_token_ratio": "generation_quality",
    "traj_short_ratio": "generation_quality",
    "traj_long_ratio": "generation_quality",
    "tool_calls_per_traj": "tool_health",
    "tool_errors_per_traj": "tool_health",
    "traj_tool_error_ratio": "tool_health",
    "traj_reward_max": "reward_trajectory_consistency",
    "traj_tool_user_accuracy": "tool_health",
    "traj_tool_accuracy_gap": "tool_health",
    "traj_env_terminated_ratio": "tool_health",
    "task_accuracy": "reward_trajectory_consistency",
    "reward_accuracy_gap": "reward_trajectory_consistency",
    "traj_reward_incorrect_mean": "reward_trajectory_consistency",
}


def _num(value: object) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs) if xs else float("nan")


def trajectory_signals(trajectories: Sequence[TrajectoryRecord]) -> dict[str, float]:
    """Per-step aggregates of the trajectories that the step record does not carry."""
    if not trajectories:
        return {}
    rewards = [t.reward for t in trajectories]
    wrong = [t.reward for t in trajectories if not t.correct]
    n = len(trajectories)
    out = {
        # 0.0 (not nan) when every trajectory is correct: nothing to be inconsistent about
        "traj_reward_incorrect_mean": _mean(wrong) if wrong else 0.0,
        "traj_return_reward_gap": _mean([abs(t.return_ - t.reward) for t in trajectories]),
        "traj_advantage_abs_mean": _mean([abs(t.advantage) for t in trajectories]),
        "traj_unique_token_ratio": _mean([t.unique_token_ratio for t in trajectories]),
        "traj_short_ratio": sum(t.is_short for t in trajectories) / n,
        "traj_long_ratio": sum(t.is_long for t in trajectories) / n,
        "traj_tool_error_ratio": sum(t.tool_errors for t in trajectories)
        / max(1, sum(t.tool_calls for t in trajectories)),
        "traj_reward_max": max(rewards),
    }
    users = [1.0 if t.correct else 0.0 for t in trajectories if t.tool_calls > 0]
    others = [1.0 if t.correct else 0.0 for t in trajectories if t.tool_calls == 0]
    if users:  # do answers that used the tool fare worse than the others? (a corrupted tool says yes)
        out["traj_tool_user_accuracy"] = _mean(users)
        if others:
            out["traj_tool_accuracy_gap"] = _mean(users) - _mean(others)
    ended = [(t.model_extra or {}).get("terminated_by_env") for t in trajectories]
    if all(e is not None for e in ended):  # producers that record the environment's done flag
        out["traj_env_terminated_ratio"] = sum(bool(e) for e in ended) / n
    return out


def in_loss_signals(trajectories: Sequence[TrajectoryRecord]) -> dict[str, float]:
    """The per-completion means over the completions that entered the loss, when a data filter left some out
    (else ``{}``; also ``{}`` when it left out all: that step trains on nothing): ``reward_mean`` and
    ``reward_std``, and the tool calls and errors per completion.

    A filter keeps degenerate completions in the batch, out of the update: their rewards and tool use say what
    the sampler does (an empty completion calls no tool), these say what the policy is trained on — whether the
    run still learns behind its filter."""
    kept = [t for t in trajectories if t.in_loss]
    if not kept or len(kept) == len(trajectories):
        return {}
    rewards = [t.reward for t in kept]
    return {
        "reward_mean": _mean(rewards),
        "reward_std": statistics.stdev(rewards) if len(rewards) > 1 else 0.0,
        "tool_calls_per_traj": _mean([float(t.tool_calls) for t in kept]),
        "tool_errors_per_traj": _mean([float(t.tool_errors) for t in kept]),
    }


def extract_signals(
    step: StepRecord, trajectories: Sequence[TrajectoryRecord] | None = None
) -> dict[str, float]:
    """Named signals of one step; absent when not logged, non-finite kept as is."""
    out: dict[str, float] = {}
    for name in STEP_SIGNALS:
        v = _num(getattr(step, name, None))
        if v is not None:
            out[name] = v
    extra = step.model_extra or {}
    for name in EXTRA_SIGNALS:
        v = _num(extra.get(name))
        if v is not None:
            out[name] = v
    if "reward_mean" in out and "task_accuracy" in out:
        out["reward_accuracy_gap"] = out["reward_mean"] - out["task_accuracy"]
    if trajectories:
        out.update(trajectory_signals(trajectories))
        out.update(in_loss_signals(trajectories))  # a data filter on: what the update trains on
    return out
