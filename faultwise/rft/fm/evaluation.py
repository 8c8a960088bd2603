"""Fit the failure manager on a bench, and score detection and diagnosis on another one.

Run-level detection: a faulty run is a true positive when an alarm event opens at or after its onset; an
event on a normal run, or on a faulty run before its onset, is a false alarm; the delay is the first event at or
after the onset minus the onset, in steps. Diagnosis is scored on what the monitor EMITTED online: the
diagnosis of that first event (made by the monitor at its own alarm, from its own window), with its own onset
estimate; the labelled onset is used only to score the delay and early alarms. A faulty run with no event at
or after its onset has no diagnosis ("unknown", counted wrong).

Only signals a real trainer logs are used by default: signals only an injector sets are never used, and true
accuracy (and what is computed from per-answer correctness) only with ``use_accuracy``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from faultwise.errors import InputError
from faultwise.rft.faultbench.config import declared_reward_range, trainer_setup_of
from faultwise.rft.faultbench.load import BenchRun
from faultwise.rft.fm.detect.profile import FALSE_ALARM_BUDGET, fit_profile
from faultwise.rft.fm.detect.selfref import SelfRefConfig
from faultwise.rft.fm.diagnose.classifier import fit_diagnoser
from faultwise.rft.fm.diagnose.features import window_features
from faultwise.rft.fm.domain import fit_domain
from faultwise.rft.fm.model import FMModel
from faultwise.rft.fm.monitor import (
    ACCURACY_DERIVED_SIGNALS,
    HARD_RULES,
    INJECTOR_ONLY_SIGNALS,
    FailureMonitor,
)
from faultwise.rft.records import FAMILY_OF

# ----------------------------------------------------------------------------------------------- fitting


def signals_of(run: BenchRun, use_accuracy: bool = False) -> list[tuple[int, dict[str, float]]]:
    """A bench run's signals per step, without those a real trainer cannot log (see the module note)."""
    drop = INJECTOR_ONLY_SIGNALS | (frozenset() if use_accuracy else ACCURACY_DERIVED_SIGNALS)
    return [(s, {k: v for k, v in sig.items() if k not in drop}) for s, sig in run.signal_run()]


def _event_windows(
    fm: FailureMonitor,
    window: Sequence[tuple[int, dict[str, dict[str, float]]]],
    run: BenchRun,
    confirm_steps: int,
    extra: int,
    use_accuracy: bool,
    quiet_after: int | None,
) -> list[np.ndarray]:
    """Replay ``run`` through ``fm`` and read ``window`` (one of its detectors' z-score windows) from the first
    event at or after the onset, ``confirm_steps`` later (at once on a hard rule, as the monitor diagnoses),
    plus up to ``extra`` later reads (augmentation for fitting). With no such event, the window is read from
    ``quiet_after`` steps after the onset instead (None: never)."""
    onset = run.onset or 0
    first = None
    hard = False  # a hard rule broke in that event: the monitor diagnoses at once (see FailureMonitor)
    feats: list[np.ndarray] = []
    for step, sig in signals_of(run, use_accuracy):
        fm.update_signals(step, sig)
        if first is None and step >= onset:
            hit = next((e for e in fm.events if e.opened_step >= onset), None)
            if hit is not None:
                first, hard = hit.opened_step, any(r.split(":")[0] in HARD_RULES for r in hit.rules)
            elif quiet_after is not None and step >= onset + quiet_after:
                first = step
        if first is not None and (step >= first + confirm_steps or hard):
            feats.append(window_features([zs for s, zs in window if s >= first]))
            if len(feats) > extra:
                break
    return feats


def diagnosis_windows(
    model: FMModel, run: BenchRun, extra: int = 3, use_accuracy: bool = False
) -> list[np.ndarray]:
    """Feature vectors of a faulty run's windows as the online monitor would diagnose them: the profile
    detector's window from the monitor's first event at or after the onset (onset + 3 when nothing fired),
    read ``confirm_steps`` later, plus up to ``extra`` later ones (augmentation for fitting)."""
    plain = model.model_copy(update={"diagnoser": None})
    cfg = (model.selfref or SelfRefConfig()).model_copy(update={"use_accuracy": use_accuracy})
    fm = FailureMonitor(plain, cfg, setup=trainer_setup_of(run.info.config))
    window = fm.detector.window if fm.detector is not None else []  # a model always has a profile
    feats = _event_windows(fm, window, run, model.confirm_steps, extra, use_accuracy, quiet_after=3)
    if not feats and window:
        onset = run.onset or 0
        feats.append(window_features([zs for s, zs in window if s >= onset] or [window[-1][1]]))
    return feats


