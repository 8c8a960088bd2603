"""Canonical telemetry tables shared by every loader, tool and reasoner.

Telemetry is columnar (pandas) because a real incident holds hundreds of thousands of spans; single spans
cross module boundaries as the typed :class:`Span` record. Units are explicit in the column names:
``start_us`` / ``duration_us`` are microseconds (``start_us`` since the Unix epoch), ``ts_us`` likewise,
metric ``ts_s`` is seconds since the epoch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from faultwise.errors import InputError

SPAN_COLUMNS: dict[str, str] = {
    "trace_id": "string",
    "span_id": "string",
    "parent_id": "string",  # "" for a root span
    "service": "string",
    "pod": "string",  # instance; equals service where the source knows no instances
    "node": "string",  # host; "" where unknown
    "operation": "string",
    "kind": "string",  # server | client | internal | producer | consumer | ""
    "start_us": "int64",
    "duration_us": "int64",
    "is_error": "bool",
    "status_code": "string",  # raw status as the source gave it ("" if none)
}

LOG_COLUMNS: dict[str, str] = {
    "ts_us": "int64",
    "service": "string",
    "pod": "string",
    "node": "string",
    "level": "string",  # ERROR | WARN | INFO | DEBUG | "" (upper case)
    "message": "string",
    "trace_id": "string",
    "span_id": "string",
}

METRIC_COLUMNS: dict[str, str] = {
    "ts_s": "float64",
    "entity": "string",  # pod, node or service name
    "entity_kind": "string",  # pod | node | service
    "metric": "string",
    "value": "float64",
}

LEVELS = ("ERROR", "WARN", "INFO", "DEBUG")

_K8S_DEPLOYMENT_POD = re.compile(r"^(?P<svc>.+?)-[0-9a-f]{6,10}-[0-9a-z]{5}$")
_K8S_STATEFUL_POD = re.compile(r"^(?P<svc>.+?)-\d+$")


def service_of_pod(pod: str) -> str:
    """Kubernetes naming convention: a Deployment pod is ``<service>-<rs hash>-<5 chars>``,
    a StatefulSet pod ``<service>-<ordinal>``. Anything else is its own service."""
    m = _K8S_DEPLOYMENT_POD.match(pod) or _K8S_STATEFUL_POD.match(pod)
    return m.group("svc") if m else pod


def empty_frame(columns: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in columns.items()})


def conform(df: pd.DataFrame, columns: dict[str, str], source: str | Path, what: str) -> pd.DataFrame:
    """Return ``df`` with exactly ``columns`` in canonical dtypes, or raise a one-line InputError."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputError(source, f"{what} is missing column(s) {', '.join(missing)}")
    out = {}
    for col, dtype in columns.items():
        s = df[col]
        try:
            if dtype == "string":
                out[col] = s.fillna("").astype(str).astype("string")
            elif dtype == "int64":
                num = pd.to_numeric(s, errors="coerce")
                if num.isna().any():
                    bad = s[num.isna()].iloc[0]
                    raise InputError(source, f"{what} column {col} has a non-numeric value {bad!r}")
                out[col] = num.astype("int64")
            elif dtype == "float64":
                out[col] = pd.to_numeric(s, errors="coerce").astype("float64")
            elif dtype == "bool":
                out[col] = s.fillna(False).astype(bool)
            else:  # pragma: no cover - schema typo
                raise ValueError(dtype)
        except (TypeError, ValueError) as exc:
            raise InputError(source, f"{what} column {col} cannot be read as {dtype}: {exc}") from None
    return pd.DataFrame(out).reset_index(drop=True)


@dataclass(frozen=True, slots=True)
class Span:
    """One span, the unit a Dedicated Agent is responsible for."""

    trace_id: str
    span_id: str
    parent_id: str
    service: str
    pod: str
    node: str
    operation: str
    kind: str
    start_us: int
    duration_us: int
    is_error: bool
    status_code: str = ""

    @property
    def end_us(self) -> int:
        return self.start_us + self.duration_us


@dataclass
class Telemetry:
    """The telemetry of one incident (or of a normal period): spans, and logs and metrics where present.

    ``sources`` maps each modality present to where it came from, so reports can say what was used;
    ``warnings`` are what the loaders skipped or assumed (one line each, naming the file).
    """

    spans: pd.DataFrame
    logs: pd.DataFrame | None = None
    metrics: pd.DataFrame | None = None
    sources: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def modalities(self) -> list[str]:
        mods = ["traces"] if len(self.spans) else []
        if self.logs is not None and len(self.logs):
            mods.append("logs")
        if self.metrics is not None and len(self.metrics):
            mods.append("metrics")
        return mods

    def pod_nodes(self) -> dict[str, str]:
        """Pod -> node map from whatever carries it (spans, logs)."""
        pairs: dict[str, str] = {}
        for df in (self.spans, self.logs):
            if df is None or not len(df):
                continue
            known = df.loc[df["node"] != "", ["pod", "node"]].drop_duplicates("pod")
            for pod, node in zip(known["pod"], known["node"], strict=True):
                pairs.setdefault(str(pod), str(node))
        return pairs

    def time_range_us(self) -> tuple[int, int]:
        if not len(self.spans):
            return (0, 0)
        start = int(self.spans["start_us"].min())
        end = int((self.spans["start_us"] + self.spans["duration_us"]).max())
        return start, end


def spans_from_records(records: list[dict], source: str | Path) -> pd.DataFrame:
    """Build the canonical span table from dict rows (loaders of JSON formats use this)."""
    if not records:
        return empty_frame(SPAN_COLUMNS)
    return conform(pd.DataFrame.from_records(records), SPAN_COLUMNS, source, "spans")


def span_at(df: pd.DataFrame, i: int) -> Span:
    row = df.iloc[i]
    return Span(**{c: (row[c].item() if isinstance(row[c], np.generic) else row[c]) for c in SPAN_COLUMNS})
