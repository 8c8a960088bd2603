"""Fit the failure manager on a bench, and score detection and diagnosis on another one.

Run-level detection: a faulty run is a true positive when an alarm fires at or after its onset; an alarm on
a normal run, or on a faulty run before its onset, is a false alarm; the delay is the first alarm at/after the
onset minus the onset, in steps. Diagnosis is scored on every faulty run: the window at the first alarm after
onset (plus the confirmation steps), or the end of the run when nothing fired ("unknown" then counts wrong).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydantic import ValidationError

from faultwise.errors import InputError
from faultwise.rft.detect.model import FMModel
from faultwise.rft.detect.monitor import Monitor
from faultwise.rft.detect.profile import fit_profile
from faultwise.rft.detect.signals import extract_signals
from faultwise.rft.diagnose.classifier import diagnose, fit_diagnoser
from faultwise.rft.diagnose.features import window_features
from faultwise.rft.diagnose.online import FailureMonitor
from faultwise.rft.records import FAMILY_OF, RunInfo, StepRecord, TrajectoryRecord

# ----------------------------------------------------------------------------------------------- loading


@dataclass
class BenchRun:
    info: RunInfo
    steps: list[StepRecord]
    trajectories: dict[int, list[TrajectoryRecord]] = field(default_factory=dict)
    _signals: list[tuple[int, dict[str, float]]] | None = field(default=None, repr=False)

    @property
    def is_faulty(self) -> bool:
        return self.info.fault_type != "none"

    @property
    def onset(self) -> int | None:
        """First step labelled active (the label wins over the registry's onset when both exist)."""
        if not self.is_faulty:
            return None
        active = [s.step for s in self.steps if s.fault_active]
        return min(active) if active else self.info.onset_step

    def signal_run(self) -> list[tuple[int, dict[str, float]]]:
        """(step, signals) in order; computed once per run (scoring and baselines replay it many times)."""
        if self._signals is None:
            self._signals = [(s.step, extract_signals(s, self.trajectories.get(s.step))) for s in self.steps]
        return self._signals


def read_steps(path: Path) -> list[StepRecord]:
    if not path.is_file():
        raise InputError(path, "steps file not found")
    out = []
    with open(path, encoding="utf-8") as fh:
        for i, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                out.append(StepRecord.model_validate_json(line))
            except ValidationError as exc:
                first = exc.errors()[0]
                raise InputError(
                    path, f"line {i}: {'.'.join(map(str, first['loc']))}: {first['msg']}"
                ) from None
    if not out:
        raise InputError(path, "no step records")
    return out


def read_trajectories(run_dir: Path) -> dict[int, list[TrajectoryRecord]]:
    pq, jl = run_dir / "trajectories.parquet", run_dir / "trajectories.jsonl"
    if pq.is_file():
        import pandas as pd

        try:
            rows = pd.read_parquet(pq).to_dict(orient="records")
        except Exception as exc:  # pyarrow raises many kinds
            raise InputError(pq, f"unreadable parquet ({exc.__class__.__name__})") from None
        src = pq
    elif jl.is_file():
        rows = []
        with open(jl, encoding="utf-8") as fh:
            for i, line in enumerate(fh, 1):
                if line.strip():
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError:
                        raise InputError(jl, f"line {i}: not JSON") from None
        src = jl
    else:
        return {}
    out: dict[int, list[TrajectoryRecord]] = {}
    for i, row in enumerate(rows):
        try:
            t = TrajectoryRecord.model_validate(row)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise InputError(src, f"row {i}: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None
        out.setdefault(t.step, []).append(t)
    return out


def load_bench(bench_dir: str | Path, with_trajectories: bool = True) -> list[BenchRun]:
    """Read ``registry.csv`` and every run it lists; a run listed but missing is an input error."""
    import pandas as pd

    root = Path(bench_dir)
    reg = root / "registry.csv"
    if not reg.is_file():
        raise InputError(reg, "registry.csv not found (not a bench directory?)")
    try:
        df = pd.read_csv(reg, dtype=str, keep_default_na=False)
    except Exception as exc:
        raise InputError(reg, f"unreadable CSV ({exc.__class__.__name__})") from None
    runs = []
    for i, row in enumerate(df.to_dict(orient="records")):
        try:
            info = RunInfo.model_validate({k: v for k, v in row.items() if v != ""})
        except ValidationError as exc:
            first = exc.errors()[0]
            raise InputError(
                reg, f"row {i + 1}: {'.'.join(map(str, first['loc']))}: {first['msg']}"
            ) from None
        run_dir = root / "runs" / info.run_id
        runs.append(
            BenchRun(
                info,
                read_steps(run_dir / "steps.jsonl"),
                read_trajectories(run_dir) if with_trajectories else {},
            )
        )
    if not runs:
        raise InputError(reg, "no runs listed")
    return runs


def split_runs(runs: Sequence[BenchRun], part: str, every: int = 3) -> list[BenchRun]:
    """Deterministic held-out-seed split of one bench: ``fit`` or ``eval`` (or ``all``).

    Within each (fault type, strength) group, runs are ordered by seed and one in ``every`` goes to ``eval``;
    the position rotates with the group, so the eval part mixes step-1 and mid-run onsets. Every run has its
    own seed, so ``eval`` holds only seeds the fitted model never saw.
    """
    if part == "all":
        return list(runs)
    if part not in ("fit", "eval"):
        raise InputError(part, "split must be all, fit or eval")
    groups: dict[tuple[str, str], list[BenchRun]] = {}
    for r in runs:
        groups.setdefault((r.info.fault_type, r.info.strength), []).append(r)
    keys = sorted(groups)
    out = []
    for gi, key in enumerate(keys):
        members = sorted(groups[key], key=lambda r: (r.info.seed, r.info.run_id))
        for i, r in enumerate(members):
            held = len(members) > 1 and (i + gi) % every == every - 1
            if held == (part == "eval"):
                out.append(r)
    return out


# ----------------------------------------------------------------------------------------------- fitting


def _diag_windows(model: FMModel, run: BenchRun, extra: int = 3) -> list[np.ndarray]:
    """Training windows of a faulty run: the window diagnosed online, plus a few later ones (augmentation)."""
    mon = Monitor(model.profile)
    onset = run.onset or 0
    first = None
    feats = []
    for step, sig in run.signal_run():
        v = mon.update_signals(step, sig)
        if first is None and step >= onset and (v.alarm or step >= onset + 3):
            first = step
        if first is not None and step >= first + model.confirm_steps:
            feats.append(window_features([zs for s, zs in mon.window if s >= first]))
            if len(feats) > extra:
                break
    if not feats and mon.window:
        feats.append(window_features([zs for s, zs in mon.window if s >= onset] or [mon.window[-1][1]]))
    return feats


def fit_model(
    runs: Sequence[BenchRun], target_false_alarm_rate: float = 0.01, fitted_on: str = ""
) -> FMModel:
    normal = [r.signal_run() for r in runs if not r.is_faulty]
    if len(normal) < 2:
        raise InputError(fitted_on or "bench", f"needs at least 2 normal runs to fit, found {len(normal)}")
    model = FMModel(profile=fit_profile(normal, target_false_alarm_rate), fitted_on=fitted_on)
    X, y = [], []
    for r in runs:
        if r.is_faulty:
            for f in _diag_windows(model, r):
                X.append(f)
                y.append(r.info.fault_type)
    if len(set(y)) >= 2:
        model.diagnoser = fit_diagnoser(np.vstack(X), y)
    return model


# ----------------------------------------------------------------------------------------------- scoring


@dataclass
class RunOutcome:
    run_id: str
    fault_type: str
    strength: str
    onset: int | None
    first_alarm: int | None  # any alarm
    alarm_after_onset: int | None
    false_alarm: bool
    predicted: str | None = None


def run_monitor(model: FMModel, run: BenchRun) -> RunOutcome:
    fm = FailureMonitor(model)
    onset = run.onset
    first = after = None
    false_alarm = False
    diag_at_alarm = None
    for step, sig in run.signal_run():
        ev = fm.update_signals(step, sig)
        if ev.verdict.alarm:
            first = step if first is None else first
            if onset is None or step < onset:
                false_alarm = True
            elif after is None:
                after = step
        if after is not None and diag_at_alarm is None and step >= after + model.confirm_steps:
            diag_at_alarm = diagnose([zs for s, zs in fm.detector.window if s >= after], model.diagnoser)
    predicted = None
    if run.is_faulty:
        if diag_at_alarm is None:
            start = after if after is not None else (onset or 0)
            window = [zs for s, zs in fm.detector.window if s >= start] or [fm.detector.window[-1][1]]
            diag_at_alarm = diagnose(window, model.diagnoser)
        predicted = diag_at_alarm.fault_type
    return RunOutcome(
        run.info.run_id, run.info.fault_type, run.info.strength, onset, first, after, false_alarm, predicted
    )


def _prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4)}


