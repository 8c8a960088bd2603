"""Read other frameworks' training logs into StepRecords, offline or while they grow.

A log's format is recognised by its content, never by its file name:

- verl console lines ``step:N - key:value - ...`` (numpy 1 ``0.06`` and numpy 2 ``np.float64(0.06)`` values,
  Ray ``(TaskRunner pid=..)`` prefixes and ANSI colour codes are tolerated);
- JSON lines: verl's ``file`` logger (``{"step": N, "data": {...}}`` or flat), ms-swift's ``logging.jsonl``
  (the step in ``"global_step/max_steps": "300/1296"``), our own ``steps.jsonl``;
- TRL / transformers stdout dict lines (``{'loss': 0.0, 'reward': ...}``; no step: numbered in order);
- a JSON document with a ``log_history`` list (TRL ``trainer_state.json`` under any file name);
- TensorBoard event files, or a directory holding them at any depth (TRL's ``runs/<date>/events...``).

Metric names are mapped onto StepRecord fields by :data:`TOOL_METRIC_NAMES` (one table per tool, documented in
``docs/rft-fm.md``); a ``train/`` prefix (TRL TensorBoard) is tried without it; the first name found wins for
a field; unknown names are kept as extra fields. Malformed lines are skipped and counted, never fatal, because
a live log can be half-written; a file with no readable step is an :class:`InputError`.
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
from faultwise.rft.signals import STEP_SIGNALS

# Each tool's names for our fields, in order of preference within the tool.
TOOL_METRIC_NAMES: dict[str, dict[str, tuple[str, ...]]] = {
    "faultwise": {name: (name,) for name in (*STEP_SIGNALS, "learning_rate", "wall_time_s")},
    "verl": {
        "reward_mean": ("critic/score/mean", "critic/rewards/mean"),
        "reward_std": ("critic/score/std", "critic/rewards/std"),
        "reward_max": ("critic/score/max",),
        "reward_min": ("critic/score/min",),
        # KL to the reference: as a loss term (actor/kl_loss) or inside the reward (critic/kl); actor/ppo_kl is
        # the old-vs-new policy ratio KL of one update, not this, and stays an extra field
        "kl": ("actor/kl_loss", "critic/kl"),
        "entropy": ("actor/entropy", "actor/entropy_loss"),
        "policy_loss": ("actor/pg_loss",),
        "grad_norm": ("actor/grad_norm",),
        "learning_rate": ("actor/lr",),
        "response_length_mean": ("response_length/mean",),
        "response_length_max": ("response_length/max",),
        "length_clip_ratio": ("response_length/clip_ratio",),
        "clip_ratio": ("actor/pg_clipfrac",),
        "advantage_mean": ("critic/advantages/mean",),
        "advantage_std": ("critic/advantages/std",),
        "advantage_max": ("critic/advantages/max",),
        "advantage_min": ("critic/advantages/min",),
        "value_loss": ("critic/vf_loss",),
        "critic_grad_norm": ("critic/grad_norm",),
        "wall_time_s": ("timing_s/step",),
    },
    "trl": {  # GRPOTrainer (and ms-swift, which logs the same names), PPOTrainer, stdout and trainer_state
        "reward_mean": ("reward", "objective/scores", "rewards/mean"),
        "reward_std": ("reward_std", "rewards/std"),
        "kl": ("kl", "objective/kl"),
        "entropy": ("entropy", "policy/entropy_avg", "objective/entropy"),
        "policy_loss": ("loss", "loss/policy_avg"),
        "grad_norm": ("grad_norm",),
        "learning_rate": ("learning_rate", "lr"),
        "response_length_mean": ("completions/mean_length", "completion_length"),
        "response_length_max": ("completions/max_length",),
        "length_clip_ratio": ("completions/clipped_ratio",),
        "clip_ratio": ("clip_ratio/region_mean", "policy/clipfrac_avg", "clip_ratio"),
        "value_loss": ("loss/value_avg",),
        # GRPOTrainer with tools=: calls per completion; its failure share is per call (see map_metrics)
        "tool_calls_per_traj": ("tools/call_frequency",),
    },
    "openrlhf": {
        "reward_mean": ("train/reward",),
        "reward_std": ("train/reward_std",),
        "kl": ("train/kl",),
        "entropy": ("train/policy_entropy", "train/entropy"),
        "policy_loss": ("train/policy_loss",),
        "grad_norm": ("train/actor_grad_norm", "train/grad_norm"),
        "learning_rate": ("train/actor_lr", "train/learning_rate"),
        "response_length_mean": ("train/response_length",),
        "response_length_max": ("train/response_length_max",),
        "clip_ratio": ("train/ppo_clip_ratio", "train/clip_ratio"),
        "advantage_mean": ("train/advantages_mean",),
        "advantage_std": ("train/advantages_std",),
        "value_loss": ("train/critic_loss",),
    },
}


def _union_map() -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {}
    for table in TOOL_METRIC_NAMES.values():
        for ours, names in table.items():
            out.setdefault(ours, []).extend(n for n in names if n not in out.get(ours, []))
    return {k: tuple(v) for k, v in out.items()}


# our field -> every tool's names, in order of preference (faultwise, verl, TRL, OpenRLHF)
METRIC_MAP: dict[str, tuple[str, ...]] = _union_map()
# validation metrics: verl ``val-core/<data source>/acc/mean@1`` (or ``reward``), ``val/test_score/<ds>``
_VALIDATION = (
    re.compile(r"^val(?:-core)?/.+/acc/mean@\d+$"),
    re.compile(r"^val/test_score/.+$"),
    re.compile(r"^val(?:-core)?/.+/reward/mean@\d+$"),
    re.compile(r"^(?:val|eval)/accuracy$"),
)
# TRL's share of tool calls that failed (its calls per completion are mapped in TOOL_METRIC_NAMES)
_TRL_TOOL_FAILS = "tools/failure_frequency"
STEP_KEYS = ("step", "global_step", "training/global_step", "train/global_step")
_LABEL_FIELDS = ("fault_type", "fault_family", "strength", "fault_active")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_CONSOLE_STEP = re.compile(r"(?:^|\s|\))step:(\d+)\s+-\s+(.*)$")
_NUMPY_SCALAR = re.compile(r"^np\.\w+\((.*)\)$")  # numpy >= 2 repr: np.float64(0.06)
_PY_DICT_ITEM = re.compile(r"'([^']+)':\s*('[^']*'|[^,}]+)")
# the run's length limit where its config is printed (verl: the hydra dump ``'max_response_length': 512`` or the
# override ``data.max_response_length=1024``; TRL: ``max_completion_length=256`` in the printed arguments)
_LENGTH_LIMIT = re.compile(r"\b(?:max_response_length|max_completion_length)['\"]?\s*[:=]\s*(\d+)\b")
_SWIFT_STEP = "global_step/max_steps"
# keys that make a stepless dict a training-log entry (TRL stdout); others (eval, summaries) are not steps
_TRAINING_KEYS = ("loss", "reward", "grad_norm", "kl", "objective/scores")


@dataclass
class ReadResult:
    """What a log held: its step records in step order, the format it was read as, what was skipped."""

    steps: list[StepRecord]
    format: str
    skipped_lines: int = 0
    problems: list[str] = field(default_factory=list)
    max_steps: int | None = None
    max_response_length: int | None = None  # the length limit its printed config declares, if any


def _to_float(v: object) -> float | None:
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, str):
        t = v.strip()
        m = _NUMPY_SCALAR.match(t)
        if m:
            t = m.group(1)
        try:
            return float(t)
        except ValueError:
            return None
    return None


def _lookup(metrics: dict[str, object], name: str) -> object | None:
    if name in metrics:
        return metrics[name]
    return metrics.get("train/" + name)  # TRL's TensorBoard writes its log names under train/


def map_metrics(step: int, metrics: dict[str, object]) -> StepRecord:
    """One step's metrics under any framework's names -> StepRecord (non-finite values kept)."""
    fields: dict[str, object] = {"step": step}
    used: set[str] = set()
    for ours, names in METRIC_MAP.items():
        for n in names:
            v = _to_float(_lookup(metrics, n))
            if v is not None:
                fields[ours] = v
                used.update((n, "train/" + n))
                break
    failing = _to_float(_lookup(metrics, _TRL_TOOL_FAILS))
    calls = fields.get("tool_calls_per_traj")
    if "tool_errors_per_traj" not in fields and isinstance(calls, float) and failing is not None:
        fields["tool_errors_per_traj"] = failing * calls  # TRL: failed calls per call -> per completion
        used.update((_TRL_TOOL_FAILS, "train/" + _TRL_TOOL_FAILS))
    if "task_accuracy" not in fields:
        for pat in _VALIDATION:
            hit = sorted(k for k in metrics if pat.match(k) and _to_float(metrics[k]) is not None)
            if hit:
                fields["task_accuracy"] = _to_float(metrics[hit[0]])
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
    done = obj.get(_SWIFT_STEP)
    if isinstance(done, str) and "/" in done:  # ms-swift: "300/1296"
        v = _to_float(done.split("/")[0])
        if v is not None and math.isfinite(v) and v >= 0:
            return int(v)
    return None


def _max_steps_of(obj: dict) -> int | None:
    done = obj.get(_SWIFT_STEP)
    if isinstance(done, str) and "/" in done:
        v = _to_float(done.split("/")[1])
        return int(v) if v is not None and math.isfinite(v) else None
    return None


class LineParser:
    """Parses one log's lines in order; numbers stepless training entries (TRL stdout) 1, 2, 3, ..."""

    def __init__(self) -> None:
        self.stepless = 0
        self.max_steps: int | None = None
        self.max_response_length: int | None = None  # the length limit, where the log prints its config

    def _with_step(self, obj: dict) -> StepRecord | None:
        data = obj.get("data") if isinstance(obj.get("data"), dict) else obj
        step = _step_of(obj)
        if step is None:
            step = _step_of(data)
        if step is None:
            if not any(k in data for k in _TRAINING_KEYS):
                return None
            self.stepless += 1
            step = self.stepless
        if not any(k not in STEP_KEYS and _to_float(v) is not None for k, v in data.items()):
            return None  # a step number and nothing measured
        ms = _max_steps_of(data)
        if ms is not None:
            self.max_steps = ms
        try:
            return map_metrics(step, data)
        except ValueError:
            return None

    def parse(self, line: str) -> StepRecord | None:
        """One log line -> StepRecord; None when the line is not usable."""
        s = _ANSI.sub("", line).strip()
        if not s:
            return None
        if self.max_response_length is None:
            m = _LENGTH_LIMIT.search(s)
            if m and int(m.group(1)) > 0:
                self.max_response_length = int(m.group(1))
        if s.startswith("{"):
            try:
                obj = json.loads(s)
            except json.JSONDecodeError:
                obj = _python_dict(s)
            return self._with_step(obj) if isinstance(obj, dict) else None
        return parse_console_line(s)


