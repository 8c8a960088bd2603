"""Remediation through an operator's levers only, and the bench's three arms (no training here; the loop on real
runs: test_fm_supervisor.py).

* An action cannot reach the fault: it changes declared configuration fields only, and the closed loop hands
  every attempt exactly the fault hooks the run's configuration builds, without reading, changing or following
  them (a spy injector records any access).
* The data filters decide from the sampled completion alone.
* The bench's verdicts: remediated only where doing nothing was not already within tolerance; environment faults
  in their own row.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from faultwise.rft.faultbench.config import FAULT_FIELDS, RunConfig
from faultwise.rft.faultbench.controller import filtered_out
from faultwise.rft.faultbench.faults import Injector, make_injector
from faultwise.rft.faultbench.policy import Rollout
from faultwise.rft.fm.remediate import bench as B
from faultwise.rft.fm.remediate.actions import RunCourse, generic_action, plan_action
from faultwise.rft.records import FAMILY_OF, FAULT_TYPES, StepRecord, TrajectoryRecord
from faultwise.rft.signals import extract_signals, in_loss_signals

# The declared configuration an operator may change (TRL / verl settings, filters, the fallback grader).
OPERATOR_LEVERS = {
    "learning_rate", "beta", "entropy_coef", "epsilon", "temperature", "max_completion_length", "scale_rewards",
    "reward_guard", "tool_retries", "drop_corrupted", "mask_truncated_completions", "drop_degenerate",
    "reward_fallback", "ref_sync_steps", "steps",
}  # fmt: skip


@pytest.mark.parametrize("planner", [plan_action, generic_action])
@pytest.mark.parametrize("fault", [*FAULT_TYPES, "unknown"])
def test_actions_change_declared_levers_only_and_leave_the_fault_in_place(planner, fault):
    from faultwise.rft.faultbench.runner import injectors_for

    cfg = RunConfig(fault_type="kl_explosion", strength="hard", onset_step=4)
    course = RunCourse(declared_steps=cfg.steps)
    for attempt in (1, 2, 3):
        act = planner(fault, cfg.model_dump(), attempt, course=course)
        assert set(act.changes) <= OPERATOR_LEVERS, act.changes
        assert act.changes.get("steps", cfg.steps) <= course.max_steps  # within the operator's step budget
        assert act.guards == []
        new = RunConfig.model_validate({**cfg.model_dump(), **act.changes})
        (inj,) = injectors_for(new)  # the same fault, same strength and onset, after any action
        assert (inj.fault_type, inj.strength, inj.onset_step) == ("kl_explosion", "hard", 4)


class _Spy(Injector):
    """A fault injector that records every attribute the remediation code reads or writes."""

    fault_type = "none"  # its hooks are the identity: the stand-in runner never calls them anyway

    def __init__(self, log: list[str]) -> None:
        object.__setattr__(self, "_log", log)
        super().__init__("easy", 1)

    def __getattribute__(self, name: str):
        if not name.startswith("__") and name != "_log":
            object.__getattribute__(self, "_log").append(f"read {name}")
        return object.__getattribute__(self, name)

    def __setattr__(self, name: str, value) -> None:
        self._log.append(f"write {name}")
        object.__setattr__(self, name, value)


@dataclass
class _Verdict:
    alarm: bool = True
    step: int = 3
    score: float = 9.0
    invariant: str | None = None
    rule: str | None = "stand-in"
    evidence: tuple = ()


@dataclass
class _Event:
    verdict: _Verdict


def _diagnosis(fault_type: str):
    from faultwise.rft.fm.diagnose.classifier import FaultDiagnosis

    return FaultDiagnosis(
        fault_type=fault_type, family=FAMILY_OF.get(fault_type, "unknown"), confidence=1.0, source="rules"
    )


def _stand_ins(monkeypatch, tmp_path: Path, diagnoses: list[str | None]):
    """A runner that records the hooks each attempt gets, and a monitor that diagnoses ``diagnoses[i]`` on
    attempt ``i`` (None: clean)."""
    from faultwise.rft.faultbench import policy, runner
    from faultwise.rft.fm import callback

    calls: list[dict] = []
    attempt = {"i": 0}

    class Monitor:
        def __init__(self) -> None:
            d = diagnoses[min(attempt["i"], len(diagnoses) - 1)]
            self.ignored: set[str] = set()
            self.first_alarm_step = 3 if d else None
            self.onset_estimate = 2 if d else None
            self.diagnosis = _diagnosis(d) if d else None

        def update_signals(self, step, signals):
            return None

        def ignore(self, signals):
            self.ignored = set(signals)

        def set_pace(self, from_step, rate):
            pass

    class CB:
        def __init__(self, model, stop_on_diagnosis=False, config=None, setup=None):
            self.monitor = Monitor()
            self.events = [_Event(_Verdict())] if self.monitor.diagnosis else []
            attempt["i"] += 1
            attempt["setup"] = setup

    def stand_in_run(
        cfg, workdir, callbacks=(), listeners=(), resume_from=None, injectors=None, cache_dir=None
    ):
        calls.append(
            {"cfg": cfg, "injectors": list(injectors), "resume_from": resume_from, "setup": attempt["setup"]}
        )
        return type("Out", (), {"policy": object(), "steps": [], "trajectories": []})()

    monkeypatch.setattr(callback, "FMCallback", CB)
    monkeypatch.setattr(runner, "run", stand_in_run)
    monkeypatch.setattr(runner, "checkpoints", lambda d: [(1, tmp_path / "ckpt-1")])
    monkeypatch.setattr(policy, "load_policy", lambda p: (object(), None))
    monkeypatch.setattr(policy, "warm_start", lambda cfg, cache_dir=None: tmp_path)
    return calls


@pytest.mark.parametrize(
    ("diagnosed", "status"),
    [("kl_explosion", "escalated"), ("reward_spike", "escalated"), ("tool_call_error", "stopped")],
)
def test_the_loop_never_reaches_the_fault_hooks(diagnosed, status, monkeypatch, tmp_path):
    """Every attempt gets exactly the hooks the run's configuration builds, nothing added after them, and the
    loop never reads or writes an injector. (Fails with ``use_guards=True``: the guards follow the fault.)"""
    from faultwise.rft.fm.remediate.supervisor import Supervisor

    calls = _stand_ins(monkeypatch, tmp_path, [diagnosed])
    log: list[str] = []
    built: list[list[Injector]] = []

    def factory(cfg: RunConfig) -> list[Injector]:
        built.append([_Spy(log)])
        log.clear()  # construction itself is not an access
        return built[-1]

    seen: list[set[str]] = []

    def planner(fault_type, settings, attempt, use_guards=False, course=None):
        seen.append(set(settings) | set(course.model_dump() if course else {}))
        return plan_action(fault_type, settings, attempt, use_guards=use_guards, course=course)

    cfg = RunConfig(run_id="r", steps=8, fault_type="kl_explosion", strength="easy", onset_step=1)
    sup = Supervisor(model=None, cache_dir=tmp_path, planner=planner).run(
        cfg, tmp_path / "w", injectors_factory=factory
    )
    assert sup.report.status == status
    assert seen and not any(keys & FAULT_FIELDS for keys in seen)  # the planner never sees the labels
    assert len(calls) == len(built) >= 1
    for call, hooks in zip(calls, built, strict=True):
        assert call["injectors"] == hooks and all(
            a is b for a, b in zip(call["injectors"], hooks, strict=True)
        )
    assert log == []  # nothing read or wrote the injector's state
    if diagnosed == "kl_explosion":  # two retries with the action's declared settings, then a stop
        # a KL explosion builds up before it is flagged: both retries start over from the first step
        assert len(calls) == 3 and calls[1]["resume_from"] is None and calls[2]["resume_from"] is None
        assert calls[2]["cfg"].learning_rate < calls[1]["cfg"].learning_rate < cfg.learning_rate
        # the model's applicability is judged on the operator's setup, not on the one the action changed
        assert all(c["setup"] == cfg.trainer_setup() for c in calls)
    if diagnosed == "reward_spike":  # the fallback grader again would repeat what failed: stop at once
        assert len(calls) == 2 and calls[1]["cfg"].reward_fallback
        assert calls[1]["resume_from"] is not None  # the first retry resumes from the healthy checkpoint


def test_the_guards_are_opt_in_and_then_follow_the_fault(monkeypatch, tmp_path):
    from faultwise.rft.fm.remediate.supervisor import Supervisor

    calls = _stand_ins(monkeypatch, tmp_path, ["reward_spike", None])
    cfg = RunConfig(run_id="r", steps=8, fault_type="reward_spike", strength="easy", onset_step=1)
    Supervisor(model=None, cache_dir=tmp_path, use_guards=True).run(cfg, tmp_path / "w")
    assert [type(i).__name__ for i in calls[1]["injectors"]] == ["RewardSpike", "RewardRangeGuard"]


def _rollout(ids: list[int], finished: bool, **kw) -> Rollout:
    return Rollout(
        prompt="p", prompt_ids=[1], completion_ids=ids, env_mask=[1] * len(ids), finished=finished, **kw
    )


def test_data_filters_decide_from_the_completion_alone():
    eos = 99
    normal = _rollout([5, 6, 7, eos], True)
    cut = _rollout([5, 6, 7, 8], False)
    empty = _rollout([eos], True)
    repeats = _rollout([5, 5, 5, 5, 5, eos], True)
    off = RunConfig()
    assert not any(filtered_out(r, off) for r in (normal, cut, empty, repeats))
    mask = RunConfig(mask_truncated_completions=True)
    assert [filtered_out(r, mask) for r in (normal, cut, empty, repeats)] == [False, True, False, False]
    degenerate = RunConfig(drop_degenerate=True)
    assert [filtered_out(r, degenerate) for r in (normal, cut, empty, repeats)] == [False, False, True, True]
    broken = _rollout([5, eos], True, tool_errors=1)
    assert filtered_out(broken, RunConfig(drop_corrupted=True)) and not filtered_out(broken, degenerate)


def _traj(
    i: int, reward: float, in_loss: bool, tool_calls: int = 0, tool_errors: int = 0
) -> TrajectoryRecord:
    return TrajectoryRecord.model_validate(
        {
            "step": 1, "index": i, "reward": reward, "correct": reward > 0.5, "response_length": 4,
            "advantage": 0.0, "return": reward, "repetition_ratio": 0.0, "unique_token_ratio": 1.0,
            "tool_calls": tool_calls, "tool_errors": tool_errors, "is_empty": not in_loss, "is_short": False,
            "is_long": False, "in_loss": in_loss,
        }
    )  # fmt: skip


def test_behind_a_filter_the_monitor_sees_what_the_update_trains_on():
    step = StepRecord(
        step=1, reward_mean=0.3, reward_std=0.5, tool_calls_per_traj=0.75, tool_errors_per_traj=0.25
    )
    kept = [_traj(0, 1.2, True, tool_calls=2, tool_errors=1), _traj(1, 0.2, True, tool_calls=1)]
    dropped = [_traj(2, 0.0, False), _traj(3, 0.0, False)]  # empty completions: no reward, no tool call
    view = in_loss_signals(kept + dropped)
    assert view["reward_mean"] == pytest.approx(0.7) and view["reward_std"] == pytest.approx(2**0.5 / 2)
    # the policy's tool use, not diluted by the completions the sampler cut to nothing
    assert view["tool_calls_per_traj"] == pytest.approx(1.5)
    assert view["tool_errors_per_traj"] == pytest.approx(0.5)
    signals = extract_signals(step, kept + dropped)
    assert signals["reward_mean"] == pytest.approx(0.7)
    assert signals["tool_calls_per_traj"] == pytest.approx(1.5)
    # nothing filtered (every healthy run): the logged values stand; everything filtered: nothing to judge
    assert in_loss_signals(kept) == {} and in_loss_signals(dropped) == {}
    for batch in (kept, dropped):
        assert extract_signals(step, batch)["reward_mean"] == 0.3
        assert extract_signals(step, batch)["tool_calls_per_traj"] == 0.75


def test_a_limited_bench_holds_every_family_and_the_scales_share_of_mid_run_onsets():
    from faultwise.rft.faultbench.scales import run_configs

    faulty = [c for c in run_configs("small", 6000) if c.fault_type != "none"]
    order = B.interleave_families(faulty)
    assert sorted(c.run_id for c in order) == sorted(c.run_id for c in faulty)  # a permutation
    share = sum(c.onset_step > 1 for c in faulty) / len(faulty)
    for n in (32, 36, 60):
        first = order[:n]
        assert {FAMILY_OF[c.fault_type] for c in first} == set(FAMILY_OF[c.fault_type] for c in faulty)
        assert {c.strength for c in first} == {"easy", "hard"}
        assert abs(sum(c.onset_step > 1 for c in first) / n - share) < 0.1


def test_a_resumed_bench_keeps_finished_runs_and_starts_unfinished_ones_afresh(monkeypatch, tmp_path):
    """An interrupted bench resumes: finished runs are read back, an unfinished run's leftovers (checkpoints an
    attempt wrote before the interruption) are cleared so they cannot pass for the new attempt's rollback
    points."""
    from faultwise.rft.faultbench.scales import run_configs

    first, second = B.interleave_families([c for c in run_configs("smoke", 0) if c.fault_type != "none"])[:2]
    done = _outcome("kl_explosion", none=0.0, generic=0.1, ours=0.68).model_copy(
        update={"run_id": first.run_id}
    )
    (tmp_path / "runs" / first.run_id).mkdir(parents=True)
    (tmp_path / "runs" / first.run_id / "outcome.json").write_text(done.model_dump_json())
    stale = tmp_path / "work" / second.run_id / "ours" / "attempt-0" / "trainer" / "checkpoint-30"
    stale.mkdir(parents=True)
    seen: list[tuple[str, bool]] = []

    def stand_in(cfg, model, work, n_eval=128, cache_dir=None):
        seen.append((cfg.run_id, (work / "ours").exists()))
        out = _outcome("reward_spike", none=0.7, generic=0.7, ours=0.7).model_copy(
            update={"run_id": cfg.run_id}
        )
        return out, {"ours": {}}

    monkeypatch.setattr(B, "remediate_one", stand_in)
    doc = B.remediation_bench(tmp_path, "smoke", 0, model=object(), limit=2)
    assert seen == [(second.run_id, False)]  # the finished run is not redone; the stale checkpoint is gone
    assert [r["run_id"] for r in doc["per_run"]] == [first.run_id, second.run_id]


def test_the_fallback_grader_takes_the_reward_hooks_off_its_path():
    """With the declared fallback grader, the rewards are the task's own; the other hook points still run."""
    from faultwise.rft.faultbench import task as T
    from faultwise.rft.faultbench.controller import BenchController

    problems = T.sample_problems(4, seed=1)
    texts = [f"<ans>{p.answer}</ans>" for p in problems[:2]] + ["<ans>0</ans>", ""]

    def rewards(cfg: RunConfig) -> np.ndarray:
        ctl = BenchController(cfg, [make_injector("reward_collapse", "easy", 1)])
        outcomes = [T.score(p, t) for p, t in zip(problems, texts, strict=True)]
        rollouts = [
            Rollout(prompt=p.prompt, prompt_ids=[1], text=t) for p, t in zip(problems, texts, strict=True)
        ]
        ctl.buffer = type(
            "Buf", (), {"step": 3, "outcomes": outcomes, "problems": problems, "rollouts": rollouts}
        )()
        return np.array(ctl.reward_func(["p"] * 4, texts))

    own = np.array([T.score(p, t).reward for p, t in zip(problems, texts, strict=True)])
    assert not np.allclose(rewards(RunConfig(group_size=4)), own)  # the primary grader is broken
    assert np.allclose(rewards(RunConfig(group_size=4, reward_fallback=True)), own)


