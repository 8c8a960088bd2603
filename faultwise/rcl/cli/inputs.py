"""Loading what ``diagnose`` (and the demo) is given, and running the analyzer over it with progress."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from faultwise.errors import InputError
from faultwise.progress import progress_bar
from faultwise.rcl.method.analyzer import Diagnosis, RCLAgent, RCLConfig
from faultwise.rcl.reports.coverage import Coverage, describe_coverage
from faultwise.rcl.telemetry import FAMILIES, FORMATS, Telemetry, load_telemetry

US_PER_S = 1_000_000


def parse_start_us(text: str) -> int:
    """``--start``: unix seconds (``1674981784`` or ``1674981784.5``) or an ISO 8601 time; an ISO time
    without a zone is UTC. Returns microseconds since the epoch."""
    value = text.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise InputError("--start", f"not an ISO 8601 time or unix seconds: {text!r}") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return int(round(when.timestamp() * US_PER_S))
    if not math.isfinite(seconds) or seconds < 0:
        raise InputError("--start", f"not a valid unix time: {text!r}")
    return int(round(seconds * US_PER_S))


def check_format(fmt: str) -> str:
    if fmt != "auto" and fmt not in FAMILIES and fmt not in FORMATS:
        raise InputError("--format", f"unknown format {fmt!r}; use auto or one of {', '.join(FAMILIES)}")
    return fmt


def none_if_empty(paths: list[Path] | None) -> list[Path] | None:
    return list(paths) if paths else None


@dataclass
class Inputs:
    """What ``diagnose`` loaded: the incident, an optional fault-free baseline, the alarm time."""

    incident: Telemetry
    baseline: Telemetry | None
    start_us: int | None


def load_inputs(
    traces: list[Path] | None,
    logs: list[Path] | None = None,
    metrics: list[Path] | None = None,
    baseline: list[Path] | None = None,
    baseline_logs: list[Path] | None = None,
    baseline_metrics: list[Path] | None = None,
    start: str | None = None,
    fmt: str = "auto",
) -> Inputs:
    """Load the files exactly as ``faultwise rcl diagnose`` does (the demo goes through here too)."""
    if not traces:
        raise InputError("--traces", "at least one trace file is required")
    check_format(fmt)
    if (baseline_logs or baseline_metrics) and not baseline:
        raise InputError("--baseline", "--baseline-logs/--baseline-metrics need --baseline traces")
    start_us = parse_start_us(start) if start is not None else None
    incident = load_telemetry(traces, none_if_empty(logs), none_if_empty(metrics), fmt)
    base = None
    if baseline:
        base = load_telemetry(baseline, none_if_empty(baseline_logs), none_if_empty(baseline_metrics), fmt)
    if start_us is not None:
        lo, hi = incident.time_range_us()
        if start_us >= hi:
            raise InputError(
                "--start",
                f"{start!r} is after the last span of the traces (which end at {hi / US_PER_S:.0f} unix s)",
            )
    return Inputs(incident, base, start_us)


def diagnose_inputs(
    inputs: Inputs, config: RCLConfig, show_progress: bool, reasoner=None
) -> tuple[Diagnosis, Coverage]:
    """The diagnosis, and what it covered (whose notes on what was not analysed join its warnings)."""
    with progress_bar(show_progress, "diagnosing traces") as update:
        diagnosis = RCLAgent(config, reasoner=reasoner).find_root_causes(
            inputs.incident, inputs.baseline, start_us=inputs.start_us, progress=update
        )
    return diagnosis, describe_coverage(diagnosis, inputs.incident)


def diagnosis_document(diagnosis: Diagnosis, inputs: Inputs, coverage: Coverage | None = None) -> dict:
    """The ``--json`` document: the diagnosis (candidates and metadata), what it covered (spans and traces
    analysed, the baseline, the error spans seen) and where the data came from."""
    doc = diagnosis.model_dump(mode="json")
    doc["sources"] = dict(inputs.incident.sources)
    if inputs.baseline is not None:
        doc["baseline_sources"] = dict(inputs.baseline.sources)
    doc["missing_modalities"] = [m for m in ("traces", "logs", "metrics") if m not in diagnosis.modalities]
    if coverage is not None:
        doc["coverage"] = coverage.model_dump(mode="json")
    return doc