def selfref_diagnosis_windows(
    model: FMModel, run: BenchRun, extra: int = 3, use_accuracy: bool = False
) -> list[np.ndarray]:
    """Feature vectors of a faulty run's windows as a monitor *without* the profile diagnoses them: the
    self-referenced detector's window, read as :func:`diagnosis_windows` reads the profile's. A run with no
    event at or after its onset gives none (the monitor never diagnoses it)."""
    cfg = (model.selfref or SelfRefConfig()).model_copy(update={"use_accuracy": use_accuracy})
    fm = FailureMonitor(None, cfg)
    return _event_windows(
        fm, fm.selfref.window, run, model.confirm_steps, extra, use_accuracy, quiet_after=None
    )


def diagnosis_training_set(
    model: FMModel, runs: Sequence[BenchRun], use_accuracy: bool = False, selfref: bool = False
) -> tuple[list[np.ndarray], list[str]]:
    """The windows of every faulty run (:func:`diagnosis_windows`, or :func:`selfref_diagnosis_windows` with
    ``selfref``) and their fault types: what a diagnoser is fitted on."""
    X: list[np.ndarray] = []
    y: list[str] = []
    for r in runs:
        if r.is_faulty:
            windows = selfref_diagnosis_windows if selfref else diagnosis_windows
            for f in windows(model, r, use_accuracy=use_accuracy):
                X.append(f)
                y.append(r.info.fault_type)
    return X, y


def fit_model(
    runs: Sequence[BenchRun],
    target_false_alarm_rate: float = FALSE_ALARM_BUDGET,
    fitted_on: str = "",
    use_accuracy: bool = False,
) -> FMModel:
    """Fit the normal profile on the healthy runs and the diagnoser on the faulty ones (real-trainer signals;
    true accuracy too with ``use_accuracy``, which the model then declares)."""
    setups = [trainer_setup_of(r.info.config) for r in runs]
    healthy = [i for i, r in enumerate(runs) if not r.is_faulty]
    normal = [signals_of(runs[i], use_accuracy) for i in healthy]
    if len(normal) < 2:
        raise InputError(fitted_on or "bench", f"needs at least 2 normal runs to fit, found {len(normal)}")
    model = FMModel(
        profile=fit_profile(normal, target_false_alarm_rate, setups=[setups[i] for i in healthy]),
        fitted_on=fitted_on,
        selfref=SelfRefConfig(use_accuracy=use_accuracy),
        domain=fit_domain(setups),
    )
    X, y = diagnosis_training_set(model, runs, use_accuracy)
    if len(set(y)) >= 2:
        model.diagnoser = fit_diagnoser(np.vstack(X), y)
    X, y = diagnosis_training_set(model, runs, use_accuracy, selfref=True)
    if len(set(y)) >= 2:
        model.selfref_diagnoser = fit_diagnoser(np.vstack(X), y)
    return model


def rebaseline_model(
    model: FMModel,
    healthy_runs: Sequence[Sequence[tuple[int, dict[str, float]]]],
    setups: Sequence[Mapping[str, float]] | None = None,
    baseline: str = "",
) -> FMModel:
    """``model`` with its normal profile refitted on healthy runs of another setup; its diagnosers kept.

    A profile describes how the runs of one setup move (policy size, learning rate, sampling); a fitted model
    therefore stays out of runs of another setup (:mod:`faultwise.rft.fm.domain`). What an operator of that
    setup has is healthy runs of it, not fault-injected ones: refitting the profile on them (its thresholds
    calibrated to the model's false-alarm budget on them) lets faults present from the first step show, while
    the diagnosers keep what the fitting bench's faults taught them. They read each signal in units of the
    profile (z-scores, tail scores), so they need no refit. ``setups`` are the runs' declared settings: the
    new model judges runs within their hull (None: setups not known, judged on the first steps' signals)."""
    if len(healthy_runs) < 2:
        raise InputError(baseline or "baseline", f"needs at least 2 healthy runs, found {len(healthy_runs)}")
    use_accuracy = bool(model.selfref is not None and model.selfref.use_accuracy)
    drop = INJECTOR_ONLY_SIGNALS | (frozenset() if use_accuracy else ACCURACY_DERIVED_SIGNALS)
    runs = [[(s, {k: v for k, v in sig.items() if k not in drop}) for s, sig in run] for run in healthy_runs]
    profile = fit_profile(runs, model.profile.target_false_alarm_rate, setups=setups)
    domain = fit_domain(setups) if setups is not None else None
    return model.model_copy(update={"profile": profile, "domain": domain, "baseline": baseline})


# ----------------------------------------------------------------------------------------------- scoring


