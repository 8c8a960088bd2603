"""Diagnosis: fingerprint of the anomalous window -> family and fault type, with confidence and evidence.

A multinomial logistic regression over the window features (fitted on a bench) is stored as plain numbers in
JSON and applied with numpy, so a fitted model needs no pickle; the interpretable fingerprints (``rules.py``)
enter as a prior (each type's logit gains ``rule_weight`` times its fingerprint agreement), which separates
look-alikes the few fitting windows cannot. Its per-feature contributions are the deciding signals. It answers "unknown" when its confidence is low and the interpretable fingerprints do not agree
either, or when the window lies far from every fault it was fitted on (overall, or on a feature that no
fitted fault ever moved that far).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np
from pydantic import BaseModel, Field

from faultwise.rft.fm.diagnose.features import FEATURE_NAMES, Window, window_features, window_summary
from faultwise.rft.fm.diagnose.rules import rule_scores
from faultwise.rft.records import FAMILY_OF


class DecidingSignal(BaseModel):
    """A signal that decided a diagnosis, with the window's value of its feature and how much it pushed."""

    signal: str
    feature: str
    z: float = Field(description="the window's squashed z-score summary for this feature")
    weight: float = Field(description="how much it pushed towards the chosen type")


class FaultDiagnosis(BaseModel):
    """Which fault an anomalous window shows: type and family, confidence, and the evidence that decided it."""

    fault_type: str = Field(description="one of FAULT_TYPES, or unknown")
    family: str = Field(description="one of FAULT_FAMILIES, or unknown")
    confidence: float
    source: str = Field(description="classifier | rules | unknown: what decided")
    deciding_signals: list[DecidingSignal] = Field(default_factory=list)
    alternatives: dict[str, float] = Field(default_factory=dict)


class DiagnoserModel(BaseModel):
    """A fitted multinomial logistic regression over window features, stored as plain numbers."""

    classes: list[str]
    features: list[str]
    mean: list[float]
    scale: list[float]
    coef: list[list[float]]
    intercept: list[float]
    min_confidence: float = 0.35
    max_distance: float = Field(
        description="farther than this (standardised) from every class centroid -> unknown"
    )
    centroids: list[list[float]]
    span: list[float] = Field(
        description="largest |standardised value| of each feature in the fitting windows"
    )
    rule_weight: float = Field(
        0.0,
        description="weight of the interpretable fingerprints as a prior: logit += weight * agreement in [-1, 1]",
    )


def fit_diagnoser(
    X: np.ndarray,
    y: Sequence[str],
    c: float = 0.1,
    min_confidence: float = 0.35,
    rule_weight: float = 2.0,
) -> DiagnoserModel:
    """Fit the diagnoser on window features ``X`` labelled with fault types ``y`` (needs scikit-learn)."""
    from sklearn.linear_model import LogisticRegression

    X = np.asarray(X, dtype=float)
    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    scale[scale < 1e-6] = 1.0
    Xs = (X - mean) / scale
    clf = LogisticRegression(C=c, max_iter=3000)
    clf.fit(Xs, list(y))
    classes = [str(k) for k in clf.classes_]
    coef = clf.coef_
    intercept = clf.intercept_
    if len(classes) == 2:  # sklearn keeps one row for binary problems
        coef = np.vstack([-coef[0], coef[0]]) / 2
        intercept = np.array([-intercept[0], intercept[0]]) / 2
    ya = np.asarray(y)
    centroids = np.vstack([Xs[ya == k].mean(axis=0) for k in classes])
    own = np.array([np.linalg.norm(Xs[i] - centroids[classes.index(ya[i])]) for i in range(len(ya))])
    return DiagnoserModel(
        classes=classes,
        features=list(FEATURE_NAMES),
        mean=mean.tolist(),
        scale=scale.tolist(),
        coef=coef.tolist(),
        intercept=intercept.tolist(),
        min_confidence=min_confidence,
        max_distance=float(np.quantile(own, 0.99) * 2.0),
        centroids=centroids.tolist(),
        span=np.abs(Xs).max(axis=0).tolist(),
        rule_weight=rule_weight,
    )


