"""The RCAEval RE2/RE3 case layout (Pham et al., WWW'25 benchmark): one folder per fault injection.

``ROOT/<system>/<service>_<fault>/<n>/`` holds ``inject_time.txt`` (the injection, unix seconds),
``data.csv`` (metrics, wide: a ``time`` column in unix seconds and one ``<component>_<metric>`` column per
series; some releases name it ``metrics.csv`` or ``simple_data.csv``), ``traces.csv``
(``traceID,spanID,parentSpanID,serviceName,methodName,operationName,startTime,duration,statusCode``, start
and duration in microseconds) and ``logs.csv`` (``timestamp,container_name,message`` and, where present,
``level``; timestamp in nanoseconds). The folder name is the ground truth (service and fault), read only
to score. Epoch columns are converted by magnitude, so a release that writes seconds or milliseconds loads
the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from faultwise.errors import InputError
from faultwise.rcl.telemetry._common import (
    PathLike,
    check_file,
    read_csv,
    read_text,
    require_numeric,
    services_of_pods,
    status_is_error,
)
from faultwise.rcl.telemetry.enrich import dedupe_spans
from faultwise.rcl.telemetry.levels import norm_level
from faultwise.rcl.telemetry.schema import LOG_COLUMNS, METRIC_COLUMNS, SPAN_COLUMNS, Telemetry, conform

TRACE_COLUMNS = ["traceID", "spanID", "parentSpanID", "serviceName", "startTime", "duration"]
LOG_COLUMNS_REQUIRED = ["timestamp", "container_name", "message"]
METRIC_FILES = ("data.csv", "metrics.csv", "simple_data.csv")
INJECT_FILE = "inject_time.txt"


def epoch_to_us(values: np.ndarray) -> np.ndarray:
    """Epoch numbers in s, ms, us or ns (told apart by magnitude around the present) to microseconds."""
    v = np.asarray(values, dtype=float)
    if not len(v):
        return v.astype(np.int64)
    m = float(np.nanmedian(np.abs(v)))
    factor = 1e-3 if m >= 1e17 else 1.0 if m >= 1e14 else 1e3 if m >= 1e11 else 1e6
    return np.round(v * factor).astype(np.int64)


def load_rcaeval_traces(path: PathLike) -> pd.DataFrame:
    path = Path(path)
    df = read_csv(path, TRACE_COLUMNS, "RCAEval trace", dtype=str, keep_default_na=False)
    if not len(df):
        raise InputError(path, "no spans")
    start = require_numeric(df, "startTime", path, "RCAEval trace").to_numpy()
    duration = require_numeric(df, "duration", path, "RCAEval trace").to_numpy()
    service = df["serviceName"].astype(str).str.strip()
    if (service == "").any():
        raise InputError(
            path, f"RCAEval trace has an empty serviceName (line {int(np.argmax(service == '')) + 2})"
        )
    op = df["methodName"] if "methodName" in df.columns else pd.Series("", index=df.index)
    if "operationName" in df.columns:
        op = op.where(op.astype(str).str.strip() != "", df["operationName"])
    status = df["statusCode"].astype(str) if "statusCode" in df.columns else pd.Series("", index=df.index)
    out = pd.DataFrame(
        {
            "trace_id": df["traceID"],
            "span_id": df["spanID"],
            "parent_id": df["parentSpanID"].astype(str).str.strip(),
            "service": services_of_pods(service),
            "pod": service,
            "node": "",
            "operation": op.astype(str),
            "kind": "",
            "start_us": epoch_to_us(start),
            "duration_us": np.round(duration).astype(np.int64),
            "is_error": status_is_error(status),
            "status_code": status,
        }
    )
    return dedupe_spans(conform(out, SPAN_COLUMNS, path, "spans"))


def load_rcaeval_logs(path: PathLike) -> pd.DataFrame:
    path = Path(path)
    df = read_csv(path, LOG_COLUMNS_REQUIRED, "RCAEval log", dtype=str, keep_default_na=False)
    ts = require_numeric(df, "timestamp", path, "RCAEval log").to_numpy()
    pod = df["container_name"].astype(str).str.strip()
    level = df["level"].map(norm_level) if "level" in df.columns else pd.Series("", index=df.index)
    out = pd.DataFrame(
        {
            "ts_us": epoch_to_us(ts),
            "service": services_of_pods(pod),
            "pod": pod,
            "node": "",
            "level": level,
            "message": df["message"].astype(str),
            "trace_id": "",
            "span_id": "",
        }
    )
    return conform(out, LOG_COLUMNS, path, "logs")


def split_metric_column(column: str, components: list[str]) -> tuple[str, str]:
    """``<component>_<metric>`` -> (component, metric): the longest known component that prefixes the
    column wins (names may hold underscores), else the text before the first underscore."""
    for comp in components:  # longest first
        if column.startswith(comp + "_") and len(column) > len(comp) + 1:
            return comp, column[len(comp) + 1 :]
    head, _, tail = column.partition("_")
    return head, tail


def load_rcaeval_metrics(path: PathLike, components: set[str] | None = None) -> pd.DataFrame:
    """The wide metric table as canonical long rows. ``components`` (services seen in traces/logs) decides
    where a component name ends; a component that is not one of them and whose metric names a node
    (``node...``) is a node, anything else a service."""
    path = Path(path)
    df = read_csv(path, ["time"], "RCAEval metric")
    cols = [c for c in df.columns if c != "time" and "_" in str(c) and not str(c).startswith("Unnamed")]
    if not cols:
        raise InputError(path, "RCAEval metric CSV has no <component>_<metric> column")
    ts_s = require_numeric(df, "time", path, "RCAEval metric").to_numpy(dtype=float)
    ts_s = epoch_to_us(ts_s) / 1e6
    known = sorted(components or set(), key=len, reverse=True)
    frames = []
    for col in cols:
        comp, metric = split_metric_column(str(col), known)
        values = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
        keep = np.isfinite(values)
        if not keep.any():
            continue
        kind = "service" if comp in (components or set()) or not metric.startswith("node") else "node"
        frames.append(
            pd.DataFrame(
                {
                    "ts_s": ts_s[keep],
                    "entity": comp,
                    "entity_kind": kind,
                    "metric": metric,
                    "value": values[keep],
                }
            )
        )
    if not frames:
        raise InputError(path, "RCAEval metric CSV has no numeric values")
    return conform(pd.concat(frames, ignore_index=True), METRIC_COLUMNS, path, "metrics")


def read_inject_time(path: PathLike) -> int:
    """The injection time of a case, unix seconds (the first number of ``inject_time.txt``)."""
    path = Path(path)
    text = read_text(path).strip().split()
    try:
        value = float(text[0])
    except (IndexError, ValueError):
        raise InputError(path, f"not a unix time: {' '.join(text)[:40]!r}") from None
    if not np.isfinite(value) or value <= 0:
        raise InputError(path, f"not a unix time: {text[0]!r}")
    return int(epoch_to_us(np.array([value]))[0] // 1_000_000)


@dataclass(frozen=True, slots=True)
class RCAEvalCase:
    """One case folder and the truth its name carries (used only to score)."""

    case_id: str  # <system>/<service>_<fault>/<n>
    system: str
    service: str
    fault: str
    folder: Path


def find_rcaeval_cases(root: PathLike) -> list[RCAEvalCase]:
    """Every case folder under ``root`` (a folder with ``inject_time.txt`` inside ``<service>_<fault>/``),
    in path order. ``root`` may be the folder of several systems, one system, or one fault."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(root, "no such folder")
    out = []
    for marker in sorted(root.rglob(INJECT_FILE)):
        folder = marker.parent
        name = folder.parent.name
        service, sep, fault = name.rpartition("_")
        if not sep or not service or not fault:
            raise InputError(folder, f"folder {name!r} is not named <service>_<fault>")
        system = folder.parent.parent.name if folder.parent != root else ""
        case_id = "/".join(p for p in (system, name, folder.name) if p)
        out.append(RCAEvalCase(case_id, system, service, fault, folder))
    if not out:
        raise InputError(root, f"no RCAEval case folders (none holds {INJECT_FILE})")
    return out