def detection_metrics(outcomes: Sequence[RunOutcome]) -> dict:
    normal = [o for o in outcomes if o.fault_type == "none"]
    normal_fa = sum(o.false_alarm for o in normal)
    out: dict = {}
    delays = []
    for strength in ("easy", "hard"):
        fo = [o for o in outcomes if o.fault_type != "none" and o.strength == strength]
        tp = sum(o.alarm_after_onset is not None for o in fo)
        fn = len(fo) - tp
        fp = normal_fa + sum(o.false_alarm for o in fo)
        out[strength] = _prf(tp, fp, fn)
        delays += [o.alarm_after_onset - o.onset for o in fo if o.alarm_after_onset is not None]
    out["false_alarm_rate"] = round(normal_fa / len(normal), 4) if normal else None
    out["median_delay_steps"] = float(np.median(delays)) if delays else None
    return out


def _macro_f1(true: Sequence[str], pred: Sequence[str], labels: Sequence[str]) -> float:
    f1s = []
    for lab in labels:
        tp = sum(t == lab and p == lab for t, p in zip(true, pred, strict=True))
        fp = sum(t != lab and p == lab for t, p in zip(true, pred, strict=True))
        fn = sum(t == lab and p != lab for t, p in zip(true, pred, strict=True))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return round(float(np.mean(f1s)), 4) if f1s else 0.0