def _unknown() -> FaultDiagnosis:
    return FaultDiagnosis(fault_type="unknown", family="unknown", confidence=0.0, source="unknown")


def _from_rules(
    summary: dict[str, dict[str, float]], reason_conf: float = 0.0, within: Collection[str] | None = None
) -> FaultDiagnosis:
    """The interpretable fingerprints' answer among the types ``within`` allows (None: all), else unknown."""
    scores = {k: v for k, v in rule_scores(summary).items() if within is None or k in within}
    if not scores:
        return _unknown()
    best = max(scores, key=lambda k: scores[k][0])
    score, seen = scores[best]
    if score < 0.5:
        return _unknown()
    deciding = [
        DecidingSignal(signal=s, feature=f"{s}.level_mean", z=summary[s]["level_mean"], weight=1.0)
        for s in seen
    ]
    alts = {k: round(v[0], 3) for k, v in sorted(scores.items(), key=lambda kv: -kv[1][0])[:3]}
    return FaultDiagnosis(
        fault_type=best,
        family=FAMILY_OF[best],
        confidence=round(max(score, reason_conf), 3),
        source="rules",
        deciding_signals=deciding,
        alternatives=alts,
    )


def diagnose(
    window: Window, model: DiagnoserModel | None = None, within: Collection[str] | None = None
) -> FaultDiagnosis:
    """Diagnose an anomalous window; ``model=None`` uses the interpretable fingerprints alone. ``within``: the
    fault types other evidence leaves possible (None: every type); the answer is the most probable of them,
    its confidence conditioned on them."""
    summary = window_summary(window)
    if model is None:
        return _from_rules(summary, within=within)
    allowed = np.array([within is None or k in within for k in model.classes])
    if not allowed.any():  # the model knows none of the types the evidence allows
        return _from_rules(summary, within=within)
    x = window_features(window)
    xs = (x - np.asarray(model.mean)) / np.asarray(model.scale)
    coef = np.asarray(model.coef)
    logits = coef @ xs + np.asarray(model.intercept)
    if model.rule_weight:  # the fingerprints as a prior: a type whose signals moved its way gains
        rules = rule_scores(summary)
        logits = logits + model.rule_weight * np.array([rules.get(k, (0.0,))[0] for k in model.classes])
    logits = np.where(allowed, logits, -np.inf)
    p = np.exp(logits - logits.max())
    p /= p.sum()
    k = int(p.argmax())
    dist = float(np.min(np.linalg.norm(np.asarray(model.centroids) - xs, axis=1)))
    beyond = np.abs(xs) > 2 * np.asarray(model.span) + 1  # moved where no fitted fault ever moved
    if dist > model.max_distance or beyond.any():
        return _from_rules(summary, within=within)
    if p[k] < model.min_confidence:
        return _from_rules(summary, reason_conf=float(p[k]), within=within)
    contrib = (coef[k] - coef.mean(axis=0)) * xs
    deciding: list[DecidingSignal] = []
    for j in np.argsort(-contrib):  # strongest first, one entry per signal
        name = model.features[j].split(".")[0]
        if contrib[j] <= 0 or len(deciding) == 4:
            break
        if any(d.signal == name for d in deciding):
            continue
        deciding.append(
            DecidingSignal(
                signal=name,
                feature=model.features[j],
                z=round(float(x[j]), 3),
                weight=round(float(contrib[j]), 3),
            )
        )
    top = [j for j in np.argsort(-p)[:3] if allowed[j]]
    cls = model.classes[k]
    return FaultDiagnosis(
        fault_type=cls,
        family=FAMILY_OF.get(cls, "unknown"),
        confidence=round(float(p[k]), 3),
        source="classifier",
        deciding_signals=deciding,
        alternatives={model.classes[j]: round(float(p[j]), 3) for j in top},
    )
