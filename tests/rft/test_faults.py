"""Each injector's transform does what its docstring claims, only while active; cheap, no training."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from faultwise.errors import InputError
from faultwise.rft.faultbench import task as T
from faultwise.rft.faultbench.faults import INJECTORS, Injector, StepContext, make_injector
from faultwise.rft.faultbench.faults.base import group_stats, grpo_advantages
from faultwise.rft.faultbench.policy import SamplingParams, ToolResult
from faultwise.rft.records import FAULT_TYPES

G = 8


def ctx(step=5, n=32, seed=0):
    problems = T.sample_problems(n, seed)
    completions = [T.demonstration(p, use_tool=i % 2 == 0) for i, p in enumerate(problems)]
    return StepContext(
        step=step, group_size=G, rng=np.random.default_rng(seed), problems=problems, completions=completions
    )


def rewards_of(c):
    return np.array([T.score(p, x).reward for p, x in zip(c.problems, c.completions, strict=True)])


def test_one_injector_per_type_and_docstrings():
    assert set(INJECTORS) == set(FAULT_TYPES)
    for ftype, cls in INJECTORS.items():
        assert cls.__doc__ and "easy" in cls.__doc__ and "hard" in cls.__doc__ and "Trace" in cls.__doc__, (
            ftype
        )
        inj = make_injector(ftype, "hard", onset_step=3)
        assert inj.family in ("RF", "PG", "OD", "CA", "TE")


def test_bad_arguments_are_input_errors():
    with pytest.raises(InputError, match="fault_type: unknown fault type 'nope'"):
        make_injector("nope", "easy")
    with pytest.raises(InputError, match="strength: must be easy or hard"):
        make_injector("reward_spike", "medium")
    with pytest.raises(InputError, match="onset_step: counts from 1"):
        make_injector("reward_spike", "easy", onset_step=0)


def test_injector_classes_are_checked_when_defined():
    with pytest.raises(TypeError, match="not one of FAULT_TYPES"):

        class Misspelt(Injector):
            fault_type = "reward_spikes"

    with pytest.raises(TypeError, match="already has an injector"):

        class Second(Injector):
            fault_type = "reward_spike"

    class NoFault(Injector):  # hooks that inject no fault (remediation guards) are allowed, not registered
        fault_type = "none"

    assert set(INJECTORS) == set(FAULT_TYPES) and NoFault not in INJECTORS.values()


@pytest.mark.parametrize("ftype", FAULT_TYPES)
def test_inactive_before_onset_and_when_disabled(ftype):
    """Before the onset (and once disabled) every hook is the identity."""
    for inj in (make_injector(ftype, "easy", onset_step=10), make_injector(ftype, "easy", onset_step=1)):
        if inj.onset_step == 1:
            inj.enabled = False
        c = ctx(step=5)
        r = rewards_of(c)
        assert np.array_equal(inj.rewards(r.copy(), c), r)
        adv = np.random.default_rng(1).normal(size=len(r))
        assert np.array_equal(inj.advantages(adv.copy(), r, c), adv)
        p = SamplingParams()
        assert inj.sampling(p, c) == p
        res = ToolResult("12*07", "84", True)
        for _ in range(20):
            assert inj.tool_result(res, np.random.default_rng(_), c) == res
        tr = SimpleNamespace(beta=0.04, entropy_coef=0.0, temperature=1.0)
        inj.trainer(tr, c)
        assert (tr.beta, tr.entropy_coef, tr.temperature) == (0.04, 0.0, 1.0)
        assert inj.loss(2.0, c) == 2.0


def test_reward_spike_adds_large_rewards_on_some_steps():
    for strength, floor in (("easy", 4.0), ("hard", 1.0)):
        inj = make_injector("reward_spike", strength)
        spiked = 0
        for seed in range(40):
            c = ctx(seed=seed)
            r = rewards_of(c)
            out = inj.rewards(r.copy(), c)
            assert np.all(out >= r)
            if out.max() > r.max() + floor - 1e-9:
                spiked += 1
        assert 3 <= spiked <= 37, strength  # some steps spike, not all


def test_reward_collapse_lowers_reward_keeps_truth():
    c = ctx()
    r = rewards_of(c)
    assert inj_out("reward_collapse", "easy", r, c).sum() == 0
    hard = inj_out("reward_collapse", "hard", r, c)
    assert 0 < hard.mean() < 0.5 * r.mean()


def inj_out(ftype, strength, r, c):
    return make_injector(ftype, strength).rewards(r.copy(), c)


def test_reward_hacking_pays_wrong_answers_and_skipping_the_tool():
    c = ctx()
    c.completions = [f"<ans>{p.answer + 1}</ans>" for p in c.problems]  # all wrong, no tool
    r = rewards_of(c)
    easy = inj_out("reward_hacking", "easy", r, c)
    hard = inj_out("reward_hacking", "hard", r, c)
    assert np.all(easy > r + 1.0)  # every wrong answer now scores as correct, plus the no-tool bonus
    assert np.all(hard >= r) and hard.mean() > r.mean() + 0.5


def test_generation_faults_change_sampling_params():
    c = ctx()
    p = SamplingParams(max_new_tokens=24)
    assert (
        make_injector("empty_response", "easy").sampling(p, c).empty_fraction
        > make_injector("empty_response", "hard").sampling(p, c).empty_fraction
        > 0
    )
    assert make_injector("repetition_collapse", "hard").sampling(p, c).repeat_bias > 0
    assert (
        make_injector("length_too_short", "easy").sampling(p, c).max_new_tokens < 11
    )  # tool answer needs >= 11
    assert make_injector("length_too_long", "easy").sampling(p, c).eos_ban_fraction == 1.0
    assert 0 < make_injector("length_too_long", "hard").sampling(p, c).eos_ban_fraction < 1.0


def test_optimisation_faults():
    c = ctx()
    tr = SimpleNamespace(beta=0.04, entropy_coef=0.0)
    make_injector("kl_explosion", "hard").trainer(tr, c)
    assert tr.beta < 0  # the KL term now rewards drifting away
    tr = SimpleNamespace(beta=0.04, entropy_coef=0.0, temperature=1.0)
    make_injector("entropy_collapse", "easy").trainer(tr, c)
    assert tr.entropy_coef < 0  # the loss now pays for low entropy
    assert (
        make_injector("entropy_collapse", "hard").sampling(SamplingParams(temperature=1.0), c).temperature
        < 1.0
    )
    assert make_injector("update_freeze", "easy").loss(3.0, c) == 0.0
    frozen = [make_injector("update_freeze", "hard").loss(3.0, ctx(seed=s)) == 0.0 for s in range(40)]
    assert 5 < sum(frozen) < 35


def test_value_mismatch_biases_baseline():
    c = ctx()
    r = rewards_of(c)
    mean, std = group_stats(r, G)
    adv = grpo_advantages(r, mean, std, "group")
    for strength in ("easy", "hard"):
        out = make_injector("value_mismatch", strength).advantages(adv.copy(), r, c)
        assert out.mean() < adv.mean() - 0.1, strength
        assert np.all(np.isfinite(out))


def test_advantage_instability_inflates_spread_and_flips_signs():
    c = ctx()
    adv = np.random.default_rng(2).normal(size=256)
    c.group_size = G
    out = make_injector("advantage_instability", "easy").advantages(adv.copy(), np.zeros(256), c)
    assert out.std() > 1.5 * adv.std()
    assert np.sum(np.sign(out) != np.sign(adv)) > 20


def test_delayed_credit_uses_previous_step():
    inj = make_injector("delayed_credit", "easy")
    c = ctx(step=1)
    a1 = np.arange(32.0)
    assert np.array_equal(inj.advantages(a1.copy(), np.zeros(32), c), np.zeros(32))
    c2 = ctx(step=2)
    a2 = -np.arange(32.0)
    assert np.array_equal(inj.advantages(a2.copy(), np.zeros(32), c2), a1)


def test_tool_faults():
    c = ctx()
    base = ToolResult("12*07", "84", True)
    rng = np.random.default_rng(0)
    errs = [make_injector("tool_call_error", "easy").tool_result(base, rng, c) for _ in range(200)]
    assert 0.7 < np.mean([not e.ok for e in errs]) < 0.9
    assert all(e.text == T.TOOL_ERROR_TEXT for e in errs if not e.ok)
    for strength, lo, hi in (("easy", 0.8, 1.0), ("hard", 0.2, 0.4)):
        obs = [
            make_injector("observation_corruption", strength).tool_result(base, rng, c) for _ in range(300)
        ]
        assert all(o.ok for o in obs)  # silent
        assert lo < np.mean([o.text != "84" for o in obs]) <= hi
    ends = [make_injector("termination_error", "hard").tool_result(base, rng, c) for _ in range(300)]
    assert 0.2 < np.mean([e.terminate for e in ends]) < 0.4


def test_generation_faults_move_sampled_completions():
    """Through the real sampler (untrained tiny model): the generation faults change what is sampled."""
    pytest.importorskip("torch")
    from faultwise.rft.faultbench.policy import PolicyConfig, build_model, sample_rollouts

    model = build_model(PolicyConfig(), seed=0)
    prompts = [p.prompt for p in T.sample_problems(16, 1)]

    def sample(ftype=None):
        params = SamplingParams(max_new_tokens=16)
        if ftype:
            params = make_injector(ftype, "easy").sampling(params, ctx())
        return sample_rollouts(model, prompts, params, np.random.default_rng(0))

    def rep(rs):
        return np.mean(
            [
                sum(a == b for a, b in zip(r.completion_ids, r.completion_ids[1:], strict=False)) / 15
                for r in rs
            ]
        )

    normal = sample()
    assert np.mean([len(r.completion_ids) == 1 for r in sample("empty_response")]) > 0.4
    assert rep(sample("repetition_collapse")) > rep(normal) + 0.3
    assert all(len(r.completion_ids) >= 16 for r in sample("length_too_long"))
    assert max(len(r.completion_ids) for r in sample("length_too_short")) <= 6
