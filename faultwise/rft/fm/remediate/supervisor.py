"""The closed loop around ``GRPOTrainer.train(resume_from_checkpoint=...)``: detect, diagnose, roll back, fix,
verify, escalate.

Built on the FaultBench runner (:func:`faultwise.rft.faultbench.run`), which checkpoints every ``save_every``
steps and resumes from a checkpoint with changed settings. A checkpoint is *healthy* when it was saved before
the fault's estimated onset — where the first alarm's top signals started to drift, by their CUSUM — and at
least two steps before the first alarm (a checkpoint taken on the alarm's doorstep may already hold the
fault's first update); a retry's checkpoint counts only if it was also saved before the *original* run's limit
(every attempt runs the same fault hooks, so a retry's later steps trained with the fault acting, whenever the
retry's own alarm came); the first retry resumes from the last one (from the first step for an action that
says its fault builds up before it is flagged, ``Action.from_first_step``). Recovery is verified by the same monitor, with the same model, on the steps after the
rollback, leaving out the signals the actions taken *tolerate* (symptoms they work around: a data filter's
degenerate samples, a damped credit signal) and those an opt-in guard rewrites; behind a data filter it reads
the reward of the completions that entered the loss. A retry at a lower learning rate is judged at its training
progress (:meth:`~faultwise.rft.fm.monitor.FailureMonitor.set_pace`: at half the rate, a step after the rollback
counts for half a step of the profile), so a run slowed on purpose is not flagged for lagging behind normal runs
of the same step count. A new diagnosis there starts the next attempt, which
starts over from the run's first step (the rollback point may itself have held the fault) and compounds the
first attempt's changes; if it would change nothing, or after two failed attempts, the loop escalates — it
stops, keeps the last healthy checkpoint and reports why. A retry that trained through a vanished update
(``Action.verify_updates``) counts as recovered only if some update went through after the alarm.

The loop changes only the run's declared configuration (see :mod:`faultwise.rft.fm.remediate.actions`): every
attempt runs the same fault hooks, built afresh from the run's configuration, and nothing after them unless
``use_guards`` is set (an opt-in product feature; on FaultBench a guard undoes the injector, so no headline
figure uses it).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from faultwise.rft.faultbench.config import RunConfig
from faultwise.rft.faultbench.faults import Injector
from faultwise.rft.fm.detect.detector import StepVerdict
from faultwise.rft.fm.detect.selfref import SelfRefConfig
from faultwise.rft.fm.diagnose.classifier import FaultDiagnosis
from faultwise.rft.fm.model import FMModel
from faultwise.rft.fm.remediate.actions import (
    MAX_VALID_REWARD,
    Action,
    RunCourse,
    plan_action,
    vanished_update_stop,
)
from faultwise.rft.records import StepRecord
from faultwise.rft.signals import extract_signals

if TYPE_CHECKING:
    from transformers import LlamaForCausalLM


class AttemptReport(BaseModel):
    """One attempt of a supervised run: where it started, what it changed, what the monitor saw."""

    attempt: int = Field(description="0 = the original run; 1, 2 = remediation attempts")
    resumed_from_step: int | None = Field(
        None, description="checkpoint step it restarted from (None: step 0)"
    )
    settings_changed: dict[str, Any] = Field(default_factory=dict)
    guards: list[str] = Field(default_factory=list)
    first_alarm_step: int | None = None
    diagnosis: FaultDiagnosis | None = None
    last_step: int | None = None


class AlarmMark(BaseModel):
    """An alarm, compact, for reports and curves."""

    step: int
    attempt: int
    score: float
    invariant: str | None
    rule: str | None = None
    top_signal: str | None = None


class SupervisionReport(BaseModel):
    """What the closed loop did with a run: its status, attempts, actions, alarms and final state."""

    run_id: str
    status: Literal["clean", "recovered", "stopped", "escalated"]
    attempts: list[AttemptReport]
    actions: list[Action]
    alarms: list[AlarmMark]
    stop_cause: str | None = None
    final_checkpoint: str | None = Field(None, description="weights the run ends with (None: the live model)")
    final_settings: dict[str, Any]
    diagnosis: FaultDiagnosis | None = Field(None, description="the first diagnosis (what went wrong)")

    def summary(self) -> str:
        """A few human lines: status, each attempt, each action, the stop cause."""
        lines = [f"run {self.run_id}: {self.status}"]
        for a in self.attempts:
            d = a.diagnosis
            what = f"{d.family}/{d.fault_type} ({d.confidence:.2f})" if d else "no fault"
            lines.append(
                f"  attempt {a.attempt} from step {a.resumed_from_step or 0}: first alarm "
                f"{a.first_alarm_step}, diagnosis {what}"
            )
        for act in self.actions:
            lines.append(
                f"  action {act.attempt}: {act.kind} {act.changes or ''} guards={act.guards} — {act.rationale}"
            )
        if self.stop_cause:
            lines.append(f"  STOPPED: {self.stop_cause}")
        return "\n".join(lines)


@dataclass
class Supervised:
    """The outcome of a supervised run: the report, the policy it ends with, the records of its lineage."""

    report: SupervisionReport
    model: LlamaForCausalLM | None  # the policy the run ends with (live model or reloaded healthy checkpoint)
    steps: list[StepRecord]  # the final lineage


@dataclass
class _Trail:
    """What the loop has done so far: the report's attempts, actions and alarms."""

    attempts: list[AttemptReport] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    alarms: list[AlarmMark] = field(default_factory=list)


