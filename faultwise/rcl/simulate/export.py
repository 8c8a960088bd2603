"""A generated incident written as the files a user has: what the demo writes and the CLI tests read."""

from __future__ import annotations

from pathlib import Path

from faultwise.rcl.simulate.config import SynthIncident
from faultwise.rcl.telemetry import writers

#: The files of :func:`write_incident_otlp`, by key: the incident window, then its fault-free window.
OTLP_FILES = {
    "traces": "traces.otlp.jsonl",
    "logs": "logs.otlp.jsonl",
    "metrics": "metrics.otlp.jsonl",
    "baseline": "baseline-traces.otlp.jsonl",
    "baseline_logs": "baseline-logs.otlp.jsonl",
    "baseline_metrics": "baseline-metrics.otlp.jsonl",
}


def write_incident_otlp(incident: SynthIncident, folder: Path) -> dict[str, Path]:
    """The incident window and its fault-free window as the OTLP JSON files a collector's file exporter
    writes, in ``folder`` (created); returns the paths by the keys of :data:`OTLP_FILES`."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {key: folder / name for key, name in OTLP_FILES.items()}
    writers.write_otlp(incident.incident, paths["traces"], paths["logs"], paths["metrics"])
    writers.write_otlp(incident.normal, paths["baseline"], paths["baseline_logs"], paths["baseline_metrics"])
    return paths
