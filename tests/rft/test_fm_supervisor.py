"""The closed loop on real (tiny, CPU) TRL GRPO runs: detect, diagnose, roll back, fix, verify; stop on a
broken tool. The normal profile is fitted here on a few real healthy runs of the same tiny shape; with so few
runs its threshold is widened (margin), as anyone calibrating on little data should."""

import pytest

pytest.importorskip("trl")

from faultwise.rft.detect.model import FMModel  # noqa: E402
from faultwise.rft.detect.profile import fit_profile  # noqa: E402
from faultwise.rft.detect.signals import extract_signals  # noqa: E402
from faultwise.rft.integrations.trl_callback import FMCallback  # noqa: E402
from faultwise.rft.remediate.supervisor import Supervisor, heldout_accuracy  # noqa: E402
from faultwise.rft.runner import RunConfig, run  # noqa: E402

pytestmark = pytest.mark.rft
SHAPE = {"steps": 10, "prompts_per_step": 2, "group_size": 4}


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    root = tmp_path_factory.mktemp("normal")
    normal = []
    for seed in (101, 102, 103):
        out = run(RunConfig(run_id=f"n{seed}", seed=seed, **{**SHAPE, "steps": 7}), root / str(seed))
        by = {}
        for t in out.trajectories:
            by.setdefault(t.step, []).append(t)
        normal.append([(s.step, extract_signals(s, by.get(s.step))) for s in out.steps])
    return FMModel(profile=fit_profile(normal, margin=1.0))


def test_reward_spike_is_detected_diagnosed_rolled_back_and_fixed(model, tmp_path):
    cfg = RunConfig(run_id="spike", seed=7, fault_type="reward_spike", strength="easy", onset_step=5, **SHAPE)
    sup = Supervisor(model, save_every=2).run(cfg, tmp_path)
    rep = sup.report
    first = rep.attempts[0]
    assert first.first_alarm_step is not None and first.first_alarm_step >= 5  # no false alarm before onset
    assert first.diagnosis is not None and first.diagnosis.family == "RF"
    assert rep.actions[0].kind == "retrain" and rep.actions[0].guards
    assert (
        rep.attempts[1].resumed_from_step is not None
        and rep.attempts[1].resumed_from_step < first.first_alarm_step
    )
    assert rep.status == "recovered", rep.summary()
    assert [s.step for s in sup.steps] == list(range(1, cfg.steps + 1))  # the final lineage is complete
    assert max(s.reward_mean for s in sup.steps if s.step > rep.attempts[1].resumed_from_step) <= 1.2
    assert 0.0 <= heldout_accuracy(sup.model, 16) <= 1.0


def test_broken_tool_stops_the_run_and_names_the_cause(model, tmp_path):
    cfg = RunConfig(
        run_id="tool", seed=8, fault_type="tool_call_error", strength="easy", onset_step=5, **SHAPE
    )
    rep = Supervisor(model, save_every=2).run(cfg, tmp_path).report
    assert rep.status == "stopped" and rep.diagnosis.fault_type == "tool_call_error", rep.summary()
    assert "tool" in rep.stop_cause and rep.final_checkpoint is not None
    assert len(rep.attempts) == 1  # no retraining: an environment fault is reported, not trained around


def test_callback_never_raises_into_the_trainer(model, tmp_path):
    cb = FMCallback(model)

    def broken(*args, **kwargs):
        raise RuntimeError("monitor bug")

    cb.monitor.update = broken
    out = run(RunConfig(run_id="cb", seed=9, **{**SHAPE, "steps": 3}), tmp_path, callbacks=[cb])
    assert len(out.steps) == 3  # training finished although every monitor call failed
    assert cb.errors == 3


def test_callback_reads_plain_trl_logs(model):
    from types import SimpleNamespace

    from transformers import TrainerControl

    seen = []
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