InjectorsFactory = Callable[[RunConfig], list[Injector]]
Planner = Callable[..., Action]
"""``planner(fault_type, settings, attempt, use_guards=..., course=...)`` -> the :class:`Action` to take
(:func:`~faultwise.rft.fm.remediate.actions.plan_action`, or the control
:func:`~faultwise.rft.fm.remediate.actions.generic_action`)."""


class Supervisor:
    """Runs a :class:`RunConfig` under the failure manager: detect, diagnose, roll back, fix, verify, escalate.

    Args:
        model: the fitted failure-manager model.
        save_every: checkpoint spacing in steps (the rollback points).
        max_attempts: remediation attempts before the loop escalates.
        cache_dir: warm-start cache (default ``$FAULTWISE_CACHE/rft``).
        planner: the action per diagnosis (default :func:`plan_action`: operator levers only).
        use_guards: also switch on the actions' pipeline guards (opt-in; an oracle on FaultBench).
        max_steps_factor: the operator's compute budget: a remediated run trains at most this many times its
            declared steps (a vanished update is trained through on a run that long).

    Example::

        sup = Supervisor(load_model("model.json")).run(RunConfig(fault_type="kl_explosion", strength="easy"), "w")
        print(sup.report.summary())
    """

    def __init__(
        self,
        model: FMModel,
        save_every: int = 2,
        max_attempts: int = 2,
        cache_dir: str | Path | None = None,
        planner: Planner = plan_action,
        use_guards: bool = False,
        max_steps_factor: float = 2.0,
    ) -> None:
        self.model = model
        self.max_steps_factor = max_steps_factor
        self.planner = planner
        self.use_guards = use_guards
        self.save_every = save_every
        self.max_attempts = max_attempts
        self.cache_dir = cache_dir

    def run(
        self, cfg: RunConfig, workdir: str | Path, injectors_factory: InjectorsFactory | None = None
    ) -> Supervised:
        """Supervise ``cfg`` in ``workdir``; ``injectors_factory(settings)`` gives each attempt's fault hooks
        (default: the fault ``cfg`` names)."""
        from faultwise.rft.faultbench.runner import checkpoints, injectors_for, run
        from faultwise.rft.fm.callback import FMCallback
        from faultwise.rft.fm.remediate.guards import make_guards, rewritten_signals

        workdir = Path(workdir)
        cur = cfg.model_copy(update={"save_every": self.save_every})
        history: dict[int, tuple[dict[str, float], Any]] = {}  # step -> (signals, record)
        healthy: list[tuple[int, Path]] = []
        trail = _Trail()
        actions = trail.actions
        course = RunCourse(declared_steps=cfg.steps, max_steps_factor=self.max_steps_factor)
        resume: tuple[int, Path] | None = None
        guards: list[str] = []
        tolerated: set[str] = set()  # signals the actions taken so far work around (verification skips them)
        alarmed_at = 0  # first alarm step of the attempt that led to the last action
        first_limit = math.inf  # the original run's fault-free limit (see fault_free_limit)
        attempt = 0
        while True:
            adir = workdir / f"attempt-{attempt}"
            # the model's applicability is judged on the operator's own setup, not on the one an action changed
            cb = FMCallback(
                self.model,
                stop_on_diagnosis=True,
                config=self._monitor_config(cur),
                setup=cfg.trainer_setup(),
            )
            rollback_step = resume[0] if resume else None  # None: the attempt starts from the first step
            cb.monitor.ignore(rewritten_signals(guards) | tolerated)
            # a changed learning rate changes the pace of training: the profile judges progress, not step count
            cb.monitor.set_pace(rollback_step or 0, cur.learning_rate / cfg.learning_rate)
            history = {s: v for s, v in history.items() if rollback_step is not None and s <= rollback_step}
            for step in sorted(history):  # the monitor's state as it was at the rollback point
                cb.monitor.update_signals(step, history[step][0])

            def keep(rec, trajs, control, controller, _h=history):
                _h[rec.step] = (extract_signals(rec, trajs), rec)

            faults = injectors_factory(cur) if injectors_factory else injectors_for(cur)
            out = run(
                cur,
                adir,
                callbacks=[cb],
                listeners=[keep],
                resume_from=resume[1] if resume else None,
                injectors=faults + make_guards(guards, cur, MAX_VALID_REWARD),
                cache_dir=self.cache_dir,
            )
            mon = cb.monitor
            trail.alarms += [_mark(ev.verdict, attempt) for ev in cb.events if ev.verdict.alarm]
            rep = AttemptReport(
                attempt=attempt,
                resumed_from_step=rollback_step,
                settings_changed=actions[-1].changes if actions else {},
                guards=list(guards),
                first_alarm_step=mon.first_alarm_step,
                diagnosis=mon.diagnosis,
                last_step=max(history) if history else None,
            )
            trail.attempts.append(rep)
            # healthy: saved before the fault's estimated onset (where the alarm's signals started to drift, by
            # CUSUM) and at least two steps before the first alarm
            limit = fault_free_limit(mon.first_alarm_step, mon.onset_estimate)
            if attempt == 0:
                first_limit = limit
            # every attempt runs the same fault hooks and an action only works around them: a retry's step past
            # the original run's limit trained with the fault acting, whenever the retry's own alarm came
            limit = min(limit, first_limit)
            healthy += [
                (s, p)
                for s, p in checkpoints(adir)
                if s < limit and (rollback_step is None or s > rollback_step)
            ]
            # the steps since the alarm that led to the last action (before it the updates went through)
            since_alarm = {s: v for s, v in history.items() if s >= alarmed_at}
            if (
                mon.diagnosis is None
                and actions
                and actions[-1].verify_updates
                and lost_update_share(since_alarm) == 1
            ):
                # trained through a vanished update, and none went through: stop at the rollback point
                healthy = [(s, p) for s, p in healthy if rollback_step is not None and s <= rollback_step]
                stop = vanished_update_stop(attempt + 1)
                actions.append(stop)
                return self._stopped(cfg, cur, trail, "stopped", stop.cause, healthy, history)
            if mon.diagnosis is None:
                status = "clean" if attempt == 0 else "recovered"
                return self._done(cfg, cur, trail, status, None, None, out.policy, history)
            attempt += 1
            alarmed_at = mon.first_alarm_step if mon.first_alarm_step is not None else 0
            settings = cur.operator_settings()  # as the earlier tries left them (a second try compounds)
            fault = mon.diagnosis.fault_type
            act = self.planner(
                fault,
                settings,
                attempt if attempt <= self.max_attempts else 99,
                use_guards=self.use_guards,
                course=course,
            )
            if act.kind == "retrain" and all(settings.get(k) == v for k, v in act.changes.items()):
                # the same try again would only repeat what failed: escalate
                act = self.planner(fault, settings, 99, use_guards=self.use_guards, course=course)
            actions.append(act)
            if act.kind == "stop":
                status = "escalated" if "persisted" in (act.cause or "") else "stopped"
                return self._stopped(cfg, cur, trail, status, act.cause, healthy, history)
            # the earlier tries' changes stay in cur, so a second try compounds; validated, unlike model_copy
            cur = RunConfig.model_validate({**cur.model_dump(), **act.changes})
            guards = sorted(set(guards) | set(act.guards))
            tolerated |= set(act.tolerates)
            # A failed retry means the rollback point itself may hold the fault (detected late, or drifting
            # since before the estimated onset): the second try starts over from the run's first step, and so
            # does the first for a fault that builds up before it is flagged (Action.from_first_step).
            resume = _last(healthy) if attempt == 1 and not act.from_first_step else None

    def _stopped(
        self,
        cfg: RunConfig,
        cur: RunConfig,
        trail: _Trail,
        status: str,
        cause: str | None,
        healthy: list[tuple[int, Path]],
        history: dict[int, tuple[dict[str, float], StepRecord]],
    ) -> Supervised:
        """Stop, keeping the last healthy checkpoint (or the warm start) and the records of its lineage."""
        from faultwise.rft.faultbench.policy import load_policy, warm_start

        point = _last(healthy)
        final, _ = load_policy(point[1] if point else warm_start(cur.policy_config(), self.cache_dir))
        hist = {s: v for s, v in history.items() if point is not None and s <= point[0]}
        ckpt = str(point[1]) if point else "warm-start"
        return self._done(cfg, cur, trail, status, cause, ckpt, final, hist)

    def _monitor_config(self, cfg: RunConfig) -> SelfRefConfig:
        """The monitor's constants (the model's), with the run's declared reward range."""
        base = (self.model.selfref if self.model is not None else None) or SelfRefConfig()
        return base.with_declared(reward_range=cfg.reward_range)

    def _done(
        self,
        cfg: RunConfig,
        cur: RunConfig,
        trail: _Trail,
        status: str,
        cause: str | None,
        ckpt: str | None,
        model: LlamaForCausalLM | None,
        history: dict[int, tuple[dict[str, float], StepRecord]],
    ) -> Supervised:
        rep = SupervisionReport(
            run_id=cfg.run_id,
            status=status,
            attempts=trail.attempts,
            actions=trail.actions,
            alarms=trail.alarms,
            stop_cause=cause,
            final_checkpoint=ckpt,
            final_settings=cur.model_dump(),
            diagnosis=next((a.diagnosis for a in trail.attempts if a.diagnosis), None),
        )
        return Supervised(rep, model, [history[s][1] for s in sorted(history)])