@dataclass
class RunOutcome:
    """How the failure manager did on one run: its events against the onset, and what it emitted."""

    run_id: str
    fault_type: str
    strength: str
    onset: int | None
    first_alarm: int | None  # the first event, any step
    alarm_after_onset: int | None  # the first event opened at or after the labelled onset
    false_alarm: bool
    predicted: str | None = None  # the emitted diagnosis of that event
    onset_estimate: int | None = None  # the monitor's own onset estimate for that event
    declined: str | None = None  # why the fitted model did not apply to the run (None: it did, or no model)


def run_monitor(
    model: FMModel | None,
    run: BenchRun,
    use_accuracy: bool | None = None,
    monitor_factory: Callable[[], Any] | None = None,
) -> RunOutcome:
    """Replay a run through the failure monitor, as online, and keep what it emitted.

    ``monitor_factory`` builds the monitor (default: :class:`FailureMonitor` of ``model``); it must offer
    ``update_signals(step, signals) -> FMEvent``, ``finish()`` and ``events``.
    """
    if use_accuracy is None:
        use_accuracy = bool(model is not None and model.selfref is not None and model.selfref.use_accuracy)
    if monitor_factory is None:
        base = (model.selfref if model is not None else None) or SelfRefConfig()
        # the run's own declared reward range (its task's), as a user's config would give it to the monitor
        cfg = base.with_declared(reward_range=declared_reward_range(run.info.task_group))
        cfg = cfg.model_copy(update={"use_accuracy": use_accuracy})

        setup = trainer_setup_of(run.info.config)

        def monitor_factory() -> FailureMonitor:
            return FailureMonitor(model, cfg, setup=setup)

    fm = monitor_factory()
    onset = run.onset
    for step, sig in signals_of(run, use_accuracy):
        fm.update_signals(step, sig)
    fm.finish()  # the end of the run: a pending event is diagnosed with what was seen
    events = list(fm.events)
    first = events[0].opened_step if events else None
    false_alarm = bool(events) and (onset is None or events[0].opened_step < onset)
    hit = next((e for e in events if onset is not None and e.opened_step >= onset), None)
    predicted = None
    if run.is_faulty:
        predicted = hit.diagnosis.fault_type if hit is not None and hit.diagnosis is not None else "unknown"
    return RunOutcome(
        run.info.run_id,
        run.info.fault_type,
        run.info.strength,
        onset,
        first,
        hit.opened_step if hit is not None else None,
        false_alarm,
        predicted,
        hit.onset_step if hit is not None else None,
        getattr(fm, "declined", None) if model is not None else None,
    )


def _prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4)}


def detection_metrics(outcomes: Sequence[RunOutcome]) -> dict[str, Any]:
    """Run-level precision/recall/F1 per strength, the false-alarm rate on normal runs, the median delay."""
    normal = [o for o in outcomes if o.fault_type == "none"]
    normal_fa = sum(o.false_alarm for o in normal)
    out: dict = {}
    delays = []
    for strength in ("easy", "hard"):
        fo = [o for o in outcomes if o.fault_type != "none" and o.strength == strength]
        tp = sum(o.alarm_after_onset is not None for o in fo)
        fn = len(fo) - tp
        fp = normal_fa + sum(o.false_alarm for o in fo)
        out[strength] = _prf(tp, fp, fn)
        delays += [o.alarm_after_onset - o.onset for o in fo if o.alarm_after_onset is not None]
    out["false_alarm_rate"] = round(normal_fa / len(normal), 4) if normal else None
    out["median_delay_steps"] = float(np.median(delays)) if delays else None
    return out


def _macro_f1(true: Sequence[str], pred: Sequence[str], labels: Sequence[str]) -> float:
    f1s = []
    for lab in labels:
        tp = sum(t == lab and p == lab for t, p in zip(true, pred, strict=True))
        fp = sum(t != lab and p == lab for t, p in zip(true, pred, strict=True))
        fn = sum(t == lab and p != lab for t, p in zip(true, pred, strict=True))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return round(float(np.mean(f1s)), 4) if f1s else 0.0


def diagnosis_metrics(outcomes: Sequence[RunOutcome]) -> dict[str, Any]:
    """Macro-F1 and accuracy of the diagnosed type per strength, and type/family accuracy per family."""
    out: dict = {}
    fo = [o for o in outcomes if o.fault_type != "none"]
    for strength in ("easy", "hard"):
        sub = [o for o in fo if o.strength == strength]
        true = [o.fault_type for o in sub]
        pred = [o.predicted or "unknown" for o in sub]
        labels = sorted(set(true))
        out[strength] = {
            "macro_f1": _macro_f1(true, pred, labels),
            "accuracy": round(sum(t == p for t, p in zip(true, pred, strict=True)) / len(sub), 4)
            if sub
            else 0.0,
        }
    by_family: dict = {}
    for fam in sorted({FAMILY_OF[o.fault_type] for o in fo if o.fault_type in FAMILY_OF}):
        sub = [o for o in fo if FAMILY_OF.get(o.fault_type) == fam]
        by_family[fam] = {
            "type_accuracy": round(sum(o.predicted == o.fault_type for o in sub) / len(sub), 4),
            "family_accuracy": round(
                sum(FAMILY_OF.get(o.predicted or "", "") == fam for o in sub) / len(sub), 4
            ),
            "runs": len(sub),
        }
    out["by_family"] = by_family
    return out


