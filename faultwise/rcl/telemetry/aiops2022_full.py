"""The full AIOps Challenge 2022 layout: one folder per cloudbed and day, with trace, log and metric
subfolders, as the challenge released it (and as RCLAgent-V2 and OpenRCA read it).

``<bed>/`` (e.g. ``2022-03-20-cloudbed1``) holds ``trace/**/*.csv`` (the span CSV of
:mod:`faultwise.rcl.telemetry.aiops2022`), ``log/**/*.csv`` (``log_id,timestamp,cmdb_id,log_name,value``,
timestamp in unix seconds, ``cmdb_id`` the pod, ``value`` the raw line, often ``severity: <level>, message:
...``), ``metric/container/*.csv`` and ``metric/node/*.csv`` (long ``timestamp,cmdb_id,kpi_name,value``;
a container's ``cmdb_id`` is ``<node>.<pod>``, which also tells which node a pod runs on),
``metric/service/*.csv`` (``service,timestamp,rr,sr,mrt,count``, the service named with its protocol, e.g.
``adservice-grpc``) and ``groundtruth.csv`` (``timestamp,level,cmdb_id,failure_type``). Other metric
subfolders (e.g. istio) are not read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from faultwise.errors import InputError
from faultwise.rcl.telemetry._common import PathLike, read_csv, require_numeric, services_of_pods
from faultwise.rcl.telemetry.aiops2022 import (
    Aiops2022Fault,
    load_aiops2022_traces,
    read_aiops2022_groundtruth,
)
from faultwise.rcl.telemetry.enrich import dedupe_spans, fill_nodes
from faultwise.rcl.telemetry.levels import norm_level
from faultwise.rcl.telemetry.schema import LOG_COLUMNS, METRIC_COLUMNS, Telemetry, conform

LOG_FILE_COLUMNS = ["timestamp", "cmdb_id", "value"]
KPI_COLUMNS = ["timestamp", "cmdb_id", "kpi_name", "value"]
SERVICE_COLUMNS = ["service", "timestamp"]
SERVICE_KPIS = ("rr", "sr", "mrt", "count")
_SEVERITY = re.compile(r"severity\s*[:=]\s*['\"]?([A-Za-z]+)", re.IGNORECASE)
_LEVEL_WORD = re.compile(
    r"\b(ERROR|ERR|FATAL|CRITICAL|SEVERE|WARN(?:ING)?|INFO|DEBUG|TRACE)\b", re.IGNORECASE
)
_PROTOCOL_SUFFIX = re.compile(r"-(grpc|http)$")


def _csvs(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name.endswith((".csv", ".csv.gz")))


def _level_of(line: str) -> str:
    m = _SEVERITY.search(line) or _LEVEL_WORD.search(line)
    return norm_level(m.group(1)) if m else ""


def load_aiops2022_logs(path: PathLike) -> pd.DataFrame:
    path = Path(path)
    df = read_csv(path, LOG_FILE_COLUMNS, "AIOps-2022 log", dtype=str, keep_default_na=False)
    ts = require_numeric(df, "timestamp", path, "AIOps-2022 log").to_numpy(dtype=float)
    pods = df["cmdb_id"].astype(str).str.strip()
    lines = df["value"].astype(str)
    uniq = pd.unique(lines)
    levels = {s: _level_of(s) for s in uniq}
    out = pd.DataFrame(
        {
            "ts_us": np.round(ts * 1e6).astype(np.int64),
            "service": services_of_pods(pods),
            "pod": pods,
            "node": "",
            "level": lines.map(levels),
            "message": lines,
            "trace_id": "",
            "span_id": "",
        }
    )
    return conform(out, LOG_COLUMNS, path, "logs")


def load_aiops2022_kpis(path: PathLike, kind: str) -> tuple[pd.DataFrame, dict[str, str]]:
    """One long KPI file of ``kind`` container | node; returns the metrics and the pod -> node map that
    container ids (``<node>.<pod>``) carry."""
    path = Path(path)
    df = read_csv(path, KPI_COLUMNS, "AIOps-2022 metric", dtype={"cmdb_id": str, "kpi_name": str})
    ts = require_numeric(df, "timestamp", path, "AIOps-2022 metric").to_numpy(dtype=float)
    ids = df["cmdb_id"].astype(str).str.strip()
    pod_nodes: dict[str, str] = {}
    if kind == "container":
        node, _, pod = ids.str.partition(".").T.to_numpy()
        has_node = pod != ""
        entity = np.where(has_node, pod, node)
        for n, p in set(zip(node[has_node], pod[has_node], strict=True)):
            pod_nodes.setdefault(str(p), str(n))
        kinds = "pod"
    else:
        entity = ids.to_numpy()
        kinds = "node"
    out = pd.DataFrame(
        {
            "ts_s": ts,
            "entity": entity,
            "entity_kind": kinds,
            "metric": df["kpi_name"].astype(str),
            "value": pd.to_numeric(df["value"], errors="coerce"),
        }
    ).dropna(subset=["value"])
    return conform(out, METRIC_COLUMNS, path, "metrics"), pod_nodes


def load_aiops2022_service_kpis(path: PathLike) -> pd.DataFrame:
    path = Path(path)
    df = read_csv(path, SERVICE_COLUMNS, "AIOps-2022 service metric", dtype={"service": str})
    ts = require_numeric(df, "timestamp", path, "AIOps-2022 service metric").to_numpy(dtype=float)
    service = df["service"].astype(str).str.strip().str.replace(_PROTOCOL_SUFFIX, "", regex=True)
    kpis = [k for k in SERVICE_KPIS if k in df.columns]
    if not kpis:
        raise InputError(path, f"AIOps-2022 service metric CSV has none of {', '.join(SERVICE_KPIS)}")
    frames = [
        pd.DataFrame(
            {
                "ts_s": ts,
                "entity": service,
                "entity_kind": "service",
                "metric": k,
                "value": pd.to_numeric(df[k], errors="coerce"),
            }
        )
        for k in kpis
    ]
    out = pd.concat(frames, ignore_index=True).dropna(subset=["value"])
    return conform(out, METRIC_COLUMNS, path, "metrics")


def load_aiops2022_bed(folder: PathLike) -> Telemetry:
    """Everything of one cloudbed-day folder as one telemetry (traces required)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, "no such folder")
    trace_files = _csvs(folder / "trace")
    if not trace_files:
        raise InputError(folder, "no trace CSV under trace/")
    spans = dedupe_spans(pd.concat([load_aiops2022_traces(p) for p in trace_files], ignore_index=True))
    sources = {"traces": str(folder / "trace")}
    log_files = _csvs(folder / "log")
    logs = pd.concat([load_aiops2022_logs(p) for p in log_files], ignore_index=True) if log_files else None
    if logs is not None:
        sources["logs"] = str(folder / "log")
    frames: list[pd.DataFrame] = []
    pod_nodes: dict[str, str] = {}
    for kind in ("container", "node"):
        for p in _csvs(folder / "metric" / kind):
            m, pn = load_aiops2022_kpis(p, kind)
            frames.append(m)
            for k, v in pn.items():
                pod_nodes.setdefault(k, v)
    frames.extend(load_aiops2022_service_kpis(p) for p in _csvs(folder / "metric" / "service"))
    metrics = pd.concat(frames, ignore_index=True) if frames else None
    if metrics is not None:
        sources["metrics"] = str(folder / "metric")
    if logs is not None and pod_nodes:
        logs = fill_nodes(logs, pod_nodes)
    return Telemetry(fill_nodes(spans, pod_nodes), logs, metrics, sources)


