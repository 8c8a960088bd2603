"""A TRL/transformers ``TrainerCallback`` that feeds the failure monitor, step by step.

It reads the metrics TRL logs (``on_log``) through the same name mapping as the offline readers; when the
FaultBench runner is driving the trainer, its richer ``on_step_record`` (step record + trajectories) is used
instead. The monitor must never crash the training: any error of ours is logged and counted, not raised.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from faultwise.rft.fm.detect.selfref import SelfRefConfig
from faultwise.rft.fm.domain import SETUP_KEYS
from faultwise.rft.fm.model import FMModel
from faultwise.rft.fm.monitor import FailureMonitor, FMEvent
from faultwise.rft.fm.readers import map_metrics
from faultwise.rft.records import StepRecord, TrajectoryRecord


def _print_event(ev: FMEvent) -> None:
    from faultwise.rft.fm.watcher import describe

    line = describe(ev)
    if line:
        print(f"[faultwise] {line}", file=sys.stderr, flush=True)


if TYPE_CHECKING:
    from transformers import TrainerControl, TrainerState, TrainingArguments

log = logging.getLogger(__name__)

try:  # transformers is part of the rft extra; without it the class still works as a plain listener
    from transformers import TrainerCallback as _Base
except ImportError:  # pragma: no cover
    _Base = object


class FMCallback(_Base):
    """Online detection + diagnosis inside a trainer; keeps alarms and diagnoses only (bounded).

    Works without a fitted model (the run judged against its own history and physical invariants); a model
    refines detection and diagnosis on runs that look like its bench.

    Args:
        model: a fitted failure-manager model (:func:`faultwise.rft.fm.load_model`), optional.
        on_event: called with every step that alarms, diagnoses, closes an event or changes within one;
            default: print the event's lines to stderr.
        stop_on_diagnosis: ask the trainer to stop once a fault is diagnosed (what the supervisor does).
        checkpoint_on_diagnosis: ask the trainer to save a checkpoint when a fault is diagnosed.
        config: the self-referenced detector's constants (length limit, reward range, ...).
        max_events: most events kept in ``events``.
        setup: the run's training setup for the model's applicability check; default: read from the trainer's
            arguments and model config when training begins.

    Example::

        trainer = GRPOTrainer(...)
        trainer.add_callback(FMCallback())  # or FMCallback(load_model("model.json"), stop_on_diagnosis=True)
        trainer.train()
    """

    def __init__(
        self,
        model: FMModel | None = None,
        on_event: Callable[[FMEvent], None] | None = None,
        stop_on_diagnosis: bool = False,
        max_events: int = 1000,
        checkpoint_on_diagnosis: bool = False,
        config: SelfRefConfig | None = None,
        setup: Mapping[str, float] | None = None,
    ) -> None:
        self.monitor = FailureMonitor(model, config, setup=setup)
        self._setup_given = setup is not None
        self.on_event = on_event if on_event is not None else _print_event
        self.stop_on_diagnosis = stop_on_diagnosis
        self.checkpoint_on_diagnosis = checkpoint_on_diagnosis
        self.max_events = max_events
        self.events: list[FMEvent] = []
        self.errors = 0
        self.last_step: int | None = None
        self._runner_records = False

    def on_train_begin(
        self,
        args: TrainingArguments | None,
        state: TrainerState,
        control: TrainerControl | None,
        model: Any = None,
        **kwargs: Any,
    ) -> None:
        """Declare the run's setup (trainer arguments, model size) so a model fitted on other setups stays
        out of the run."""
        if self._setup_given:
            return
        try:
            self.monitor.declare_setup(trainer_setup(args, model))
        except Exception:  # never let the monitor take the training down
            self.errors += 1
            log.exception("faultwise monitor error (ignored; training continues)")

    # records from the FaultBench runner (preferred: has trajectories)
    def on_step_record(
        self,
        record: StepRecord,
        trajectories: Sequence[TrajectoryRecord],
        control: TrainerControl | None,
        controller: Any = None,
    ) -> None:
        """Listener of the FaultBench runner: one step record and its trajectories."""
        self._runner_records = True
        self._feed(lambda: self.monitor.update(record, trajectories), control)

    def on_log(
        self,
        args: TrainingArguments | None,
        state: TrainerState,
        control: TrainerControl | None,
        logs: dict[str, float] | None = None,
        **kwargs: Any,
    ) -> None:
        """transformers' logging event: one step's metrics under TRL's names."""
        if self._runner_records or not logs or "loss" not in logs and "reward" not in logs:
            return
        step = int(state.global_step)
        if step == self.last_step:
            return
        self._feed(lambda: self.monitor.update(map_metrics(step, logs)), control)

    def _feed(self, update: Callable[[], FMEvent], control: TrainerControl | None) -> None:
        try:
            ev = update()
            self.last_step = ev.verdict.step
            if ev.verdict.alarm or ev.diagnosis is not None or ev.closed is not None or ev.excursions:
                if len(self.events) < self.max_events:
                    self.events.append(ev)
                if self.on_event is not None:
                    self.on_event(ev)
            if ev.diagnosis is not None and control is not None:
                if self.checkpoint_on_diagnosis:
                    control.should_save = True
                if self.stop_on_diagnosis:
                    control.should_training_stop = True
        except Exception:  # never let the monitor take the training down
            self.errors += 1
            log.exception("faultwise monitor error (ignored; training continues)")


def trainer_setup(args: Any, model: Any = None) -> dict[str, float]:
    """The setup a trainer declares: its arguments' and its model config's numeric fields named in
    :data:`~faultwise.rft.fm.domain.SETUP_KEYS`."""
    out: dict[str, float] = {}
    cfg = getattr(model, "config", None)
    for key in SETUP_KEYS:
        for src in (args, cfg):
            v = getattr(src, key, None) if src is not None else None
            if isinstance(v, int | float) and not isinstance(v, bool):
                out[key] = float(v)
                break
    return out
