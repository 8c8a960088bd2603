"""``trainer.add_callback(FMCallback())`` on a real TRL ``GRPOTrainer``, without a fitted model.

A user's own script: a plain GRPOTrainer (no FaultBench controller), a tiny policy, a reward function of
the user's. A broken reward function that scores every completion 0 gives no learning signal at all; the
callback sees it from TRL's own logs (reward_std 0), opens one alarm event, diagnoses it, saves a checkpoint
and stops the run. What is asserted holds on any CPU: the invariant does not depend on the trajectory.
"""

import pytest

pytest.importorskip("trl")


def _trainer(tmp_path, reward_func, steps=4):
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from faultwise.rft.faultbench import task
    from faultwise.rft.faultbench.policy import PolicyConfig, load_policy, warm_start

    model, tok = load_policy(warm_start(PolicyConfig()))  # the bench's small warm-started policy (cached)
    data = Dataset.from_list([{"prompt": p.prompt} for p in task.sample_problems(32, seed=1)])
    args = GRPOConfig(
        output_dir=str(tmp_path / "out"),
        per_device_train_batch_size=4,
        num_generations=4,
        max_steps=steps,
        max_completion_length=24,
        logging_steps=1,
        report_to="none",
        save_strategy="no",
        use_cpu=True,
        disable_tqdm=True,
        seed=0,
    )
    return GRPOTrainer(
        model=model, reward_funcs=[reward_func], args=args, train_dataset=data, processing_class=tok
    )


@pytest.mark.trl
@pytest.mark.smoke
def test_callback_without_model_stops_and_checkpoints_on_a_broken_reward(tmp_path, capsys):
    from faultwise.rft.fm import FMCallback

    def broken_reward(completions, **kwargs):
        return [0.0 for _ in completions]

    trainer = _trainer(tmp_path, broken_reward, steps=6)
    cb = FMCallback(stop_on_diagnosis=True, checkpoint_on_diagnosis=True)
    trainer.add_callback(cb)
    trainer.train()
    assert cb.errors == 0
    events = cb.monitor.events
    assert len(events) == 1 and events[0].opened_step == 1
    assert events[0].diagnosis is not None and events[0].diagnosis.fault_type == "reward_collapse"
    assert trainer.state.global_step < 6  # stopped on the diagnosis
    assert list((tmp_path / "out").glob("checkpoint-*"))  # saved when diagnosed
    assert "ALARM event #1" in capsys.readouterr().err  # printed by default


@pytest.mark.trl
def test_callback_without_model_is_quiet_on_a_working_reward(tmp_path):
    import random

    from faultwise.rft.fm import FMCallback

    rng = random.Random(0)

    def varied_reward(completions, **kwargs):  # a reward with spread (its values do not matter here)
        return [rng.random() for _ in completions]

    trainer = _trainer(tmp_path, varied_reward, steps=6)
    cb = FMCallback()
    trainer.add_callback(cb)
    trainer.train()
    assert cb.errors == 0 and cb.last_step == 6 and cb.monitor.events == []


@pytest.mark.trl
@pytest.mark.smoke
def test_callback_declares_the_trainer_setup_and_a_model_fitted_elsewhere_stays_out(
    tmp_path, normal_signal_runs
):
    """With a fitted model, the callback reads the trainer's arguments and model config when training begins;
    a model fitted on other setups (8 generations per prompt) then stays out of this run (4)."""
    from faultwise.rft.fm import FMCallback, FMModel, SetupDomain, fit_profile

    def varied_reward(completions, **kwargs):
        return [float(len(c) % 3) for c in completions]

    fitted = FMModel(
        profile=fit_profile(normal_signal_runs(4)),
        domain=SetupDomain(ranges={"num_generations": (8.0, 8.0), "hidden_size": (64.0, 64.0)}),
    )
    trainer = _trainer(tmp_path, varied_reward, steps=2)
    cb = FMCallback(fitted, on_event=None)
    trainer.add_callback(cb)
    trainer.train()
    assert cb.errors == 0
    assert cb.monitor.setup["num_generations"] == 4.0 and cb.monitor.setup["hidden_size"] == 64.0
    assert cb.monitor.model_applies is False
    assert cb.monitor.declined == "num_generations 4 outside the fitted 8"


def test_callback_passes_on_the_step_that_closes_an_event():
    """The callback reports every step that changes an event, also the healthy step that closes it (which
    does not alarm): a user's ``on_event`` sees the run recover."""
    from types import SimpleNamespace

    from faultwise.rft.fm import FMCallback

    seen = []
    cb = FMCallback(on_event=seen.append)
    for step in range(1, 31):
        logs = {"loss": 0.01, "reward": 0.5 + 0.01 * (step % 3), "reward_std": 0.2, "kl": 0.01}
        if step in (20, 21):
            logs["kl"] = float("nan")
        cb.on_log(None, SimpleNamespace(global_step=step), None, logs=logs)
    assert [e.opened.opened_step for e in seen if e.opened] == [20]
    assert [e.closed.closed_step for e in seen if e.closed] == [24]  # 3 healthy steps after the last NaN