def slice_window(tel: Telemetry, lo_us: int, hi_us: int) -> Telemetry:
    """The part of ``tel`` in [lo_us, hi_us): spans by start, logs by time, metrics by scrape time."""
    s = tel.spans
    spans = s[(s["start_us"] >= lo_us) & (s["start_us"] < hi_us)].reset_index(drop=True)
    logs = None
    if tel.logs is not None:
        lg = tel.logs
        logs = lg[(lg["ts_us"] >= lo_us) & (lg["ts_us"] < hi_us)].reset_index(drop=True)
    metrics = None
    if tel.metrics is not None:
        ts_us = tel.metrics["ts_s"].to_numpy() * 1e6
        metrics = tel.metrics[(ts_us >= lo_us) & (ts_us < hi_us)].reset_index(drop=True)
    return Telemetry(spans, logs, metrics, tel.sources)


@dataclass(frozen=True)
class Aiops2022Incident:
    """One ground-truth fault of a bed: its window of telemetry and the truth (used only to score)."""

    case_id: str
    fault: Aiops2022Fault
    telemetry: Telemetry
    start_us: int


def aiops2022_incidents(
    folder: PathLike, before_s: int = 600, after_s: int = 600, bed: Telemetry | None = None
) -> list[Aiops2022Incident]:
    """Each fault of ``groundtruth.csv`` with the telemetry from ``before_s`` before it (the normal period)
    to ``after_s`` after it. Faults whose window holds no span are skipped."""
    folder = Path(folder)
    gt = folder / "groundtruth.csv"
    if not gt.exists():
        found = sorted(folder.glob("groundtruth*.csv"))
        if not found:
            raise InputError(folder, "no groundtruth.csv")
        gt = found[0]
    faults = read_aiops2022_groundtruth(gt)
    tel = bed if bed is not None else load_aiops2022_bed(folder)
    out = []
    for i, f in enumerate(faults):
        start = f.ts_s * 1_000_000
        window = slice_window(tel, start - before_s * 1_000_000, start + after_s * 1_000_000)
        if not (window.spans["start_us"] >= start).any():
            continue
        out.append(Aiops2022Incident(f"{folder.name}/{i:03d}", f, window, start))
    return out


