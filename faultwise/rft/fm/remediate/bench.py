"""``faultwise rft bench remediate``: faulty runs under three arms in the same bench, scored on true accuracy.

For every faulty run of the scale (seeds from ``--seed``), three arms are trained from the same configuration:

* ``none`` — no remediation (the faulty run as it is);
* ``generic`` — the closed loop with a generic action: on any diagnosis, roll back and halve the learning rate;
* ``ours`` — the closed loop with the diagnosis' action (:func:`~faultwise.rft.fm.remediate.actions.plan_action`:
  the run's declared configuration, a rollback, the declared fallback reward function, data filters, a stop).

and the seed-matched fault-free run (same seed and hyperparameters, no fault). Every final policy is scored on
the same held-out problems with a healthy tool. An arm is *within tolerance* when its accuracy is not
significantly below the fault-free run's (one-sided, 95 %, two-proportion normal approximation, at least 5 points
of slack). A run is *remediated* by an arm only when that arm is within tolerance **and** ``none`` is not; runs
where ``none`` was already within tolerance are counted apart (``already_fine``), never as successes.
A run the monitor never flags is trained once: the three arms are then the same run (nothing was changed).

Environment faults (TE: the tool or the episode boundary is broken) cannot be trained around: for them only
``ours`` is run, and success means the run was stopped with the environment family named; they have their own
row and are not in the remediation rate (``none`` never stops and ``generic`` never names a family, by
construction, so those two arms are not trained for them).
No arm uses the opt-in pipeline guards: nothing runs after, reads or undoes the fault's hooks.
Without ``--model``, the scale's normal runs are generated first and a profile is fitted on them (fingerprint
rules diagnose, no learned classifier) — a weaker, self-contained setting.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable, Sequence
from itertools import zip_longest
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from faultwise.errors import InputError
from faultwise.io import atomic_write_text
from faultwise.rft.faultbench.config import RunConfig
from faultwise.rft.faultbench.scales import SCALES, check_base_seed
from faultwise.rft.fm.model import FMModel
from faultwise.rft.records import FAMILY_OF

ARMS: tuple[str, ...] = ("none", "generic", "ours")
Verdict = Literal["remediated", "not_remediated", "already_fine"]


class ArmOutcome(BaseModel):
    """One arm of a faulty run: what the loop did and the final policy's true accuracy."""

    model_config = ConfigDict(extra="forbid")

    status: str = Field(
        description="none: ran; else the loop's status (clean, recovered, stopped, escalated)"
    )
    diagnosed: str | None = Field(None, description="the monitor's first online diagnosis (fault type)")
    stop_cause: str | None = Field(None, description="the named cause when the loop stopped")
    accuracy: float | None = Field(None, ge=0, le=1, description="held-out true accuracy of the final policy")
    within_tolerance: bool | None = Field(
        None, description="accuracy >= fault-free accuracy - tolerance (None for environment faults)"
    )
    same_run_as: str | None = Field(
        None, description="the arm whose training this arm shares (the monitor never flagged the run)"
    )
    steps_trained: int | None = Field(
        None,
        description="optimizer steps the arm trained, over all its attempts (its compute; an action may "
        "lengthen a run within the operator's step budget)",
    )


class RemediationOutcome(BaseModel):
    """One faulty run under the three arms, its fault-free twin, and the verdicts."""

    model_config = ConfigDict(extra="forbid")

    run_id: str
    fault_type: str
    family: str
    strength: str
    onset_step: int
    accuracy_fault_free: float | None = Field(
        None, description="the seed-matched fault-free run (not for TE)"
    )
    tolerance: float | None = Field(None, description="accuracy slack below the fault-free run (not for TE)")
    arms: dict[str, ArmOutcome] = Field(description="none, generic, ours (TE: ours only)")
    verdict: dict[str, str] = Field(
        description="per arm: remediated | not_remediated | already_fine; TE: stopped_named | not_stopped_named"
    )

    @property
    def environment(self) -> bool:
        """An environment (TE) fault: judged on the stop and the named family, not on accuracy."""
        return self.family == "TE"


