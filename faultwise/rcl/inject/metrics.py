"""Metrics through an injection: what a stressor adds to CPU, what the traces say about latency and success,
and the silence of a pod that is down.

Metric names are matched by what they measure, not by system: ``cpu`` (a percentage when the name says
``%``/rate/percent/util, else an absolute amount), ``latency``/``duration``/``response time`` (``client`` in
the name: the pod's calls to others, else the calls into it), ``success``. A sample at time ``t`` is taken to
describe the sampling interval before ``t``: it moves by the share of that interval the fault was on.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from faultwise.rcl.inject.context import InjectionContext
from faultwise.rcl.inject.shifter import Shifted

_CPU = re.compile(r"cpu", re.IGNORECASE)
_PERCENT = re.compile(r"%|rate|percent|util|ratio", re.IGNORECASE)
_LATENCY = re.compile(r"latency|duration|response.?time", re.IGNORECASE)
_CLIENT = re.compile(r"client", re.IGNORECASE)
_SUCCESS = re.compile(r"success", re.IGNORECASE)
US_PER_S = 1_000_000
DEFAULT_INTERVAL_S = 60.0
#: CPU share of a pod taken as its normal usage when no percentage metric says (for absolute CPU metrics).
DEFAULT_CPU_PCT = 20.0


def _interval_s(ts: np.ndarray) -> float:
    steps = np.diff(np.unique(ts))
    return float(np.median(steps)) if len(steps) else DEFAULT_INTERVAL_S


def _ratios(ctx: InjectionContext, shifted: Shifted) -> dict[str, tuple[float, float, float]]:
    """Per pod and per service: (server latency ratio, client latency ratio, failed share) after the onset."""
    f, fx = ctx.forest, ctx.fx
    window = (f.start >= ctx.onset_us) & (f.start < ctx.until_us)
    entry = window & (f.crosses_pods() | (f.parent < 0))
    has_remote_child = np.zeros(f.n, dtype=bool)
    rows = np.flatnonzero(f.crosses_pods())
    has_remote_child[f.parent[rows]] = True
    client = window & has_remote_child
    old = (f.end - f.start).astype(float)
    new = (shifted.end - shifted.start).astype(float)
    alive = ~shifted.gone

    def ratio(sel: np.ndarray) -> float:
        sel = sel & alive
        return float(new[sel].mean() / max(old[sel].mean(), 1.0)) if sel.any() else 1.0

    out: dict[str, tuple[float, float, float]] = {}
    for key_array in (f.pod, f.service):
        for name in np.unique(key_array[window]):
            mine = key_array == name
            served = entry & mine
            failed = float(fx.failed[served].mean()) if served.any() else 0.0
            out.setdefault(str(name), (ratio(entry & mine), ratio(client & mine), failed))
    return out


def _name_flags(names: pd.Series) -> tuple[np.ndarray, ...]:
    """Per row: is a CPU metric, a percentage, a latency, a client-side latency, a success rate."""
    codes, uniq = pd.factorize(names.astype(str))
    u = [str(n) for n in uniq]
    flags = [
        [bool(_CPU.search(n)) and not n.startswith("node_") for n in u],
        [bool(_PERCENT.search(n)) for n in u],
        [bool(_LATENCY.search(n)) for n in u],
        [bool(_CLIENT.search(n)) for n in u],
        [bool(_SUCCESS.search(n)) for n in u],
    ]
    return tuple(np.asarray(f, dtype=bool)[codes] for f in flags)


def _weights(out: pd.DataFrame, ts: np.ndarray, onset_s: float) -> np.ndarray:
    """Share of each sample's interval the fault was on (0 before the onset)."""
    weight = np.zeros(len(out))
    after = np.flatnonzero(ts > onset_s)
    if not len(after):
        return weight
    for _, idx in out.groupby(["entity", "metric"], sort=False).indices.items():
        if ts[idx].max() <= onset_s:
            continue
        weight[idx] = np.clip((ts[idx] - onset_s) / _interval_s(ts[idx]), 0.0, 1.0)
    return weight


def edited_metrics(
    metrics: pd.DataFrame | None, ctx: InjectionContext, shifted: Shifted
) -> tuple[pd.DataFrame | None, int]:
    """The metric table after the fault, and how many samples changed or were dropped."""
    if metrics is None or not len(metrics):
        return metrics, 0
    out = metrics.copy()
    ts = out["ts_s"].to_numpy(dtype=float)
    values = out["value"].to_numpy(dtype=float).copy()
    entity_codes, entity_names = pd.factorize(out["entity"].astype(str))
    code_of = {str(n): i for i, n in enumerate(entity_names)}
    kinds = out["entity_kind"].astype(str).to_numpy(dtype=object)

    def rows_of(entity: str, kind: str | None = None) -> np.ndarray:
        code = code_of.get(entity)
        if code is None:
            return np.zeros(len(out), dtype=bool)
        mine = entity_codes == code
        return mine & (kinds == kind) if kind is not None else mine

    weight = _weights(out, ts, ctx.onset_us / US_PER_S)
    on = weight > 0
    is_cpu, is_pct, is_latency, is_client, is_success = _name_flags(out["metric"])
    changed = np.zeros(len(out), dtype=bool)
    for note in ctx.metric_notes:
        mine = rows_of(note.entity, note.entity_kind)
        if note.cpu_add_pct:
            pct = mine & is_cpu & is_pct & on
            base_rows = mine & is_cpu & is_pct & ~on
            base = float(np.nanmedian(values[base_rows])) if base_rows.any() else DEFAULT_CPU_PCT
            values[pct] = np.minimum(100.0, values[pct] + weight[pct] * note.cpu_add_pct)
            amount = mine & is_cpu & ~is_pct & on
            values[amount] *= 1.0 + weight[amount] * note.cpu_add_pct / max(base, 1.0)
            changed |= pct | amount
    for name, (server, client, failed) in _ratios(ctx, shifted).items():
        mine = rows_of(name) & on
        if not mine.any():
            continue
        ratio = np.where(is_client, client, server)
        lat = mine & is_latency & (ratio != 1.0)
        values[lat] *= 1.0 + weight[lat] * (ratio[lat] - 1.0)
        changed |= lat
        if failed > 0:
            ok = mine & is_success & ~is_latency
            values[ok] *= 1.0 - weight[ok] * failed
            changed |= ok
    keep = np.ones(len(out), dtype=bool)
    for note in ctx.metric_notes:
        if note.silent_from_us is None or note.silent_to_us is None:
            continue
        mine = rows_of(note.entity, note.entity_kind)
        start_s, stop_s = note.silent_from_us / US_PER_S, note.silent_to_us / US_PER_S
        keep &= ~(mine & (ts > start_s) & (ts < stop_s + _gap(ts, mine)))
    out["value"] = values
    n_changed = int((changed & keep).sum() + (~keep).sum())
    return out[keep].reset_index(drop=True), n_changed


def _gap(ts: np.ndarray, mine: np.ndarray) -> float:
    """A pod that was down for part of a sampling interval misses that sample too."""
    return _interval_s(ts[mine]) if mine.any() else 0.0
