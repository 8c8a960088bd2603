"""Plain CSVs of our canonical tables, for users whose telemetry is already in a spreadsheet-like form.

Spans need ``trace_id, span_id, parent_id, operation, start_us, duration_us`` and ``pod`` or ``service``;
logs need ``message`` and ``ts_us`` or an ISO ``timestamp``; metrics need ``entity, metric, value`` and
``ts_s`` or an ISO ``timestamp``. Other canonical columns are optional and default to empty.
"""

from __future__ import annotations

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
from faultwise.rcl.telemetry.levels import norm_levels
from faultwise.rcl.telemetry.schema import LOG_COLUMNS, METRIC_COLUMNS, SPAN_COLUMNS, conform

SPAN_REQUIRED = ["trace_id", "span_id", "parent_id", "operation", "start_us", "duration_us"]
LOG_REQUIRED = ["message"]
METRIC_REQUIRED = ["entity", "metric", "value"]


def _read(path: Path, required: list[str], what: str) -> pd.DataFrame:
    df = read_csv(path, required, what, dtype=str, keep_default_na=False)
    if not len(df):
        raise InputError(path, f"no {what.split()[-1]} rows")
    return df


def _iso_to_us(path: Path, s: pd.Series) -> pd.Series:
    ts = pd.to_datetime(s, utc=True, errors="coerce", format="ISO8601")
    if ts.isna().any():
        raise InputError(path, f"timestamp is not an ISO time: {s[ts.isna()].iloc[0]!r}")
    return (ts - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(microseconds=1)


def _fill_identity(df: pd.DataFrame, path: Path) -> pd.DataFrame:
    if "pod" not in df.columns and "service" not in df.columns:
        raise InputError(path, "CSV needs a pod or a service column")
    if "pod" not in df.columns:
        df["pod"] = df["service"]
    if "service" not in df.columns:
        df["service"] = services_of_pods(df["pod"].astype(str))
    return df


def load_canonical_spans(path: PathLike) -> pd.DataFrame:
    path = Path(path)
    df = _fill_identity(_read(path, SPAN_REQUIRED, "canonical span"), path)
    for col in ("start_us", "duration_us"):
        df[col] = require_numeric(df, col, path, "spans")
    for col in ("node", "kind", "status_code"):
        if col not in df.columns:
            df[col] = ""
    if "is_error" in df.columns:
        df["is_error"] = df["is_error"].str.strip().str.lower().isin(["true", "1", "yes"])
    else:
        df["is_error"] = status_is_error(df["status_code"])
    return conform(df, SPAN_COLUMNS, path, "spans")


def load_canonical_logs(path: PathLike) -> pd.DataFrame:
    path = Path(path)
    df = _read(path, LOG_REQUIRED, "canonical log")
    if "ts_us" not in df.columns:
        if "timestamp" not in df.columns:
            raise InputError(path, "canonical log CSV is missing column(s) ts_us (or timestamp)")
        df["ts_us"] = _iso_to_us(path, df["timestamp"])
    df["ts_us"] = require_numeric(df, "ts_us", path, "logs")
    df = _fill_identity(df, path)
    for col in ("node", "level", "trace_id", "span_id"):
        if col not in df.columns:
            df[col] = ""
    df["level"] = norm_levels(df["level"])
    return conform(df, LOG_COLUMNS, path, "logs")


def load_canonical_metrics(path: PathLike) -> pd.DataFrame:
    path = Path(path)
    df = _read(path, METRIC_REQUIRED, "canonical metric")
    if "ts_s" not in df.columns:
        if "timestamp" not in df.columns:
            raise InputError(path, "canonical metric CSV is missing column(s) ts_s (or timestamp)")
        df["ts_s"] = _iso_to_us(path, df["timestamp"]) / 1e6
    df["ts_s"] = require_numeric(df, "ts_s", path, "metrics")
    if "entity_kind" not in df.columns:
        df["entity_kind"] = "pod"
    return conform(df, METRIC_COLUMNS, path, "metrics")