def tolerance(p_ref: float, n: int) -> float:
    """How far below the fault-free accuracy ``p_ref`` (on ``n`` problems) still counts as recovered."""
    return max(0.05, 1.645 * math.sqrt(max(2 * p_ref * (1 - p_ref), 1e-9) / n))


def verdicts(arms: dict[str, ArmOutcome]) -> dict[str, Verdict]:
    """Per arm: ``already_fine`` when doing nothing was within tolerance, else whether the arm was."""
    if arms["none"].within_tolerance:
        return {a: "already_fine" for a in arms}
    return {a: "remediated" if o.within_tolerance else "not_remediated" for a, o in arms.items()}


def environment_verdict(status: str, diagnosed: str | None) -> str:
    """An environment fault is handled when the run was stopped with the environment family named."""
    ok = status == "stopped" and diagnosed is not None and FAMILY_OF.get(diagnosed) == "TE"
    return "stopped_named" if ok else "not_stopped_named"


def _normal_profile_model(cfgs: Sequence[RunConfig], out: Path, cache_dir: str | Path | None) -> FMModel:
    from faultwise.rft.faultbench.runner import run
    from faultwise.rft.fm.detect.profile import fit_profile
    from faultwise.rft.signals import extract_signals

    normal = []
    for cfg in cfgs:
        res = run(cfg, out / "normal" / cfg.run_id, cache_dir=cache_dir)
        by: dict[int, list] = {}
        for t in res.trajectories:
            by.setdefault(t.step, []).append(t)
        normal.append([(s.step, extract_signals(s, by.get(s.step))) for s in res.steps])
    setups = [cfg.trainer_setup() for cfg in cfgs]
    return FMModel(profile=fit_profile(normal, setups=setups), fitted_on=f"normal runs under {out}")


def _supervised_arm(sup: Any, n_eval: int) -> tuple[ArmOutcome, Any]:
    from faultwise.rft.fm.remediate.supervisor import heldout_accuracy

    rep = sup.report
    arm = ArmOutcome(
        status=rep.status,
        diagnosed=rep.diagnosis.fault_type if rep.diagnosis else None,
        stop_cause=rep.stop_cause,
        accuracy=heldout_accuracy(sup.model, n_eval),
        steps_trained=sum((a.last_step or 0) - (a.resumed_from_step or 0) for a in rep.attempts),
    )
    return arm, rep


def remediate_one(
    cfg: RunConfig,
    model: FMModel,
    work: Path,
    n_eval: int = 128,
    cache_dir: str | Path | None = None,
) -> tuple[RemediationOutcome, dict[str, Any]]:
    """The three arms (TE: ``ours`` only) and the fault-free twin of one faulty run; the outcome and the
    supervision reports of the closed-loop arms."""
    from faultwise.rft.faultbench.runner import run
    from faultwise.rft.fm.remediate.actions import generic_action, plan_action
    from faultwise.rft.fm.remediate.supervisor import Supervisor, heldout_accuracy

    family = FAMILY_OF[cfg.fault_type]
    base = {
        "run_id": cfg.run_id,
        "fault_type": cfg.fault_type,
        "family": family,
        "strength": cfg.strength,
        "onset_step": cfg.onset_step,
    }
    ours, rep_ours = _supervised_arm(
        Supervisor(model, cache_dir=cache_dir, planner=plan_action).run(cfg, work / "ours"), n_eval
    )
    reports = {"ours": rep_ours.model_dump(mode="json")}
    if family == "TE":
        verdict = {"ours": environment_verdict(ours.status, ours.diagnosed)}
        return RemediationOutcome(**base, arms={"ours": ours}, verdict=verdict), reports
    if ours.status == "clean":  # never flagged: no arm changed anything, one training stands for all three
        generic = ours.model_copy(update={"same_run_as": "ours"})
        none = ArmOutcome(
            status="ran", accuracy=ours.accuracy, same_run_as="ours", steps_trained=ours.steps_trained
        )
    else:
        generic, rep_gen = _supervised_arm(
            Supervisor(model, cache_dir=cache_dir, planner=generic_action).run(cfg, work / "generic"), n_eval
        )
        reports["generic"] = rep_gen.model_dump(mode="json")
        plain = run(cfg, work / "none", cache_dir=cache_dir)
        none = ArmOutcome(
            status="ran", accuracy=heldout_accuracy(plain.policy, n_eval), steps_trained=len(plain.steps)
        )
    free_cfg = cfg.model_copy(
        update={"run_id": cfg.run_id + "-free", "fault_type": "none", "strength": "none", "onset_step": 0}
    )
    acc_free = heldout_accuracy(run(free_cfg, work / "fault_free", cache_dir=cache_dir).policy, n_eval)
    tol = tolerance(acc_free, n_eval)
    arms = {
        name: arm.model_copy(update={"within_tolerance": arm.accuracy >= acc_free - tol})
        for name, arm in (("none", none), ("generic", generic), ("ours", ours))
    }
    out = RemediationOutcome(
        **base, accuracy_fault_free=acc_free, tolerance=tol, arms=arms, verdict=verdicts(arms)
    )
    return out, reports


