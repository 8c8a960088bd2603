"""The closed loop on real (tiny, CPU) TRL GRPO runs: detect, diagnose, roll back, fix, verify; stop on a
broken environment.

Real training differs in its floating-point details from one CPU to the next, so what the default run asserts
must not need one exact trajectory. The loop tests therefore detect with the hard rules only — an update that
vanished has a gradient norm of exactly zero on any CPU — and diagnose with a stand-in diagnoser that always
names one type: they check the loop itself (alarm at the onset, rollback to a checkpoint saved before it, the
action's settings in the resumed steps, verification by the same monitor, escalation, the stop and the kept
checkpoint for an environment fault). Whether the statistical detector and the diagnoser get a real run
right is an outcome of that run, measured rather than asserted: ``benchmarks/rft_supervisor_outcomes.py``
(a reward spike and a broken tool on this tiny shape, per seed), ``faultwise rft bench remediate`` and
``faultwise rft evaluate`` on a bench.
"""

import math
from types import SimpleNamespace

import pytest

from faultwise.rft.faultbench.runner import RunConfig, run
from faultwise.rft.fm.callback import FMCallback
from faultwise.rft.fm.detect.profile import NormalProfile, fit_profile
from faultwise.rft.fm.detect.selfref import SelfRefConfig
from faultwise.rft.fm.diagnose import FEATURE_NAMES, DiagnoserModel
from faultwise.rft.fm.model import FMModel
from faultwise.rft.fm.monitor import FailureMonitor
from faultwise.rft.fm.remediate.actions import generic_action
from faultwise.rft.fm.remediate.supervisor import Supervisor, heldout_accuracy
from faultwise.rft.records import FAULT_TYPES
from faultwise.rft.signals import extract_signals

SHAPE = {"steps": 10, "prompts_per_step": 2, "group_size": 8}
ONSET = 5


def signal_run(out):
    by = {}
    for t in out.trajectories:
        by.setdefault(t.step, []).append(t)
    return [(s.step, extract_signals(s, by.get(s.step))) for s in out.steps]


@pytest.fixture(scope="module")
def real_profile(tmp_path_factory) -> NormalProfile:
    """A normal profile of two real healthy runs of the tests' shape (what sets the hard rules' limits)."""
    root = tmp_path_factory.mktemp("normal")
    runs = [
        signal_run(run(RunConfig(run_id=f"n{seed}", seed=seed, **{**SHAPE, "steps": 6}), root / str(seed)))
        for seed in (101, 102)
    ]
    return fit_profile(runs)


def always(fault_type: str) -> DiagnoserModel:
    """A stand-in diagnoser that names ``fault_type`` for any window."""
    n = len(FEATURE_NAMES)
    other = next(t for t in FAULT_TYPES if t != fault_type)
    return DiagnoserModel(
        classes=[fault_type, other],
        features=list(FEATURE_NAMES),
        mean=[0.0] * n,
        scale=[1.0] * n,
        coef=[[0.0] * n, [0.0] * n],
        intercept=[10.0, 0.0],
        max_distance=1e12,
        centroids=[[0.0] * n, [0.0] * n],
        span=[1e12] * n,
    )


def quiet(profile: NormalProfile) -> NormalProfile:
    """``profile`` with every statistical channel off: alarms come from the hard rules alone."""
    return profile.model_copy(
        update={"threshold": math.inf, "trend_threshold": math.inf, "joint_threshold": math.inf,
                "slow_threshold": None}
    )  # fmt: skip


def hard_rules_only(profile: NormalProfile, says: str) -> FMModel:
    """Alarms from the hard rules alone, diagnoses from ``always(says)``."""
    return FMModel(profile=quiet(profile), diagnoser=always(says))


def hard_rules_no_changes(profile: NormalProfile, says: str) -> FMModel:
    """As :func:`hard_rules_only`, with the self-referenced detector's change points off too (its invariants
    stay): a test that trains on for many steps then depends on no trajectory's statistics."""
    model = hard_rules_only(profile, says)
    return model.model_copy(update={"selfref": SelfRefConfig(z_threshold=math.inf)})