def fault_free_limit(first_alarm_step: int | None, onset_estimate: int | None) -> float:
    """Checkpoints saved before this step hold no update of the fault an attempt alarmed on: the fault's
    estimated onset, and at least two steps before the first alarm (one taken on the alarm's doorstep may hold
    the fault's first update); no bound where nothing alarmed."""
    if first_alarm_step is None:
        return math.inf
    limit = first_alarm_step - 1
    return min(limit, onset_estimate) if onset_estimate is not None else limit


def _last(checkpoints: list[tuple[int, Path]]) -> tuple[int, Path] | None:
    """The latest of ``(step, path)`` checkpoints (None: there is none)."""
    return max(checkpoints, key=lambda sp: sp[0]) if checkpoints else None


def lost_update_share(history: dict[int, tuple[dict[str, float], Any]]) -> float | None:
    """Share of the logged steps of ``history`` whose update vanished (gradient norm exactly 0); None where no
    gradient norm was logged."""
    norms = [sig["grad_norm"] for sig, _ in history.values() if "grad_norm" in sig]
    return sum(g == 0.0 for g in norms) / len(norms) if norms else None


def _mark(v: StepVerdict, attempt: int) -> AlarmMark:
    return AlarmMark(
        step=v.step,
        attempt=attempt,
        score=v.score if math.isfinite(v.score) else 1e9,
        invariant=v.invariant,
        rule=v.rule,
        top_signal=v.evidence[0].signal if v.evidence else None,
    )


def heldout_accuracy(
    model: LlamaForCausalLM, n_problems: int = 128, seed: int = 20_260_101, temperature: float = 0.5
) -> float:
    """True task accuracy of a policy on fixed held-out problems, with a healthy tool (what the task needs)."""
    import numpy as np
    import torch

    from faultwise.rft.faultbench import task as T
    from faultwise.rft.faultbench.policy import SamplingParams, sample_rollouts

    problems = T.sample_problems(n_problems, seed=seed)
    model.eval()
    with torch.no_grad():
        rollouts = sample_rollouts(
            model,
            [p.prompt for p in problems],
            SamplingParams(temperature=temperature),
            np.random.default_rng(seed),
        )
    return float(np.mean([T.score(p, r.text).correct for p, r in zip(problems, rollouts, strict=True)]))
