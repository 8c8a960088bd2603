import json
import math

import numpy as np
import pytest

from faultwise.cli import main
from faultwise.errors import InputError
from faultwise.rft.fm.detect.profile import fit_profile
from faultwise.rft.fm.readers import map_metrics, parse_console_line, read_log
from faultwise.rft.fm.watcher import watch
from faultwise.rft.signals import extract_signals

VERL = {
    "actor/entropy": 1.2,
    "actor/kl_loss": 0.01,
    "actor/pg_loss": -0.02,
    "actor/grad_norm": 0.8,
    "critic/score/mean": 0.55,
    "critic/rewards/mean": 0.5,
    "response_length/mean": 41.0,
    "actor/pg_clipfrac": 0.04,
    "actor/lr": 1e-6,
    "timing_s/step": 3.2,
}


def test_verl_jsonl_file_logger_and_flat_lines(tmp_path):
    p = tmp_path / "verl.jsonl"
    lines = [json.dumps({"step": i, "data": {**VERL, "actor/entropy": 1.2 - 0.1 * i}}) for i in range(1, 4)]
    lines.insert(1, '{"step": 9, "data": {broken')  # half-written line
    lines.append(json.dumps({"step": 4, **VERL}))  # flat variant
    p.write_text("\n".join(lines) + "\n")
    res = read_log(p)
    assert [r.step for r in res.steps] == [1, 2, 3, 4] and res.skipped_lines == 1
    r = res.steps[1]
    assert r.entropy == pytest.approx(1.0) and r.kl == 0.01 and r.policy_loss == -0.02 and r.grad_norm == 0.8
    assert r.reward_mean == 0.55  # score (before KL penalty) is preferred over rewards
    assert r.response_length_mean == 41.0 and r.clip_ratio == 0.04 and r.learning_rate == 1e-6
    assert r.wall_time_s == 3.2


def test_verl_console_lines(tmp_path):
    rec = parse_console_line(
        "(main_task pid=1) step:7 - actor/entropy:0.5 - critic/score/mean:0.25 - actor/kl_loss:nan"
    )
    assert rec.step == 7 and rec.entropy == 0.5 and rec.reward_mean == 0.25 and math.isnan(rec.kl)
    assert parse_console_line("Training Progress: 10%") is None
    p = tmp_path / "console.log"
    p.write_text(
        "starting...\nstep:1 - actor/entropy:1.0 - actor/kl_loss:0.0\nstep:2 - actor/entropy:0.9 - actor/kl_loss:0.01\n"
    )
    res = read_log(p)
    assert [r.entropy for r in res.steps] == [1.0, 0.9] and res.skipped_lines == 1


def test_trl_trainer_state(tmp_path):
    hist = [
        {
            "step": 1,
            "reward": 0.4,
            "reward_std": 0.3,
            "kl": 0.0,
            "entropy": 1.1,
            "loss": 0.01,
            "grad_norm": 0.5,
            "learning_rate": 1e-5,
            "completions/mean_length": 30.0,
            "completions/max_length": 60.0,
            "clip_ratio/region_mean": 0.0,
            "rewards/correctness/mean": 0.3,
        },
        {"step": 2, "reward": 0.5, "kl": 0.002, "entropy": 1.0},
        {"step": 2, "eval_loss": 0.3},
        {"step": 2, "train_runtime": 12.0, "train_loss": 0.1},
    ]
    d = tmp_path / "out" / "checkpoint-2"
    d.mkdir(parents=True)
    (d / "trainer_state.json").write_text(json.dumps({"global_step": 2, "log_history": hist}))
    res = read_log(tmp_path / "out")  # a run directory: the latest checkpoint's state
    assert [r.step for r in res.steps] == [1, 2]
    r1 = res.steps[0]
    assert r1.reward_mean == 0.4 and r1.reward_std == 0.3 and r1.policy_loss == 0.01
    assert r1.response_length_mean == 30.0 and r1.response_length_max == 60.0 and r1.clip_ratio == 0.0
    assert r1.model_extra["rewards_correctness_mean"] == 0.3
    assert res.steps[1].model_extra["eval_loss"] == 0.3


