"""Inject one physically modelled fault into fault-free telemetry: the incident and its label.

``inject(normal, InjectConfig(fault=..., target=..., strength=..., start_us=..., seed=...))`` returns the
same telemetry with the fault running from the onset (everything before it is untouched: the incident's
fault-free part) and an :class:`InjectionLabel`. Same input and config, same output, to the byte.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from faultwise.errors import InputError
from faultwise.rcl.inject.context import InjectionContext, StatusStyle
from faultwise.rcl.inject.logs import edited_logs, link_logs, log_arrays
from faultwise.rcl.inject.metrics import edited_metrics
from faultwise.rcl.inject.model import FaultModel, FaultParams
from faultwise.rcl.inject.models import FAULT_MODELS
from faultwise.rcl.inject.shifter import Effects, Shifted, replay
from faultwise.rcl.inject.tree import SpanForest, span_forest
from faultwise.rcl.records import FaultType, Level
from faultwise.rcl.telemetry.schema import Telemetry

US_PER_S = 1_000_000
#: Without ``start_us`` the fault starts this far into the traces' time range (the Nezha cases' share of
#: fault-free minutes before the injection).
DEFAULT_ONSET_SHARE = 1 / 3
#: Fewest spans a target needs after the onset for a fault to be worth injecting.
MIN_SPANS = 1

FaultName = Literal[
    "network_delay", "network_loss", "cpu_contention", "cpu_hog", "exception", "error_return", "pod_failure"
]
Strength = Literal["easy", "hard", "logs"]


class InjectConfig(BaseModel):
    """What to inject where. Parameters not given come from the strength's preset of the fault model."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    fault: FaultName = Field(description="the fault model")
    target: str = Field(min_length=1, description="a pod, service or node of the traces")
    strength: Strength = Field("easy", description="the preset of the model's parameters")
    start_us: int | None = Field(
        None, ge=0, description="onset, microseconds since the epoch; None: a third into the traces"
    )
    seed: int = Field(0, ge=0, description="every random draw of the injection")
    params: dict[str, bool | float | int | str | None] = Field(
        default_factory=dict, description="model parameters that replace the preset's"
    )
    statuses: Literal["auto", "http", "grpc", "plain", "none"] = Field(
        "auto",
        description="how failures are recorded: auto follows the spans' own status codes (an error flag "
        "only where they have none); none for formats without a status (failures show as timing only)",
    )


class InjectionLabel(BaseModel):
    """The truth of an injected incident (``label.json``)."""

    model_config = ConfigDict(extra="forbid")

    fault: str = Field(description="the fault model")
    fault_type: FaultType = Field(description="the fault in the methods' vocabulary")
    strength: str
    target: str
    level: Level = Field(description="what the target names: pod | service | node")
    service: str = Field(description="the target's service ('' for a node)")
    pods: list[str] = Field(description="the pods the fault runs in")
    node: str = Field(description="the target's node where known")
    onset_us: int
    onset_utc: str
    seed: int
    parameters: dict[str, bool | float | int | str | None]
    chosen: dict[str, str] = Field(description="what the model drew from the seed (e.g. the operation)")
    statuses: StatusStyle
    effect: dict[str, int] = Field(description="what changed: spans moved, removed, failed, lines, samples")


@dataclass
class Injection:
    """The incident (fault-free before the onset) and its label."""

    incident: Telemetry
    label: InjectionLabel


def default_onset_us(spans: pd.DataFrame) -> int:
    """A third into the time range of the traces' root spans (of all spans if none is a root)."""
    roots = spans[spans["parent_id"] == ""]
    starts = (roots if len(roots) else spans)["start_us"]
    lo, hi = int(starts.min()), int(starts.max())
    return lo + int((hi - lo) * DEFAULT_ONSET_SHARE)


def resolve_target(spans: pd.DataFrame, target: str) -> tuple[Level, list[str]]:
    """What ``target`` names (service, pod or node, in that order) and its pods."""
    for level, column in (("service", "service"), ("pod", "pod"), ("node", "node")):
        hit = spans[column] == target
        if hit.any():
            return level, sorted(spans.loc[hit, "pod"].astype(str).unique())  # type: ignore[return-value]
    services = sorted(spans["service"].astype(str).unique())
    shown = ", ".join(services[:8]) + (", ..." if len(services) > 8 else "")
    raise InputError("target", f"{target!r} is no service, pod or node of the traces (services: {shown})")


def status_style(spans: pd.DataFrame, wanted: str) -> StatusStyle:
    """The status style to record failures in (``auto``: as the spans' own codes, else an error flag)."""
    if wanted != "auto":
        return wanted  # type: ignore[return-value]
    codes = pd.to_numeric(spans["status_code"], errors="coerce").dropna()
    if len(codes):
        return "http" if (codes >= 100).any() else "grpc"
    return "plain"


def model_params(model: FaultModel, strength: str, overrides: dict) -> FaultParams:
    """The preset with ``overrides``; a name or value the model refuses is one line naming the parameter."""
    if strength not in model.presets:
        raise InputError(
            "strength", f"{model.name} has no {strength!r} preset (use {', '.join(model.presets)})"
        )
    try:
        return model.params(**{**model.presets[strength].model_dump(), **overrides})
    except ValidationError as exc:
        err = exc.errors()[0]
        name = str(err["loc"][0]) if err["loc"] else "params"
        known = ", ".join(model.params.model_fields)
        problem = (
            f"not a parameter of {model.name} (use {known})"
            if err["type"] == "extra_forbidden"
            else f"{err['msg'].lower()}, got {err['input']!r}"
        )
        raise InputError(f"param {name}", problem) from None


