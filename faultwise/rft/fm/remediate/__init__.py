"""Remediation: an action per diagnosis through an operator's levers (``actions``), opt-in pipeline guards
(``guards``), the closed loop around a training run (``supervisor``) and its benchmark against a no-remediation
and a generic-action control on true task accuracy (``bench``)."""

from __future__ import annotations

from faultwise.rft.fm.remediate.actions import Action, RunCourse, generic_action, plan_action
from faultwise.rft.fm.remediate.bench import ArmOutcome, RemediationOutcome, remediation_bench
from faultwise.rft.fm.remediate.guards import GUARDS, Guard, make_guards
from faultwise.rft.fm.remediate.supervisor import (
    Supervised,
    SupervisionReport,
    Supervisor,
    heldout_accuracy,
    lost_update_share,
)

__all__ = [
    "Action",
    "ArmOutcome",
    "GUARDS",
    "Guard",
    "RemediationOutcome",
    "RunCourse",
    "Supervised",
    "SupervisionReport",
    "Supervisor",
    "generic_action",
    "heldout_accuracy",
    "lost_update_share",
    "make_guards",
    "plan_action",
    "remediation_bench",
]
