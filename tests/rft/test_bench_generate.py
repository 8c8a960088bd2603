"""Real GRPO runs: smoke bench generation with a simulated kill and resume, seed-matched fault traces, and
the runner's checkpoint / resume-with-new-hyperparameters / live-record API."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("trl")

from faultwise.rft.bench import generate as gen  # noqa: E402
from faultwise.rft.bench.load import load_bench  # noqa: E402
from faultwise.rft.bench.scales import run_configs  # noqa: E402
from faultwise.rft.bench.stats import bench_stats  # noqa: E402

pytestmark = pytest.mark.rft


@pytest.fixture(scope="module")
def smoke_bench(tmp_path_factory):
    """Generate the smoke bench; the first attempt is 'killed' (an exception) at its third run."""
    import torch

    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("smoke")
    real = gen._run_one
    calls = {"n": 0}

    def dies_on_third(*args):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("killed")
        return real(*args)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(gen, "_run_one", dies_on_third)
        with pytest.raises(RuntimeError, match="killed"):
            gen.generate(out, scale="smoke", seed=0, workers=1)
    after_kill = {
        "registry": [r.run_id for r in gen.read_registry(out)],
        "dirs": sorted(p.name for p in (out / "runs").iterdir()),
    }
    # a run moved into place whose registry row was never written must not look complete
    planned = [c.run_id for c in run_configs("smoke", 0)]
    orphan = next(r for r in planned if r not in after_kill["registry"])
    (out / "runs" / orphan).mkdir()
    (out / "runs" / orphan / "steps.jsonl").write_text("{half-written\n")
    progress = []
    summary = gen.generate(
        out, scale="smoke", seed=0, workers=1, on_progress=lambda d, n, r: progress.append(d)
    )
    return out, after_kill, summary, planned, progress


def test_kill_leaves_only_complete_runs(smoke_bench):
    out, after_kill, summary, planned, progress = smoke_bench
    assert after_kill["registry"] == planned[:2]
    assert after_kill["dirs"] == sorted(planned[:2])  # no temp dir, no half run
    assert summary.already_done == 2 and summary.generated == len(planned) - 2
    assert progress[-1] == len(planned)


def test_records_validate_and_count(smoke_bench):
    out, _, _, planned, _ = smoke_bench
    bench = load_bench(out)
    assert [r.run_id for r in bench.runs] == planned
    for info in bench.runs:
        steps = bench.steps[bench.steps.run_id == info.run_id]
        assert list(steps.step) == list(range(1, info.steps + 1))
        trajs = bench.trajectories[bench.trajectories.run_id == info.run_id]
        assert len(trajs) == info.steps * info.trajectories_per_step
        assert steps.fault_active.all() == (info.fault_type != "none")
    # the policy is partly competent: accuracy well between 0 and 1
    normal = bench.steps[bench.steps.fault_type == "none"]
    assert 0.15 < normal.task_accuracy.mean() < 0.9
    assert normal.kl.notna().all() and normal.entropy.notna().all() and normal.grad_norm.notna().all()
    st = bench_stats(bench)
    assert st["counts"]["normal_runs"] == 2 and st["counts"]["faulty_runs"] == 3


def _by_run(out):
    bench = load_bench(out, trajectories=False)
    return {rid: g for rid, g in bench.steps.groupby("run_id")}


def test_faults_leave_their_trace_vs_seed_matched_normal(smoke_bench):
    """The smoke faults share seed and hyperparameters with normal-s0."""
    runs = _by_run(smoke_bench[0])
    normal = runs["normal-s0"]
    ent = runs["entropy_collapse-easy-s0"]
    late = slice(4, None)
    assert ent.entropy.iloc[late].mean() < 0.7 * normal.entropy.iloc[late].mean()
    tce = runs["tool_call_error-easy-s0"]
    assert tce.tool_errors_per_traj.mean() > normal.tool_errors_per_traj.mean() + 0.2
    long = runs["length_too_long-hard-s0"]
    assert long.response_length_mean.mean() > normal.response_length_mean.mean() + 2
    assert long.long_ratio.mean() > normal.long_ratio.mean() + 0.15


def test_runner_checkpoint_resume_with_new_hyperparameters(tmp_path):
    import torch

    from faultwise.rft.runner import RunConfig, latest_checkpoint, run

    torch.set_num_threads(1)
    seen = []

    def listener(rec, trajs, control, controller):
        seen.append((rec.step, len(trajs), control is not None, controller.settings.learning_rate))

    cfg = RunConfig(run_id="r", seed=3, steps=6, prompts_per_step=2, group_size=4, save_every=3,
                    fault_type="reward_spike", strength="easy", onset_step=2)  # fmt: skip
    first = run(cfg, tmp_path, listeners=[listener])
    assert [s.step for s in first.steps] == [1, 2, 3, 4, 5, 6]
    assert seen == [(s, 8, True, 5e-4) for s in range(1, 7)]  # streamed live, one call per step
    assert [s.fault_active for s in first.steps] == [False, True, True, True, True, True]
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


def test_callback_can_stop_a_run_live(tmp_path):
    import torch

    from faultwise.rft.runner import RunConfig, run

    torch.set_num_threads(1)

    class StopAtTwo:
        def on_step_record(self, rec, trajs, control, controller):
            if rec.step == 2:
                control.should_training_stop = True

    from transformers import TrainerCallback

    class Cb(TrainerCallback, StopAtTwo):
        pass

    out = run(RunConfig(seed=4, steps=6, prompts_per_step=2, group_size=4), tmp_path, callbacks=[Cb()])
    assert [s.step for s in out.steps] == [1, 2]
    assert np.isfinite([s.reward_mean for s in out.steps]).all()