def load_rcaeval_case(case: RCAEvalCase) -> tuple[Telemetry, int]:
    """The case's telemetry (everything before the injection serves as the normal period) and the
    injection time in microseconds."""
    folder = case.folder
    inject_us = read_inject_time(folder / INJECT_FILE) * 1_000_000
    traces = folder / "traces.csv"
    check_file(traces)
    spans = load_rcaeval_traces(traces)
    sources = {"traces": str(traces)}
    logs = None
    if (folder / "logs.csv").exists():
        logs = load_rcaeval_logs(folder / "logs.csv")
        sources["logs"] = str(folder / "logs.csv")
    metrics = None
    metric_file = next((folder / n for n in METRIC_FILES if (folder / n).exists()), None)
    if metric_file is not None:
        comps = set(map(str, spans["service"].unique()))
        if logs is not None:
            comps |= set(map(str, logs["service"].unique()))
        metrics = load_rcaeval_metrics(metric_file, comps)
        sources["metrics"] = str(metric_file)
    return Telemetry(spans=spans, logs=logs, metrics=metrics, sources=sources), inject_us


def write_rcaeval_case(telemetry: Telemetry, inject_s: int, folder: PathLike) -> Path:
    """Write telemetry in the RCAEval case layout (for fixtures and for users converting their data).

    Services stand for their pods, as in RCAEval; pod metrics are averaged per service, node metrics are
    written as ``<node>_node-<metric>``. Files are written atomically.
    """
    from faultwise.io import atomic_write_text

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    s = telemetry.spans
    traces = pd.DataFrame(
        {
            "time": (s["start_us"] // 1_000_000).astype("int64"),
            "traceID": s["trace_id"],
            "spanID": s["span_id"],
            "serviceName": s["service"],
            "methodName": s["operation"],
            "operationName": s["operation"],
            "startTimeMillis": (s["start_us"] // 1000).astype("int64"),
            "startTime": s["start_us"],
            "duration": s["duration_us"],
            "statusCode": s["status_code"],
            "parentSpanID": s["parent_id"],
        }
    )
    atomic_write_text(folder / "traces.csv", traces.to_csv(index=False))
    if telemetry.logs is not None:
        lg = telemetry.logs
        logs = pd.DataFrame(
            {
                "time": (lg["ts_us"] // 1_000_000).astype("int64"),
                "timestamp": lg["ts_us"].astype("int64") * 1000,
                "container_name": lg["service"],
                "message": lg["message"],
                "level": lg["level"].str.lower(),
            }
        )
        atomic_write_text(folder / "logs.csv", logs.to_csv(index=False))
    if telemetry.metrics is not None and len(telemetry.metrics):
        m = telemetry.metrics.copy()
        pod_service = dict(zip(s["pod"], s["service"], strict=True))
        is_node = m["entity_kind"] == "node"
        m["component"] = np.where(is_node, m["entity"], m["entity"].map(lambda e: pod_service.get(e, e)))
        m["name"] = np.where(is_node, "node-" + m["metric"], m["metric"])
        m["column"] = m["component"].astype(str) + "_" + m["name"].astype(str)
        m["time"] = m["ts_s"].round().astype("int64")
        wide = m.pivot_table(index="time", columns="column", values="value", aggfunc="mean").reset_index()
        atomic_write_text(folder / "data.csv", wide.to_csv(index=False))
    atomic_write_text(folder / INJECT_FILE, f"{int(inject_s)}\n")
    return folder
