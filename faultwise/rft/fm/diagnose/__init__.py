"""Diagnosis: the fingerprint of an anomalous window (``features``), the interpretable per-type fingerprints
(``rules``) and the fitted classifier (``classifier``) that names the fault type."""

from __future__ import annotations

from faultwise.rft.fm.diagnose.classifier import (
    DecidingSignal,
    DiagnoserModel,
    FaultDiagnosis,
    diagnose,
    fit_diagnoser,
)
from faultwise.rft.fm.diagnose.features import FEATURE_NAMES, window_features

__all__ = [
    "DecidingSignal",
    "DiagnoserModel",
    "FEATURE_NAMES",
    "FaultDiagnosis",
    "diagnose",
    "fit_diagnoser",
    "window_features",
]