def write_aiops2022_bed(tel: Telemetry, faults: list[Aiops2022Fault], folder: PathLike) -> Path:
    """Write telemetry in the cloudbed layout (for fixtures and for users converting their data): pods'
    nodes go into container ids, service KPIs are per-minute request counts, success rate and mean
    response time computed from the spans. Files are written atomically."""
    from faultwise.io import atomic_write_text

    folder = Path(folder)
    s = tel.spans

    def put(rel: str, df: pd.DataFrame) -> None:
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, df.to_csv(index=False))

    put(
        "trace/all/trace_jaeger-span.csv",
        pd.DataFrame(
            {
                "timestamp": s["start_us"] // 1000,
                "cmdb_id": s["pod"],
                "span_id": s["span_id"],
                "trace_id": s["trace_id"],
                "duration": s["duration_us"],
                "type": np.where(s["kind"] == "client", "rpc", "http"),
                "status_code": np.where(s["is_error"], "500", "0"),
                "operation_name": s["operation"],
                "parent_span": s["parent_id"],
            }
        ),
    )
    if tel.logs is not None:
        lg = tel.logs
        put(
            "log/all/log_filebeat-testbed-log-service.csv",
            pd.DataFrame(
                {
                    "log_id": [f"l{i}" for i in range(len(lg))],
                    "timestamp": lg["ts_us"] // 1_000_000,
                    "cmdb_id": lg["pod"],
                    "log_name": "log_" + lg["service"].astype(str) + "-service_application",
                    "value": "severity: " + lg["level"].str.lower() + ", message: " + lg["message"],
                }
            ),
        )
    if tel.metrics is not None:
        m = tel.metrics
        node_of = tel.pod_nodes()
        for kind, sub in (("pod", "container"), ("node", "node")):
            part = m[m["entity_kind"] == kind]
            ids = (
                part["entity"].map(lambda e: f"{node_of.get(e, 'node-0')}.{e}")
                if kind == "pod"
                else part["entity"]
            )
            put(
                f"metric/{sub}/kpi_{sub}.csv",
                pd.DataFrame(
                    {"timestamp": part["ts_s"].round().astype("int64"), "cmdb_id": ids, "kpi_name": part["metric"],
                     "value": part["value"]}
                ),
            )  # fmt: skip
    minute = (s["start_us"] // 60_000_000) * 60
    g = pd.DataFrame({"service": s["service"] + "-grpc", "timestamp": minute, "err": s["is_error"],
                      "ms": s["duration_us"] / 1000}).groupby(["service", "timestamp"])  # fmt: skip
    svc = pd.DataFrame(
        {"rr": 100.0, "sr": 100 * (1 - g["err"].mean()), "mrt": g["ms"].mean(), "count": g.size()}
    )
    put("metric/service/metric_service.csv", svc.reset_index())
    put(
        "groundtruth.csv",
        pd.DataFrame(
            {
                "timestamp": [f.ts_s for f in faults],
                "level": [f.level for f in faults],
                "cmdb_id": [f.cmdb_id for f in faults],
                "failure_type": [f.failure_type for f in faults],
            }
        ),
    )
    return folder