def _arm(
    acc: float | None, status: str = "recovered", diagnosed: str | None = "kl_explosion", steps: int = 32
) -> B.ArmOutcome:
    return B.ArmOutcome(status=status, diagnosed=diagnosed, accuracy=acc, steps_trained=steps)


def _outcome(fault: str, none: float, generic: float, ours: float, free: float = 0.7) -> B.RemediationOutcome:
    tol = B.tolerance(free, 128)
    arms = {
        name: a.model_copy(update={"within_tolerance": a.accuracy >= free - tol})
        for name, a in (("none", _arm(none, "ran", None)), ("generic", _arm(generic)), ("ours", _arm(ours)))
    }
    return B.RemediationOutcome(
        run_id=f"{fault}-{none}-{ours}", fault_type=fault, family=FAMILY_OF[fault], strength="easy", onset_step=1,
        accuracy_fault_free=free, tolerance=tol, arms=arms, verdict=B.verdicts(arms),
    )  # fmt: skip


def test_a_run_doing_nothing_survives_is_never_a_success():
    fine = _outcome("reward_spike", none=0.69, generic=0.3, ours=0.7)
    assert fine.verdict == {"none": "already_fine", "generic": "already_fine", "ours": "already_fine"}
    fixed = _outcome("kl_explosion", none=0.0, generic=0.1, ours=0.68)
    assert fixed.verdict == {"none": "not_remediated", "generic": "not_remediated", "ours": "remediated"}
    # within tolerance is one-sided with at least 5 points of slack
    assert B.tolerance(0.7, 128) >= 0.05 and B.tolerance(0.7, 10_000) == 0.05
    assert (
        _outcome("kl_explosion", none=0.0, generic=0.0, ours=0.7 - B.tolerance(0.7, 128) - 0.01).verdict[
            "ours"
        ]
        == "not_remediated"
    )