def _eligible(ctx: InjectionContext, model: FaultModel) -> int:
    if model.needs == "calls_into":
        return len(ctx.calls_into())
    if model.needs == "entries":
        return len(ctx.entries())
    return len(ctx.target_rows())


_NEEDS_TEXT = {
    "calls_into": "no calls into it from another traced pod",
    "entries": "no requests that begin in it",
    "spans": "no spans",
}


def _new_spans(forest: SpanForest, fx: Effects, shifted: Shifted, statuses: StatusStyle) -> pd.DataFrame:
    spans = forest.spans.copy()
    spans["start_us"] = shifted.start
    spans["duration_us"] = np.maximum(shifted.end - shifted.start, 0)
    if statuses != "none":
        failed = fx.failed & ~shifted.gone
        spans.loc[failed, "is_error"] = True
        code = fx.status.astype(str)
        with_code = failed & (code != "")
        spans.loc[with_code, "status_code"] = pd.array(code[with_code], dtype="string")
    moved = fx.pod_to != ""
    if moved.any():
        nodes = spans.drop_duplicates("pod").set_index("pod")["node"]
        to = pd.Series(fx.pod_to[moved].astype(str))
        spans.loc[moved, "pod"] = pd.array(to, dtype="string")
        spans.loc[moved, "node"] = pd.array(to.map(nodes).fillna("").astype(str), dtype="string")
    return spans[~shifted.gone].reset_index(drop=True)


def inject(normal: Telemetry, config: InjectConfig) -> Injection:
    """The fault of ``config`` injected into ``normal`` (fault-free telemetry)."""
    spans = normal.spans.reset_index(drop=True)
    if not len(spans):
        raise InputError(normal.sources.get("traces", "traces"), "no spans to inject into")
    model = FAULT_MODELS[config.fault]
    params = model_params(model, config.strength, config.params)
    level, pods = resolve_target(spans, config.target)
    lo, hi = normal.time_range_us()
    onset = default_onset_us(spans) if config.start_us is None else config.start_us
    if not lo <= onset < hi:
        raise InputError("start", f"the onset {_utc(onset)} is outside the traces ({_utc(lo)} .. {_utc(hi)})")
    forest = span_forest(spans)
    statuses = status_style(spans, config.statuses)
    ctx = InjectionContext(
        forest=forest,
        fx=Effects(forest.n),
        rng=np.random.default_rng(config.seed),
        pods=frozenset(pods),
        onset_us=onset,
        until_us=hi + 1,
        statuses=statuses,
    )
    if _eligible(ctx, model) < MIN_SPANS:
        raise InputError(
            "target", f"{config.target!r} has {_NEEDS_TEXT[model.needs]} after the onset {_utc(onset)}"
        )
    link = link_logs(normal.logs, forest)
    if normal.logs is not None:
        ctx.log_pods = set(normal.logs["pod"].astype(str).unique())
        linked = np.flatnonzero(link >= 0)
        times = normal.logs["ts_us"].to_numpy(dtype=np.int64)
        for i in linked[np.lexsort((times[linked], link[linked]))]:
            ctx.log_times.setdefault(int(link[i]), []).append(int(times[i]))
    model.plan(ctx, params)
    log_span, log_ts = log_arrays(normal.logs, link, ctx)
    shifted = replay(forest, ctx.fx, log_span, log_ts)
    new_spans = _new_spans(forest, ctx.fx, shifted, statuses)
    logs, lines_dropped, lines_added = edited_logs(normal.logs, link, ctx, shifted)
    metrics, samples = edited_metrics(normal.metrics, ctx, shifted)
    alive = ~shifted.gone
    moved = alive & ((shifted.start != forest.start) | (shifted.end != forest.end))
    effect = {
        **ctx.counts,
        "traces_replayed": shifted.traces_replayed,
        "spans_moved": int(moved.sum()),
        "spans_removed": int(shifted.gone.sum()),
        "log_lines_dropped": lines_dropped,
        "log_lines_added": lines_added,
        "metric_samples_changed": samples,
    }
    node = config.target if level == "node" else _node_of(spans, pods)
    service = "" if level == "node" else str(spans.loc[spans["pod"] == pods[0], "service"].iat[0])
    label = InjectionLabel(
        fault=model.name,
        fault_type=model.fault_type,
        strength=config.strength,
        target=config.target,
        level=level,
        service=service,
        pods=pods,
        node=node,
        onset_us=onset,
        onset_utc=_utc(onset),
        seed=config.seed,
        parameters=params.model_dump(),
        chosen=dict(sorted(ctx.details.items())),
        statuses=statuses,
        effect=dict(sorted(effect.items())),
    )
    incident = Telemetry(spans=new_spans, logs=logs, metrics=metrics, sources=dict(normal.sources))
    return Injection(incident=incident, label=label)


def _node_of(spans: pd.DataFrame, pods: list[str]) -> str:
    nodes = spans.loc[spans["pod"].isin(pods) & (spans["node"] != ""), "node"].astype(str).unique()
    return str(nodes[0]) if len(nodes) == 1 else ""


def _utc(us: int) -> str:
    return datetime.fromtimestamp(us / US_PER_S, tz=UTC).isoformat(timespec="milliseconds")
