"""``faultwise rcl inject``: replay a physically modelled fault into a user's own fault-free telemetry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from faultwise.errors import InputError
from faultwise.rcl.cli.inputs import check_format, none_if_empty, parse_start_us
from faultwise.rcl.cli.options import LogsOpt, MetricsOpt, TracesOpt, checked_config
from faultwise.rcl.telemetry import FAMILIES, load_telemetry

#: Trace formats that record no status: failures injected into them show as timing and structure only.
STATUSLESS_FORMATS = ("nezha-traces",)


def parse_params(items: list[str] | None) -> dict[str, float | int | str | None]:
    """``--param NAME=VALUE`` (repeatable): numbers become numbers, ``none`` None, anything else text."""
    out: dict[str, float | int | str | None] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise InputError("--param", f"expected NAME=VALUE, got {item!r}")
        text = value.strip()
        parsed: float | int | str | None
        if text.lower() in ("none", "null"):
            parsed = None
        else:
            try:
                parsed = int(text)
            except ValueError:
                try:
                    parsed = float(text)
                except ValueError:
                    parsed = text
        out[name.strip()] = parsed
    return out


def _sniffed(paths: list[Path] | None, fmt: str) -> str:
    """The sniffed format of the first file (``""`` when none is given)."""
    from faultwise.rcl.telemetry import sniff_format

    if not paths:
        return ""
    return sniff_format(paths[0]) if fmt == "auto" else fmt


def inject_command(
    traces: TracesOpt = None,
    logs: LogsOpt = None,
    metrics: MetricsOpt = None,
    fault: Annotated[
        str | None,
        typer.Option(
            "--fault",
            help="network_delay | network_loss | cpu_contention | cpu_hog | exception | error_return | "
            "pod_failure (docs/rcl-replay.md says what each imitates).",
        ),
    ] = None,
    target: Annotated[
        str | None, typer.Option("--target", help="A pod, service or node of the traces.")
    ] = None,
    strength: Annotated[
        str,
        typer.Option(
            "--strength",
            help="easy | hard (the parameter preset); logs: exception and error_return shown in logs only.",
        ),
    ] = "easy",
    start: Annotated[
        str | None,
        typer.Option(
            "--start",
            help="Onset: ISO 8601 (UTC if no zone) or unix seconds; default a third into the traces.",
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of every random draw.")] = 0,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", help="NAME=VALUE replacing a parameter of the preset (repeatable)."),
    ] = None,
    statuses: Annotated[
        str,
        typer.Option(
            "--statuses",
            help="How failures are recorded: auto | http | grpc | plain | none (auto: none for formats "
            "without a status, such as Nezha traces; else as the spans' own codes).",
        ),
    ] = "auto",
    fmt: Annotated[
        str, typer.Option("--format", help=f"auto (sniff each file) or one of: {', '.join(FAMILIES)}.")
    ] = "auto",
    out: Annotated[
        Path | None, typer.Option("--out", help="Folder to write the incident and label.json to.")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the label as JSON, nothing else.")] = False,
) -> None:
    """Inject a physically modelled fault into fault-free telemetry: writes the incident (fault-free before the
    onset) in the input's format where a writer exists, else canonical CSV, and label.json."""
    from faultwise.rcl.inject import InjectConfig, inject, write_injection

    if not traces:
        raise InputError("--traces", "at least one fault-free trace file is required")
    if out is None:
        raise InputError("--out", "an output folder is required")
    if fault is None:
        raise InputError("--fault", "required (network_delay, network_loss, cpu_contention, cpu_hog, ...)")
    if target is None:
        raise InputError("--target", "required: a pod, service or node of the traces")
    if out.exists() and not out.is_dir():
        raise InputError(out, "exists and is not a folder")
    check_format(fmt)
    start_us = parse_start_us(start) if start is not None else None
    trace_format = _sniffed(traces, fmt)
    if statuses == "auto" and trace_format in STATUSLESS_FORMATS:
        statuses = "none"
    config = checked_config(
        InjectConfig,
        {
            "fault": "--fault",
            "target": "--target",
            "strength": "--strength",
            "start_us": "--start",
            "seed": "--seed",
            "statuses": "--statuses",
        },
        fault=fault,
        target=target,
        strength=strength,
        start_us=start_us,
        seed=seed,
        params=parse_params(param),
        statuses=statuses,
    )
    normal = load_telemetry(traces, none_if_empty(logs), none_if_empty(metrics), fmt)
    try:
        injection = inject(normal, config)
    except InputError as exc:  # the library names its parameters; the user knows them as flags
        raise InputError(_flag_of(exc.source), exc.problem) from None
    written = write_injection(
        injection,
        out,
        trace_format,
        _sniffed(logs, "auto"),
        _sniffed(metrics, "auto"),
    )
    if json_out:
        typer.echo(json.dumps(injection.label.model_dump(mode="json"), indent=2, sort_keys=True))
        return
    label = injection.label
    console = Console()
    console.print(
        f"[bold]{label.fault}[/bold] ({label.strength}) on {label.level} [cyan]{label.target}[/cyan] "
        f"from {label.onset_utc}"
    )
    effect = ", ".join(f"{k} {v}" for k, v in label.effect.items() if v)
    console.print(f"effect: {effect}")
    for what, path in written.items():
        console.print(f"{what}: {path}")


def _flag_of(source: str) -> str:
    """The flag a library parameter name stands for (other sources, e.g. file names, as they are)."""
    if source in ("target", "start"):
        return f"--{source}"
    if source == "operation" or source.startswith("param "):
        return f"--param {source.removeprefix('param ')}"
    return source
