"""Remediation actions and guards, without training (the closed loop itself: test_fm_supervisor.py)."""

import numpy as np
import pytest

from faultwise.rft.faultbench.faults import make_injector
from faultwise.rft.faultbench.faults.base import StepContext, group_stats, grpo_advantages
from faultwise.rft.faultbench.policy import SamplingParams
from faultwise.rft.faultbench.runner import RunConfig
from faultwise.rft.fm.remediate.actions import ENVIRONMENT_CAUSES, MAX_VALID_REWARD, plan_action
from faultwise.rft.fm.remediate.bench import judge, summarise
from faultwise.rft.fm.remediate.guards import make_guards, rewritten_signals
from faultwise.rft.records import FAULT_TYPES


def ctx(step=3, g=4, seed=0):
    return StepContext(step=step, group_size=g, rng=np.random.default_rng(seed))


# what each environment fault's stop cause must name: the part of the environment that is broken
BROKEN_PART = {
    "tool_call_error": "tool",
    "observation_corruption": "observation",
    "termination_error": "episode",
}


@pytest.mark.parametrize("fault", [*FAULT_TYPES, "unknown"])
def test_every_diagnosis_has_a_valid_action(fault):
    cfg = RunConfig()
    a1 = plan_action(fault, cfg.model_dump(), 1)
    if fault in ENVIRONMENT_CAUSES:  # stop at once, name the broken part, change nothing
        assert a1.kind == "stop"
        assert a1.cause is not None and BROKEN_PART[fault] in a1.cause
        assert a1.changes == {} and a1.guards == []
        assert plan_action(fault, cfg.model_dump(), 2).kind == "stop"
        return
    assert a1.kind == "retrain" and (a1.changes or a1.guards) and a1.rationale
    new = RunConfig.model_validate({**cfg.model_dump(), **a1.changes})  # the runner accepts the change
    a2 = plan_action(fault, new.model_dump(), 2)
    assert a2.kind == "retrain"
    assert plan_action(fault, new.model_dump(), 3).kind == "stop"


def test_actions_move_the_knobs_the_right_way():
    s = RunConfig(
        learning_rate=1e-3, beta=0.04, epsilon=0.2, temperature=1.0, max_completion_length=20
    ).model_dump()
    assert plan_action("kl_explosion", s, 1).changes["beta"] > 0.04
    assert plan_action("kl_explosion", s, 1).changes["learning_rate"] < 1e-3
    assert plan_action("advantage_instability", s, 1).changes["epsilon"] < 0.2
    assert plan_action("entropy_collapse", s, 1).changes["temperature"] > 1.0
    assert plan_action("length_too_short", s, 1).changes["max_completion_length"] > 20
    assert plan_action("update_freeze", s, 1).changes["learning_rate"] > 1e-3
    assert "reward_range" in plan_action("reward_spike", s, 1).guards


def test_reward_range_guard_neutralises_spiked_rewards():
    cfg = RunConfig(group_size=4)
    spike = make_injector("reward_spike", "easy", 1)
    guard = make_guards(["reward_range"], cfg, MAX_VALID_REWARD)[0]
    clean = np.array([1.2, 0.2, 0.0, 1.2, 0.2, 0.2, 1.2, 0.0])
    for seed in range(20):
        c = ctx(seed=seed)
        hit = spike.rewards(clean.copy(), c)
        fixed = guard.rewards(hit, c)
        assert fixed.max() <= MAX_VALID_REWARD and np.isfinite(fixed).all()
        bad = hit > MAX_VALID_REWARD
        assert np.allclose(fixed[~bad], clean[~bad])
    assert not guard.active(5)  # a guard never labels a step as faulty
    nan = guard.rewards(np.array([np.nan, 1.2, 0.2, 0.2]), ctx())
    assert np.isfinite(nan).all()


@pytest.mark.parametrize("fault", ["value_mismatch", "advantage_instability", "delayed_credit"])
def test_advantage_guard_restores_grpo_advantages(fault):
    inj = make_injector(fault, "easy", 1)
    guard = make_guards(["advantages"], RunConfig(group_size=4), MAX_VALID_REWARD)[0]
    rewards = np.array([1.2, 0.2, 0.0, 1.2, 0.2, 0.2, 1.2, 0.0])
    mean, std = group_stats(rewards, 4)
    true = grpo_advantages(rewards, mean, std, "group")
    c = ctx()
    inj.advantages(-true, rewards, ctx(step=2))  # delayed credit replays the previous step's advantages
    corrupted = inj.advantages(true.copy(), rewards, c)
    assert not np.allclose(corrupted, true)
    assert np.allclose(guard.advantages(corrupted, rewards, c), true)