def _python_dict(s: str) -> dict[str, object] | None:
    """A Python dict repr as TRL prints it (``{'loss': 0.0, 'kl': nan}``); None when it is not one."""
    if not s.endswith("}") or "'" not in s:
        return None
    items = dict(_PY_DICT_ITEM.findall(s))
    return {k: v.strip().strip("'") for k, v in items.items()} or None


def parse_json_line(line: str) -> StepRecord | None:
    """verl file-logger, ms-swift or plain JSONL line -> StepRecord; None when the line is not usable."""
    return LineParser().parse(line) if line.strip().startswith("{") else None


def parse_console_line(line: str) -> StepRecord | None:
    """verl console line ``step:N - key:value - key:value`` -> StepRecord."""
    m = _CONSOLE_STEP.search(_ANSI.sub("", line).strip())
    if not m:
        return None
    metrics: dict[str, object] = {}
    for part in m.group(2).split(" - "):
        key, sep, val = part.partition(":")
        if sep and key.strip():
            metrics[key.strip()] = val.strip()
    if not any(_to_float(v) is not None for v in metrics.values()):
        return None
    try:
        return map_metrics(int(m.group(1)), metrics)
    except ValueError:
        return None


def parse_line(line: str) -> StepRecord | None:
    """One log line (JSON or verl console) -> StepRecord; None when the line is not usable."""
    return LineParser().parse(line)


