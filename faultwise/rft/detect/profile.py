"""The normal profile: robust statistics of healthy runs, conditioned on training progress.

Per signal and per progress bin we keep the median and a robust scale of three raw components:

* ``level``  — the value itself (catches faults present from step 1),
* ``diff``   — the step-to-step change (catches abrupt mid-run faults),
* ``shift``  — the value minus the run's own slow moving average (catches gradual mid-run drifts);

and one smoothed component, ``trend`` — an exponential average of the level z-score (catches subtle but
persistent deviations). Each z-score is divided by its own 99th percentile on held-out normal runs, so the
components are comparable; the step score is the largest of them, and the alarm threshold is the run-level
maximum score of held-out normal runs at the target false-alarm rate. Nothing here is a hand-set threshold on
a raw value: every number comes from the healthy runs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from pydantic import BaseModel

RAW_COMPONENTS: tuple[str, ...] = ("level", "diff", "shift")
COMPONENTS: tuple[str, ...] = RAW_COMPONENTS + ("trend",)
SHIFT_ALPHA = 0.15
TREND_ALPHA = 0.3
MIN_BIN_SAMPLES = 12


class SignalStats(BaseModel):
    """Median and robust scale of one raw component, per progress bin."""

    med: list[float]
    scale: list[float]


class NormalProfile(BaseModel):
    """Everything the online detector needs; saved as JSON inside the fitted model."""

    signals: list[str]
    progress_edges: list[int]
    stats: dict[str, dict[str, SignalStats]]
    norm: dict[str, dict[str, float]]
    threshold: float
    target_false_alarm_rate: float
    grad_norm_limit: float | None = None
    n_normal_runs: int = 0

    def bin_of(self, step: int) -> int:
        b = 0
        for edge in self.progress_edges:
            if step >= edge:
                b += 1
        return b


@dataclass
class SignalState:
    """Per-signal online state: bounded (three floats), whatever the run length."""

    prev: float | None = None
    base: float | None = None
    trend: float | None = None


@dataclass
class RunState:
    signals: dict[str, SignalState] = field(default_factory=dict)


def raw_components(state: SignalState, x: float) -> dict[str, float]:
    """Level/diff/shift of ``x`` given the run's past, and advance the state."""
    out = {"level": x}
    if state.prev is not None:
        out["diff"] = x - state.prev
    if state.base is not None:
        out["shift"] = x - state.base
    state.prev = x
    state.base = x if state.base is None else (1 - SHIFT_ALPHA) * state.base + SHIFT_ALPHA * x
    return out


def robust_stats(values: np.ndarray) -> tuple[float, float]:
    """Median and a robust scale that never collapses to zero on near-constant signals."""
    med = float(np.median(values))
    mad = 1.4826 * float(np.median(np.abs(values - med)))
    lo, hi = np.quantile(values, [0.025, 0.975])
    spread = float(hi - lo) / 3.92
    floor = 1e-6 + 1e-3 * abs(med)
    return med, max(mad, spread, floor)


def _edges(steps: Sequence[int], n_bins: int = 5) -> list[int]:
    uniq = sorted(set(steps))
    if len(uniq) < n_bins:
        return [int(s) for s in uniq[1:]]
    qs = np.quantile(np.asarray(uniq, dtype=float), np.linspace(0, 1, n_bins + 1)[1:-1])
    return sorted({int(math.ceil(q)) for q in qs if q > uniq[0]})


Run = Sequence[tuple[int, dict[str, float]]]  # (step, signals) of one run, in order


def _raw_table(runs: Sequence[Run]) -> list[list[tuple[int, dict[str, dict[str, float]]]]]:
    table = []
    for run in runs:
        state = RunState()
        rows = []
        for step, sig in run:
            comps = {}
            for name, x in sig.items():
                if not math.isfinite(x):
                    continue
                comps[name] = raw_components(state.signals.setdefault(name, SignalState()), x)
            rows.append((step, comps))
        table.append(rows)
    return table