def test_tensorboard_events_openrlhf_names(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    w = SummaryWriter(log_dir=str(tmp_path / "tb"))
    for i in range(3):
        w.add_scalar("train/reward", 0.1 * i, i)
        w.add_scalar("train/kl", 0.01 * i, i)
        w.add_scalar("train/policy_loss", -0.1, i)
        w.add_scalar("train/response_length", 50 + i, i)
    w.close()
    res = read_log(tmp_path / "tb")
    assert res.format == "tensorboard" and [r.step for r in res.steps] == [0, 1, 2]
    assert res.steps[2].reward_mean == pytest.approx(0.2) and res.steps[2].kl == pytest.approx(0.02)
    assert res.steps[1].response_length_mean == 51


def test_plain_steps_jsonl(make_run, tmp_path):
    p = tmp_path / "steps.jsonl"
    p.write_text("".join(r.model_dump_json() + "\n" for r in make_run(1, steps=5)))
    res = read_log(tmp_path)
    assert len(res.steps) == 5 and res.steps[3].entropy == make_run(1, steps=5)[3].entropy


def test_bad_logs(tmp_path):
    with pytest.raises(InputError, match="log not found"):
        read_log(tmp_path / "nope.jsonl")
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(InputError, match="no training-step metrics"):
        read_log(tmp_path / "empty.jsonl")
    (tmp_path / "junk.log").write_text('hello\n[1, 2]\n{"no_step": 1}\n')
    with pytest.raises(InputError, match="3 unusable lines"):
        read_log(tmp_path / "junk.log")
    (tmp_path / "trainer_state.json").write_text('{"global_step": 3}')  # no log_history: not a TRL state
    with pytest.raises(InputError, match="no training-step metrics"):
        read_log(tmp_path / "trainer_state.json")
    (tmp_path / "d").mkdir()
    with pytest.raises(InputError, match="no steps.jsonl"):
        read_log(tmp_path / "d")


def _log(tmp_path, recs):
    p = tmp_path / "train.log"
    with open(p, "w") as fh:
        for r in recs:
            fh.write(
                json.dumps(
                    {
                        "step": r.step,
                        "data": {
                            "actor/entropy": r.entropy,
                            "actor/kl_loss": r.kl,
                            "critic/score/mean": r.reward_mean,
                            "actor/grad_norm": r.grad_norm,
                        },
                    }
                )
                + "\n"
            )
    return p


def test_watch_with_model_reports_alarm_and_diagnosis(make_run, tmp_path, capsys):
    from faultwise.rft.fm.model import FMModel, save_model

    normal = [[(s.step, extract_signals(s)) for s in make_run(seed)] for seed in range(20)]
    save_model(FMModel(profile=fit_profile(normal)), tmp_path / "m.json")
    p = _log(tmp_path, make_run(500, "entropy_collapse", "easy", onset=12))
    assert main(["rft", "watch", str(p), "--model", str(tmp_path / "m.json"), "--once"]) == 0
    out = capsys.readouterr().out
    assert "ALARM" in out and "DIAGNOSIS OD/entropy_collapse" in out
    first = int(out.split("step ")[1].split(":")[0])
    assert 12 <= first <= 14


def test_watch_without_model_catches_nan_and_self_calibrates(make_run, tmp_path):
    recs = make_run(501, "kl_explosion", "easy", onset=20)
    recs[5] = recs[5].model_copy(update={"kl": float("nan")})
    events = list(watch(_log(tmp_path, recs), None, follow=False))
    alarms = [e.verdict.step for e in events if e.verdict.alarm]
    assert alarms[0] == 5 and events[5].verdict.rule == "non_finite:kl"
    assert any(s >= 20 for s in alarms[1:])


def test_watch_follows_a_growing_file(make_run, tmp_path):
    import threading
    import time

    p = tmp_path / "grow.log"
    p.write_text("")
    recs = make_run(502, steps=6)

    def writer():
        with open(p, "a") as fh:
            for r in recs:
                fh.write(f"step:{r.step} - actor/entropy:{r.entropy} - actor/kl_loss:")
                fh.flush()
                time.sleep(0.02)
                fh.write(f"{r.kl}\n")
                fh.flush()

    t = threading.Thread(target=writer)
    t.start()
    events = list(watch(p, None, follow=True, poll_s=0.02, idle_timeout_s=0.5))
    t.join()
    assert [e.verdict.step for e in events] == list(range(6))


def test_watch_cli_bad_input(tmp_path, capsys):
    assert main(["rft", "watch", str(tmp_path / "missing.log"), "--once"]) == 2
    assert "log not found" in capsys.readouterr().err


# --- each tool's real format, written by our code the way the tool writes it ----------------------------


def test_verl_console_numpy2_ray_prefix_and_ansi(tmp_path):
    import numpy as np

    metrics = {
        "actor/pg_loss": np.float64(0.06),
        "actor/entropy": np.float64(0.4),
        "critic/kl": np.float64(0.01),
    }
    # verl's concat_dict_to_str: f"{k}:{v}" joined by " - ", after "step:N"
    body = " - ".join(f"{k}:{v!r}" for k, v in metrics.items())
    assert "np.float64(0.06)" in body  # numpy >= 2 repr (the test is about that format)
    p = tmp_path / "run.out"
    p.write_text(
        f"\x1b[36m(TaskRunner pid=7)\x1b[0m step:1 - {body}\n"
        "(TaskRunner pid=7) step:2 - actor/pg_loss:0.05 - actor/entropy:0.38 - critic/kl:0.02 - "
        "actor/ppo_kl:0.000 - val-core/openai/gsm8k/acc/mean@1:0.41\n"
    )
    res = read_log(p)
    assert [r.step for r in res.steps] == [1, 2]
    assert res.steps[0].policy_loss == 0.06 and res.steps[0].entropy == 0.4
    assert res.steps[1].kl == 0.02  # KL in the reward (critic/kl), not the update's ppo_kl
    assert res.steps[1].task_accuracy == 0.41


def test_trl_stdout_dict_lines_and_ppo_names(tmp_path):
    logs = [
        {"loss": 0.0, "grad_norm": 0.9, "reward": 0.5, "reward_std": 0.3, "kl": float("nan"), "epoch": 0.01},
        {"loss": 0.1, "grad_norm": 0.8, "reward": 0.6, "reward_std": 0.3, "kl": 0.001, "epoch": 0.02},
        {"eval_loss": 0.2, "epoch": 0.02},  # not a training step
    ]
    p = tmp_path / "stdout.txt"
    p.write_text("Loading...\n" + "".join(f"{d}\n" for d in logs))  # print(logs) as transformers does
    res = read_log(p)
    assert [r.step for r in res.steps] == [1, 2] and math.isnan(res.steps[0].kl)
    assert res.steps[1].reward_mean == 0.6 and res.steps[1].policy_loss == 0.1
    ppo = {"objective/scores": 1.5, "objective/kl": 0.2, "loss/policy_avg": -0.1, "policy/clipfrac_avg": 0.05}
    r = map_metrics(3, ppo)
    assert (r.reward_mean, r.kl, r.policy_loss, r.clip_ratio) == (1.5, 0.2, -0.1, 0.05)


@pytest.mark.parametrize("prefix", ["", "train/"])
def test_trl_tool_metrics_become_calls_and_errors_per_completion(prefix):
    # GRPOTrainer(tools=...) logs calls per completion and the share of those calls that failed
    r = map_metrics(4, {f"{prefix}tools/call_frequency": 1.5, f"{prefix}tools/failure_frequency": 0.4})
    assert r.tool_calls_per_traj == 1.5 and r.tool_errors_per_traj == pytest.approx(0.6)
    assert not any("failure_frequency" in k for k in r.model_extra or {})  # read, not kept twice


def test_a_trl_tool_that_starts_failing_mid_run_is_an_event_in_the_tool_family(tmp_path):
    """A GRPOTrainer(tools=...) run's trainer_state: from step 40 the tool fails most calls."""
    rng = np.random.default_rng(0)
    history = []
    for s in range(1, 61):
        history.append(
            {
                "step": s,
                "loss": float(rng.normal(0, 0.02)),
                "grad_norm": 0.3 + abs(float(rng.normal(0, 0.05))),
                "reward": 0.3 + 0.4 * (1 - math.exp(-s / 20)) + float(rng.normal(0, 0.03)),
                "reward_std": 0.3 + float(rng.normal(0, 0.02)),
                "kl": 0.001 * s + abs(float(rng.normal(0, 0.002))),
                "completions/mean_length": 100 + s + float(rng.normal(0, 3)),
                "tools/call_frequency": 1.0 + float(rng.normal(0, 0.05)),
                "tools/failure_frequency": (0.05 if s < 40 else 0.85) + float(rng.uniform(-0.02, 0.02)),
            }
        )
    p = tmp_path / "trainer_state.json"
    p.write_text(json.dumps({"log_history": history, "global_step": 60}))
    events = list(watch(p, None, follow=False))
    opened = [e.opened for e in events if e.opened is not None]
    assert len(opened) == 1 and 40 <= opened[0].opened_step <= 43
    assert opened[0].signals[0] == "tool_errors_per_traj"
    assert opened[0].diagnosis is not None and opened[0].diagnosis.family == "TE"


def test_ms_swift_logging_jsonl(tmp_path):
    line = {
        "loss": -0.03,
        "grad_norm": 0.006,
        "reward": 1.5,
        "kl": float("nan"),
        "global_step/max_steps": "300/1296",
    }
    p = tmp_path / "logging.jsonl"
    p.write_text(json.dumps(line) + "\n")  # json.dumps writes NaN, as ms-swift's logger does
    res = read_log(p)
    assert res.steps[0].step == 300 and res.max_steps == 1296 and math.isnan(res.steps[0].kl)


def test_trainer_state_under_any_name_and_tensorboard_run_folder(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    hist = [
        {"step": s, "reward": 0.1 * s, "loss": 0.01, "completions/mean_length": 20.0 + s} for s in (5, 10)
    ]
    p = tmp_path / "training_logs.json"
    p.write_text(json.dumps({"global_step": 10, "max_steps": 50, "log_history": hist}, indent=2))
    res = read_log(p)
    assert (
        res.format == "trl_trainer_state" and [r.step for r in res.steps] == [5, 10] and res.max_steps == 50
    )
    run = tmp_path / "out" / "runs" / "Dec01_14-15-34_host"  # TRL's default logging_dir layout
    w = SummaryWriter(log_dir=str(run))
    for s in (5, 10):
        w.add_scalar("train/reward", 0.1 * s, s)
        w.add_scalar("train/completions/mean_length", 20.0 + s, s)
        w.add_scalar("train/clip_ratio/region_mean", 0.01, s)
    w.close()
    tb = read_log(tmp_path / "out")
    assert tb.format == "tensorboard" and [r.step for r in tb.steps] == [5, 10]
    assert tb.steps[1].response_length_mean == 30.0 and tb.steps[1].clip_ratio == pytest.approx(0.01)
    ev = next((tmp_path / "out").glob("**/events.out.tfevents*"))
    renamed = tmp_path / "events.bin"
    renamed.write_bytes(ev.read_bytes())  # recognised by content, not name
    assert read_log(renamed).format == "tensorboard"


def test_watch_cli_no_readable_step_is_an_error(tmp_path, capsys):
    p = tmp_path / "out.log"
    p.write_text("Loading model...\nepoch 1 done\n")
    assert main(["rft", "watch", str(p), "--once"]) == 2
    err = capsys.readouterr().err
    assert "no training-step metrics" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "config_line",
    [
        "(TaskRunner pid=7) {'data': {'max_prompt_length': 512, 'max_response_length': 100, 'train_batch_size': 8}}",
        "python3 -m verl.trainer.main_ppo data.max_response_length=100 actor_rollout_ref.rollout.n=5",
        "GRPOConfig(output_dir='out', max_completion_length=100, num_generations=8)",
    ],
)
def test_a_length_limit_the_log_prints_is_the_runs_limit(config_line, tmp_path):
    """verl prints its config (hydra dump, command-line overrides), TRL its arguments: the length limit is taken
    from there, and a run whose mean length then sits on the limit breaks the length invariant."""
    steps = "".join(
        f"step:{s} - actor/entropy:{0.5 - 0.01 * s} - critic/score/mean:{0.2 + 0.01 * s}"
        f" - response_length/mean:{60 + s if s < 12 else 100}\n"
        for s in range(1, 20)
    )
    declared = tmp_path / "declared.log"
    declared.write_text(config_line + "\n" + steps)
    silent = tmp_path / "silent.log"
    silent.write_text(steps)
    assert read_log(declared).max_response_length == 100 and read_log(silent).max_response_length is None
    rules = [ev.verdict.rule for ev in watch(declared, follow=False) if ev.verdict.alarm]
    assert rules and rules[0].startswith("length_at_limit")
    assert not any(ev.verdict.alarm for ev in watch(silent, follow=False))
    # a limit the user gives wins over the printed one
    from faultwise.rft.fm.detect.selfref import SelfRefConfig

    given = SelfRefConfig(max_response_length=1000)
    assert not any(ev.verdict.alarm for ev in watch(declared, follow=False, config=given))