def _load_json_doc(path: Path) -> object | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None


def read_trainer_state(path: Path) -> ReadResult:
    """TRL/transformers ``trainer_state.json`` (any name): one record per ``log_history`` training entry."""
    obj = _load_json_doc(path)
    if obj is None:
        raise InputError(path, "not a readable JSON file")
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
    ms = obj.get("max_steps")
    return ReadResult(
        _merge_same_step(out), "trl_trainer_state", skipped, max_steps=ms if isinstance(ms, int) else None
    )


def _event_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(path.glob("**/*tfevents*"))


def read_tensorboard(path: Path) -> ReadResult:
    """TensorBoard event file(s), a file (any name) or a directory at any depth: scalars grouped by step."""
    from tensorboard.backend.event_processing.event_file_loader import LegacyEventFileLoader
    from tensorboard.util import tensor_util

    by_step: dict[int, dict[str, object]] = {}
    for f in _event_files(path):
        try:
            for ev in LegacyEventFileLoader(str(f)).Load():
                for v in ev.summary.value:
                    kind = v.WhichOneof("value")
                    if kind == "simple_value":
                        val: float | None = float(v.simple_value)
                    elif kind == "tensor" and v.tensor.dtype in (1, 2) and not v.tensor.tensor_shape.dim:
                        val = float(tensor_util.make_ndarray(v.tensor))  # a float/double scalar tensor
                    else:
                        val = None
                    if val is not None:
                        by_step.setdefault(int(ev.step), {})[v.tag] = val
        except Exception as exc:  # corrupt records raise various errors
            raise InputError(f, f"unreadable TensorBoard events ({exc.__class__.__name__})") from None
    return ReadResult([map_metrics(s, m) for s, m in sorted(by_step.items())], "tensorboard")


