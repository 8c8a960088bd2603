"""The replay bench: faults injected into real fault-free telemetry (:mod:`faultwise.rcl.inject`), every
method scored on them through the one bench runner.

Sources of fault-free telemetry:

- a Nezha-layout folder (``cases.csv``): each case's published fault-free trace file and the trace files of
  each day before its first fault, cut to the traces that lie wholly outside every fault of the day (the
  day's fault list where there is one, else the cases' injection times), each fault taken to last
  ``FAULT_EFFECT_S``; with the logs of the same minutes and the day's metrics of the same stretch of time
  (samples inside a fault's window dropped). A labelled case's fault window is never used as normal.
- trace files (any format the loaders read), each file one source.

A case injects one fault model at one strength into one target service of one source; the method sees the
incident (its first third fault-free, as in the Nezha cases), the other sources of the same system as
fault-free telemetry, and the onset; it is scored at service level. Targets are drawn from the seed by
their traffic after the onset in a source, without looking at any method's answers: first among the
services another traced service calls at least ``min_calls`` times (every model acts on them); when fewer
than the targets wanted are, among the services where at least ``min_calls`` traced requests begin (a
system's entry service, called only by untraced clients). A model whose needs a target does not meet in
its source (a network fault on an entry service: no traced call waits on it) skips that target.
"""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from faultwise.errors import InputError
from faultwise.rcl.bench.cases import BenchCase
from faultwise.rcl.inject import (
    FAULT_MODELS,
    FAULTS,
    InjectConfig,
    Needs,
    default_onset_us,
    inject,
    span_forest,
)
from faultwise.rcl.telemetry import load_telemetry, read_nezha_cases, sniff_format
from faultwise.rcl.telemetry.enrich import fill_nodes, node_map
from faultwise.rcl.telemetry.nezha import load_nezha_logs, load_nezha_metrics, load_nezha_traces
from faultwise.rcl.telemetry.schema import Telemetry

US_PER_S = 1_000_000
#: How long a fault of a Nezha day is taken to disturb the system (its telemetry spans 3 minutes).
FAULT_EFFECT_S = 5 * 60
#: Metric history kept before a source's traces (what the comparison methods read as normal).
METRIC_HISTORY_S = 30 * 60
#: Fewest whole traces a cut trace file must keep to be a source.
MIN_TRACES = 20
#: Trace formats without a status field: failures injected into them show as timing and structure only.
STATUSLESS = ("nezha-traces",)


@dataclass(frozen=True)
class ReplaySource:
    """A stretch of fault-free telemetry of one system."""

    name: str
    system: str
    telemetry: Telemetry
    statuses: str  # auto | none


@dataclass(frozen=True)
class ReplaySpec:
    """One planned case: which fault, how strong, into which service of which source, with which seed."""

    case_id: str
    source: int
    fault: str
    strength: str
    target: str
    seed: int


# --- sources ---------------------------------------------------------------------------------------------