def frozen_from_onset(seed: int) -> RunConfig:
    return RunConfig(
        run_id=f"freeze-{seed}",
        seed=seed,
        fault_type="update_freeze",
        strength="easy",
        onset_step=ONSET,
        **SHAPE,
    )


@pytest.mark.trl
@pytest.mark.smoke
def test_loop_rolls_back_before_the_alarm_retrains_with_the_action_and_verifies(
    real_profile, tmp_path, monkeypatch
):
    assert real_profile.grad_norm_floor is not None  # healthy runs never have a zero gradient
    cfg = frozen_from_onset(7)
    paces = []  # what each attempt's monitor is told about its pace of training
    set_pace = FailureMonitor.set_pace

    def recording_set_pace(self, from_step, rate):
        paces.append((from_step, rate))
        set_pace(self, from_step, rate)

    monkeypatch.setattr(FailureMonitor, "set_pace", recording_set_pace)
    # the generic control's action (halve the learning rate) retrains; ours stops at once (see below)
    sup = Supervisor(
        hard_rules_only(real_profile, "update_freeze"), save_every=2, planner=generic_action
    ).run(cfg, tmp_path)
    rep = sup.report
    first = rep.attempts[0]
    # the zero gradient of the onset step raises the alarm, is diagnosed at once and stops that attempt
    assert first.first_alarm_step == ONSET and first.last_step == ONSET
    assert rep.alarms[0].rule == "vanished_update" and first.diagnosis.fault_type == "update_freeze"
    act = rep.actions[0]
    assert act.kind == "retrain" and act.changes == {"learning_rate": 0.5 * cfg.learning_rate}
    # the action changes a declared setting, it does not remove the fault: the verification after the rollback
    # sees the zero gradient again, the second try starts over from step 1, and then the loop escalates
    assert rep.status == "escalated" and len(rep.attempts) == 3, rep.summary()
    retry, again = rep.attempts[1], rep.attempts[2]
    start = (
        retry.resumed_from_step or 0
    )  # a checkpoint saved at least two steps before the alarm, or the start
    assert start <= ONSET - 2 and start % 2 == 0
    assert retry.first_alarm_step == ONSET and retry.settings_changed == act.changes
    assert again.resumed_from_step is None and again.first_alarm_step == ONSET
    # the second try compounds the first (half of the halved rate), then the loop escalates
    assert again.settings_changed == {"learning_rate": 0.25 * cfg.learning_rate}
    assert "persisted" in rep.stop_cause and rep.actions[-1].kind == "stop"
    assert rep.final_settings["learning_rate"] == 0.25 * cfg.learning_rate and sup.model is not None
    # a retry at a lower learning rate is judged at its training progress, counted from where it resumed
    assert paces == [(0, 1.0), (start, 0.5), (0, 0.25)]
    # the kept lineage ends before the alarm
    assert [s.step for s in sup.steps] == list(range(1, len(sup.steps) + 1)) and len(sup.steps) <= ONSET - 2


@pytest.mark.trl
@pytest.mark.smoke
def test_an_escalation_keeps_no_checkpoint_a_retry_saved_with_the_fault_acting(real_profile, tmp_path):
    """A fault that a slower run meets later (here: updates lost from step 8 at a lowered learning rate, from
    the onset at the declared one) alarms later in each retry; the retries' checkpoints saved between the
    original alarm and their own trained with the fault acting, so the loop, escalating, keeps none of them."""
    from faultwise.rft.faultbench.faults.optimization import UpdateFreeze

    cfg = frozen_from_onset(9)
    later = ONSET + 3

    def delayed_by_a_slower_run(settings: RunConfig) -> list:
        slowed = settings.learning_rate < cfg.learning_rate
        return [UpdateFreeze("easy", onset_step=later if slowed else ONSET)]

    # its retries train to step 8: no trajectory statistic may decide, only the vanished update (any CPU)
    sup = Supervisor(
        hard_rules_no_changes(real_profile, "update_freeze"), save_every=2, planner=generic_action
    ).run(cfg, tmp_path, injectors_factory=delayed_by_a_slower_run)
    rep = sup.report
    assert rep.status == "escalated" and [a.first_alarm_step for a in rep.attempts] == [ONSET, later, later]
    # the retries saved checkpoints after the original alarm and before their own (6 of the second try)
    assert (tmp_path / "attempt-2" / "trainer" / f"checkpoint-{later - 2}").is_dir()
    kept = 0 if rep.final_checkpoint == "warm-start" else int(rep.final_checkpoint.rsplit("-", 1)[1])
    assert kept <= ONSET - 2, rep.final_checkpoint
    assert [s.step for s in sup.steps] == list(range(1, kept + 1))


