"""Slow: every injector, easy strength, in a real GRPO run against a seed-matched normal run.

Each check is the trace the injector's docstring claims. Run with ``pytest -m slow tests/rft``.
"""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.trl]

STEPS = 12


def _mean(out, key, start=1):
    vals = []
    for s in out.steps:
        if s.step >= start:
            v = getattr(s, key) if key in type(s).model_fields else s.model_extra[key]
            vals.append(v)
    return float(np.mean(vals))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from faultwise.rft.faultbench import RunConfig, run

    cache = {}

    def get(ftype: str, strength: str = "easy"):
        key = (ftype, strength)
        if key not in cache:
            cfg = RunConfig(run_id=f"{ftype}-{strength}", seed=11, steps=STEPS, fault_type=ftype,
                            strength=strength if ftype != "none" else "none", onset_step=1 if ftype != "none" else 0)  # fmt: skip
            cache[key] = run(cfg, tmp_path_factory.mktemp(f"{ftype}{strength}"))
        return cache[key]

    return get


CLAIMS = {
    "reward_spike": lambda f, n: _mean(f, "reward_max") > _mean(n, "reward_max") + 1.0,
    "reward_collapse": lambda f, n: _mean(f, "reward_mean") < 0.2 * _mean(n, "reward_mean"),
    "reward_hacking": lambda f, n: (
        (_mean(f, "reward_mean") - _mean(f, "task_accuracy"))
        > (_mean(n, "reward_mean") - _mean(n, "task_accuracy")) + 0.3
    ),
    "empty_response": lambda f, n: _mean(f, "empty_ratio") > _mean(n, "empty_ratio") + 0.3,
    "repetition_collapse": lambda f, n: (
        _mean(f, "repetition_ratio_mean") > _mean(n, "repetition_ratio_mean") + 0.1
    ),
    "length_too_short": lambda f, n: _mean(f, "response_length_max") <= 6 < _mean(n, "response_length_max"),
    "length_too_long": lambda f, n: _mean(f, "response_length_mean") > _mean(n, "response_length_mean") + 5,
    "kl_explosion": lambda f, n: _mean(f, "kl", 6) > 5 * _mean(n, "kl", 6),
    "update_freeze": lambda f, n: _mean(f, "grad_norm") == 0.0 < _mean(n, "grad_norm"),
    "entropy_collapse": lambda f, n: _mean(f, "entropy", 6) < 0.8 * _mean(n, "entropy", 6),
    "value_mismatch": lambda f, n: _mean(f, "advantage_mean") < _mean(n, "advantage_mean") - 0.3,
    "advantage_instability": lambda f, n: _mean(f, "advantage_std") > 2 * _mean(n, "advantage_std"),
    "delayed_credit": lambda f, n: _mean(f, "adv_reward_corr") < _mean(n, "adv_reward_corr") - 0.4,
    "tool_call_error": lambda f, n: _mean(f, "tool_errors_per_traj") > _mean(n, "tool_errors_per_traj") + 0.2,
    "observation_corruption": lambda f, n: (
        _mean(f, "task_accuracy") < _mean(n, "task_accuracy") - 0.2 and _mean(f, "tool_errors_per_traj") < 0.1
    ),
    "termination_error": lambda f, n: _mean(f, "short_ratio") > _mean(n, "short_ratio") + 0.2,
}


@pytest.mark.parametrize("ftype", sorted(CLAIMS))
def test_injector_leaves_claimed_trace(runs, ftype):
    assert CLAIMS[ftype](runs(ftype), runs("none")), ftype
