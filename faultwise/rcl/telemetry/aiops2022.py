"""The AIOps Challenge 2022 (OpenRCA "Market") CSV layout.

Spans: ``timestamp,cmdb_id,span_id,trace_id,duration,type,status_code,operation_name,parent_span`` with
``timestamp`` in epoch milliseconds, ``duration`` in microseconds, an empty ``parent_span`` for roots,
``cmdb_id`` the pod, and ``status_code`` heterogeneous (``0``, ``OK``, ``Ok``, ``200``, ...) depending on the
instrumenting library. Ground truth: ``timestamp,level,cmdb_id,failure_type``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from faultwise.errors import InputError
from faultwise.rcl.telemetry._common import (
    PathLike,
    read_csv,
    require_numeric,
    services_of_pods,
    status_is_error,
)
from faultwise.rcl.telemetry.schema import SPAN_COLUMNS, conform

TRACE_COLUMNS = [
    "timestamp",
    "cmdb_id",
    "span_id",
    "trace_id",
    "duration",
    "type",
    "status_code",
    "operation_name",
    "parent_span",
]
GROUNDTRUTH_COLUMNS = ["timestamp", "level", "cmdb_id", "failure_type"]


def load_aiops2022_traces(path: PathLike) -> pd.DataFrame:
    path = Path(path)
    df = read_csv(
        path,
        TRACE_COLUMNS,
        "AIOps-2022 trace",
        dtype={"span_id": str, "trace_id": str, "parent_span": str, "status_code": str, "type": str},
        keep_default_na=False,
        na_values={"timestamp": [""], "duration": [""]},
    )
    if not len(df):
        raise InputError(path, "no spans")
    for col in ("timestamp", "duration"):
        df[col] = require_numeric(df, col, path, "AIOps-2022 trace")
    pods = df["cmdb_id"].astype(str)
    status = df["status_code"].astype(str)
    out = pd.DataFrame(
        {
            "trace_id": df["trace_id"],
            "span_id": df["span_id"],
            "parent_id": df["parent_span"],
            "service": services_of_pods(pods),
            "pod": pods,
            "node": "",
            "operation": df["operation_name"],
            "kind": "",
            "start_us": (df["timestamp"] * 1000).round().astype("int64"),
            "duration_us": df["duration"].round().astype("int64"),
            "is_error": status_is_error(status),
            "status_code": status,
        }
    )
    return conform(out, SPAN_COLUMNS, path, "spans")


@dataclass(frozen=True, slots=True)
class Aiops2022Fault:
    """One ground-truth fault: when (unix seconds), at which level (node|pod|service), where, what."""

    ts_s: int
    level: str
    cmdb_id: str
    failure_type: str


def read_aiops2022_groundtruth(path: PathLike) -> list[Aiops2022Fault]:
    path = Path(path)
    df = read_csv(path, GROUNDTRUTH_COLUMNS, "AIOps-2022 ground truth", dtype=str, keep_default_na=False)
    if not len(df):
        raise InputError(path, "no faults")
    ts = pd.to_numeric(df["timestamp"], errors="coerce")
    if ts.isna().any():
        raise InputError(path, f"timestamp is not a number: {df['timestamp'][ts.isna()].iloc[0]!r}")
    return [
        Aiops2022Fault(
            ts_s=int(t), level=str(lv).strip(), cmdb_id=str(c).strip(), failure_type=str(f).strip()
        )
        for t, lv, c, f in zip(ts, df["level"], df["cmdb_id"], df["failure_type"], strict=True)
    ]
