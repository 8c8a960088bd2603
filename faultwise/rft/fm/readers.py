"""Read other frameworks' training logs into StepRecords, offline or while they grow.

Formats: verl's JSONL ``file`` logger (``{"step": N, "data": {...}}`` or flat) and its console lines
(``step:N - actor/entropy:0.71 - ...``), TRL's ``trainer_state.json`` (``log_history``), TensorBoard event
files (TRL, OpenRLHF ``train/*``, verl), plain JSONL of our own StepRecords (``steps.jsonl``). Metric names
are mapped onto StepRecord fields by :data:`METRIC_MAP`; the first name found wins for a field, unknown
names are kept as extra fields. Malformed lines are skipped and counted, never fatal, because a live log
can be half-written; a file with nothing usable is an :class:`InputError`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from faultwise.errors import InputError
from faultwise.rft.records import StepRecord

# our field -> framework names, in order of preference
METRIC_MAP: dict[str, tuple[str, ...]] = {
    "reward_mean": (
        "reward_mean",
        "critic/score/mean",
        "critic/rewards/mean",
        "reward",
        "train/reward",
        "rewards/mean",
        "train/rewards",
    ),
    "reward_std": ("reward_std", "critic/score/std", "critic/rewards/std", "train/reward_std", "rewards/std"),
    "kl": ("kl", "actor/kl_loss", "actor/ppo_kl", "train/kl", "objective/kl", "critic/kl"),
    "entropy": (
        "entropy",
        "actor/entropy",
        "actor/entropy_loss",
        "train/entropy",
        "objective/entropy",
        "train/policy_entropy",
    ),
    "policy_loss": ("policy_loss", "actor/pg_loss", "loss", "train/policy_loss", "train/loss"),
    "grad_norm": ("grad_norm", "actor/grad_norm", "train/grad_norm", "train/actor_grad_norm"),
    "learning_rate": ("learning_rate", "actor/lr", "train/actor_lr", "train/learning_rate", "lr"),
    "response_length_mean": (
        "response_length_mean",
        "response_length/mean",
        "completions/mean_length",
        "train/response_length",
        "completion_length",
    ),
    "response_length_max": (
        "response_length_max",
        "response_length/max",
        "completions/max_length",
        "train/response_length_max",
    ),
    "clip_ratio": (
        "clip_ratio",
        "actor/pg_clipfrac",
        "clip_ratio/region_mean",
        "train/ppo_clip_ratio",
        "train/clip_ratio",
    ),
    "advantage_mean": ("advantage_mean", "critic/advantages/mean", "train/advantages_mean"),
    "advantage_std": ("advantage_std", "critic/advantages/std", "train/advantages_std"),
    "tool_calls_per_traj": ("tool_calls_per_traj",),
    "tool_errors_per_traj": ("tool_errors_per_traj",),
    "repetition_ratio_mean": ("repetition_ratio_mean",),
    "empty_ratio": ("empty_ratio",),
    "task_accuracy": ("task_accuracy", "val/accuracy", "eval/accuracy"),
    "wall_time_s": ("wall_time_s", "timing_s/step"),
}
STEP_KEYS = ("step", "global_step", "training/global_step", "train/global_step")
_LABEL_FIELDS = ("fault_type", "fault_family", "strength", "fault_active")
_CONSOLE_STEP = re.compile(r"(?:^|\s)step:(\d+)\s+-\s+(.*)$")


@dataclass
class ReadResult:
    """What a log held: its step records in step order, the format it was read as, what was skipped."""

    steps: list[StepRecord]
    format: str
    skipped_lines: int = 0
    problems: list[str] = field(default_factory=list)


def _to_float(v: object) -> float | None:
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v.strip())
        except ValueError:
            return None
    return None


def map_metrics(step: int, metrics: dict[str, object]) -> StepRecord:
    """One step's metrics under any framework's names -> StepRecord (non-finite values kept)."""
    fields: dict[str, object] = {"step": step}
    used: set[str] = set()
    for ours, names in METRIC_MAP.items():
        for n in names:
            if n in metrics:
                v = _to_float(metrics[n])
                if v is not None:
                    fields[ours] = v
                    used.add(n)
                    break
    for k in _LABEL_FIELDS:
        if k in metrics:
            fields[k] = metrics[k]
            used.add(k)
    for k, v in metrics.items():  # keep the rest as extras (numeric only, names made attribute-safe)
        if k not in used and k not in STEP_KEYS and k not in fields:
            fv = _to_float(v)
            if fv is not None:
                fields[re.sub(r"\W", "_", k)] = fv
    return StepRecord.model_validate(fields)


def _step_of(obj: dict) -> int | None:
    for k in STEP_KEYS:
        if k in obj:
            v = _to_float(obj[k])
            if v is not None and math.isfinite(v) and v >= 0:
                return int(v)
    return None


def parse_json_line(line: str) -> StepRecord | None:
    """verl file-logger or plain JSONL line -> StepRecord; None when the line is not usable."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError:
        return None
    if not isinstance(obj, dict):
        return None
    step = _step_of(obj)
    data = obj.get("data") if isinstance(obj.get("data"), dict) else obj
    if step is None:
        step = _step_of(data)
    if step is None:
        return None
    try:
        return map_metrics(step, data)
    except ValueError:
        return None