def _utc_us(text: str) -> int:
    when = datetime.strptime(text.strip(), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    return int(when.timestamp()) * US_PER_S


def _fault_times(root: Path, day: str, case_times: list[int]) -> list[int]:
    """Every fault of a day (its fault list where present, plus the cases' injection times), microseconds."""
    times = set(case_times)
    listing = root / "rca_data" / day / f"{day}-fault_list.json"
    if listing.is_file():
        try:
            doc = json.loads(listing.read_text(encoding="utf-8"))
            entries = [e for hour in doc.values() for e in hour] if isinstance(doc, dict) else list(doc)
            times.update(_utc_us(e["inject_time"]) for e in entries)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise InputError(listing, f"unreadable fault list: {exc}") from None
    return sorted(times)


def _outside(start: np.ndarray, end: np.ndarray, faults: list[int]) -> np.ndarray:
    """Which intervals lie wholly outside every fault window ``[t, t + FAULT_EFFECT_S)``."""
    ok = np.ones(len(start), dtype=bool)
    for t in faults:
        ok &= (end < t) | (start >= t + FAULT_EFFECT_S * US_PER_S)
    return ok


def _sibling(trace_file: Path, folder: str, suffix: str) -> Path | None:
    stem = trace_file.name.split("_trace")[0]
    for ext in (".csv", ".csv.gz"):
        p = trace_file.parent.parent / folder / f"{stem}{suffix}{ext}"
        if p.is_file():
            return p
    return None


def _metrics(folder: Path, pod_nodes: dict[str, str]) -> pd.DataFrame | None:
    """The folder's per-pod KPI files (files that are not per-pod KPIs are skipped)."""
    frames = []
    for f in sorted(folder.iterdir()):
        if not f.is_file() or not (f.name.endswith(".csv") or f.name.endswith(".csv.gz")):
            continue
        try:
            frames.append(load_nezha_metrics(f, pod_nodes))
        except InputError:
            continue  # dependency / source / destination tables: not KPIs of one pod
    if not frames:
        return None
    out = pd.concat(frames, ignore_index=True)
    return out.drop_duplicates(["entity", "entity_kind", "metric", "ts_s"]).reset_index(drop=True)


def _nezha_source(
    root: Path, trace_file: Path, day: str, faults: list[int], system: str
) -> ReplaySource | None:
    spans = load_nezha_traces(trace_file)
    start = spans["start_us"].to_numpy()
    end = start + spans["duration_us"].to_numpy()
    clean = pd.Series(_outside(start, end, faults)).groupby(spans["trace_id"].to_numpy()).transform("all")
    spans = spans[clean.to_numpy()].reset_index(drop=True)
    if spans["trace_id"].nunique() < MIN_TRACES:
        return None
    lo, hi = int(spans["start_us"].min()), int((spans["start_us"] + spans["duration_us"]).max())
    logs = None
    log_file = _sibling(trace_file, "log", "_log")
    if log_file is not None:
        logs = load_nezha_logs(log_file)
        ts = logs["ts_us"].to_numpy()
        keep = logs["trace_id"].isin(spans["trace_id"]).to_numpy() | (
            (logs["trace_id"] == "").to_numpy() & (ts >= lo) & (ts <= hi) & _outside(ts, ts, faults)
        )
        logs = logs[keep].reset_index(drop=True)
    pod_nodes = node_map(logs)
    metrics = None
    metric_dir = trace_file.parent.parent / "metric"
    if not metric_dir.is_dir():  # a fault-free minute without its own metrics: the day's
        metric_dir = root / "rca_data" / day / "metric"
    if metric_dir.is_dir():
        metrics = _metrics(metric_dir, pod_nodes)
        if metrics is not None:
            ts = (metrics["ts_s"].to_numpy() * US_PER_S).astype(np.int64)
            window = (ts >= lo - METRIC_HISTORY_S * US_PER_S) & (ts <= hi + 60 * US_PER_S)
            metrics = metrics[window & _outside(ts - 60 * US_PER_S, ts, faults)].reset_index(drop=True)
    sources = {"traces": str(trace_file)}
    if logs is not None:
        sources["logs"] = str(log_file)
    if metrics is not None:
        sources["metrics"] = str(metric_dir)
    tel = Telemetry(fill_nodes(spans, pod_nodes), logs, metrics, sources)
    return ReplaySource(str(trace_file.relative_to(root)), system, tel, "none")


def nezha_sources(root: str | Path) -> list[ReplaySource]:
    """The fault-free stretches of a Nezha-layout folder (see the module docstring)."""
    root = Path(root)
    cases = read_nezha_cases(root)
    by_day: dict[str, list[int]] = {}
    for c in cases:
        day = c.date or (c.trace_files[0].split("/")[1] if c.trace_files else "")
        by_day.setdefault(day, []).append(c.inject_unix_utc * US_PER_S)
    faults = {day: _fault_times(root, day, times) for day, times in by_day.items()}
    files: list[tuple[Path, str]] = []
    for c in cases:
        if c.normal_trace_file:
            day = c.normal_trace_file.split("/")[1]
            files.append((root / c.normal_trace_file, day))
    for day, times in faults.items():
        first = datetime.fromtimestamp(times[0] / US_PER_S, tz=UTC).strftime("%H_%M")
        folder = root / "rca_data" / day / "trace"
        if folder.is_dir():
            files.extend((f, day) for f in sorted(folder.iterdir()) if f.name[:5] <= first)
    out, seen = [], set()
    for path, day in files:
        if path in seen or not path.is_file():
            continue
        seen.add(path)
        system = next((c.system for c in cases if c.system), root.name)
        src = _nezha_source(root, path, day, faults.get(day, []), system)
        if src is not None:
            out.append(src)
    if not out:
        raise InputError(root, "no fault-free traces outside the faults' windows")
    return out


def file_sources(paths: Sequence[Path], system: str = "files") -> list[ReplaySource]:
    """Each trace file one source of fault-free traces."""
    out = []
    for p in paths:
        fmt = sniff_format(p)
        tel = load_telemetry(p)
        out.append(ReplaySource(Path(p).name, system, tel, "none" if fmt in STATUSLESS else "auto"))
    return out


def replay_sources(paths: Sequence[Path]) -> list[ReplaySource]:
    """A Nezha-layout folder, or trace files (a folder without ``cases.csv``: the trace files in it)."""
    if len(paths) == 1 and Path(paths[0]).is_dir():
        folder = Path(paths[0])
        if (folder / "cases.csv").is_file():
            return nezha_sources(folder)
        files = sorted(f for f in folder.iterdir() if f.is_file() and not f.name.startswith("."))
        traces = [f for f in files if _is_traces(f)]
        if not traces:
            raise InputError(folder, "no cases.csv and no trace files")
        return file_sources(traces, folder.name)
    return file_sources([Path(p) for p in paths])


def _is_traces(path: Path) -> bool:
    try:
        return sniff_format(path) in ("otlp-traces", "jaeger", "zipkin", "nezha-traces", "canonical-spans")
    except InputError:
        return False


# --- plan and cases --------------------------------------------------------------------------------------


def _traffic(source: ReplaySource) -> tuple[pd.Series, pd.Series]:
    """Per service, after the default onset: calls into it from another traced pod, and requests that
    begin in it (those calls plus the traces' roots)."""
    spans = source.telemetry.spans
    forest = span_forest(spans)
    after = forest.start >= default_onset_us(spans)
    called = forest.crosses_pods() & after
    entries = (forest.crosses_pods() | (forest.parent < 0)) & after
    return (
        pd.Series(forest.service[called]).value_counts(),
        pd.Series(forest.service[entries]).value_counts(),
    )


def eligible_services(source: ReplaySource, min_calls: int, needs: Needs = "calls_into") -> list[str]:
    """Services with at least ``min_calls`` requests after the default onset: calls into them from another
    traced pod (``calls_into``, what network faults need), or requests that begin in them (``entries``:
    those calls and the traces' roots, what the faults on a pod's own processing and code need)."""
    called, entries = _traffic(source)
    return sorted(_at_least(called if needs == "calls_into" else entries, min_calls))


def _at_least(counts: pd.Series, floor: int) -> set[str]:
    return {str(s) for s in counts[counts >= floor].index}


def replay_plan(
    sources: Sequence[ReplaySource],
    faults: Sequence[str] = FAULTS,
    strengths: Sequence[str] = ("easy", "hard"),
    targets: int = 10,
    seeds: int = 1,
    min_calls: int = 5,
) -> list[ReplaySpec]:
    """Per seed, up to ``targets`` services drawn from the eligible ones (each in a source where it is
    eligible, drawn too), and every fault at every strength on each: first among the services called from
    another traced pod, then, when too few are, among those where requests begin (entry services). A
    (fault, strength) pair the model has no preset for, or a fault whose needs the target does not meet in
    its source, is left out."""
    traffic = [_traffic(s) for s in sources]
    called = {i: _at_least(t[0], min_calls) for i, t in enumerate(traffic)}
    entered = {i: _at_least(t[1], min_calls) for i, t in enumerate(traffic)}
    services = sorted(set().union(*called.values()))
    entry_only = sorted(set().union(*entered.values()) - set(services))
    if not services and not entry_only:
        raise InputError("sources", f"no service is called {min_calls} times after the onset in any source")
    plan = []
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        chosen = [services[i] for i in rng.permutation(len(services))[:targets]]
        if len(chosen) < targets and entry_only:
            chosen += [entry_only[i] for i in rng.permutation(len(entry_only))[: targets - len(chosen)]]
        for target in chosen:
            where = [i for i in sorted(entered) if target in entered[i]]
            if target in services:
                where = [i for i in where if target in called[i]]
            src = where[int(rng.integers(len(where)))]
            for fault in faults:
                model = FAULT_MODELS[fault]
                if model.needs == "calls_into" and target not in called[src]:
                    continue
                for strength in strengths:
                    if strength not in model.presets:
                        continue
                    case_id = f"{fault}-{strength}-{target}-s{seed}"
                    plan.append(
                        ReplaySpec(case_id, src, fault, strength, target, zlib.crc32(case_id.encode()))
                    )
    if not plan:
        raise InputError(
            "--strengths", f"no fault of {', '.join(faults)} has a {', '.join(strengths)} preset"
        )
    return plan


def _normal_of(sources: Sequence[ReplaySource], i: int) -> Telemetry | None:
    others = [s.telemetry for j, s in enumerate(sources) if j != i and s.system == sources[i].system]
    if not others:
        return None
    spans = pd.concat([t.spans for t in others], ignore_index=True)
    logs = [t.logs for t in others if t.logs is not None]
    sources_text = ";".join(t.sources.get("traces", "") for t in others)
    return Telemetry(
        spans, pd.concat(logs, ignore_index=True) if logs else None, None, {"traces": sources_text}
    )


def replay_cases(sources: Sequence[ReplaySource], plan: Sequence[ReplaySpec]) -> Iterator[BenchCase]:
    """Each planned case injected when its turn comes (injecting counts as loading)."""
    normals: dict[int, Telemetry | None] = {}
    for spec in plan:
        t0 = time.perf_counter()
        src = sources[spec.source]
        cfg = InjectConfig(
            fault=spec.fault,
            target=spec.target,
            strength=spec.strength,
            seed=spec.seed,
            statuses=src.statuses,
        )
        injected = inject(src.telemetry, cfg)
        if spec.source not in normals:
            normals[spec.source] = _normal_of(sources, spec.source)
        yield BenchCase(
            case_id=spec.case_id,
            fault_type=f"{spec.fault}/{spec.strength}",
            level="service",
            truth=injected.label.service,
            incident=injected.incident,
            normal=normals[spec.source],
            start_us=injected.label.onset_us,
            load_seconds=round(time.perf_counter() - t0, 3),
        )
