"""Remediation: an action per diagnosis (``actions``), pipeline guards (``guards``), the closed loop around a
training run (``supervisor``) and its benchmark on true task accuracy (``bench``)."""

from __future__ import annotations

from faultwise.rft.fm.remediate.actions import Action, plan_action
from faultwise.rft.fm.remediate.bench import RemediationOutcome, remediation_bench
from faultwise.rft.fm.remediate.guards import GUARDS, Guard, make_guards
from faultwise.rft.fm.remediate.supervisor import (
    Supervised,
    SupervisionReport,
    Supervisor,
    heldout_accuracy,
)

__all__ = [
    "Action",
    "GUARDS",
    "Guard",
    "RemediationOutcome",
    "Supervised",
    "SupervisionReport",
    "Supervisor",
    "heldout_accuracy",
    "make_guards",
    "plan_action",
    "remediation_bench",
]