def remediation_bench(
    out: str | Path,
    scale: str = "smoke",
    seed: int = 0,
    model: FMModel | None = None,
    n_eval: int = 128,
    cache_dir: str | Path | None = None,
    limit: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the scale's faulty runs (seeds from ``seed``) under the three arms, and their fault-free twins;
    write each outcome under ``out`` (resumable) and return the summary document."""
    from faultwise.rft.faultbench.scales import run_configs

    if scale not in SCALES:
        raise InputError("scale", f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    check_base_seed(seed)
    out = Path(out)
    cfgs = run_configs(scale, seed)
    faulty = interleave_families([c for c in cfgs if c.fault_type != "none"])
    if limit is not None:
        faulty = faulty[:limit]
    if model is None:
        model = _normal_profile_model([c for c in cfgs if c.fault_type == "none"], out, cache_dir)
    results: list[RemediationOutcome] = []
    for cfg in faulty:
        done = out / "runs" / cfg.run_id / "outcome.json"
        if done.is_file():  # resumable: a finished run is never redone
            results.append(RemediationOutcome.model_validate_json(done.read_text(encoding="utf-8")))
            continue
        work = out / "work" / cfg.run_id
        # an unfinished run's checkpoints (an interrupted bench) must not pass for this run's rollback points
        shutil.rmtree(work, ignore_errors=True)
        res, reports = remediate_one(cfg, model, work, n_eval, cache_dir)
        run_dir = done.parent
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(run_dir / "supervision.json", json.dumps(reports, indent=1))
        atomic_write_text(done, res.model_dump_json(indent=1))  # last: marks the run complete
        results.append(res)
        if progress:
            progress(outcome_line(res))
    doc = summarise(results)
    atomic_write_text(out / "remediation.json", json.dumps(doc, indent=2))
    return doc


def outcome_line(r: RemediationOutcome) -> str:
    """One line per run: each arm's status, diagnosis and accuracy, and the verdicts."""
    arms = "; ".join(
        f"{name} {a.status}"
        + (f" ({a.diagnosed})" if a.diagnosed else "")
        + (f" acc {a.accuracy:.2f}" if a.accuracy is not None else "")
        + f" -> {r.verdict[name]}"
        for name, a in r.arms.items()
    )
    free = (
        f"fault-free {r.accuracy_fault_free:.2f} (tol {r.tolerance:.2f}); " if r.tolerance is not None else ""
    )
    return f"{r.run_id} [{r.family}/{r.strength}]: {free}{arms}"


def interleave_families(cfgs: list[RunConfig]) -> list[RunConfig]:
    """Order runs round-robin over families, then types, so a ``limit`` still covers every family, both
    strengths and both onsets (from the first step, where no healthy checkpoint exists, and mid-run)."""
    by_fam: dict[str, list[RunConfig]] = {}
    for c in cfgs:
        by_fam.setdefault(FAMILY_OF[c.fault_type], []).append(c)
    for fam, lst in by_fam.items():  # within a family, alternate its types
        by_type: dict[str, list[RunConfig]] = {}
        for c in lst:
            by_type.setdefault(c.fault_type, []).append(c)
        queues = []
        for j, q in enumerate(by_type.values()):  # alternate strengths, odd types starting with "hard"
            easy = [c for c in q if c.strength == "easy"]
            hard = [c for c in q if c.strength != "easy"]
            first, second = (hard, easy) if j % 2 else (easy, hard)
            merged = [c for pair in zip_longest(first, second) for c in pair if c is not None]
            queues.append(_spread_onsets(merged, offset=j))
        by_fam[fam] = [q[i] for i in range(max(map(len, queues))) for q in queues if i < len(q)]
    queues = [by_fam[f] for f in sorted(by_fam)]
    return [q[i] for i in range(max(map(len, queues), default=0)) for q in queues if i < len(q)]


def _spread_onsets(runs: list[RunConfig], offset: int, every: int = 3) -> list[RunConfig]:
    """``runs`` with the mid-run onsets moved to positions ``offset % every``, ``+ every``, ... (the others
    keep their order), so that the first few of a type hold about the scale's share of mid-run onsets."""
    mid = [c for c in runs if c.onset_step > 1]
    rest = [c for c in runs if c.onset_step <= 1]
    out: list[RunConfig] = []
    while mid or rest:
        at_slot = len(out) % every == offset % every
        out.append((mid if mid and (at_slot or not rest) else rest).pop(0))
    return out


def _rate(k: int, n: int) -> float | None:
    return round(k / n, 4) if n else None


def _mean_steps(arms: list[ArmOutcome]) -> float | None:
    steps = [a.steps_trained for a in arms if a.steps_trained is not None]
    return round(sum(steps) / len(steps), 1) if steps else None


def summarise(results: list[RemediationOutcome]) -> dict[str, Any]:
    """The remediation rate of each arm over the training-fault runs doing nothing did not survive, the
    within-tolerance rate of each arm over all training-fault runs, the same per family, and the environment
    faults' own row."""
    train = [r for r in results if not r.environment]
    env = [r for r in results if r.environment]

    def block(rows: list[RemediationOutcome]) -> dict[str, Any]:
        needing = [r for r in rows if r.verdict["none"] != "already_fine"]
        return {
            "runs": len(rows),
            "already_fine": len(rows) - len(needing),
            "needing_remediation": len(needing),
            "remediation_rate": {
                a: _rate(sum(r.verdict[a] == "remediated" for r in needing), len(needing)) for a in ARMS
            },
            "within_tolerance_rate": {
                a: _rate(sum(bool(r.arms[a].within_tolerance) for r in rows), len(rows)) for a in ARMS
            },
            "mean_steps_trained": {a: _mean_steps([r.arms[a] for r in rows]) for a in ARMS},
        }

    families = sorted({r.family for r in train})
    return {
        "runs": len(results),
        "guards": False,
        "training_faults": {
            **block(train),
            "by_family": {f: block([r for r in train if r.family == f]) for f in families},
        },
        "environment_faults": {
            "runs": len(env),
            "stopped_with_family_named": sum(r.verdict["ours"] == "stopped_named" for r in env),
            "rate": _rate(sum(r.verdict["ours"] == "stopped_named" for r in env), len(env)),
        },
        "per_run": [
            {
                "run_id": r.run_id,
                "fault_type": r.fault_type,
                "strength": r.strength,
                "onset_step": r.onset_step,
                "accuracy_fault_free": r.accuracy_fault_free,
                **{f"{a}_accuracy": r.arms[a].accuracy for a in r.arms},
                **{f"{a}_steps": r.arms[a].steps_trained for a in r.arms},
                **{f"{a}_diagnosed": r.arms[a].diagnosed for a in r.arms if a != "none"},
                **{f"{a}_verdict": v for a, v in r.verdict.items()},
            }
            for r in results
        ],
    }
