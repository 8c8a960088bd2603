"""Fit the failure manager on a bench, and score detection and diagnosis on another one.

Run-level detection: a faulty run is a true positive when an alarm fires at or after its onset; an alarm on
a normal run, or on a faulty run before its onset, is a false alarm; the delay is the first alarm at/after the
onset minus the onset, in steps. Diagnosis is scored on every faulty run: the window at the first alarm after
onset (plus the confirmation steps), or the end of the run when nothing fired ("unknown" then counts wrong).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from faultwise.errors import InputError
from faultwise.rft.faultbench.load import BenchRun
from faultwise.rft.fm.detect.detector import Detector
from faultwise.rft.fm.detect.profile import fit_profile
from faultwise.rft.fm.diagnose.classifier import diagnose, fit_diagnoser
from faultwise.rft.fm.diagnose.features import window_features
from faultwise.rft.fm.model import FMModel
from faultwise.rft.fm.monitor import FailureMonitor
from faultwise.rft.records import FAMILY_OF

# ----------------------------------------------------------------------------------------------- fitting


def diagnosis_windows(model: FMModel, run: BenchRun, extra: int = 3) -> list[np.ndarray]:
    """Feature vectors of a faulty run's windows: the window diagnosed online (the first alarm at or after the
    onset, or onset + 3 when nothing fired), plus up to ``extra`` later ones (augmentation for fitting)."""
    mon = Detector(model.profile)
    onset = run.onset or 0
    first = None
    feats = []
    for step, sig in run.signal_run():
        v = mon.update_signals(step, sig)
        if first is None and step >= onset and (v.alarm or step >= onset + 3):
            first = step
        if first is not None and step >= first + model.confirm_steps:
            feats.append(window_features([zs for s, zs in mon.window if s >= first]))
            if len(feats) > extra:
                break
    if not feats and mon.window:
        feats.append(window_features([zs for s, zs in mon.window if s >= onset] or [mon.window[-1][1]]))
    return feats


def diagnosis_training_set(model: FMModel, runs: Sequence[BenchRun]) -> tuple[list[np.ndarray], list[str]]:
    """The windows of every faulty run (:func:`diagnosis_windows`) and their fault types: what a diagnoser is
    fitted on."""
    X: list[np.ndarray] = []
    y: list[str] = []
    for r in runs:
        if r.is_faulty:
            for f in diagnosis_windows(model, r):
                X.append(f)
                y.append(r.info.fault_type)
    return X, y


def fit_model(
    runs: Sequence[BenchRun], target_false_alarm_rate: float = 0.01, fitted_on: str = ""
) -> FMModel:
    """Fit the normal profile on the healthy runs and the diagnoser on the faulty ones."""
    normal = [r.signal_run() for r in runs if not r.is_faulty]
    if len(normal) < 2:
        raise InputError(fitted_on or "bench", f"needs at least 2 normal runs to fit, found {len(normal)}")
    model = FMModel(profile=fit_profile(normal, target_false_alarm_rate), fitted_on=fitted_on)
    X, y = diagnosis_training_set(model, runs)
    if len(set(y)) >= 2:
        model.diagnoser = fit_diagnoser(np.vstack(X), y)
    return model


# ----------------------------------------------------------------------------------------------- scoring


@dataclass
class RunOutcome:
    """How the failure manager did on one run: alarms against the onset, and the diagnosed type."""

    run_id: str
    fault_type: str
    strength: str
    onset: int | None
    first_alarm: int | None  # any alarm
    alarm_after_onset: int | None
    false_alarm: bool
    predicted: str | None = None


def run_monitor(model: FMModel, run: BenchRun) -> RunOutcome:
    """Replay a run through the failure monitor, as online."""
    fm = FailureMonitor(model)
    onset = run.onset
    first = after = None
    false_alarm = False
    diag_at_alarm = None
    for step, sig in run.signal_run():
        ev = fm.update_signals(step, sig)
        if ev.verdict.alarm:
            first = step if first is None else first
            if onset is None or step < onset:
                false_alarm = True
            elif after is None:
                after = step
        if after is not None and diag_at_alarm is None and step >= after + model.confirm_steps:
            diag_at_alarm = diagnose([zs for s, zs in fm.detector.window if s >= after], model.diagnoser)
    predicted = None
    if run.is_faulty:
        if diag_at_alarm is None:
            start = after if after is not None else (onset or 0)
            window = [zs for s, zs in fm.detector.window if s >= start] or [fm.detector.window[-1][1]]
            diag_at_alarm = diagnose(window, model.diagnoser)
        predicted = diag_at_alarm.fault_type
    return RunOutcome(
        run.info.run_id, run.info.fault_type, run.info.strength, onset, first, after, false_alarm, predicted
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
    model: FMModel, runs: Sequence[BenchRun], progress: Callable[[], None] | None = None
) -> dict[str, Any]:
    """Detection and diagnosis scores of ``model`` on ``runs`` (``progress()`` after each run)."""
    outcomes = []
    for r in runs:
        outcomes.append(run_monitor(model, r))
        if progress:
            progress()
    return {"detection": detection_metrics(outcomes), "diagnosis": diagnosis_metrics(outcomes)}