@pytest.mark.trl
@pytest.mark.smoke
def test_an_update_lost_on_every_step_stops_at_the_rollback_point(real_profile, tmp_path):
    cfg = frozen_from_onset(7)
    sup = Supervisor(hard_rules_no_changes(real_profile, "update_freeze"), save_every=2).run(cfg, tmp_path)
    rep = sup.report
    retry = rep.actions[0]  # trained through on a run lengthened to the budget (twice the declared steps)
    assert retry.kind == "retrain" and retry.changes == {"steps": 2 * cfg.steps} and retry.verify_updates
    assert rep.attempts[1].last_step == 2 * cfg.steps  # the longer run ran to its end, the zeros tolerated
    # no update went through after the rollback: stopped with the cause, at the rollback point, not later
    assert rep.status == "stopped" and "zero" in rep.stop_cause and rep.actions[-1].kind == "stop"
    kept = 0 if rep.final_checkpoint == "warm-start" else int(rep.final_checkpoint.rsplit("-", 1)[1])
    assert kept == (rep.attempts[1].resumed_from_step or 0) and kept <= ONSET - 2
    assert [s.step for s in sup.steps] == list(range(1, kept + 1))


@pytest.mark.trl
@pytest.mark.smoke
def test_an_update_lost_on_some_steps_is_made_up_on_a_longer_run(real_profile, tmp_path):
    cfg = RunConfig(
        run_id="half", seed=12, fault_type="update_freeze", strength="hard", onset_step=ONSET, **SHAPE
    )
    sup = Supervisor(hard_rules_no_changes(real_profile, "update_freeze"), save_every=2).run(cfg, tmp_path)
    rep = sup.report
    assert rep.attempts[0].diagnosis.fault_type == "update_freeze", rep.summary()
    act = rep.actions[0]
    assert act.kind == "retrain" and act.changes == {"steps": 2 * cfg.steps} and act.verify_updates
    assert rep.status == "recovered" and len(rep.actions) == 1, rep.summary()
    assert sup.steps[-1].step == 2 * cfg.steps  # the lineage runs to the lengthened end
    after = [s.grad_norm for s in sup.steps if s.step >= ONSET]
    assert 0 < sum(g == 0.0 for g in after) < len(after)  # some updates lost, the others went through


@pytest.mark.trl
@pytest.mark.smoke
def test_environment_fault_stops_the_run_and_keeps_a_healthy_checkpoint(real_profile, tmp_path):
    cfg = frozen_from_onset(8)
    sup = Supervisor(hard_rules_only(real_profile, "tool_call_error"), save_every=1).run(cfg, tmp_path)
    rep = sup.report
    assert rep.status == "stopped" and len(rep.attempts) == 1, rep.summary()  # reported, not trained around
    assert rep.actions[0].kind == "stop" and "tool" in rep.stop_cause
    assert rep.attempts[0].first_alarm_step == ONSET
    # a checkpoint is saved every step, the alarm's own and the one before it included; the kept one was saved
    # at least two steps before the alarm (or it is the warm start)
    assert sorted(int(p.name.split("-")[1]) for p in tmp_path.glob("attempt-0/trainer/checkpoint-*")) == list(
        range(1, ONSET + 1)
    )
    kept = 0 if rep.final_checkpoint == "warm-start" else int(rep.final_checkpoint.rsplit("-", 1)[1])
    assert kept <= ONSET - 2
    assert [s.step for s in sup.steps] == list(range(1, kept + 1))  # the records of the kept lineage
    assert sup.model is not None


