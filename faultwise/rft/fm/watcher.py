"""Follow a training log as it grows and report alarms and diagnoses as they happen.

Line logs (verl JSONL/console, plain JSONL, TRL stdout, ms-swift) are tailed; whole-file formats
(``trainer_state.json``, TensorBoard events) are re-read on each poll and only the new steps are fed. No
model is needed: the monitor judges the run against its own history and physical invariants; a fitted
model refines that on runs that look like its bench (see :mod:`faultwise.rft.fm.monitor`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

from faultwise.errors import InputError
from faultwise.rft.faultbench.config import run_dir_setup
from faultwise.rft.fm.detect.detector import StepVerdict
from faultwise.rft.fm.detect.selfref import SelfRefConfig
from faultwise.rft.fm.model import FMModel
from faultwise.rft.fm.monitor import AlarmEvent, Excursion, FailureMonitor, FMEvent
from faultwise.rft.fm.readers import LineParser, detect_format, follow_lines, read_log
from faultwise.rft.records import StepRecord


def _records(
    path: Path, follow: bool, poll_s: float, idle_timeout_s: float | None, parser: LineParser
) -> Iterator[StepRecord]:
    fmt = detect_format(path)
    if fmt.startswith("dir:") and fmt.endswith(".jsonl"):
        path, fmt = path / fmt[4:], "lines"
    if fmt == "lines":
        for line in follow_lines(path, poll_s, follow, idle_timeout_s):
            rec = parser.parse(line)
            if rec is not None:
                yield rec
        return
    last = -1
    idle = 0.0
    while True:
        new = [r for r in read_log(path).steps if r.step > last]
        yield from new
        if new:
            last, idle = new[-1].step, 0.0
        if not follow or (idle_timeout_s is not None and idle >= idle_timeout_s):
            return
        time.sleep(poll_s)
        idle += poll_s


def watch(
    path: str | Path,
    model: FMModel | None = None,
    follow: bool = True,
    poll_s: float = 1.0,
    idle_timeout_s: float | None = None,
    config: SelfRefConfig | None = None,
) -> Iterator[FMEvent]:
    """Yield one event per step of the log, as the steps appear; a last one diagnoses a pending alarm.

    Args:
        path: a log file or run directory (see :func:`faultwise.rft.fm.read_log` for the formats).
        model: a fitted model (optional): refines detection and diagnosis on runs that fit it.
        follow: keep reading as the log grows (``tail -f``); False: read what is there and stop.
        poll_s: seconds between polls of a growing log.
        idle_timeout_s: stop following after this long without a new line (None: never).
        config: the self-referenced detector's constants (reward range, length limit, ...); a length limit
            the log's printed config declares is taken when ``config`` gives none.

    Raises:
        InputError: the log holds no readable training step (never reported as a healthy run).
    """
    p = Path(path)
    mon = FailureMonitor(model, config, setup=run_dir_setup(p))  # a bench run folder declares one
    parser = LineParser()  # also reads the length limit where the log prints its config
    n = 0
    for rec in _records(p, follow, poll_s, idle_timeout_s, parser):
        n += 1
        mon.declare(max_response_length=parser.max_response_length)
        yield mon.update(rec)
    if n == 0:
        raise InputError(p, "no training-step metrics found (no readable step)")
    pending = mon.open_event
    if pending is not None and pending.diagnosis is None:
        mon.finish()
        last = pending.last_alarm_step
        yield FMEvent(verdict=StepVerdict(step=last, score=0.0, alarm=False), diagnosis=pending.diagnosis)


def describe_event(ev: AlarmEvent) -> str:
    """One human line for an alarm event."""
    d = ev.diagnosis
    what = f"{d.family}/{d.fault_type} (confidence {d.confidence:.2f}, {d.source})" if d else "pending"
    span = (
        f"steps {ev.opened_step}-{ev.closed_step}"
        if ev.closed_step is not None
        else f"open since {ev.opened_step}"
    )
    why = "; ".join(ev.rules) or ", ".join(ev.signals[:4])
    line = f"ALARM EVENT #{ev.event_id} {span}, onset ~{ev.onset_step}: {why}; diagnosis {what}"
    if ev.excursions:
        line += "; within it: " + ", ".join(f"{_excursion(x)} at step {x.step}" for x in ev.excursions[:3])
    if ev.run_low is not None:
        line += f"; lowest point: {_excursion(ev.run_low)} at step {ev.run_low.step}"
    return line


def _excursion(x: Excursion) -> str:
    if x.kind == "run_low":
        return f"{x.signal} {x.value:.4g}, the run's lowest (previous low {x.previous_low:.4g})"
    return f"{x.signal} {x.value:.4g} (expected ~{x.expected:.3g}, z={x.z:+.1f})"


def describe(ev: FMEvent) -> str | None:
    """Human lines for a step worth printing (an event opened, diagnosed, changed within or closed), else
    None."""
    parts = []
    v = ev.verdict
    if ev.opened is not None:
        o = ev.opened
        why = v.rule or ", ".join(f"{e.signal} z={e.z:+.1f}" for e in v.evidence[:3])
        parts.append(f"step {v.step}: ALARM event #{o.event_id} opened, onset ~{o.onset_step} ({why})")
    if ev.diagnosis is not None:
        d = ev.diagnosis
        sigs = ", ".join(s.signal for s in d.deciding_signals[:3]) or d.source
        parts.append(
            f"step {v.step}: DIAGNOSIS {d.family}/{d.fault_type} confidence={d.confidence:.2f} [{sigs}]"
        )
    for x in ev.excursions:
        parts.append(f"step {v.step}: within the open event: {_excursion(x)}")
    if ev.closed is not None:
        parts.append(f"step {v.step}: event #{ev.closed.event_id} closed (healthy again)")
    return "\n".join(parts) or None
