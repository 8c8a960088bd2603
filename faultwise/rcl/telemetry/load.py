"""The loading API the CLI and the benchmarks call: sniff the format from content, load, concatenate.

Format names: ``otlp``, ``jaeger``, ``zipkin``, ``nezha``, ``aiops2022``, ``canonical`` (the family), or
the sniffed full names (``otlp-traces``, ``nezha-logs``, ...). ``auto`` sniffs each file.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from faultwise.errors import InputError
from faultwise.rcl.telemetry import aiops2022, canonical, jaeger, nezha, otlp, rcaeval, zipkin
from faultwise.rcl.telemetry._common import (
    PathLike,
    as_paths,
    check_file,
    collecting_warnings,
    read_head,
    warn,
)
from faultwise.rcl.telemetry.decode import looks_like_text, proto_kind, read_chunks, read_head_bytes
from faultwise.rcl.telemetry.enrich import (
    UNKNOWN_SERVICE,
    dedupe_spans,
    fill_nodes,
    name_unknown_services,
    separate_services,
)
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


def _sniff_json(head: str, path: Path) -> str | None:
    for key, fmt in (
        ('"resourceSpans"', "otlp-traces"),
        ('"resourceLogs"', "otlp-logs"),
        ('"resourceMetrics"', "otlp-metrics"),
    ):
        if key in head:
            return fmt
    if '"traceID"' in head and ('"spanID"' in head or '"processes"' in head or '"spans"' in head):
        return "jaeger"
    if '"traceId"' in head and '"spanId"' in head and '"operationName"' in head:
        raise InputError(
            path,
            "Jaeger's internal span model (its storage/domain form), not an export: download the trace as "
            "JSON from the Jaeger UI or its API",
        )
    if '"traceId"' in head and '"id"' in head:
        return "zipkin"
    if '"error"' in head and ('"grpcCode"' in head or '"httpCode"' in head):  # an API's error answer
        try:
            err = json.loads(head).get("error") or {}
        except (json.JSONDecodeError, AttributeError):
            err = {}
        message = err.get("message") if isinstance(err, dict) else None
        raise InputError(path, f"the API answered an error, not traces: {message or 'no message'}")
    return None


def _sniff_binary(path: Path, head: bytes) -> str:
    kind = proto_kind(head)
    if kind is None:  # the head may be a cut message: classify the first whole record
        chunks, _ = read_chunks(path)
        kind = proto_kind(chunks[0]) if chunks else None
    if kind is None:
        raise InputError(
            path, "unknown format (binary data that is not OTLP protobuf traces, logs or metrics)"
        )
    return {"resourceSpans": "otlp-traces", "resourceLogs": "otlp-logs", "resourceMetrics": "otlp-metrics"}[
        kind
    ]


def _is_nezha_metric_dir(path: Path) -> bool:
    for f in sorted(path.iterdir()):
        if f.is_file() and (f.name.endswith(".csv") or f.name.endswith(".csv.gz")):
            if _sniff_csv(_csv_header(read_head(f, 8192))) == "nezha-metrics":
                return True
    return False


def _dir_files(path: Path) -> list[Path]:
    """The files of a folder given as input (not hidden, not nested)."""
    return sorted(f for f in path.iterdir() if f.is_file() and not f.name.startswith("."))


def sniff_format(path: PathLike) -> str:
    """Recognise a file's format from its content (one of ``FORMATS``); compression (gzip, zstd) and the
    collector's binary OTLP are recognised by their bytes, whatever the file is called. A folder of Nezha
    metric CSVs is ``nezha-metrics``; any other folder is the format of its files when they share one.
    Anything else raises ``InputError(path, "unknown format ...")``."""
    path = Path(path)
    if path.is_dir():
        if _is_nezha_metric_dir(path):
            return "nezha-metrics"
        files = _dir_files(path)
        if not files:
            raise InputError(path, "an empty folder")
        formats = {sniff_format(f) for f in files}
        if len(formats) == 1:
            return formats.pop()
        raise InputError(path, f"a folder of files in several formats ({', '.join(sorted(formats))})")
    check_file(path)
    raw = read_head_bytes(path)
    if not looks_like_text(raw):
        return _sniff_binary(path, raw)
    head = raw.decode("utf-8", errors="replace")
    stripped = head.lstrip("\ufeff \t\r\n")
    if not stripped:
        raise InputError(path, "empty file")
    fmt = _sniff_json(stripped, path) if stripped[0] in "{[" else _sniff_csv(_csv_header(stripped))
    if fmt is None:
        kind = "JSON" if stripped[0] in "{[" else "text/CSV"
        raise InputError(
            path,
            f"unknown format ({kind} that is not OTLP, Jaeger, Zipkin, Nezha, AIOps-2022, RCAEval or canonical CSV)",
        )
    return fmt


def _resolve(path: Path, fmt: str, modality: str, choices: tuple[str, ...]) -> str:
    """The full format name to load ``path`` with, for one modality (``auto`` sniffs the content; an OTLP file
    may hold every modality, so any OTLP file is tried for each)."""
    if fmt == "auto":
        got = sniff_format(path)
        if got not in choices:
            family = got.split("-")[0]
            same_family = [c for c in choices if c.split("-")[0] == family]
            if family == "otlp" and same_family:
                return same_family[0]
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


def _expand(paths: Paths, keep_metric_dirs: bool = False) -> list[Path]:
    """Input paths with every folder replaced by its files (a Nezha metric folder stays whole for metrics)."""
    out: list[Path] = []
    for p in as_paths(paths):
        if p.is_dir() and not (keep_metric_dirs and _is_nezha_metric_dir(p)):
            files = _dir_files(p)
            if not files:
                raise InputError(p, "an empty folder")
            out.extend(files)
        else:
            out.append(p)
    return out


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def _named(path: Path, spans: pd.DataFrame) -> pd.DataFrame:
    """A file's spans, those that name no service called :data:`~enrich.UNKNOWN_SERVICE` (and counted)."""
    spans, n = name_unknown_services(spans)
    if n:
        warn(path, f"{n} span(s) name no service (no service.name / serviceName): called {UNKNOWN_SERVICE}")
    return spans