def _fit_stats(table, edges: list[int], signals: list[str]) -> dict[str, dict[str, SignalStats]]:
    n_bins = len(edges) + 1

    def bin_of(step: int) -> int:
        return sum(step >= e for e in edges)

    buckets: dict[tuple[str, str, int], list[float]] = {}
    for rows in table:
        for step, comps in rows:
            b = bin_of(step)
            for name, cv in comps.items():
                for comp, v in cv.items():
                    buckets.setdefault((name, comp, b), []).append(v)
    stats: dict[str, dict[str, SignalStats]] = {}
    for name in signals:
        stats[name] = {}
        for comp in RAW_COMPONENTS:
            pooled = [v for b in range(n_bins) for v in buckets.get((name, comp, b), [])]
            if not pooled:
                continue
            pmed, pscale = robust_stats(np.asarray(pooled))
            meds, scales = [], []
            for b in range(n_bins):
                vals = buckets.get((name, comp, b), [])
                if len(vals) >= MIN_BIN_SAMPLES:
                    m, s = robust_stats(np.asarray(vals))
                    meds.append(m)
                    scales.append(max(s, 0.25 * pscale))
                else:
                    meds.append(pmed)
                    scales.append(pscale)
            stats[name][comp] = SignalStats(med=meds, scale=scales)
    return stats


def z_scores(
    stats: dict[str, dict[str, SignalStats]],
    bin_index: int,
    comps: dict[str, dict[str, float]],
    state: RunState,
) -> dict[str, dict[str, float]]:
    """z-scores of the raw components, plus the smoothed ``trend`` of the level z (advances ``state``)."""
    out: dict[str, dict[str, float]] = {}
    for name, cv in comps.items():
        st = stats.get(name)
        if not st:
            continue
        zs = {}
        for comp, v in cv.items():
            s = st.get(comp)
            if s is None:
                continue
            zs[comp] = (v - s.med[bin_index]) / s.scale[bin_index]
        if "level" in zs:
            ss = state.signals.setdefault(name, SignalState())
            ss.trend = (
                zs["level"] if ss.trend is None else (1 - TREND_ALPHA) * ss.trend + TREND_ALPHA * zs["level"]
            )
            zs["trend"] = ss.trend
        out[name] = zs
    return out


def _run_z(stats, edges, rows) -> list[dict[str, dict[str, float]]]:
    state = RunState()
    return [z_scores(stats, sum(step >= e for e in edges), comps, state) for step, comps in rows]


def normalised_score(norm: dict[str, dict[str, float]], zs: dict[str, dict[str, float]]) -> float:
    best = 0.0
    for name, zc in zs.items():
        nn = norm.get(name, {})
        for comp, z in zc.items():
            best = max(best, abs(z) / nn.get(comp, 1.0))
    return best


def fit_profile(
    normal_runs: Sequence[Run], target_false_alarm_rate: float = 0.01, folds: int = 5, margin: float = 1.0
) -> NormalProfile:
    """Fit the profile on healthy runs; calibrate normalisers and threshold on held-out normal runs."""
    if not normal_runs:
        raise ValueError("no normal runs to fit the profile on")
    signals = sorted({n for run in normal_runs for _, sig in run for n in sig})
    steps = [s for run in normal_runs for s, _ in run]
    edges = _edges(steps)
    table = _raw_table(normal_runs)
    k = min(folds, len(table))
    held_z: list[list[dict[str, dict[str, float]]]] = []
    for f in range(k):
        train = [rows for i, rows in enumerate(table) if i % k != f or k == 1]
        test = [rows for i, rows in enumerate(table) if i % k == f]
        st = _fit_stats(train, edges, signals)
        held_z.extend(_run_z(st, edges, rows) for rows in test)
    # per (signal, component): 99th percentile of |z| on held-out normal steps
    pool: dict[tuple[str, str], list[float]] = {}
    for run in held_z:
        for zs in run:
            for name, zc in zs.items():
                for comp, z in zc.items():
                    pool.setdefault((name, comp), []).append(abs(z))
    norm: dict[str, dict[str, float]] = {}
    for (name, comp), vals in pool.items():
        norm.setdefault(name, {})[comp] = max(1.0, float(np.quantile(vals, 0.99)))
    maxima = [max((normalised_score(norm, zs) for zs in run), default=0.0) for run in held_z]
    q = float(np.quantile(maxima, 1 - target_false_alarm_rate, method="higher"))
    grads = [
        sig["grad_norm"]
        for run in normal_runs
        for _, sig in run
        if math.isfinite(sig.get("grad_norm", math.nan))
    ]
    return NormalProfile(
        signals=signals,
        progress_edges=edges,
        stats=_fit_stats(table, edges, signals),
        norm=norm,
        threshold=max(q * margin, 1.0),
        target_false_alarm_rate=target_false_alarm_rate,
        grad_norm_limit=10.0 * float(np.quantile(grads, 0.999)) if grads else None,
        n_normal_runs=len(normal_runs),
    )
