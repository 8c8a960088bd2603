"""The Nezha benchmark layout (TrainTicket / OnlineBoutique, FSE'23): trace, log and metric CSVs.

Traces: ``TraceID,SpanID,ParentID,PodName,OperationName,StartTimeUnixNano,EndTimeUnixNano,Duration`` with
``ParentID`` ``root`` for roots and ``Duration`` in microseconds. Logs: the container's raw JSON line in
``Log``. Metrics: one wide CSV per pod (``<pod>_metric.csv``) with pod KPIs and the KPIs of the pod's node
(``Node*`` columns), plus ``front_service.csv`` for the entry service. Everything is vectorised pandas:
a case (about 15k spans, 7k log lines, 47 metric files) loads in a fraction of a second.
"""

from __future__ import annotations

import csv
import json
import logging
import re
from collections.abc import MutableMapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from faultwise.errors import InputError
from faultwise.rcl.telemetry._common import PathLike, read_csv, read_head, require_numeric, services_of_pods
from faultwise.rcl.telemetry.enrich import dedupe_spans, fill_nodes, node_map
from faultwise.rcl.telemetry.levels import LEVEL_ALIASES
from faultwise.rcl.telemetry.schema import LOG_COLUMNS, METRIC_COLUMNS, SPAN_COLUMNS, Telemetry, conform

TRACE_COLUMNS = [
    "TraceID",
    "SpanID",
    "ParentID",
    "PodName",
    "OperationName",
    "StartTimeUnixNano",
    "EndTimeUnixNano",
    "Duration",
]
LOG_FILE_COLUMNS = ["TimeUnixNano", "PodName", "Log"]
METRIC_TIME_COLUMN = "TimeStamp"
_NODE_PREFIX = "Node"
_LEVEL_RE = re.compile(r"\b(ERROR|WARN(?:ING)?|INFO|DEBUG|TRACE|FATAL|CRITICAL|SEVERE)\b")


