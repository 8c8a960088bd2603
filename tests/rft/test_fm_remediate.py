"""Remediation actions and guards, without training (the closed loop itself: test_fm_supervisor.py)."""

import numpy as np
import pytest

from faultwise.rft.faultbench.faults import make_injector
from faultwise.rft.faultbench.faults.base import StepContext, group_stats, grpo_advantages
from faultwise.rft.faultbench.policy import SamplingParams
from faultwise.rft.faultbench.runner import RunConfig
from faultwise.rft.fm.remediate.actions import (
    ENVIRONMENT_CAUSES,
    MAX_VALID_REWARD,
    STOP_CAUSES,
    RunCourse,
    generic_action,
    plan_action,
)
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
    if fault in STOP_CAUSES:  # a training fault no setting reaches: stop, say why, change nothing
        assert a1.kind == "stop" and a1.changes == {} and a1.cause == STOP_CAUSES[fault]
        return
    assert a1.kind == "retrain" and a1.changes and a1.rationale
    assert a1.guards == []  # guards are opt-in, never part of the default action
    new = RunConfig.model_validate({**cfg.model_dump(), **a1.changes})  # the runner accepts the change
    a2 = plan_action(fault, new.model_dump(), 2)
    assert a2.kind == "retrain"
    # a second try compounds the first: a scaled setting moves again, a switch stays on
    for k, v in a2.changes.items():
        if isinstance(v, float) and k in a1.changes:
            assert v != a1.changes[k]
        elif isinstance(v, bool):
            assert v == a1.changes[k]
    assert plan_action(fault, new.model_dump(), 3).kind == "stop"
    # what an action tolerates is a symptom it works around, never the ground the verification stands on; the
    # one exception is the KL of a rebased reference, which no longer measures the drift from the warm start
    assert not {"reward_mean", "entropy"} & set(a1.tolerates)
    assert ("kl" in a1.tolerates) == ("ref_sync_steps" in a1.changes)


def test_actions_move_the_knobs_the_right_way():
    s = RunConfig(
        learning_rate=1e-3, beta=0.04, epsilon=0.2, temperature=1.0, max_completion_length=20
    ).model_dump()
    assert plan_action("kl_explosion", s, 1).changes["learning_rate"] < 1e-3
    assert plan_action("kl_explosion", s, 1).changes["ref_sync_steps"] == 1
    # a divergence that builds up before it is flagged restarts from the first step; other faults resume from
    # the last healthy checkpoint
    assert plan_action("kl_explosion", s, 1).from_first_step
    assert not any(plan_action(f, s, 1).from_first_step for f in FAULT_TYPES if f != "kl_explosion")
    # the clip range never binds with one update per batch: the action takes slower steps and leaves it alone
    unstable = plan_action("advantage_instability", s, 1).changes
    assert unstable["learning_rate"] < 1e-3 and "epsilon" not in unstable
    assert plan_action("entropy_collapse", s, 1).changes["temperature"] > 1.0
    assert plan_action("length_too_short", s, 1).changes["max_completion_length"] > 20
    freeze = plan_action("update_freeze", s, 1)  # no multiple of a zero gradient is an update
    assert freeze.kind == "stop" and "zero" in freeze.cause
    for fault in ("reward_spike", "reward_collapse", "reward_hacking"):
        assert plan_action(fault, s, 1).changes["reward_fallback"] is True
    # with the exploitable grader out of the loop, no stronger KL anchor slows the task's learning
    assert plan_action("reward_hacking", s, 1).changes == {"reward_fallback": True}
    assert plan_action("length_too_long", s, 1).changes["mask_truncated_completions"] is True
    assert plan_action("empty_response", s, 1).changes["drop_degenerate"] is True
    assert "reward_range" in plan_action("reward_spike", s, 1, use_guards=True).guards
    # a filter leaves the degenerate completions in the batch: their symptoms and the zeroed advantages stay
    for fault in ("empty_response", "length_too_long"):
        assert {"empty_ratio", "advantage_mean"} <= set(plan_action(fault, s, 1).tolerates)
    assert plan_action("reward_collapse", s, 1).tolerates == []  # a fallback grader removes the cause
    for fault in FAULT_TYPES:  # the control: whatever the diagnosis, halve the learning rate
        assert generic_action(fault, s, 1).changes == {"learning_rate": 5e-4}
    assert generic_action("kl_explosion", s, 3).kind == "stop"


def test_a_vanished_update_is_trained_through_on_a_longer_run_and_verified():
    cfg = RunConfig(steps=30)
    course = RunCourse(declared_steps=30)
    act = plan_action("update_freeze", cfg.model_dump(), 1, course=course)
    assert act.kind == "retrain" and act.changes == {"steps": 60}  # the budget: twice the declared steps
    tighter = RunCourse(declared_steps=30, max_steps_factor=1.5)
    assert plan_action("update_freeze", cfg.model_dump(), 1, course=tighter).changes == {"steps": 45}
    # the lost steps keep their zero gradient (tolerated); the loop checks that some update went through
    assert act.verify_updates and act.tolerates == ["grad_norm"]
    assert plan_action("update_freeze", cfg.model_dump(), 3, course=course).kind == "stop"
    # every other action keeps the declared length; the generic control never uses the course
    for fault in FAULT_TYPES:
        if fault != "update_freeze":
            a = plan_action(fault, cfg.model_dump(), 1, course=course)
            assert "steps" not in a.changes and not a.verify_updates
        assert generic_action(fault, cfg.model_dump(), 1, course=course).changes == {
            "learning_rate": cfg.learning_rate / 2
        }


def test_lost_update_share_counts_exact_zero_gradients():
    from faultwise.rft.fm.remediate.supervisor import lost_update_share

    hist = {s: ({"grad_norm": g, "kl": 0.1}, None) for s, g in enumerate([0.0, 0.3, 0.0, 1e-9], start=1)}
    assert lost_update_share(hist) == 0.5  # a tiny gradient is an update; only an exact zero is lost
    assert lost_update_share({1: ({"kl": 0.1}, None)}) is None


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
