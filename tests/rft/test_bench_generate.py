"""Bench generation (resumable, with a stand-in runner), the real smoke bench's records, and the runner's
checkpoint / resume-with-new-hyperparameters / live-record API on real GRPO runs."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from faultwise.errors import InputError
from faultwise.rft.faultbench import RunConfig, RunOutput, load_bench, policy, run_configs, runner
from faultwise.rft.faultbench import generator as gen
from faultwise.rft.faultbench.load import read_registry
from faultwise.rft.faultbench.stats import bench_stats
from faultwise.rft.records import StepRecord, TrajectoryRecord


def _stand_in_run(cfg: RunConfig, workdir, **kwargs) -> RunOutput:
    """What ``runner.run`` returns, without training: records of the right shape, labelled from the config."""
    active = [cfg.fault_type != "none" and s >= max(cfg.onset_step, 1) for s in range(1, cfg.steps + 1)]
    steps = [
        StepRecord(step=s, reward_mean=0.5, task_accuracy=0.4, fault_type=cfg.fault_type, strength=cfg.strength,
                   fault_active=a)
        for s, a in zip(range(1, cfg.steps + 1), active, strict=True)
    ]  # fmt: skip
    trajs = [
        TrajectoryRecord.model_validate(
            {"step": s, "index": i, "reward": 1.0, "correct": True, "response_length": 5, "advantage": 0.0,
             "return": 1.0, "repetition_ratio": 0.0, "unique_token_ratio": 1.0, "tool_calls": 0,
             "tool_errors": 0, "is_empty": False, "is_short": False, "is_long": False}
        )
        for s in range(1, cfg.steps + 1)
        for i in range(cfg.trajectories_per_step)
    ]  # fmt: skip
    return RunOutput(cfg.run_info(), steps, trajs, 0.01)


def test_generate_resumes_after_a_kill_and_never_shows_half_runs(tmp_path, monkeypatch):
    """The first attempt dies at its third run; a run directory without a registry row is redone."""
    pytest.importorskip("torch")  # the worker pins torch's threads
    calls = {"n": 0}

    def dies_on_third(cfg, workdir, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("killed")
        return _stand_in_run(cfg, workdir, **kwargs)

    monkeypatch.setattr(policy, "warm_start", lambda cfg, cache_dir=None: tmp_path)
    monkeypatch.setattr(runner, "run", dies_on_third)
    out = tmp_path / "bench"
    with pytest.raises(RuntimeError, match="killed"):
        gen.generate(out, scale="smoke", seed=0, workers=1)
    planned = [c.run_id for c in run_configs("smoke", 0)]
    assert [r.run_id for r in read_registry(out)] == planned[:2]
    assert sorted(p.name for p in (out / "runs").iterdir()) == sorted(planned[:2])  # no temp dir, no half run
    # a run moved into place whose registry row was never written must not look complete: it is discarded
    orphan = planned[-1]
    (out / "runs" / orphan).mkdir()
    (out / "runs" / orphan / "steps.jsonl").write_text("{half-written\n")
    monkeypatch.setattr(runner, "run", _stand_in_run)
    one_more = gen.generate(out, scale="smoke", seed=0, workers=1, limit=1)
    assert one_more.already_done == 2 and one_more.generated == 1
    assert sorted(p.name for p in (out / "runs").iterdir()) == sorted(planned[:3])
    progress = []
    summary = gen.generate(
        out, scale="smoke", seed=0, workers=1, on_progress=lambda d, n, r: progress.append(d)
    )
    assert summary.already_done == 3 and summary.generated == len(planned) - 3
    assert progress[0] == 3 and progress[-1] == len(planned)
    bench = load_bench(out)  # every record validates, the orphan was redone
    assert [r.info.run_id for r in bench.runs] == planned
    assert all(len(r.steps) == r.info.steps for r in bench.runs)
    with pytest.raises(InputError, match="holds a smoke bench with seed 0"):
        gen.generate(out, scale="smoke", seed=1, workers=1)


# --- real GRPO runs ------------------------------------------------------------------------------------------


@pytest.mark.trl
def test_smoke_bench_records_validate_and_count(smoke_bench):
    bench = load_bench(smoke_bench)
    assert [r.info.run_id for r in bench.runs] == [c.run_id for c in run_configs("smoke", 0)]
    for r in bench.runs:
        assert [s.step for s in r.steps] == list(range(1, r.info.steps + 1))
        assert r.trajectory_count == r.info.steps * r.info.trajectories_per_step
        assert all(s.fault_active for s in r.steps) == r.is_faulty
    frame = bench.steps_frame()
    normal = frame[frame.fault_type == "none"]
    assert 0.15 < normal.task_accuracy.mean() < 0.9  # the warm-started policy is partly competent
    assert normal.kl.notna().all() and normal.entropy.notna().all() and normal.grad_norm.notna().all()
    st = bench_stats(bench)
    assert st["counts"]["normal_runs"] == 2 and st["counts"]["faulty_runs"] == 3


@pytest.mark.trl
def test_smoke_faults_leave_their_trace_vs_seed_matched_normal(smoke_bench):
    """The smoke faults share seed and hyperparameters with normal-s0."""
    frame = load_bench(smoke_bench, trajectories=False).steps_frame()
    runs = {rid: g for rid, g in frame.groupby("run_id")}
    normal = runs["normal-s0"]
    ent = runs["entropy_collapse-easy-s0"]
    late = slice(4, None)
    assert ent.entropy.iloc[late].mean() < 0.7 * normal.entropy.iloc[late].mean()
    tce = runs["tool_call_error-easy-s0"]
    assert tce.tool_errors_per_traj.mean() > normal.tool_errors_per_traj.mean() + 0.2
    long = runs["length_too_long-hard-s0"]
    assert long.response_length_mean.mean() > normal.response_length_mean.mean() + 2
    assert long.long_ratio.mean() > normal.long_ratio.mean() + 0.15


@pytest.mark.trl
@pytest.mark.smoke
def test_runner_checkpoint_resume_with_new_hyperparameters(tmp_path):
    from faultwise.rft.faultbench.runner import latest_checkpoint, run

    seen = []

    def listener(rec, trajs, control, controller):
        seen.append((rec.step, len(trajs), control is not None, controller.settings.learning_rate))

    cfg = RunConfig(run_id="r", seed=3, steps=6, prompts_per_step=2, group_size=4, save_every=3,
                    fault_type="reward_spike", strength="easy", onset_step=2)  # fmt: skip
    first = run(cfg, tmp_path, listeners=[listener])
    assert [s.step for s in first.steps] == [1, 2, 3, 4, 5, 6]
    assert seen == [(s, 8, True, 5e-4) for s in range(1, 7)]  # streamed live, one call per step
    assert [s.fault_active for s in first.steps] == [False, True, True, True, True, True]
    warm, _ = policy.load_policy(policy.warm_start(cfg.policy_config()))
    trained = dict(first.policy.named_parameters())
    assert any(
        not (p == trained[n]).all() for n, p in warm.named_parameters()
    )  # the trained policy comes back
    ckpt = tmp_path / "trainer" / "checkpoint-3"
    assert ckpt.is_dir() and latest_checkpoint(tmp_path).name == "checkpoint-6"
    # roll back to step 3, change lr / beta / temperature, remove the fault, continue
    new = cfg.model_copy(update={"learning_rate": 1e-4, "beta": 0.1, "temperature": 0.8, "fault_type": "none",
                                 "strength": "none", "onset_step": 0, "reward_guard": 1.2})  # fmt: skip
    second = run(new, tmp_path, resume_from=ckpt)
    assert [s.step for s in second.steps] == [1, 2, 3, 4, 5, 6]
    for a, b in zip(first.steps[:3], second.steps[:3], strict=True):
        assert a.model_dump() == b.model_dump()  # records before the checkpoint are kept as they were
    assert [s.learning_rate for s in second.steps[3:]] == pytest.approx([1e-4] * 3)
    assert all(s.reward_mean <= 1.2 for s in second.steps[3:])
    assert len(second.trajectories) == 6 * 8


@pytest.mark.trl
@pytest.mark.smoke
def test_callback_can_stop_a_run_live(tmp_path):
    from transformers import TrainerCallback

    from faultwise.rft.faultbench.runner import run

    class StopAtTwo(TrainerCallback):
        def on_step_record(self, rec, trajs, control, controller):
            if rec.step == 2:
                control.should_training_stop = True

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = run(
            RunConfig(seed=4, steps=6, prompts_per_step=2, group_size=4), tmp_path, callbacks=[StopAtTwo()]
        )
    assert [s.step for s in out.steps] == [1, 2]
    # the trainer is configured by the settings' current names: no deprecation note per run floods a bench's output
    assert not [w for w in caught if "checkpointing" in str(w.message)]
    assert np.isfinite([s.reward_mean for s in out.steps]).all()


@pytest.mark.trl
@pytest.mark.smoke
def test_ref_sync_rebases_the_kl_reference_every_step(tmp_path):
    """``ref_sync_steps=1`` is TRL's ``sync_ref_model`` with the policy copied into the reference after every step:
    each step's KL is then measured against the policy it starts from (exactly 0 at the update), so a KL term
    of any sign no longer steers training; without it the sign-flipped KL of ``kl_explosion`` grows."""
    from faultwise.rft.faultbench.runner import run

    cfg = RunConfig(run_id="r", seed=5, steps=6, prompts_per_step=2, group_size=4, save_every=3,
                    fault_type="kl_explosion", strength="easy", onset_step=1)  # fmt: skip
    drifting = run(cfg, tmp_path / "plain")
    synced = run(cfg.model_copy(update={"ref_sync_steps": 1}), tmp_path / "synced")
    assert drifting.steps[-1].kl > 1e-4
    assert max(abs(s.kl) for s in synced.steps) < 1e-6
    assert synced.steps[-1].grad_norm > 0  # the policy still learns: only the reference moves with it
    # a remediation resumes a drifted run with the sync on: its reference starts as the policy it resumes from
    # (TRL keeps no reference in a checkpoint; without the resync step 4 would measure the drift since step 0)
    ckpt = tmp_path / "plain" / "trainer" / "checkpoint-3"
    resumed = run(cfg.model_copy(update={"ref_sync_steps": 1}), tmp_path / "plain", resume_from=ckpt)
    assert drifting.steps[3].kl > 1e-4
    assert [s.step for s in resumed.steps] == [1, 2, 3, 4, 5, 6]
    assert max(abs(s.kl) for s in resumed.steps[3:]) < 1e-6