def evaluate(
    model: FMModel | None,
    runs: Sequence[BenchRun],
    progress: Callable[[int, int], None] | None = None,
    use_accuracy: bool | None = None,
) -> dict[str, Any]:
    """Detection and diagnosis scores of what the monitor emitted on ``runs`` (``progress(done, total)`` after each
    run); ``model=None``: the self-referenced detector and the interpretable fingerprints alone."""
    return summarize(score_runs(model, runs, progress, use_accuracy), model, use_accuracy)


def score_runs(
    model: FMModel | None,
    runs: Sequence[BenchRun],
    progress: Callable[[int, int], None] | None = None,
    use_accuracy: bool | None = None,
) -> list[RunOutcome]:
    """Each run replayed through the monitor (:func:`run_monitor`), in order; ``progress(done, total)`` after
    each (the signature of :func:`faultwise.progress.progress_bar`'s callback)."""
    outcomes = []
    for r in runs:
        outcomes.append(run_monitor(model, r, use_accuracy))
        if progress:
            progress(len(outcomes), len(runs))
    return outcomes


def summarize(
    outcomes: Sequence[RunOutcome], model: FMModel | None, use_accuracy: bool | None = None
) -> dict[str, Any]:
    """The scores document of :func:`evaluate` from per-run outcomes (of one bench or of several pooled)."""
    errors = [abs(o.onset_estimate - o.onset) for o in outcomes if o.onset_estimate is not None and o.onset]
    uses = (
        use_accuracy
        if use_accuracy is not None
        else bool(model and model.selfref and model.selfref.use_accuracy)
    )
    return {
        "detection": detection_metrics(outcomes),
        "diagnosis": diagnosis_metrics(outcomes),
        "scored": "emitted online: the first event at or after the onset, its own diagnosis and onset estimate",
        "signals": "real-trainer signals + true accuracy" if uses else "real-trainer signals only",
        "runs": {
            "normal": sum(o.fault_type == "none" for o in outcomes),
            "faulty": sum(o.fault_type != "none" for o in outcomes),
        },
        "median_onset_error_steps": float(np.median(errors)) if errors else None,
        "model_declined": _declined(outcomes) if model is not None else None,
    }


#: columns of :func:`outcome_rows`, in order (``rft evaluate --runs``)
OUTCOME_COLUMNS: tuple[str, ...] = (
    "run_id",
    "fault_type",
    "strength",
    "onset_step",
    "first_alarm_step",
    "detected_step",
    "false_alarm",
    "diagnosis",
    "diagnosis_correct",
    "onset_estimate_step",
    "model_declined",
)


def outcome_rows(outcomes: Sequence[RunOutcome]) -> list[dict[str, Any]]:
    """One row per run of what the monitor did, for a table a user can sort (missed runs, wrong names, false
    alarms). Empty cells: not applicable (no onset on a normal run, no event, no diagnosis on a normal run)."""
    rows = []
    for o in outcomes:
        faulty = o.fault_type != "none"
        rows.append(
            {
                "run_id": o.run_id,
                "fault_type": o.fault_type,
                "strength": o.strength,
                "onset_step": o.onset if faulty else None,
                "first_alarm_step": o.first_alarm,
                "detected_step": o.alarm_after_onset if faulty else None,
                "false_alarm": o.false_alarm,
                "diagnosis": o.predicted if faulty else None,
                "diagnosis_correct": (o.predicted == o.fault_type) if faulty else None,
                "onset_estimate_step": o.onset_estimate,
                "model_declined": o.declined,
            }
        )
    return rows


def _declined(outcomes: Sequence[RunOutcome]) -> dict[str, Any]:
    """How many runs the fitted model stayed out of, and why: per setting outside its fitted range (a run
    counts under each), or the signal check's reason."""
    reasons: dict[str, int] = {}
    runs = 0
    for o in outcomes:
        if not o.declined:
            continue
        runs += 1
        for clause in o.declined.split("; "):
            key = clause.split(" ")[0] if " outside the fitted " in clause else clause
            reasons[key] = reasons.get(key, 0) + 1
    return {"runs": runs, "reasons": reasons}