def load_nezha_traces(path: PathLike) -> pd.DataFrame:
    path = Path(path)
    df = read_csv(path, TRACE_COLUMNS, "Nezha trace", dtype={"TraceID": str, "SpanID": str, "ParentID": str})
    if not len(df):
        raise InputError(path, "no spans")
    for col in ("StartTimeUnixNano", "Duration"):
        df[col] = require_numeric(df, col, path, "Nezha trace")
    parent = df["ParentID"].fillna("").astype(str)
    parent = parent.mask(parent.str.lower() == "root", "")
    pods = df["PodName"].fillna("").astype(str)
    out = pd.DataFrame(
        {
            "trace_id": df["TraceID"],
            "span_id": df["SpanID"],
            "parent_id": parent,
            "service": services_of_pods(pods),
            "pod": pods,
            "node": "",
            "operation": df["OperationName"],
            "kind": "",
            "start_us": (df["StartTimeUnixNano"].astype("int64") // 1000),
            "duration_us": df["Duration"].astype("int64"),
            "is_error": False,
            "status_code": "",
        }
    )
    return conform(out, SPAN_COLUMNS, path, "spans")


def _inner_text(raw: pd.Series) -> pd.Series:
    """The ``log`` text inside the container's JSON line; lines that are not JSON stay as they are."""

    def one(s: object) -> str:
        text = "" if s is None or (isinstance(s, float) and np.isnan(s)) else str(s)
        if text.startswith("{"):
            try:
                obj = json.loads(text)
                if isinstance(obj, dict) and "log" in obj:
                    text = str(obj["log"])
            except json.JSONDecodeError:
                pass
        return text.rstrip("\n")

    return raw.map(one)


def parse_levels(messages: pd.Series) -> pd.Series:
    """First level word in a log line (``ERROR``, ``WARN``, ...), upper case and canonical; "" if none."""
    found = messages.str.extract(_LEVEL_RE, expand=False)
    return found.map(LEVEL_ALIASES).fillna("").astype(str)


def load_nezha_logs(path: PathLike) -> pd.DataFrame:
    path = Path(path)
    df = read_csv(path, LOG_FILE_COLUMNS, "Nezha log", dtype={"TraceID": str, "SpanID": str})
    if not len(df):
        raise InputError(path, "no log lines")
    ts = require_numeric(df, "TimeUnixNano", path, "Nezha log")
    message = _inner_text(df["Log"])
    pods = df["PodName"].fillna("").astype(str)
    out = pd.DataFrame(
        {
            "ts_us": ts.astype("int64") // 1000,
            "service": services_of_pods(pods),
            "pod": pods,
            "node": df["Node"] if "Node" in df.columns else "",
            "level": parse_levels(message),
            "message": message,
            "trace_id": df["TraceID"] if "TraceID" in df.columns else "",
            "span_id": df["SpanID"] if "SpanID" in df.columns else "",
        }
    )
    return conform(out, LOG_COLUMNS, path, "logs")


def _metric_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.exists():
        raise InputError(path, "no such file or directory")
    files = sorted(
        p for p in path.iterdir() if p.is_file() and (p.name.endswith(".csv") or p.name.endswith(".csv.gz"))
    )
    if not files:
        raise InputError(path, "no metric CSV files in the directory")
    return files


def _is_kpi_file(p: Path) -> bool:
    """A KPI table of the folder: its header names the ``TimeStamp`` column. The folder may also hold other
    tables (a call-dependency list, per-edge latency tables keyed by a lower-case ``timestamp``), which a
    folder read skips with a note; a file named on its own must be a KPI table."""
    head = read_head(p, 4096).splitlines()
    return bool(head) and METRIC_TIME_COLUMN in next(csv.reader([head[0]]), [])


def _pod_of_file(p: Path) -> str:
    name = p.name.removesuffix(".gz").removesuffix(".csv")
    return name.removesuffix("_metric")


class _LongBuilder:
    """Accumulates long metric rows as integer codes into small string tables, so that building a
    table of ~10^6 rows costs one ``take`` per string column at the end."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[str, int]] = {"entity": {}, "entity_kind": {}, "metric": {}}
        self.parts: dict[str, list[np.ndarray]] = {k: [] for k in ("ts_s", "value", *self.tables)}

    def _codes(self, col: str, values: list[str]) -> np.ndarray:
        table = self.tables[col]
        return np.array([table.setdefault(v, len(table)) for v in values], dtype=np.intp)

    def add(
        self, ts: np.ndarray, entities: pd.Series, kind: str, names: list[str], values: np.ndarray
    ) -> None:
        """Rows x columns of ``values`` to long rows (row-major), entity per row, metric per column."""
        n, k = values.shape
        codes, uniq = pd.factorize(entities.astype(str))
        self.parts["ts_s"].append(np.repeat(ts, k))
        self.parts["value"].append(values.ravel())
        self.parts["entity"].append(np.repeat(self._codes("entity", list(uniq))[codes], k))
        self.parts["entity_kind"].append(np.repeat(self._codes("entity_kind", [kind]), n * k))
        self.parts["metric"].append(np.tile(self._codes("metric", names), n))

    def frame(self) -> pd.DataFrame:
        out = {}
        for col in ("ts_s", "entity", "entity_kind", "metric", "value"):
            joined = np.concatenate(self.parts[col]) if self.parts[col] else np.array([], dtype=np.intp)
            if col in self.tables:
                names = np.asarray(list(self.tables[col]), dtype=object)
                out[col] = pd.array(names, dtype="string").take(joined)
            else:
                out[col] = joined.astype("float64")
        return pd.DataFrame(out)


def _add_file(acc: _LongBuilder, f: Path, df: pd.DataFrame, pod_nodes: dict[str, str]) -> None:
    ts = pd.to_numeric(df[METRIC_TIME_COLUMN], errors="coerce").to_numpy(dtype="float64")
    if "ServiceName" in df.columns:
        entity, kind = df["ServiceName"].fillna("").astype(str), "service"
    else:
        pod = df["PodName"].fillna("").astype(str) if "PodName" in df.columns else _pod_of_file(f)
        entity, kind = pd.Series(pod, index=df.index, dtype=object), "pod"
    cols = [
        c
        for c in df.columns
        if c not in ("Time", METRIC_TIME_COLUMN, "PodName", "ServiceName")
        and not str(c).startswith("Unnamed")
    ]
    node_cols = [c for c in cols if kind == "pod" and c.startswith(_NODE_PREFIX)]
    own_cols = [c for c in cols if c not in node_cols]

    matrix = np.empty((len(df), len(cols)), dtype="float64")
    for j, c in enumerate(cols):
        col = df[c]
        num = col if pd.api.types.is_numeric_dtype(col) else pd.to_numeric(col, errors="coerce")
        matrix[:, j] = num.to_numpy(dtype="float64", na_value=np.nan)
    col_index = {c: j for j, c in enumerate(cols)}

    def values(names: list[str], rows: np.ndarray | slice = slice(None)) -> np.ndarray:
        return matrix[rows][:, [col_index[c] for c in names]]

    if own_cols:
        acc.add(ts, entity, kind, own_cols, values(own_cols))
    if node_cols:
        base = [c[len(_NODE_PREFIX) :] for c in node_cols]
        nodes = entity.astype(str).map(lambda pod: pod_nodes.get(pod, ""))
        known = (nodes != "").to_numpy()
        if known.any():
            acc.add(ts[known], nodes[known], "node", base, values(node_cols, known))
        if (~known).any():
            unknown = ~known
            acc.add(
                ts[unknown], entity[unknown], "pod", ["node_" + b for b in base], values(node_cols, unknown)
            )


def load_nezha_metrics(path: PathLike, pod_nodes: dict[str, str] | None = None) -> pd.DataFrame:
    """Wide per-pod KPI files to the long metric table.

    ``Node*`` columns describe the pod's node: with ``pod_nodes`` (e.g. from the logs) they become
    node-level rows named without the prefix (``CpuUsageRate(%)`` of node ``33.33.33.76``), deduplicated
    across the pods of a node; pods missing from the map keep them as pod-level rows named
    ``node_<column>``. A file with a ``ServiceName`` column (``front_service.csv``) is service level.
    NaN values stay NaN.
    """
    path = Path(path)
    pod_nodes = pod_nodes or {}
    acc = _LongBuilder()
    files = _metric_files(path)
    skipped: list[str] = []
    for f in files:
        if path.is_dir() and not _is_kpi_file(f):
            skipped.append(f.name)
            continue
        df = read_csv(f, [METRIC_TIME_COLUMN], "Nezha metric", usecols=lambda c: c != "Time")
        if len(df):
            _add_file(acc, f, df, pod_nodes)
    if skipped:
        logging.getLogger("faultwise").warning(
            "%s: skipped %d file(s) that are not KPI tables (no %s column): %s",
            path,
            len(skipped),
            METRIC_TIME_COLUMN,
            ", ".join(skipped),
        )
    out = acc.frame()
    if not len(out):
        raise InputError(
            path, "no metric rows" if len(skipped) < len(files) else "no KPI table among its files"
        )
    node_mask = (out["entity_kind"] == "node").to_numpy()
    if node_mask.any():
        nodes = out[node_mask].drop_duplicates(["entity", "metric", "ts_s"])
        out = pd.concat([out[~node_mask], nodes], ignore_index=True)
    return conform(out, METRIC_COLUMNS, path, "metrics")


# --- the benchmark folder --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NezhaCase:
    """One row of ``cases.csv``. Paths are relative to the benchmark root; the label fields
    (``root_cause_*``, ``fault_type``, ``inner_service_label``) are data for scoring only."""

    case_id: str
    system: str
    date: str
    inject_time_utc: str
    inject_unix_utc: int
    root_cause_pod: str
    root_cause_service: str
    fault_type: str
    inner_service_label: str
    trace_files: tuple[str, ...]
    log_files: tuple[str, ...]
    traceid_files: tuple[str, ...]
    metric_dir: str
    normal_trace_file: str


_CASE_REQUIRED = [
    "case_id",
    "inject_unix_utc",
    "root_cause_pod",
    "root_cause_service",
    "fault_type",
    "trace_files",
]


def read_nezha_cases(root: PathLike) -> list[NezhaCase]:
    root = Path(root)
    path = root / "cases.csv"
    if not path.exists():
        raise InputError(path, "no such file (a Nezha-layout folder has cases.csv beside rca_data/)")
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            header = reader.fieldnames or []
            missing = [c for c in _CASE_REQUIRED if c not in header]
            if missing:
                raise InputError(path, f"cases CSV is missing column(s) {', '.join(missing)}")
            rows = list(reader)
    except (csv.Error, UnicodeDecodeError) as exc:
        raise InputError(path, f"malformed CSV: {exc}") from None
    if not rows:
        raise InputError(path, "no cases")

    def files(s: str | None) -> tuple[str, ...]:
        return tuple(x for x in (s or "").split(";") if x.strip())

    cases = []
    for i, r in enumerate(rows, start=2):
        try:
            inject = int(float(r["inject_unix_utc"]))
        except (TypeError, ValueError):
            raise InputError(
                path, f"line {i}: inject_unix_utc is not a number: {r['inject_unix_utc']!r}"
            ) from None
        cases.append(
            NezhaCase(
                case_id=r["case_id"],
                system=r.get("system") or "",
                date=r.get("date") or "",
                inject_time_utc=r.get("inject_time_utc") or "",
                inject_unix_utc=inject,
                root_cause_pod=r["root_cause_pod"],
                root_cause_service=r["root_cause_service"],
                fault_type=r["fault_type"],
                inner_service_label=r.get("inner_service_label") or "",
                trace_files=files(r["trace_files"]),
                log_files=files(r.get("log_files")),
                traceid_files=files(r.get("traceid_files")),
                metric_dir=r.get("metric_dir") or "",
                normal_trace_file=r.get("normal_trace_file") or "",
            )
        )
    return cases


def _existing(root: Path, rel: tuple[str, ...]) -> list[Path]:
    return [root / f for f in rel if (root / f).is_file()]


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


#: Metric tables already read, keyed by folder and the pod -> node map they were read with (one per folder).
MetricCache = MutableMapping[tuple[Path, tuple[tuple[str, str], ...]], pd.DataFrame]


def load_nezha_case(
    root: PathLike, case: NezhaCase, metric_cache: MetricCache | None = None
) -> tuple[Telemetry, Telemetry]:
    """The incident's telemetry and a fault-free baseline.

    Incident: the case's trace files (required), its log files and metric folder where present (missing
    ones degrade to fewer modalities). Baseline: the case's normal trace file plus the fault-free logs of
    the same folder (``construct_data/<date>/log``) where present. Pods' nodes come from the logs, so
    spans and node metrics know their node. Labels in ``case`` are not used. Cases of one day share a
    metric folder (a day of KPIs): with ``metric_cache`` it is read once, not once per case.
    """
    root = Path(root)
    trace_paths = [root / f for f in case.trace_files]
    if not trace_paths:
        raise InputError(root / "cases.csv", f"case {case.case_id} lists no trace files")
    spans = dedupe_spans(_concat([load_nezha_traces(p) for p in trace_paths]))
    log_paths = _existing(root, case.log_files)
    logs = _concat([load_nezha_logs(p) for p in log_paths]) if log_paths else None
    pod_nodes = node_map(logs)
    metrics = None
    metric_dir = root / case.metric_dir if case.metric_dir else None
    if metric_dir is not None and metric_dir.is_dir():
        key = (metric_dir.resolve(), tuple(sorted(pod_nodes.items())))
        if metric_cache is None or key not in metric_cache:
            metrics = load_nezha_metrics(metric_dir, pod_nodes)
            if metric_cache is not None:  # the last map read per folder: a day of KPIs is large
                for stale in [k for k in metric_cache if k[0] == key[0]]:
                    del metric_cache[stale]
                metric_cache[key] = metrics
        else:
            metrics = metric_cache[key]
    sources = {"traces": ";".join(map(str, trace_paths))}
    if logs is not None:
        sources["logs"] = ";".join(map(str, log_paths))
    if metrics is not None:
        sources["metrics"] = str(metric_dir)
    incident = Telemetry(spans=fill_nodes(spans, pod_nodes), logs=logs, metrics=metrics, sources=sources)

    if not case.normal_trace_file:
        raise InputError(root / "cases.csv", f"case {case.case_id} has no normal_trace_file")
    normal_path = root / case.normal_trace_file
    base_spans = load_nezha_traces(normal_path)
    log_dir = normal_path.parent.parent / "log"
    base_log_paths = sorted(log_dir.glob("*_log.csv*")) if log_dir.is_dir() else []
    base_logs = _concat([load_nezha_logs(p) for p in base_log_paths]) if base_log_paths else None
    base_sources = {"traces": str(normal_path)}
    if base_logs is not None:
        base_sources["logs"] = ";".join(map(str, base_log_paths))
    base_nodes = {**pod_nodes, **node_map(base_logs)}
    baseline = Telemetry(spans=fill_nodes(base_spans, base_nodes), logs=base_logs, sources=base_sources)
    return incident, baseline
