"""Detection: a normal profile fitted on healthy runs (``profile``) and the online detector (``detector``)."""

from __future__ import annotations

from faultwise.rft.fm.detect.detector import Detector, Evidence, StepVerdict
from faultwise.rft.fm.detect.profile import NormalProfile, fit_profile

__all__ = [
    "Detector",
    "Evidence",
    "NormalProfile",
    "StepVerdict",
    "fit_profile",
]