def test_coefficient_guard_pins_kl_and_entropy_coefficients():
    class FakeTrainer:
        beta = 0.04
        entropy_coef = 0.0

    t = FakeTrainer()
    cfg = RunConfig(beta=0.04)
    make_injector("kl_explosion", "easy", 1).trainer(t, ctx())
    make_injector("entropy_collapse", "easy", 1).trainer(t, ctx())
    assert t.beta < 0 and t.entropy_coef < 0
    make_guards(["coefficients"], cfg, MAX_VALID_REWARD)[0].trainer(t, ctx())
    assert t.beta == 0.04 and t.entropy_coef == 0.0


@pytest.mark.parametrize(
    "fault", ["empty_response", "repetition_collapse", "length_too_short", "length_too_long"]
)
def test_sampling_guard_restores_the_declared_generation_config(fault):
    cfg = RunConfig(max_completion_length=24)
    declared = SamplingParams(temperature=1.0, max_new_tokens=24)
    broken = make_injector(fault, "easy", 1).sampling(declared, ctx())
    assert broken != declared
    assert make_guards(["sampling"], cfg, MAX_VALID_REWARD)[0].sampling(broken, ctx()) == declared


def test_guards_declare_the_signals_they_rewrite():
    assert "reward_accuracy_gap" in rewritten_signals(["reward_range"])
    assert "advantage_mean" in rewritten_signals(["advantages"])
    assert rewritten_signals(["sampling"]) == set() and rewritten_signals([]) == set()


def test_success_judgement():
    ok, tol = judge("kl_explosion", "recovered", "kl_explosion", 0.60, 0.62, 128)
    assert ok and tol >= 0.05
    assert not judge("kl_explosion", "escalated", "kl_explosion", 0.30, 0.62, 128)[0]
    # environment faults: success only when stopped with the right cause
    assert judge("tool_call_error", "stopped", "tool_call_error", 0.1, 0.6, 128)[0]
    assert not judge("tool_call_error", "stopped", "reward_spike", 0.9, 0.6, 128)[0]
    assert not judge("tool_call_error", "recovered", "tool_call_error", 0.9, 0.6, 128)[0]


def test_summary_document_shape():
    from faultwise.rft.fm.remediate.bench import RemediationOutcome

    rows = [
        RemediationOutcome(
            run_id=str(i),
            fault_type=ft,
            family=fam,
            strength="easy",
            onset_step=1,
            status="x",
            diagnosed=None,
            stop_cause=None,
            accuracy_remediated=0.5,
            accuracy_fault_free=0.5,
            tolerance=0.05,
            success=ok,
        )
        for i, (ft, fam, ok) in enumerate(
            [("kl_explosion", "OD", True), ("update_freeze", "OD", False), ("tool_call_error", "TE", True)]
        )
    ]
    doc = summarise(rows)
    assert doc == {
        "runs": 3,
        "success_rate": 0.6667,
        "by_family": {"OD": {"runs": 2, "success_rate": 0.5}, "TE": {"runs": 1, "success_rate": 1.0}},
    }


def test_compensating_actions_name_the_signals_verification_must_tolerate():
    s = RunConfig().model_dump()
    rc = plan_action("reward_collapse", s, 1)
    assert "reward_mean" in rc.tolerate and "task_accuracy" not in rc.tolerate
    uf = plan_action("update_freeze", s, 1)
    assert "grad_norm" in uf.tolerate and "kl" not in uf.tolerate
    assert (
        plan_action("kl_explosion", s, 1).tolerate == []
    )  # its guard removes the cause: nothing to tolerate


def test_tolerated_grad_norm_silences_the_vanished_update_rule(make_run):
    from faultwise.rft.fm.detect.detector import Detector
    from faultwise.rft.fm.detect.profile import fit_profile
    from faultwise.rft.signals import extract_signals

    prof = fit_profile([[(r.step, extract_signals(r)) for r in make_run(seed)] for seed in range(12)])
    sig = extract_signals(make_run(99)[3])
    frozen = {**sig, "grad_norm": 0.0, "clip_ratio": 0.0, "policy_loss": 0.0}
    assert Detector(prof).update_signals(3, frozen).rule == "vanished_update"
    mon = Detector(prof)
    mon.ignore = set(plan_action("update_freeze", RunConfig().model_dump(), 1).tolerate)
    assert mon.update_signals(3, frozen).rule is None