def parse_console_line(line: str) -> StepRecord | None:
    """verl console line ``step:N - key:value - key:value`` -> StepRecord."""
    m = _CONSOLE_STEP.search(line.strip())
    if not m:
        return None
    metrics: dict[str, object] = {}
    for part in m.group(2).split(" - "):
        key, sep, val = part.rpartition(":")
        if sep and key.strip():
            metrics[key.strip()] = val.strip()
    try:
        return map_metrics(int(m.group(1)), metrics)
    except ValueError:
        return None


def parse_line(line: str) -> StepRecord | None:
    """One log line (JSON or verl console) -> StepRecord; None when the line is not usable."""
    s = line.strip()
    if not s:
        return None
    return parse_json_line(s) if s.startswith("{") else parse_console_line(s)


def read_trainer_state(path: Path) -> ReadResult:
    """TRL/transformers ``trainer_state.json``: one record per ``log_history`` entry with training metrics."""
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(path, f"not a readable JSON file ({exc.__class__.__name__})") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("log_history"), list):
        raise InputError(path, "no log_history list (not a trainer_state.json?)")
    out, skipped = [], 0
    for entry in obj["log_history"]:
        if not isinstance(entry, dict) or "train_runtime" in entry or _step_of(entry) is None:
            skipped += 1
            continue
        try:
            out.append(map_metrics(_step_of(entry), entry))
        except ValueError:
            skipped += 1
    return ReadResult(_merge_same_step(out), "trl_trainer_state", skipped)


def read_tensorboard(path: Path) -> ReadResult:
    """TensorBoard event file(s): scalars grouped by step."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    try:
        acc = EventAccumulator(str(path), size_guidance={"scalars": 0})
        acc.Reload()
        tags = acc.Tags().get("scalars", [])
    except Exception as exc:  # corrupt records raise various errors
        raise InputError(path, f"unreadable TensorBoard events ({exc.__class__.__name__})") from None
    by_step: dict[int, dict[str, object]] = {}
    for tag in tags:
        for ev in acc.Scalars(tag):
            by_step.setdefault(int(ev.step), {})[tag] = float(ev.value)
    return ReadResult([map_metrics(s, m) for s, m in sorted(by_step.items())], "tensorboard")


def _merge_same_step(recs: list[StepRecord]) -> list[StepRecord]:
    """Frameworks may log one step in several entries (train metrics, then eval): merge them, last wins."""
    merged: dict[int, dict] = {}
    for r in recs:
        merged.setdefault(r.step, {}).update(r.model_dump(exclude_none=True, exclude_defaults=True))
    return [StepRecord.model_validate({"step": s, **d}) for s, d in sorted(merged.items())]


def read_lines(lines: Iterable[str]) -> tuple[list[StepRecord], int]:
    """The step records of log lines, and how many non-empty lines were unusable."""
    out, skipped = [], 0
    for line in lines:
        if not line.strip():
            continue
        rec = parse_line(line)
        if rec is None:
            skipped += 1
        else:
            out.append(rec)
    return out, skipped


def detect_format(path: Path) -> str:
    """How to read ``path``: ``lines``, ``trl_trainer_state``, ``tensorboard``, or ``dir:<file>`` for a run
    directory (the file inside it to read)."""
    if path.is_dir():
        for name in ("steps.jsonl", "trainer_state.json"):
            if (path / name).is_file():
                return "dir:" + name
        if list(path.glob("**/events.out.tfevents.*")):
            return "tensorboard"
        ckpts = sorted(
            path.glob("checkpoint-*/trainer_state.json"), key=lambda p: int(p.parent.name.split("-")[-1])
        )
        if ckpts:
            return "dir:" + str(ckpts[-1].relative_to(path))
        raise InputError(path, "no steps.jsonl, trainer_state.json or TensorBoard events in this directory")
    if "tfevents" in path.name:
        return "tensorboard"
    if path.name.endswith("trainer_state.json"):
        return "trl_trainer_state"
    return "lines"


def read_log(path: str | Path) -> ReadResult:
    """Read any supported log (file or run directory) into StepRecords, in step order."""
    p = Path(path)
    if not p.exists():
        raise InputError(p, "log not found")
    fmt = detect_format(p)
    if fmt.startswith("dir:"):
        return read_log(p / fmt[4:])
    if fmt == "tensorboard":
        res = read_tensorboard(p)
    elif fmt == "trl_trainer_state":
        res = read_trainer_state(p)
    else:
        try:
            with open(p, encoding="utf-8", errors="replace") as fh:
                recs, skipped = read_lines(fh)
        except OSError as exc:
            raise InputError(p, f"unreadable ({exc.strerror})") from None
        res = ReadResult(_merge_same_step(recs), "jsonl_or_console", skipped)
    if not res.steps:
        raise InputError(p, f"no training-step metrics found ({res.skipped_lines} unusable lines)")
    return res


def follow_lines(
    path: Path, poll_s: float = 1.0, follow: bool = True, idle_timeout_s: float | None = None
) -> Iterator[str]:
    """Yield complete lines of a growing text file (like ``tail -f``); a partial last line waits."""
    import time

    if not path.is_file():
        raise InputError(path, "log not found")
    buf = ""
    idle = 0.0
    with open(path, encoding="utf-8", errors="replace") as fh:
        while True:
            chunk = fh.read()
            if chunk:
                idle = 0.0
                buf += chunk
                *lines, buf = buf.split("\n")
                yield from lines
                continue
            if not follow:
                if buf.strip():
                    yield buf
                return
            if idle_timeout_s is not None and idle >= idle_timeout_s:
                return
            time.sleep(poll_s)
            idle += poll_s
