"""Detection and diagnosis together, online: the object a training loop or a log follower feeds."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel

from faultwise.rft.fm.detect.detector import Detector, StepVerdict
from faultwise.rft.fm.diagnose.classifier import FaultDiagnosis, diagnose
from faultwise.rft.fm.model import FMModel
from faultwise.rft.records import StepRecord, TrajectoryRecord


class FMEvent(BaseModel):
    """What happened at one step: the verdict, and the diagnosis when it was made at this step."""

    verdict: StepVerdict
    diagnosis: FaultDiagnosis | None = None


class FailureMonitor:
    """Alarms from the detector; once an alarm has been confirmed for ``confirm_steps`` more steps (or the run
    ends), the window since the first alarm is diagnosed. Bounded memory: the detector's window only.

    Example::

        fm = FailureMonitor(load_model("model.json"))
        for record in steps:
            event = fm.update(record)
            if event.diagnosis is not None:
                print(event.diagnosis.fault_type)
    """

    def __init__(self, model: FMModel) -> None:
        self.model = model
        self.detector = Detector(model.profile)
        self.first_alarm_step: int | None = None
        self.onset_estimate: int | None = None  # where the first alarm's signals started drifting (CUSUM)
        self.diagnosis: FaultDiagnosis | None = None
        self.diagnosed_at: int | None = None
        self._since_alarm = 0

    def update(self, step: StepRecord, trajectories: Sequence[TrajectoryRecord] | None = None) -> FMEvent:
        """Feed one step record (and its trajectories, when known)."""
        return self._after(self.detector.update(step, trajectories))

    def update_signals(self, step: int, signals: dict[str, float]) -> FMEvent:
        """Feed one step's named signals."""
        return self._after(self.detector.update_signals(step, signals))

    def _after(self, verdict: StepVerdict) -> FMEvent:
        if verdict.alarm and self.first_alarm_step is None:
            self.first_alarm_step = verdict.step
            self.onset_estimate = verdict.onset_estimate
            self._since_alarm = 0
        elif self.first_alarm_step is not None:
            self._since_alarm += 1
        diag = None
        if self.first_alarm_step is not None and self.diagnosis is None:
            if self._since_alarm >= self.model.confirm_steps or verdict.rule is not None:
                diag = self._diagnose()
                self.diagnosed_at = verdict.step
        return FMEvent(verdict=verdict, diagnosis=diag)

    def _diagnose(self) -> FaultDiagnosis:
        window = [zs for step, zs in self.detector.window if step >= (self.first_alarm_step or 0)]
        self.diagnosis = diagnose(window or [zs for _, zs in self.detector.window], self.model.diagnoser)
        return self.diagnosis

    def finish(self) -> FaultDiagnosis | None:
        """End of the run: diagnose a pending alarm with what was seen."""
        if self.first_alarm_step is not None and self.diagnosis is None and self.detector.window:
            self._diagnose()
            self.diagnosed_at = self.detector.window[-1][0]
        return self.diagnosis

    def reset_run(self) -> None:
        """Start a fresh run (e.g. after a rollback) with the same model."""
        self.__init__(self.model)
