"""RFT-FM: detect, diagnose and remediate failures of reinforcement fine-tuning runs.

- ``detect/``: the normal profile of healthy runs and the online :class:`Detector`;
- ``diagnose/``: the window fingerprint, the per-type fingerprints and the classifier (:class:`FaultDiagnosis`);
- :class:`FMModel` (``model``): profile + diagnosers + the setups fitted on (``domain``), one JSON file;
  :class:`FailureMonitor` (``monitor``): detection and diagnosis together, step by step;
  :class:`FMCallback` (``callback``): the monitor inside a TRL trainer;
- ``readers`` (verl, TRL, OpenRLHF, TensorBoard logs), :func:`watch` (``watcher``: follow a growing log),
  ``report`` (offline HTML page of a run);
- ``evaluation``: fit a model on a bench, re-baseline it on healthy runs of another setup, and score it;
  ``compare``: the comparison methods (Isolation Forest, LOF, KNN, SVM, ...) under the same protocol;
- ``remediate/``: actions, guards and the :class:`Supervisor` closed loop.

``import faultwise.rft.fm`` stays light: :class:`FMCallback` (transformers) is imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from faultwise.rft.fm.compare import compare_methods
from faultwise.rft.fm.detect import Detector, Evidence, NormalProfile, StepVerdict, fit_profile
from faultwise.rft.fm.diagnose import DiagnoserModel, FaultDiagnosis, diagnose, fit_diagnoser
from faultwise.rft.fm.domain import SetupDomain, fit_domain
from faultwise.rft.fm.evaluation import (
    RunOutcome,
    evaluate,
    fit_model,
    outcome_rows,
    rebaseline_model,
    run_monitor,
    score_runs,
    summarize,
)
from faultwise.rft.fm.model import FMModel, load_model, save_model
from faultwise.rft.fm.monitor import FailureMonitor, FMEvent
from faultwise.rft.fm.readers import ReadResult, read_log
from faultwise.rft.fm.remediate import (
    Action,
    SupervisionReport,
    Supervisor,
    plan_action,
    remediation_bench,
)
from faultwise.rft.fm.report import render_report, report_for_path
from faultwise.rft.fm.watcher import describe, watch

if TYPE_CHECKING:
    from faultwise.rft.fm.callback import FMCallback


def __getattr__(name: str) -> Any:
    if name == "FMCallback":  # transformers is heavy: import it only when the callback is asked for
        from faultwise.rft.fm.callback import FMCallback

        return FMCallback
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Action",
    "Detector",
    "DiagnoserModel",
    "Evidence",
    "FMCallback",
    "FMEvent",
    "FMModel",
    "FailureMonitor",
    "FaultDiagnosis",
    "NormalProfile",
    "ReadResult",
    "RunOutcome",
    "SetupDomain",
    "StepVerdict",
    "SupervisionReport",
    "Supervisor",
    "compare_methods",
    "describe",
    "diagnose",
    "evaluate",
    "fit_diagnoser",
    "fit_domain",
    "fit_model",
    "fit_profile",
    "load_model",
    "outcome_rows",
    "plan_action",
    "read_log",
    "rebaseline_model",
    "remediation_bench",
    "render_report",
    "report_for_path",
    "run_monitor",
    "save_model",
    "score_runs",
    "summarize",
    "watch",
]