def diagnosis_metrics(outcomes: Sequence[RunOutcome]) -> dict:
    out: dict = {}
    fo = [o for o in outcomes if o.fault_type != "none"]
    for strength in ("easy", "hard"):
        sub = [o for o in fo if o.strength == strength]
        true = [o.fault_type for o in sub]
        pred = [o.predicted or "unknown" for o in sub]
        labels = sorted(set(true))
        out[strength] = {
            "macro_f1": _macro_f1(true, pred, labels),
            "accuracy": round(sum(t == p for t, p in zip(true, pred, strict=True)) / len(sub), 4)
            if sub
            else 0.0,
        }
    by_family: dict = {}
    for fam in sorted({FAMILY_OF[o.fault_type] for o in fo if o.fault_type in FAMILY_OF}):
        sub = [o for o in fo if FAMILY_OF.get(o.fault_type) == fam]
        by_family[fam] = {
            "type_accuracy": round(sum(o.predicted == o.fault_type for o in sub) / len(sub), 4),
            "family_accuracy": round(
                sum(FAMILY_OF.get(o.predicted or "", "") == fam for o in sub) / len(sub), 4
            ),
            "runs": len(sub),
        }
    out["by_family"] = by_family
    return out


def evaluate(model: FMModel, runs: Sequence[BenchRun], progress: Callable[[], None] | None = None) -> dict:
    outcomes = []
    for r in runs:
        outcomes.append(run_monitor(model, r))
        if progress:
            progress()
    return {"detection": detection_metrics(outcomes), "diagnosis": diagnosis_metrics(outcomes)}