def _merge_same_step(recs: list[StepRecord]) -> list[StepRecord]:
    """Frameworks may log one step in several entries (train metrics, then eval): merge them, last wins."""
    merged: dict[int, dict] = {}
    for r in recs:
        merged.setdefault(r.step, {}).update(r.model_dump(exclude_none=True, exclude_defaults=True))
    return [StepRecord.model_validate({"step": s, **d}) for s, d in sorted(merged.items())]


def read_lines(lines: Iterable[str], parser: LineParser | None = None) -> tuple[list[StepRecord], int]:
    """The step records of log lines, and how many non-empty lines were unusable."""
    parser = parser or LineParser()
    out, skipped = [], 0
    for line in lines:
        if not line.strip():
            continue
        rec = parser.parse(line)
        if rec is None:
            skipped += 1
        else:
            out.append(rec)
    return out, skipped


def _sniff(path: Path) -> str:
    """A file's format from its first bytes: ``tensorboard``, ``trl_trainer_state`` or ``lines``."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError as exc:
        raise InputError(path, f"unreadable ({exc.strerror})") from None
    if b"brain.Event" in head[:64]:
        return "tensorboard"  # TFRecord framing: binary length header, then an Event proto
    if head.lstrip().startswith(b"{") and b"log_history" in head:
        return "trl_trainer_state"
    if head.lstrip().startswith(b"{") and b"\n{" not in head.strip():  # one JSON document
        doc = _load_json_doc(path)
        if isinstance(doc, dict) and isinstance(doc.get("log_history"), list):
            return "trl_trainer_state"
    return "lines"


def detect_format(path: Path) -> str:
    """How to read ``path``, recognised by content: ``lines``, ``trl_trainer_state``, ``tensorboard``, or
    ``dir:<file>`` for a run directory (the file inside it to read)."""
    if not path.exists():
        raise InputError(path, "log not found")
    if path.is_dir():
        for name in ("steps.jsonl", "trainer_state.json"):
            if (path / name).is_file():
                return "dir:" + name
        if _event_files(path):
            return "tensorboard"
        ckpts = sorted(
            path.glob("checkpoint-*/trainer_state.json"), key=lambda p: int(p.parent.name.split("-")[-1])
        )
        if ckpts:
            return "dir:" + str(ckpts[-1].relative_to(path))
        raise InputError(path, "no steps.jsonl, trainer_state.json or TensorBoard events in this directory")
    return _sniff(path)


def read_log(path: str | Path) -> ReadResult:
    """Read any supported log (file or run directory) into StepRecords, in step order.

    A log with no readable step is an :class:`InputError` (never an empty, "healthy" run).
    """
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
            parser = LineParser()
            with open(p, encoding="utf-8", errors="replace") as fh:
                recs, skipped = read_lines(fh, parser)
        except OSError as exc:
            raise InputError(p, f"unreadable ({exc.strerror})") from None
        res = ReadResult(
            _merge_same_step(recs),
            "lines",
            skipped,
            max_steps=parser.max_steps,
            max_response_length=parser.max_response_length,
        )
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
