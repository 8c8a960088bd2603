"""Interpretable fingerprints: which way each fault type pushes which signals.

Used on their own when no fitted diagnoser is available, and as the fallback (and cross-check) of the learned
classifier. Directions are relative to the normal profile (z-scores), never raw thresholds.
"""

from __future__ import annotations

# +1: the signal goes up under the fault, -1: down, 0: stays normal (tells look-alikes apart)
FINGERPRINTS: dict[str, dict[str, int]] = {
    "reward_spike": {"reward_std": +1, "traj_reward_max": +1},
    "reward_collapse": {"reward_mean": -1, "reward_std": -1, "advantage_std": -1},
    "reward_hacking": {
        "reward_accuracy_gap": +1,
        "traj_reward_incorrect_mean": +1,
        "tool_calls_per_traj": -1,
    },
    "empty_response": {"empty_ratio": +1, "response_length_mean": -1},
    "repetition_collapse": {
        "repetition_ratio_mean": +1,
        "traj_unique_token_ratio": -1,
        "unique_token_ratio_mean": -1,
    },
    "length_too_short": {"response_length_mean": -1, "traj_short_ratio": +1, "response_length_max": -1},
    "length_too_long": {"response_length_mean": +1, "response_length_max": +1, "traj_long_ratio": +1},
    "kl_explosion": {"kl": +1, "grad_norm": +1, "clip_ratio": +1},
    "update_freeze": {"grad_norm": -1, "clip_ratio": -1},
    "entropy_collapse": {"entropy": -1},
    "value_mismatch": {"advantage_mean": -1, "entropy": +1},
    "advantage_instability": {"advantage_std": +1, "traj_advantage_abs_mean": +1, "grad_norm": +1},
    "delayed_credit": {"adv_reward_corr": -1, "traj_return_reward_gap": +1},
    "tool_call_error": {"tool_errors_per_traj": +1, "traj_tool_error_ratio": +1},
    "observation_corruption": {
        "traj_tool_user_accuracy": -1,
        "traj_tool_accuracy_gap": -1,
        "tool_errors_per_traj": 0,
    },
    "termination_error": {"traj_env_terminated_ratio": +1, "format_ratio": -1, "task_accuracy": -1},
}


def rule_scores(
    summary: dict[str, dict[str, float]], scale_z: float = 3.0
) -> dict[str, tuple[float, list[str]]]:
    """Per fault type: agreement in [-1, 1] of the window's level z with the fingerprint, and the signals seen."""
    out: dict[str, tuple[float, list[str]]] = {}
    for ftype, dirs in FINGERPRINTS.items():
        parts, seen = [], []
        for sig, d in dirs.items():
            s = summary.get(sig)
            if s is None:
                continue
            z = s["level_mean"] if abs(s["level_mean"]) >= abs(s["trend_last"]) else s["trend_last"]
            if d == 0:  # the fingerprint says this signal stays normal
                parts.append(1.0 - min(2.0, abs(z) / scale_z))
            else:
                parts.append(max(-1.0, min(1.0, d * z / scale_z)))
            seen.append(sig)
        if parts:
            out[ftype] = (sum(parts) / len(dirs), seen)
    return out