def test_environment_faults_need_a_stop_naming_the_family():
    assert B.environment_verdict("stopped", "tool_call_error") == "stopped_named"
    assert B.environment_verdict("stopped", "termination_error") == "stopped_named"  # the family counts
    assert B.environment_verdict("stopped", "reward_spike") == "not_stopped_named"
    assert B.environment_verdict("recovered", "tool_call_error") == "not_stopped_named"
    assert B.environment_verdict("clean", None) == "not_stopped_named"


def test_summary_keeps_already_fine_runs_and_environment_faults_apart():
    env = B.RemediationOutcome(
        run_id="te", fault_type="tool_call_error", family="TE", strength="easy", onset_step=1,
        arms={"ours": _arm(0.2, "stopped", "tool_call_error")}, verdict={"ours": "stopped_named"},
    )  # fmt: skip
    longer = _outcome("kl_explosion", none=0.0, generic=0.1, ours=0.68)
    longer.arms["ours"].steps_trained = 64
    rows = [
        longer,
        _outcome("kl_explosion", none=0.0, generic=0.69, ours=0.2),
        _outcome("reward_spike", none=0.7, generic=0.7, ours=0.7),
        env,
    ]
    doc = B.summarise(rows)
    tf = doc["training_faults"]
    assert (tf["runs"], tf["already_fine"], tf["needing_remediation"]) == (3, 1, 2)
    assert tf["remediation_rate"] == {"none": 0.0, "generic": 0.5, "ours": 0.5}
    assert tf["within_tolerance_rate"] == {"none": 0.3333, "generic": 0.6667, "ours": 0.6667}
    assert tf["mean_steps_trained"] == {"none": 32.0, "generic": 32.0, "ours": 42.7}  # the compute beside
    assert doc["per_run"][0]["ours_steps"] == 64
    assert (
        tf["by_family"]["RF"]["needing_remediation"] == 0
        and tf["by_family"]["RF"]["remediation_rate"]["ours"] is None
    )
    assert doc["environment_faults"] == {"runs": 1, "stopped_with_family_named": 1, "rate": 1.0}
    assert doc["guards"] is False and len(doc["per_run"]) == 4
    assert doc["per_run"][3]["ours_verdict"] == "stopped_named" and "none_verdict" not in doc["per_run"][3]
