"""Write an injected incident as files: in the input's format where a writer exists (OTLP JSON, Jaeger,
Zipkin), else canonical CSV; plus ``label.json``. Same injection, same bytes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from faultwise.io import atomic_write_text
from faultwise.rcl.inject.inject import Injection
from faultwise.rcl.telemetry import writers

LABEL_FILE = "label.json"
Writer = tuple[str, Callable[[pd.DataFrame, Path], None]]

#: Per sniffed input format: the file name and writer of that format.
_WRITERS: dict[str, Writer] = {
    "otlp-traces": ("traces.jsonl", writers.write_otlp_traces),
    "jaeger": ("traces.json", writers.write_jaeger),
    "zipkin": ("traces.json", writers.write_zipkin),
    "otlp-logs": ("logs.jsonl", writers.write_otlp_logs),
    "otlp-metrics": ("metrics.jsonl", writers.write_otlp_metrics),
}
#: Per modality: canonical CSV, for every format without a writer (Nezha, AIOps-2022, RCAEval, ...).
_CANONICAL: dict[str, Writer] = {
    "traces": ("traces.csv", writers.write_spans_csv),
    "logs": ("logs.csv", writers.write_logs_csv),
    "metrics": ("metrics.csv", writers.write_metrics_csv),
}


def write_injection(
    injection: Injection,
    out_dir: str | Path,
    trace_format: str = "canonical-spans",
    log_format: str = "canonical-logs",
    metric_format: str = "canonical-metrics",
) -> dict[str, Path]:
    """Write the incident's traces (and logs and metrics where it has them) and its label into ``out_dir``;
    the formats are the sniffed names of the input files. Returns what was written, by modality."""
    out = Path(out_dir)
    tel = injection.incident
    written: dict[str, Path] = {}
    for modality, table, fmt in (
        ("traces", tel.spans, trace_format),
        ("logs", tel.logs, log_format),
        ("metrics", tel.metrics, metric_format),
    ):
        if table is None:
            continue
        name, write = _WRITERS.get(fmt, _CANONICAL[modality])
        written[modality] = out / name
        write(table, written[modality])
    written["label"] = out / LABEL_FILE
    label = injection.label.model_dump(mode="json")
    atomic_write_text(written["label"], json.dumps(label, indent=2, sort_keys=True) + "\n")
    return written
