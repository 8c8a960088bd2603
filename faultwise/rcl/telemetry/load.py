"""The loading API the CLI and the benchmarks call: sniff the format from content, load, concatenate.

Format names: ``otlp``, ``jaeger``, ``zipkin``, ``nezha``, ``aiops2022``, ``canonical`` (the family), or
the sniffed full names (``otlp-traces``, ``nezha-logs``, ...). ``auto`` sniffs each file.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from faultwise.errors import InputError
from faultwise.rcl.telemetry import aiops2022, canonical, jaeger, nezha, otlp, rcaeval, zipkin
from faultwise.rcl.telemetry._common import PathLike, as_paths, read_head
from faultwise.rcl.telemetry.enrich import dedupe_spans, fill_nodes
from faultwise.rcl.telemetry.schema import Telemetry

Paths = PathLike | list[PathLike] | tuple[PathLike, ...]

TRACE_LOADERS: dict[str, Callable[[Path], pd.DataFrame]] = {
    "otlp-traces": otlp.load_otlp_traces,
    "jaeger": jaeger.load_jaeger,
    "zipkin": zipkin.load_zipkin,
    "nezha-traces": nezha.load_nezha_traces,
    "aiops2022-traces": aiops2022.load_aiops2022_traces,
    "rcaeval-traces": rcaeval.load_rcaeval_traces,
    "canonical-spans": canonical.load_canonical_spans,
}
LOG_LOADERS: dict[str, Callable[[Path], pd.DataFrame]] = {
    "otlp-logs": otlp.load_otlp_logs,
    "nezha-logs": nezha.load_nezha_logs,
    "rcaeval-logs": rcaeval.load_rcaeval_logs,
    "canonical-logs": canonical.load_canonical_logs,
}
METRIC_FORMATS = ("otlp-metrics", "nezha-metrics", "canonical-metrics")
FORMATS = tuple(TRACE_LOADERS) + tuple(LOG_LOADERS) + METRIC_FORMATS
FAMILIES = ("otlp", "jaeger", "zipkin", "nezha", "aiops2022", "rcaeval", "canonical")


def _csv_header(head: str) -> set[str]:
    first = head.splitlines()[0] if head.splitlines() else ""
    try:
        row = next(csv.reader(io.StringIO(first)))
    except (StopIteration, csv.Error):
        return set()
    return {c.strip().lstrip("\ufeff") for c in row}


def _sniff_csv(cols: set[str]) -> str | None:
    if set(nezha.TRACE_COLUMNS) <= cols:
        return "nezha-traces"
    if set(nezha.LOG_FILE_COLUMNS) <= cols:
        return "nezha-logs"
    if nezha.METRIC_TIME_COLUMN in cols and ({"PodName", "ServiceName"} & cols):
        return "nezha-metrics"
    if {"timestamp", "cmdb_id", "span_id", "trace_id", "duration", "parent_span"} <= cols:
        return "aiops2022-traces"
    if set(rcaeval.TRACE_COLUMNS) <= cols:
        return "rcaeval-traces"
    if set(rcaeval.LOG_COLUMNS_REQUIRED) <= cols:
        return "rcaeval-logs"
    if set(canonical.SPAN_REQUIRED) <= cols:
        return "canonical-spans"
    if set(canonical.METRIC_REQUIRED) <= cols and ({"ts_s", "timestamp"} & cols):
        return "canonical-metrics"
    if set(canonical.LOG_REQUIRED) <= cols and ({"ts_us", "timestamp"} & cols):
        return "canonical-logs"
    return None


def _sniff_json(head: str) -> str | None:
    for key, fmt in (
        ('"resourceSpans"', "otlp-traces"),
        ('"resourceLogs"', "otlp-logs"),
        ('"resourceMetrics"', "otlp-metrics"),
    ):
        if key in head:
            return fmt
    if '"traceID"' in head and ('"spanID"' in head or '"processes"' in head or '"spans"' in head):
        return "jaeger"
    if '"traceId"' in head and '"id"' in head:
        return "zipkin"
    return None


def sniff_format(path: PathLike) -> str:
    """Recognise a file's format from its content (one of ``FORMATS``); a folder of Nezha metric CSVs is
    ``nezha-metrics``. Anything else raises ``InputError(path, "unknown format ...")``."""
    path = Path(path)
    if path.is_dir():
        for f in sorted(path.iterdir()):
            if f.is_file() and (f.name.endswith(".csv") or f.name.endswith(".csv.gz")):
                if _sniff_csv(_csv_header(read_head(f, 8192))) == "nezha-metrics":
                    return "nezha-metrics"
        raise InputError(path, "unknown format: a directory without Nezha metric CSVs")
    head = read_head(path)
    stripped = head.lstrip("\ufeff \t\r\n")
    if not stripped:
        raise InputError(path, "empty file")
    fmt = _sniff_json(stripped) if stripped[0] in "{[" else _sniff_csv(_csv_header(stripped))
    if fmt is None:
        kind = "JSON" if stripped[0] in "{[" else "text/CSV"
        raise InputError(
            path,
            f"unknown format ({kind} that is not OTLP, Jaeger, Zipkin, Nezha, AIOps-2022, RCAEval or canonical CSV)",
        )
    return fmt


def _resolve(path: Path, fmt: str, modality: str, choices: tuple[str, ...]) -> str:
    """The full format name to load ``path`` with, for one modality (``auto`` sniffs the content)."""
    if fmt == "auto":
        got = sniff_format(path)
        if got not in choices:
            raise InputError(path, f"holds {got}, not {modality}")
        return got
    if fmt in choices:
        return fmt
    families = sorted({c.split("-")[0] for c in choices})
    if fmt in FAMILIES:
        full = [c for c in choices if c.split("-")[0] == fmt]
        if full:
            return full[0]
        raise InputError(
            path, f"format {fmt!r} cannot hold {modality}; use auto or one of {', '.join(families)}"
        )
    if fmt in FORMATS:
        raise InputError(path, f"format {fmt!r} is not a {modality} format")
    raise InputError(path, f"unknown format name {fmt!r}; use auto or one of {', '.join(families)}")


def load_traces(path: Paths, fmt: str = "auto") -> pd.DataFrame:
    """Spans of one or more files (concatenated; a span seen twice is kept once) as the canonical table."""
    frames = []
    for p in as_paths(path):
        name = _resolve(p, fmt, "traces", tuple(TRACE_LOADERS))
        frames.append(TRACE_LOADERS[name](p))
    df = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    return dedupe_spans(df)


def load_logs(path: Paths, fmt: str = "auto") -> pd.DataFrame:
    frames = []
    for p in as_paths(path):
        name = _resolve(p, fmt, "logs", tuple(LOG_LOADERS))
        frames.append(LOG_LOADERS[name](p))
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def load_metrics(path: Paths, fmt: str = "auto", pod_nodes: dict[str, str] | None = None) -> pd.DataFrame:
    """Metric files, or a Nezha metric folder. ``pod_nodes`` lets Nezha node KPIs land on their node."""
    frames = []
    for p in as_paths(path):
        name = _resolve(p, fmt, "metrics", METRIC_FORMATS)
        if name == "nezha-metrics":
            frames.append(nezha.load_nezha_metrics(p, pod_nodes))
        elif name == "otlp-metrics":
            frames.append(otlp.load_otlp_metrics(p))
        else:
            frames.append(canonical.load_canonical_metrics(p))
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def _family_or_auto(fmt: str, choices: tuple[str, ...]) -> str:
    if fmt == "auto" or fmt in choices:
        return fmt
    fam = fmt.split("-")[0]
    return fam if any(c.split("-")[0] == fam for c in choices) else "auto"


def _describe(path: Paths) -> str:
    return ";".join(str(p) for p in as_paths(path))


def load_telemetry(
    traces: Paths,
    logs: Paths | None = None,
    metrics: Paths | None = None,
    fmt: str = "auto",
) -> Telemetry:
    """Traces (required) plus optional logs and metrics; ``sources`` records where each came from.

    ``fmt`` names the traces' format; logs and metrics use the same family where it has one, else auto.
    Pods' nodes known from spans or logs are filled into spans that lack them and put node metrics on
    their node.
    """
    spans = load_traces(traces, fmt)
    sources = {"traces": _describe(traces)}
    log_df = None
    if logs is not None:
        log_df = load_logs(logs, _family_or_auto(fmt, tuple(LOG_LOADERS)))
        sources["logs"] = _describe(logs)
    tel = Telemetry(spans=spans, logs=log_df)
    pod_nodes = tel.pod_nodes()
    metric_df = None
    if metrics is not None:
        metric_df = load_metrics(metrics, _family_or_auto(fmt, METRIC_FORMATS), pod_nodes)
        sources["metrics"] = _describe(metrics)
    return Telemetry(spans=fill_nodes(spans, pod_nodes), logs=log_df, metrics=metric_df, sources=sources)
