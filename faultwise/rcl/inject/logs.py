"""Log lines through an injection: linked to their spans, moved with them, dropped with them, and the error
lines a fault makes spans write, in the format of the pod's own lines."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from faultwise.rcl.inject.context import InjectionContext
from faultwise.rcl.inject.shifter import Shifted
from faultwise.rcl.inject.tree import SpanForest
from faultwise.rcl.telemetry.schema import LOG_COLUMNS

_LEVEL_WORD = re.compile(r"\b(INFO|DEBUG|TRACE|WARN(?:ING)?|NOTICE|ERROR)\b")


def link_logs(logs: pd.DataFrame | None, forest: SpanForest) -> np.ndarray:
    """Each log row's span row (-1: the line names no span of the table)."""
    if logs is None or not len(logs):
        return np.zeros(0, dtype=np.int64)
    spans = forest.spans
    keys = pd.Index(spans["trace_id"].astype(str) + "\x00" + spans["span_id"].astype(str))
    rows = pd.Series(np.arange(len(spans)), index=keys)
    rows = rows[~rows.index.duplicated()]
    log_keys = logs["trace_id"].astype(str) + "\x00" + logs["span_id"].astype(str)
    linked = rows.reindex(log_keys.to_numpy()).fillna(-1).to_numpy(dtype=np.int64)
    no_trace = (logs["trace_id"].astype(str) == "").to_numpy() & (
        logs["span_id"].astype(str) != ""
    ).to_numpy()
    if no_trace.any():  # lines that name only a span id
        by_span = pd.Series(np.arange(len(spans)), index=spans["span_id"].astype(str).to_numpy())
        by_span = by_span[~by_span.index.duplicated(keep=False)]
        ids = logs["span_id"].astype(str).to_numpy()[no_trace]
        linked[no_trace] = by_span.reindex(ids).fillna(-1).to_numpy(dtype=np.int64)
    return linked


def error_message(exemplar: str, text: str) -> str:
    """An error line shaped like ``exemplar`` (a line of the same pod): its level word becomes ``ERROR`` and
    what follows the next token (logger or source location) becomes ``text``."""
    m = _LEVEL_WORD.search(exemplar)
    if m is None:
        return f"ERROR {text}"
    head = exemplar[: m.start()] + "ERROR"
    rest = re.match(r"(\s*\S+)", exemplar[m.end() :])
    location = rest.group(1) if rest else ""
    return f"{head}{location} {text}"


def _exemplars(logs: pd.DataFrame, link: np.ndarray) -> tuple[dict[int, str], dict[str, str]]:
    """A line per span row and per pod to shape new lines like."""
    by_span: dict[int, str] = {}
    by_pod: dict[str, str] = {}
    messages = logs["message"].astype(str).to_numpy()
    pods = logs["pod"].astype(str).to_numpy()
    for i in range(len(logs)):
        if link[i] >= 0:
            by_span.setdefault(int(link[i]), messages[i])
        by_pod.setdefault(pods[i], messages[i])
    return by_span, by_pod


def log_arrays(
    logs: pd.DataFrame | None, link: np.ndarray, ctx: InjectionContext
) -> tuple[np.ndarray, np.ndarray]:
    """Span row and original time of every log row, then of every new line (for the replay)."""
    n = 0 if logs is None else len(logs)
    ts = logs["ts_us"].to_numpy(dtype=np.int64) if n else np.zeros(0, dtype=np.int64)
    new_span = np.array([x.span_row for x in ctx.new_lines], dtype=np.int64)
    new_ts = np.array([x.at_us for x in ctx.new_lines], dtype=np.int64)
    return np.concatenate([link[:n], new_span]), np.concatenate([ts, new_ts])


def edited_logs(
    logs: pd.DataFrame | None, link: np.ndarray, ctx: InjectionContext, shifted: Shifted
) -> tuple[pd.DataFrame | None, int, int]:
    """The log table after the fault: moved times, dropped lines (of vanished spans, after failure points,
    of silent pods), the new error lines appended (of spans that still happen). Returns it, how many lines
    were dropped and how many added."""
    if logs is None:
        return None, 0, 0
    n = len(logs)
    out = logs.copy()
    out["ts_us"] = shifted.log_ts[:n]
    keep = ~shifted.log_gone[:n]
    orig_ts = logs["ts_us"].to_numpy(dtype=np.int64)
    pods = logs["pod"].astype(str).to_numpy()
    for pod, start, stop in ctx.silent:
        keep &= ~((pods == pod) & (orig_ts >= start) & (orig_ts < stop))
    if ctx.muted:  # spans that keep their time but stop writing lines (a log-only code fault)
        mute_from = np.full(ctx.forest.n, np.iinfo(np.int64).max, dtype=np.int64)
        for row, from_us in ctx.muted:
            mute_from[row] = min(mute_from[row], from_us)
        linked = link[:n] >= 0
        keep[linked] &= orig_ts[linked] < mute_from[link[:n][linked]]
    dropped = int((~keep).sum())
    out = out[keep]
    rows = []
    if ctx.new_lines:
        by_span, by_pod = _exemplars(logs, link)
        f = ctx.forest
        for j, line in enumerate(ctx.new_lines):
            r = line.span_row
            if shifted.gone[r] or shifted.log_gone[n + j]:
                continue
            exemplar = by_span.get(r) or by_pod.get(str(f.pod[r]), "")
            rows.append(
                {
                    "ts_us": int(shifted.log_ts[n + j]),
                    "service": str(f.service[r]),
                    "pod": str(f.pod[r]),
                    "node": str(f.spans["node"].iat[r]),
                    "level": "ERROR",
                    "message": error_message(exemplar, line.text),
                    "trace_id": str(f.spans["trace_id"].iat[r]),
                    "span_id": str(f.spans["span_id"].iat[r]),
                }
            )
        if rows:
            added = pd.DataFrame.from_records(rows, columns=list(LOG_COLUMNS)).astype(LOG_COLUMNS)
            out = pd.concat([out, added], ignore_index=True)
    return out.reset_index(drop=True), dropped, len(rows)