@pytest.mark.trl
@pytest.mark.smoke
def test_callback_never_raises_into_the_trainer(real_profile, tmp_path):
    cb = FMCallback(FMModel(profile=real_profile))

    def broken(*args, **kwargs):
        raise RuntimeError("monitor bug")

    cb.monitor.update = broken
    out = run(RunConfig(run_id="cb", seed=9, **{**SHAPE, "steps": 3}), tmp_path, callbacks=[cb])
    assert len(out.steps) == 3  # training finished although every monitor call failed
    assert cb.errors == 3


def test_callback_reads_plain_trl_logs(normal_signal_runs):
    pytest.importorskip("transformers")
    from transformers import TrainerControl

    seen = []
    model = FMModel(
        profile=quiet(fit_profile(normal_signal_runs(12)))
    )  # these logs are not the profile's runs
    cb = FMCallback(model, on_event=seen.append, stop_on_diagnosis=True)
    control = TrainerControl()
    for step in range(1, 6):
        logs = {
            "loss": 0.0,
            "reward": 0.5,
            "kl": float("nan") if step == 3 else 0.01,
            "entropy": 0.4,
            "grad_norm": 1.0,
            "completions/mean_length": 12.0,
        }
        cb.on_log(None, SimpleNamespace(global_step=step), control, logs=logs)
    assert cb.last_step == 5 and cb.errors == 0
    assert seen[0].verdict.step == 3 and seen[0].verdict.rule == "non_finite:kl"
    assert control.should_training_stop  # a hard-rule alarm is diagnosed at once


@pytest.mark.trl
@pytest.mark.smoke
def test_heldout_accuracy_is_the_true_task_accuracy():
    from faultwise.rft.faultbench.policy import PolicyConfig, build_model, load_policy, warm_start

    untrained = build_model(PolicyConfig(), seed=0)
    assert heldout_accuracy(untrained, 32) == 0.0  # a random policy never answers right
    warm, _ = load_policy(warm_start(PolicyConfig()))
    acc = heldout_accuracy(warm, 64)
    assert 0.15 < acc < 0.9 and (acc * 64) % 1 == 0  # partly competent; a share of the 64 problems


@pytest.mark.trl
@pytest.mark.smoke
def test_bench_trains_the_three_arms_and_the_fault_free_twin(real_profile, tmp_path):
    """``bench remediate`` on one real faulty run: no remediation, the generic action and ours, each scored on
    the held-out accuracy against the seed-matched fault-free run (properties only, never one trajectory)."""
    from faultwise.rft.fm.remediate.bench import ARMS, remediate_one

    cfg = frozen_from_onset(11)
    out, reports = remediate_one(cfg, hard_rules_only(real_profile, "update_freeze"), tmp_path, n_eval=32)
    assert tuple(out.arms) == ARMS and out.accuracy_fault_free is not None and out.tolerance >= 0.05
    assert all(0.0 <= a.accuracy <= 1.0 for a in out.arms.values())
    for name in ("generic", "ours"):  # both loops saw the fault online and acted on it
        assert out.arms[name].diagnosed == "update_freeze" and out.arms[name].status != "clean"
    assert reports["generic"]["actions"][0]["changes"] == {"learning_rate": cfg.learning_rate / 2}
    # a zero gradient: ours trains through it on a run twice as long, sees that no update went through, and
    # stops naming the cause
    first, last = reports["ours"]["actions"][0], reports["ours"]["actions"][-1]
    assert first["kind"] == "retrain" and first["changes"] == {"steps": 2 * cfg.steps}
    assert last["kind"] == "stop" and "zero" in last["cause"]
    assert out.arms["ours"].status == "stopped"
    assert out.arms["none"].status == "ran" and out.arms["none"].same_run_as is None  # trained on its own
    for name, arm in out.arms.items():
        assert arm.within_tolerance == (arm.accuracy >= out.accuracy_fault_free - out.tolerance)
        if out.arms["none"].within_tolerance:
            assert out.verdict[name] == "already_fine"
        else:
            assert out.verdict[name] == ("remediated" if arm.within_tolerance else "not_remediated")
    assert {p.name for p in tmp_path.iterdir()} == {"ours", "generic", "none", "fault_free"}
