"""Comparison methods scored with the same protocol as RFT-FM, so the table shows what the method adds.

Detection: Isolation Forest and LOF over per-step signal vectors (standardised on normal steps), with the
alarm threshold calibrated exactly like ours (held-out normal runs' maxima at the target false-alarm rate),
and the trivial "flag every run" rule (alarm at every step). Diagnosis: KNN and an RBF SVM over the same
window fingerprints as our classifier, the fingerprint rules alone, and the majority class.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from faultwise.rft.faultbench.load import BenchRun
from faultwise.rft.fm.evaluation import (
    RunOutcome,
    detection_metrics,
    diagnosis_metrics,
    diagnosis_training_set,
    diagnosis_windows,
    run_monitor,
)
from faultwise.rft.fm.model import FMModel

DETECTION_METHODS: tuple[str, ...] = ("isolation_forest", "lof")

Signals = dict[str, float]


class _StepVectors:
    """Signals -> fixed vectors: median-imputed, standardised on the normal steps it was fitted on."""

    def __init__(self, normal: Sequence[BenchRun]) -> None:
        rows = [sig for r in normal for _, sig in r.signal_run()]
        self.names = sorted({k for row in rows for k in row})
        X = self._raw(rows)
        self.med = np.nanmedian(X, axis=0)
        self.med[np.isnan(self.med)] = 0.0
        X = np.where(np.isnan(X), self.med, X)
        self.mu, self.sd = X.mean(axis=0), X.std(axis=0)
        self.sd[self.sd < 1e-9] = 1.0

    def _raw(self, rows: Sequence[Signals]) -> np.ndarray:
        X = np.array([[row.get(n, np.nan) for n in self.names] for row in rows], dtype=float)
        X[~np.isfinite(X)] = np.nan
        return X

    def __call__(self, rows: Sequence[Signals]) -> np.ndarray:
        X = self._raw(rows)
        X = np.where(np.isnan(X), self.med, X)
        return np.clip((X - self.mu) / self.sd, -1e3, 1e3)


def _make(kind: str, seed: int) -> Any:
    if kind == "isolation_forest":
        from sklearn.ensemble import IsolationForest

        return IsolationForest(n_estimators=100, random_state=seed)
    from sklearn.neighbors import LocalOutlierFactor

    return LocalOutlierFactor(n_neighbors=20, novelty=True)


def _fit_scorer(
    kind: str, normal: Sequence[BenchRun], seed: int
) -> Callable[[Sequence[Signals]], np.ndarray]:
    vec = _StepVectors(normal)
    X = vec([sig for r in normal for _, sig in r.signal_run()])
    est = _make(kind, seed).fit(X)
    return lambda rows: -est.score_samples(vec(rows))


def detection_method(
    kind: str,
    fit_runs: Sequence[BenchRun],
    eval_runs: Sequence[BenchRun],
    target: float = 0.01,
    folds: int = 5,
    seed: int = 0,
) -> dict[str, Any]:
    """Detection scores of ``kind`` (one of :data:`DETECTION_METHODS`), its threshold calibrated on held-out
    normal runs of ``fit_runs`` at the ``target`` false-alarm rate."""
    normal = [r for r in fit_runs if not r.is_faulty]
    k = min(folds, len(normal))
    maxima = []
    for f in range(k):
        train = [r for i, r in enumerate(normal) if i % k != f or k == 1]
        scorer = _fit_scorer(kind, train, seed)
        for r in (r for i, r in enumerate(normal) if i % k == f):
            maxima.append(float(scorer([s for _, s in r.signal_run()]).max()))
    thr = float(np.quantile(maxima, 1 - target, method="higher"))
    scorer = _fit_scorer(kind, normal, seed)
    outcomes = []
    for r in eval_runs:
        run = r.signal_run()
        scores = scorer([s for _, s in run])
        outcomes.append(_outcome(r, [step for (step, _), sc in zip(run, scores, strict=True) if sc > thr]))
    return detection_metrics(outcomes)


def _outcome(r: BenchRun, alarm_steps: list[int]) -> RunOutcome:
    onset = r.onset
    after = next((s for s in alarm_steps if onset is not None and s >= onset), None)
    false = any(onset is None or s < onset for s in alarm_steps)
    return RunOutcome(
        r.info.run_id,
        r.info.fault_type,
        r.info.strength,
        onset,
        alarm_steps[0] if alarm_steps else None,
        after,
        false,
    )


def flag_every_run(eval_runs: Sequence[BenchRun]) -> dict[str, Any]:
    """Detection scores of the trivial rule that alarms at every step."""
    return detection_metrics([_outcome(r, [s.step for s in r.steps]) for r in eval_runs])


def diagnosis_methods(
    model: FMModel, fit_runs: Sequence[BenchRun], eval_runs: Sequence[BenchRun]
) -> dict[str, Any]:
    """KNN / SVM / rules-only / majority over the same fingerprint windows as the fitted diagnoser."""
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    X, y = diagnosis_training_set(model, fit_runs)
    faulty = [r for r in eval_runs if r.is_faulty]
    Xe = np.vstack([diagnosis_windows(model, r, extra=0)[0] for r in faulty])
    majority = max(sorted(set(y)), key=y.count)  # ties: the first by name (a set's order changes run to run)
    preds = {
        "knn": make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=5)).fit(X, y).predict(Xe),
        "svm": make_pipeline(StandardScaler(), SVC(C=10.0, gamma="scale")).fit(X, y).predict(Xe),
        "majority_class": [majority] * len(faulty),
    }
    out = {}
    for name, pred in preds.items():
        out[name] = _diag_scores(faulty, list(pred))
    rules_model = model.model_copy(update={"diagnoser": None})
    out["fingerprint_rules_only"] = diagnosis_metrics([run_monitor(rules_model, r) for r in faulty])
    return out


def _diag_scores(faulty: Sequence[BenchRun], pred: list[str]) -> dict[str, Any]:
    outs = [
        RunOutcome(r.info.run_id, r.info.fault_type, r.info.strength, r.onset, None, None, False, str(p))
        for r, p in zip(faulty, pred, strict=True)
    ]
    return diagnosis_metrics(outs)


def compare_methods(
    model: FMModel, fit_runs: Sequence[BenchRun], eval_runs: Sequence[BenchRun], seed: int = 0
) -> dict[str, Any]:
    """Every comparison method, fitted on ``fit_runs`` (the bench ``model`` was fitted on) and scored on
    ``eval_runs``: ``{"detection": {method: scores}, "diagnosis": {method: scores}}``."""
    target = model.profile.target_false_alarm_rate
    detection: dict[str, Any] = {
        kind: detection_method(kind, fit_runs, eval_runs, target, seed=seed) for kind in DETECTION_METHODS
    }
    detection["flag_every_run"] = flag_every_run(eval_runs)
    return {"detection": detection, "diagnosis": diagnosis_methods(model, fit_runs, eval_runs)}