def _finish_spans(frames: list[pd.DataFrame]) -> pd.DataFrame:
    return separate_services(dedupe_spans(_concat(frames)))


def load_traces(path: Paths, fmt: str = "auto") -> pd.DataFrame:
    """Spans of one or more files or folders of files (concatenated; a span seen twice is kept once) as the
    canonical table."""
    frames = []
    for p in _expand(path):
        name = _resolve(p, fmt, "traces", tuple(TRACE_LOADERS))
        frames.append(_named(p, TRACE_LOADERS[name](p)))
    return _finish_spans(frames)


def load_logs(path: Paths, fmt: str = "auto") -> pd.DataFrame:
    frames = []
    for p in _expand(path):
        name = _resolve(p, fmt, "logs", tuple(LOG_LOADERS))
        frames.append(LOG_LOADERS[name](p))
    return _concat(frames)


def load_metrics(path: Paths, fmt: str = "auto", pod_nodes: dict[str, str] | None = None) -> pd.DataFrame:
    """Metric files, or a Nezha metric folder. ``pod_nodes`` lets Nezha node KPIs land on their node."""
    frames = []
    for p in _expand(path, keep_metric_dirs=True):
        name = _resolve(p, fmt, "metrics", METRIC_FORMATS)
        if name == "nezha-metrics":
            frames.append(nezha.load_nezha_metrics(p, pod_nodes))
        elif name == "otlp-metrics":
            frames.append(otlp.load_otlp_metrics(p))
        else:
            frames.append(canonical.load_canonical_metrics(p))
    return _concat(frames)


def _family_or_auto(fmt: str, choices: tuple[str, ...]) -> str:
    if fmt == "auto" or fmt in choices:
        return fmt
    fam = fmt.split("-")[0]
    return fam if any(c.split("-")[0] == fam for c in choices) else "auto"


def _describe(path: Paths) -> str:
    return ";".join(str(p) for p in as_paths(path))


def _otlp_extras(
    paths: list[Path], fmt: str, given: dict[str, set[Path]]
) -> tuple[list[pd.DataFrame], dict[str, list[pd.DataFrame]], dict[str, list[Path]]]:
    """Spans of the trace files, plus the logs and metrics that OTLP trace files hold beside their spans (a
    collector's file exporter shared by pipelines), unless that file was also given for that modality."""
    spans: list[pd.DataFrame] = []
    extra: dict[str, list[pd.DataFrame]] = {"logs": [], "metrics": []}
    extra_from: dict[str, list[Path]] = {"logs": [], "metrics": []}
    for p in paths:
        name = _resolve(p, fmt, "traces", tuple(TRACE_LOADERS))
        if name != "otlp-traces":
            spans.append(_named(p, TRACE_LOADERS[name](p)))
            continue
        blocks = otlp.read_otlp(p)
        spans.append(_named(p, otlp.load_otlp_traces(p, blocks)))
        resolved = p.resolve()
        if blocks.blocks["logs"] and resolved not in given["logs"]:
            extra["logs"].append(otlp.load_otlp_logs(p, blocks))
            extra_from["logs"].append(p)
        if blocks.blocks["metrics"] and resolved not in given["metrics"]:
            extra["metrics"].append(otlp.load_otlp_metrics(p, blocks))
            extra_from["metrics"].append(p)
    return spans, extra, extra_from


def load_telemetry(
    traces: Paths,
    logs: Paths | None = None,
    metrics: Paths | None = None,
    fmt: str = "auto",
) -> Telemetry:
    """Traces (required) plus optional logs and metrics; ``sources`` records where each came from and
    ``warnings`` what the loaders skipped or assumed.

    ``fmt`` names the traces' format; logs and metrics use the same family where it has one, else auto.
    One OTLP file may hold every modality: the logs and metrics of the trace files are kept. Folders stand
    for their files. Pods' nodes known from spans or logs are filled into spans that lack them and put
    node metrics on their node.
    """
    with collecting_warnings() as notes:
        log_paths = _expand(logs) if logs is not None else []
        metric_paths = _expand(metrics, keep_metric_dirs=True) if metrics is not None else []
        given = {"logs": {p.resolve() for p in log_paths}, "metrics": {p.resolve() for p in metric_paths}}
        span_frames, extra, extra_from = _otlp_extras(_expand(traces), fmt, given)
        spans = _finish_spans(span_frames)
        sources = {"traces": _describe(traces)}
        log_frames = list(extra["logs"])
        if log_paths:
            log_frames.append(load_logs(log_paths, _family_or_auto(fmt, tuple(LOG_LOADERS))))
        log_df = _concat(log_frames) if log_frames else None
        if log_frames:
            sources["logs"] = _describe([*extra_from["logs"], *log_paths])
        tel = Telemetry(spans=spans, logs=log_df)
        pod_nodes = tel.pod_nodes()
        metric_frames = list(extra["metrics"])
        if metric_paths:
            metric_frames.append(load_metrics(metric_paths, _family_or_auto(fmt, METRIC_FORMATS), pod_nodes))
        metric_df = _concat(metric_frames) if metric_frames else None
        if metric_frames:
            sources["metrics"] = _describe([*extra_from["metrics"], *metric_paths])
    return Telemetry(
        spans=fill_nodes(spans, pod_nodes),
        logs=log_df,
        metrics=metric_df,
        sources=sources,
        warnings=notes,
    )
