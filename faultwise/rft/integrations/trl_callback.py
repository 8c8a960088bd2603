"""A TRL/transformers ``TrainerCallback`` that feeds the failure monitor, step by step.

It reads the metrics TRL logs (``on_log``) through the same name mapping as the offline readers; when the
FaultBench runner is driving the trainer, its richer ``on_step_record`` (step record + trajectories) is used
instead. The monitor must never crash the training: any error of ours is logged and counted, not raised.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from faultwise.rft.detect.model import FMModel
from faultwise.rft.diagnose.online import FailureMonitor, FMEvent
from faultwise.rft.integrations.readers import map_metrics

log = logging.getLogger(__name__)

try:  # transformers is part of the rft extra; without it the class still works as a plain listener
    from transformers import TrainerCallback as _Base
except ImportError:  # pragma: no cover
    _Base = object


class FMCallback(_Base):
    """Online detection + diagnosis inside a trainer. ``stop_on_diagnosis`` asks the trainer to stop (for the
    supervisor); ``on_event`` is called for every alarm or diagnosis. Keeps alarms only (bounded)."""

    def __init__(
        self,
        model: FMModel,
        on_event: Callable[[FMEvent], None] | None = None,
        stop_on_diagnosis: bool = False,
        max_events: int = 1000,
    ):
        self.monitor = FailureMonitor(model)
        self.on_event = on_event
        self.stop_on_diagnosis = stop_on_diagnosis
        self.max_events = max_events
        self.events: list[FMEvent] = []
        self.errors = 0
        self.last_step: int | None = None
        self._runner_records = False

    # records from the FaultBench runner (preferred: has trajectories)
    def on_step_record(self, record, trajectories, control, controller=None) -> None:
        self._runner_records = True
        self._feed(lambda: self.monitor.update(record, trajectories), control)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self._runner_records or not logs or "loss" not in logs and "reward" not in logs:
            return
        step = int(state.global_step)
        if step == self.last_step:
            return
        self._feed(lambda: self.monitor.update(map_metrics(step, logs)), control)

    def _feed(self, update: Callable[[], FMEvent], control) -> None:
        try:
            ev = update()
            self.last_step = ev.verdict.step
            if ev.verdict.alarm or ev.diagnosis is not None:
                if len(self.events) < self.max_events:
                    self.events.append(ev)
                if self.on_event is not None:
                    self.on_event(ev)
            if ev.diagnosis is not None and self.stop_on_diagnosis and control is not None:
                control.should_training_stop = True
        except Exception:  # never let the monitor take the training down
            self.errors += 1
            log.exception("faultwise monitor error (ignored; training continues)")
