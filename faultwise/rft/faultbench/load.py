"""Read an RFT-FaultBench directory back: the one reader of a bench, validating every record.

Only runs listed in ``registry.csv`` are read (a run directory without a row is incomplete by definition).
Each run's ``steps.jsonl`` is required; its trajectories (``trajectories.parquet``, or ``trajectories.jsonl``
from other producers) are read when present. Any problem — missing file, malformed JSON line, a record that
fails validation, a trajectory file without a required column, a run whose step count disagrees with its
registry row — raises :class:`faultwise.errors.InputError` naming the file (and line or row) and the problem.

:func:`split_runs` is the deterministic held-out-seed split of one bench (fit on one part, score the other).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError

from faultwise.errors import InputError
from faultwise.rft.records import FAULT_TYPES, RunInfo, StepRecord, TrajectoryRecord, first_problem
from faultwise.rft.signals import extract_signals

REGISTRY = "registry.csv"
REGISTRY_COLUMNS: list[str] = list(RunInfo.model_fields)
TRAJECTORY_REQUIRED: list[str] = [
    (f.alias or name) for name, f in TrajectoryRecord.model_fields.items() if f.is_required()
]
SPLITS: tuple[str, ...] = ("all", "fit", "eval")


@dataclass
class BenchRun:
    """One run of a bench: its registry row, its step records, and its trajectories by step."""

    info: RunInfo
    steps: list[StepRecord]
    trajectories: dict[int, list[TrajectoryRecord]] = field(default_factory=dict)
    _signals: list[tuple[int, dict[str, float]]] | None = field(default=None, repr=False)

    @property
    def is_faulty(self) -> bool:
        """Whether a fault was injected."""
        return self.info.fault_type != "none"

    @property
    def onset(self) -> int | None:
        """First step labelled active (the label wins over the registry's onset when both exist)."""
        if not self.is_faulty:
            return None
        active = [s.step for s in self.steps if s.fault_active]
        return min(active) if active else self.info.onset_step

    @property
    def trajectory_count(self) -> int:
        """Number of trajectory records of the run."""
        return sum(len(t) for t in self.trajectories.values())

    def signal_run(self) -> list[tuple[int, dict[str, float]]]:
        """(step, signals) in order; computed once per run (scoring and comparisons replay it many times)."""
        if self._signals is None:
            self._signals = [(s.step, extract_signals(s, self.trajectories.get(s.step))) for s in self.steps]
        return self._signals


@dataclass
class Bench:
    """A loaded bench: where it is and its runs, in registry order."""

    root: Path
    runs: list[BenchRun]

    @property
    def infos(self) -> list[RunInfo]:
        """The registry rows."""
        return [r.info for r in self.runs]

    def steps_frame(self) -> pd.DataFrame:
        """Every step record as one frame, with a leading ``run_id`` column."""
        frames = []
        for r in self.runs:
            sdf = pd.DataFrame([s.model_dump() for s in r.steps])
            sdf.insert(0, "run_id", r.info.run_id)
            frames.append(sdf)
        return pd.concat(frames, ignore_index=True)


def read_registry(root: Path) -> list[RunInfo]:
    """The rows of ``root/registry.csv`` (an empty list when the file does not exist yet)."""
    path = Path(root) / REGISTRY
    if not path.exists():
        return []
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = set(REGISTRY_COLUMNS) - set(reader.fieldnames or [])
            if missing:
                raise InputError(path, f"missing column(s) {', '.join(sorted(missing))}")
            rows = []
            for lineno, row in enumerate(reader, start=2):
                try:
                    rows.append(RunInfo.model_validate({k: v for k, v in row.items() if v != ""}))
                except ValidationError as exc:
                    raise InputError(f"{path}:{lineno}", first_problem(exc)) from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(path, f"unreadable CSV ({exc.__class__.__name__})") from None
    return rows


def read_steps(path: Path) -> list[StepRecord]:
    """The step records of one ``steps.jsonl``."""
    if not path.is_file():
        raise InputError(path, "missing (the run has no steps.jsonl)")
    out = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}:{lineno}", f"not JSON ({exc.msg})") from None
            try:
                out.append(StepRecord.model_validate(obj))
            except ValidationError as exc:
                raise InputError(f"{path}:{lineno}", first_problem(exc)) from None
    if not out:
        raise InputError(path, "no step records")
    return out


