"""Follow a training log as it grows and report alarms and diagnoses as they happen.

Line logs (verl JSONL/console, plain JSONL) are tailed; whole-file formats (``trainer_state.json``,
TensorBoard events) are re-read on each poll and only the new steps are fed. Without a fitted model, the
first ``warmup_steps`` of the run itself are taken as its normal profile (a weaker, self-referenced check;
the hard rules are active from the first step).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path

from faultwise.rft.fm.detect.detector import StepVerdict
from faultwise.rft.fm.detect.profile import fit_profile
from faultwise.rft.fm.model import FMModel
from faultwise.rft.fm.monitor import FailureMonitor, FMEvent
from faultwise.rft.fm.readers import detect_format, follow_lines, parse_line, read_log
from faultwise.rft.records import StepRecord
from faultwise.rft.signals import extract_signals


def _records(path: Path, follow: bool, poll_s: float, idle_timeout_s: float | None) -> Iterator[StepRecord]:
    fmt = detect_format(path)
    if fmt.startswith("dir:") and fmt.endswith(".jsonl"):
        path, fmt = path / fmt[4:], "lines"
    if fmt == "lines":
        for line in follow_lines(path, poll_s, follow, idle_timeout_s):
            rec = parse_line(line)
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


class _SelfCalibrated:
    """Stand-in monitor while no model is given: hard rules during warm-up, then a profile of the warm-up."""

    def __init__(self, warmup_steps: int) -> None:
        self.warmup_steps = warmup_steps
        self.seen: list[tuple[int, dict[str, float]]] = []
        self.fm: FailureMonitor | None = None

    def update(self, rec: StepRecord) -> FMEvent:
        sig = extract_signals(rec)
        if self.fm is not None:
            return self.fm.update_signals(rec.step, sig)
        bad = sorted(k for k, v in sig.items() if not math.isfinite(v))
        if not bad:
            self.seen.append((rec.step, sig))
        if len(self.seen) >= self.warmup_steps:
            half = len(self.seen) // 2
            prof = fit_profile([self.seen[:half], self.seen[half:]], target_false_alarm_rate=0.01, margin=1.0)
            self.fm = FailureMonitor(FMModel(profile=prof))
            for s, sg in self.seen:  # replay the warm-up so the online state is in place
                self.fm.update_signals(s, sg)
        verdict = StepVerdict(
            step=rec.step,
            score=math.inf if bad else 0.0,
            alarm=bool(bad),
            invariant="numerical_health" if bad else None,
            rule="non_finite:" + ",".join(bad) if bad else None,
        )
        return FMEvent(verdict=verdict)


def watch(
    path: str | Path,
    model: FMModel | None = None,
    follow: bool = True,
    poll_s: float = 1.0,
    idle_timeout_s: float | None = None,
    warmup_steps: int = 10,
) -> Iterator[FMEvent]:
    """Yield one event per step of the log, as the steps appear.

    Args:
        path: a log file or run directory (see :func:`faultwise.rft.fm.read_log` for the formats).
        model: the fitted model; without it the run's first ``warmup_steps`` are its normal profile.
        follow: keep reading as the log grows (``tail -f``); False: read what is there and stop.
        poll_s: seconds between polls of a growing log.
        idle_timeout_s: stop following after this long without a new line (None: never).
        warmup_steps: steps of self-calibration when no model is given.
    """
    p = Path(path)
    mon = FailureMonitor(model) if model is not None else _SelfCalibrated(warmup_steps)
    for rec in _records(p, follow, poll_s, idle_timeout_s):
        yield mon.update(rec)
    if isinstance(mon, FailureMonitor):
        pending = mon.diagnosis is None and mon.first_alarm_step is not None
        if pending and mon.finish() is not None:
            last = mon.detector.window[-1][0]
            yield FMEvent(verdict=StepVerdict(step=last, score=0.0, alarm=False), diagnosis=mon.diagnosis)


def describe(ev: FMEvent) -> str | None:
    """One human line for an event worth printing (alarm or diagnosis), else None."""
    parts = []
    v = ev.verdict
    if v.alarm:
        why = v.rule or (
            f"{v.evidence[0].signal} {v.evidence[0].component} z={v.evidence[0].z:+.1f}" if v.evidence else ""
        )
        parts.append(f"step {v.step}: ALARM score={v.score:.2f} invariant={v.invariant} ({why})")
    if ev.diagnosis is not None:
        d = ev.diagnosis
        sigs = ", ".join(s.signal for s in d.deciding_signals[:3])
        parts.append(
            f"step {v.step}: DIAGNOSIS {d.family}/{d.fault_type} confidence={d.confidence:.2f} [{sigs}]"
        )
    return "\n".join(parts) or None