def _trajectory_rows(run_dir: Path) -> tuple[Path, list[dict[str, Any]]] | None:
    pq, jl = run_dir / "trajectories.parquet", run_dir / "trajectories.jsonl"
    if pq.is_file():
        try:
            df = pd.read_parquet(pq)
        except Exception as exc:  # pyarrow raises many kinds
            raise InputError(pq, f"not a readable parquet file ({exc.__class__.__name__})") from None
        missing = [c for c in TRAJECTORY_REQUIRED if c not in df.columns]
        if missing:
            raise InputError(pq, f"missing column(s) {', '.join(missing)}")
        return pq, df.to_dict(orient="records")
    if jl.is_file():
        rows = []
        with open(jl, encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, start=1):
                if line.strip():
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError as exc:
                        raise InputError(f"{jl}:{lineno}", f"not JSON ({exc.msg})") from None
        return jl, rows
    return None


def read_trajectories(run_dir: Path) -> dict[int, list[TrajectoryRecord]]:
    """The trajectory records of a run directory by step (``{}`` when it has none)."""
    found = _trajectory_rows(Path(run_dir))
    if found is None:
        return {}
    src, rows = found
    if not rows:
        raise InputError(src, "no trajectories")
    out: dict[int, list[TrajectoryRecord]] = {}
    for i, row in enumerate(rows):
        try:
            t = TrajectoryRecord.model_validate(row)
        except ValidationError as exc:
            raise InputError(f"{src}:row {i}", first_problem(exc)) from None
        out.setdefault(t.step, []).append(t)
    return out


def load_bench(root: str | Path, trajectories: bool = True) -> Bench:
    """Load and validate a bench written by :func:`faultwise.rft.faultbench.generate` (or in its layout).

    Args:
        root: the bench directory (``registry.csv`` + ``runs/``).
        trajectories: also read the trajectory records (detection uses them when present).
    """
    root = Path(root)
    reg = root / REGISTRY
    if not reg.is_file():
        raise InputError(root, f"no {REGISTRY}: not an RFT-FaultBench directory (or nothing generated yet)")
    infos = read_registry(root)
    if not infos:
        raise InputError(reg, "no runs")
    runs: list[BenchRun] = []
    seen: set[str] = set()
    for info in infos:
        if info.run_id in seen:
            raise InputError(reg, f"duplicate run_id {info.run_id}")
        seen.add(info.run_id)
        if info.fault_type != "none" and info.fault_type not in FAULT_TYPES:
            raise InputError(reg, f"run {info.run_id}: unknown fault type {info.fault_type!r}")
        run_dir = root / "runs" / info.run_id
        steps = read_steps(run_dir / "steps.jsonl")
        if len(steps) != info.steps:
            raise InputError(run_dir / "steps.jsonl", f"{len(steps)} steps, registry says {info.steps}")
        runs.append(BenchRun(info, steps, read_trajectories(run_dir) if trajectories else {}))
    return Bench(root=root, runs=runs)


def split_runs(runs: Sequence[BenchRun], part: str, every: int = 3) -> list[BenchRun]:
    """Deterministic held-out-seed split of one bench: ``fit`` or ``eval`` (or ``all``).

    Within each (fault type, strength) group, runs are ordered by seed and one in ``every`` goes to ``eval``;
    the position rotates with the group, so the eval part mixes step-1 and mid-run onsets. Every run has its
    own seed, so ``eval`` holds only seeds the fitted model never saw.
    """
    if part == "all":
        return list(runs)
    if part not in SPLITS:
        raise InputError("split", f"must be one of {', '.join(SPLITS)}, not {part!r}")
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
