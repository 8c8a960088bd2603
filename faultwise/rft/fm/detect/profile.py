"""The normal profile: robust statistics of healthy runs, conditioned on training progress.

Per signal and per progress bin we keep the median and a robust scale of three raw components:

* ``level``  — the value itself (catches faults present from step 1),
* ``diff``   — the step-to-step change (catches abrupt mid-run faults),
* ``shift``  — the value minus the run's own slow moving average (catches gradual mid-run drifts);

and two accumulated ones: ``trend`` — an exponential average of the level z-score (subtle but persistent
deviations) — and ``cusum`` — a two-sided CUSUM of the clipped level z (small offsets that persist for many
steps add up; noise does not). Each |z| is turned into the -log10 of its tail probability among held-out normal
steps (so a signal that is zero 99 % of the time and occasionally blips does not dominate); the step score is
the largest of them per channel (instant: level/diff/shift; trend; joint: several trends at once; slow:
CUSUM), and each channel's alarm threshold is the run-level maximum score of held-out normal runs (scored with
tails that left them out) at its share of the target false-alarm rate. Nothing here is a hand-set threshold
on a raw value: every number comes from the healthy runs.

The level is judged against healthy runs **of the run's own sampling temperature** where the profile was fitted
on runs sampled at several (:data:`LEVEL_SETTINGS`): per signal and progress bin, the level's median moves
linearly with the setting (a least-squares slope over the healthy runs), and so does its scale (the absolute
residuals' line: a count-like signal spreads more where it is higher). A tiny policy sampled at 1.2 makes five
times the malformed tool calls it makes at 0.8; judged against healthy runs of every temperature, a flaky tool
at 0.8 looks like a healthy run at 1.2. A run that does not declare the setting is judged at the fitted mean.

The slow channel does not alarm on the objective (the reward, the task accuracy): healthy runs differ most in
it, since how fast a run learns depends on its seed and settings, and a slow learner's offset adds to the CUSUM
on every step, so the channel's run maxima over healthy runs are heavy-tailed. The objective still counts
through the instant, trend and joint channels, and its CUSUM still feeds the diagnosers and the onset estimate.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from pydantic import BaseModel, Field

from faultwise.rft.signals import OBJECTIVE_SIGNALS

RAW_COMPONENTS: tuple[str, ...] = ("level", "diff", "shift")
COMPONENTS: tuple[str, ...] = RAW_COMPONENTS + ("trend", "cusum")
# Which alarm channel scores each component (each channel has its own threshold; see fit_profile).
CHANNEL_OF: dict[str, str] = {
    "level": "instant",
    "diff": "instant",
    "shift": "instant",
    "trend": "trend",
    "cusum": "slow",
}
#: The share of healthy runs an operator accepts to see alarmed, the profile's default target: the 2 % of the
#: RFT-FM measurement issue, not a tuned figure.
FALSE_ALARM_BUDGET = 0.02
SHIFT_ALPHA = 0.15
TREND_ALPHA = 0.3
CUSUM_K = 0.5  # CUSUM reference (in z units): offsets smaller than this per step never accumulate
Z_CLIP = 5.0  # CUSUM input clip: one wild step adds at most this, so the statistic's tail is light
MIN_BIN_SAMPLES = 12
#: The declared settings a signal's level is adjusted for: those of sampling, which set what the policy emits
#: from the first step (a policy sampled hotter makes more malformed tool calls, more repetitions, fewer
#: well-formed answers). The learning rate is a pace, not a level (the profile is indexed by training progress;
#: see ``Detector.set_pace``), and the KL coefficient and clip range are limits whose effect grows as the
#: policy moves: neither shifts the level at a given progress by a fixed amount (measured: adjusting for all
#: four raised the healthy runs' largest CUSUM and lowered detection; docs/rft-fm.md, session 21).
LEVEL_SETTINGS: tuple[str, ...] = ("temperature",)
#: Healthy runs per declared setting the level is adjusted for: the "ten per variable" rule of regression (a
#: slope is a per-run quantity, so runs count, not steps); with fewer runs the level is not adjusted at all.
RUNS_PER_SETTING = 10
# Components with bounded increments (the clipped CUSUM): their tail beyond the rarest normal value is
# extrapolated as exponential; the others' (possibly heavy) tails only logarithmically.
LIGHT_TAILED: frozenset[str] = frozenset({"cusum"})


def slow_skips(signal: str, comp: str, slow_excluded: Collection[str]) -> bool:
    """Whether ``comp`` of ``signal`` is a slow-channel score of a signal that channel does not judge."""
    return CHANNEL_OF.get(comp) == "slow" and signal in slow_excluded


Tails = dict[str, dict[str, list[float]]]  # signal -> component -> |z| tail sketch
TailCounts = dict[str, dict[str, int]]  # signal -> component -> normal steps behind the sketch


class SignalStats(BaseModel):
    """Median and robust scale of one raw component, per progress bin; for the level, optionally how both move
    with the run's declared settings (:func:`fit_profile` with ``setups``)."""

    med: list[float]
    scale: list[float]
    slopes: list[dict[str, float]] | None = Field(
        None,
        description="per bin: change of the median per unit of each declared setting, away from the profile's "
        "setting centers (None: not adjusted)",
    )
    scale_slopes: list[dict[str, float]] | None = Field(
        None,
        description="per bin: change of the scale per unit of each declared setting (None: not adjusted)",
    )
    scale_floor: float | None = Field(
        None, description="the least scale a setting-adjusted scale takes (None: not adjusted)"
    )

    def median(self, bin_index: int, offsets: Mapping[str, float] | None = None) -> float:
        """The median in ``bin_index`` for a run whose settings lie ``offsets`` from the profile's centers."""
        return self.med[bin_index] + _shift(self.slopes, bin_index, offsets)

    def spread(self, bin_index: int, offsets: Mapping[str, float] | None = None) -> float:
        """The robust scale in ``bin_index`` for a run whose settings lie ``offsets`` from the centers: a
        count-like signal spreads more where its level is higher (more malformed calls at a higher temperature)."""
        shift = _shift(self.scale_slopes, bin_index, offsets)
        if not shift:
            return self.scale[bin_index]
        return max(self.scale[bin_index] + shift, self.scale_floor or 0.0)


def _shift(
    slopes: list[dict[str, float]] | None, bin_index: int, offsets: Mapping[str, float] | None
) -> float:
    """How far per-bin setting ``slopes`` move a statistic for a run ``offsets`` from the centers."""
    if slopes is None or not offsets:
        return 0.0
    slope = slopes[bin_index]
    return sum(slope.get(k, 0.0) * dx for k, dx in offsets.items())


class NormalProfile(BaseModel):
    """Everything the online detector needs; saved as JSON inside the fitted model."""

    signals: list[str]
    progress_edges: list[int]
    stats: dict[str, dict[str, SignalStats]]
    tails: dict[str, dict[str, list[float]]] = Field(
        description="per signal/component: |z| quantiles of held-out normal steps at log-spaced tail probabilities"
    )
    tail_n: dict[str, dict[str, int]]
    threshold: float = Field(description="instant channel: tail score (-log10 p) that raises an alarm")
    slow_threshold: float | None = Field(
        None, description="slow channel (drift from the run's start, CUSUM of the level): same; None = off"
    )
    slow_excluded: list[str] = Field(
        default_factory=list,
        description="signals the slow channel does not alarm on (their CUSUM is still computed, for the "
        "diagnosers); models fitted before this field judged every signal",
    )
    trend_threshold: float = Field(description="trend channel: same, for the smoothed level")
    joint_threshold: float = Field(description="joint channel: mean of the 3 largest signal trend scores")
    target_false_alarm_rate: float
    grad_norm_limit: float | None = None
    grad_norm_floor: float | None = Field(
        None,
        description="below 1/1000 of the smallest normal grad norm the update vanished (None: normal runs hit 0)",
    )
    n_normal_runs: int = 0
    setting_centers: dict[str, float] = Field(
        default_factory=dict,
        description="the declared settings the level is adjusted for and their mean over the fitted runs "
        "(empty: the level is not adjusted; models fitted before it was)",
    )
    horizon_step: int | None = Field(
        None,
        description="last step of the longest normal run it was fitted on: its progress bins say nothing about "
        "later steps, so it judges none (None: no limit recorded, models fitted before it was)",
    )

    def channel_threshold(self, comp: str, signal: str | None = None) -> float | None:
        """The alarm threshold of the channel that scores ``comp`` (of ``signal``, when given): None when that
        channel is off, or does not judge that signal."""
        if signal is not None and slow_skips(signal, comp, self.slow_excluded):
            return None
        ch = CHANNEL_OF.get(comp)
        if ch == "trend":
            return self.trend_threshold
        if ch == "slow":
            return self.slow_threshold
        return self.threshold if ch == "instant" else None

    def bin_of(self, progress: float) -> int:
        """The progress bin of ``progress`` (training progress in steps; fractional under a changed pace)."""
        return progress_bin(self.progress_edges, progress)

    def setting_offsets(self, setup: Mapping[str, float]) -> dict[str, float]:
        """How far a run's declared settings lie from the fitted runs' mean, for the settings the level is
        adjusted for (one the run does not declare is taken at the mean)."""
        return setting_offsets(self.setting_centers, setup)


def setting_offsets(centers: Mapping[str, float], setup: Mapping[str, float]) -> dict[str, float]:
    """``setup[k] - centers[k]`` for each adjusted setting ``k`` the run declares with a finite value."""
    out = {}
    for key, center in centers.items():
        v = setup.get(key)
        if v is not None and math.isfinite(v):
            out[key] = float(v) - center
    return out


@dataclass
class SignalState:
    """Per-signal online state: bounded (three floats), whatever the run length."""

    prev: float | None = None
    base: float | None = None
    trend: float | None = None
    cpos: float = 0.0
    cneg: float = 0.0
    pos_start: int | None = None  # step the current upward CUSUM excursion began (its change-point estimate)
    neg_start: int | None = None

    def excursion_start(self) -> int | None:
        """Where the level started to drift, by CUSUM: the step the current excursion left zero."""
        if self.cpos <= 0 and self.cneg <= 0:
            return None
        return self.pos_start if self.cpos >= self.cneg else self.neg_start


@dataclass
class RunState:
    """Per-run online state: one :class:`SignalState` per signal seen."""

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


def robust_stats(values: np.ndarray, quantum: float = 0.0) -> tuple[float, float]:
    """Median and a robust scale that never collapses to zero on near-constant signals: at least the signal's
    resolution (``quantum``, e.g. 1/32 for a ratio over 32 trajectories), so one trajectory is never a blow-up."""
    med = float(np.median(values))
    mad = 1.4826 * float(np.median(np.abs(values - med)))
    lo, hi = np.quantile(values, [0.025, 0.975])
    spread = float(hi - lo) / 3.92
    floor = 1e-6 + 1e-3 * abs(med)
    return med, max(mad, spread, floor, quantum)


def resolution(values: Sequence[float]) -> float:
    """The smallest step between distinct observed values — the quantum of count-like signals (ratios over a
    batch); tiny for continuous signals, where it changes nothing."""
    u = np.unique(np.round(np.asarray(values, dtype=float), 9))
    if len(u) < 2:
        return 0.0
    return float(np.diff(u).min())


def progress_bin(edges: Sequence[int], progress: float) -> int:
    """The bin of ``progress`` among the sorted bin ``edges`` (the number of edges at or below it)."""
    return bisect_right(edges, progress)


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


def _quanta(table) -> dict[str, float]:
    """Each signal's resolution over every normal run: a property of how the signal is logged (a ratio over
    32 trajectories moves in 1/32), so a calibration fold that never saw a signal move does not give it a
    near-zero scale (a rare but normal step would then score z = 1e6)."""
    levels: dict[str, list[float]] = {}
    for rows in table:
        for _, comps in rows:
            for name, cv in comps.items():
                levels.setdefault(name, []).append(cv["level"])
    return {name: resolution(v) for name, v in levels.items()}


def _level_fit(
    values: np.ndarray, x: np.ndarray | None, quantum: float
) -> tuple[float, float, np.ndarray | None, np.ndarray | None]:
    """Median, robust scale, and their setting slopes, of level values (``x``: each value's run's setting
    offsets, one column per setting; None: no adjustment). The median's slopes are least squares on
    standardised columns; the median and scale are those of the values with that part removed (the level at
    the setting centers); the scale's slopes come from the absolute residuals' least-squares line, in
    proportion (a signal twice as spread at some setting gets twice the scale there)."""
    if x is None:
        med, scale = robust_stats(values, quantum)
        return med, scale, None, None
    slopes = np.zeros(x.shape[1])
    scale_slopes = np.zeros(x.shape[1])
    sd = x.std(axis=0)
    used = sd > 0
    if not used.any():  # every value from runs of one setting: nothing to adjust in this bin
        med, scale = robust_stats(values, quantum)
        return med, scale, slopes, scale_slopes
    design = np.column_stack([np.ones(len(values)), x[:, used] / sd[used]])
    slopes[used] = np.linalg.lstsq(design, values, rcond=None)[0][1:] / sd[used]
    resid = values - x @ slopes
    med, scale = robust_stats(resid, quantum)
    dev = np.linalg.lstsq(design, np.abs(resid - med), rcond=None)[0]
    if dev[0] > 0:
        scale_slopes[used] = scale * dev[1:] / dev[0] / sd[used]
    return med, scale, slopes, scale_slopes


def _by_key(keys: Sequence[str], per_bin: Sequence[np.ndarray]) -> list[dict[str, float]]:
    return [{k: float(v) for k, v in zip(keys, row, strict=True)} for row in per_bin]


def _fit_stats(
    table,
    edges: list[int],
    signals: list[str],
    quanta: dict[str, float] | None = None,
    offsets: Sequence[Sequence[float]] | None = None,
    keys: Sequence[str] = (),
) -> dict[str, dict[str, SignalStats]]:
    """Per signal, component and progress bin: median and robust scale; with ``offsets`` (per run, its
    settings' offsets from the centers, in ``keys`` order), the level's also adjusted for the settings."""
    n_bins = len(edges) + 1
    buckets: dict[tuple[str, str, int], list[float]] = {}
    owners: dict[tuple[str, int], list[int]] = {}  # (signal, bin) -> the run of each level value
    for i, rows in enumerate(table):
        for step, comps in rows:
            b = progress_bin(edges, step)
            for name, cv in comps.items():
                for comp, v in cv.items():
                    buckets.setdefault((name, comp, b), []).append(v)
                if "level" in cv:
                    owners.setdefault((name, b), []).append(i)
    run_x = np.asarray(offsets, dtype=float) if offsets is not None and keys else None

    def x_of(runs: list[int]) -> np.ndarray | None:
        return run_x[runs] if run_x is not None else None

    stats: dict[str, dict[str, SignalStats]] = {}
    for name in signals:
        stats[name] = {}
        for comp in RAW_COMPONENTS:
            pooled = [v for b in range(n_bins) for v in buckets.get((name, comp, b), [])]
            if not pooled:
                continue
            quantum = (quanta or {}).get(name) or resolution(
                [v for b in range(n_bins) for v in buckets.get((name, "level", b), [])]
            )
            adjust = comp == "level" and run_x is not None
            pooled_x = x_of([i for b in range(n_bins) for i in owners.get((name, b), [])]) if adjust else None
            pmed, pscale, pslopes, pscale_slopes = _level_fit(np.asarray(pooled), pooled_x, quantum)
            meds, scales, slopes, scale_slopes = [], [], [], []
            for b in range(n_bins):
                vals = buckets.get((name, comp, b), [])
                if len(vals) >= MIN_BIN_SAMPLES:
                    bx = x_of(owners[(name, b)]) if adjust else None
                    m, s, sl, ssl = _level_fit(np.asarray(vals), bx, quantum)
                    meds.append(m)
                    scales.append(max(s, 0.25 * pscale))
                    slopes.append(sl)
                    scale_slopes.append(ssl)
                else:
                    meds.append(pmed)
                    scales.append(pscale)
                    slopes.append(pslopes)
                    scale_slopes.append(pscale_slopes)
            stats[name][comp] = SignalStats(
                med=meds,
                scale=scales,
                slopes=_by_key(keys, slopes) if adjust else None,
                scale_slopes=_by_key(keys, scale_slopes) if adjust else None,
                scale_floor=max(0.25 * pscale, quantum) if adjust else None,
            )
    return stats


def z_scores(
    stats: dict[str, dict[str, SignalStats]],
    bin_index: int,
    comps: dict[str, dict[str, float]],
    state: RunState,
    step: int | None = None,
    offsets: Mapping[str, float] | None = None,
) -> dict[str, dict[str, float]]:
    """z-scores of the raw components, plus the smoothed ``trend`` and the ``cusum`` of the level z (advances
    ``state``; ``step`` dates each CUSUM excursion; ``offsets``: the run's declared settings away from the
    profile's centers, which move the level's median and scale)."""
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
            zs[comp] = (v - s.median(bin_index, offsets)) / s.spread(bin_index, offsets)
        if "level" in zs:
            ss = state.signals.setdefault(name, SignalState())
            ss.trend = (1 - TREND_ALPHA) * (ss.trend or 0.0) + TREND_ALPHA * zs["level"]  # starts from 0
            zs["trend"] = ss.trend
            # two-sided CUSUM of the clipped level z: a small offset that persists accumulates, noise does not
            zc = max(-Z_CLIP, min(Z_CLIP, zs["level"]))
            if ss.cpos <= 0 and zc > CUSUM_K:
                ss.pos_start = step
            if ss.cneg <= 0 and -zc > CUSUM_K:
                ss.neg_start = step
            ss.cpos = max(0.0, ss.cpos + zc - CUSUM_K)
            ss.cneg = max(0.0, ss.cneg - zc - CUSUM_K)
            zs["cusum"] = ss.cpos if ss.cpos >= ss.cneg else -ss.cneg
        out[name] = zs
    return out


def _run_z(
    stats, edges, rows, offsets: Mapping[str, float] | None = None
) -> list[dict[str, dict[str, float]]]:
    state = RunState()
    return [z_scores(stats, progress_bin(edges, step), comps, state, offsets=offsets) for step, comps in rows]


TAIL_POINTS = 48
# narrowest tail spread (z units) that the extrapolation beyond the rarest normal value uses
TAIL_SPREAD_FLOOR_Z = 1.0
# a |z| below this is float rounding (1.2 logged as 0.4 + 0.8 against a median of 1.2), not a departure: it once
# scored as rare as the rarest normal step on every step of a signal healthy runs hold at a bound
ROUNDING_Z = 1e-6


def tail_sketch(values: Sequence[float]) -> list[float]:
    """|z| quantiles at tail probabilities 1, 10^-d/48, ..., 1/N (log-spaced): a small, exact-enough tail."""
    v = np.asarray(values, dtype=float)
    n = len(v)
    probs = 1.0 - np.logspace(0, -math.log10(max(n, 2)), TAIL_POINTS + 1)
    return [float(q) for q in np.quantile(v, probs)]


def tail_score(q: Sequence[float], n: int, az: float, light: bool = False) -> float:
    """-log10 of the tail probability of ``|z| = az`` among normal steps; beyond the largest normal value it
    keeps growing (two decades per tenfold distance, in units of the tail's spread), so a blow-up always
    outranks the rarest normal blip."""
    decades = math.log10(max(n, 2))
    if az <= q[0] or az < ROUNDING_Z:
        return 0.0
    top = q[-1]
    if az > top:  # beyond the rarest normal value: distance in units of the tail's own spread
        # z is already in units of a robust scale: a tail narrower than one unit (a signal that normal runs
        # hold constant) does not make a one-unit step a 10^9-sigma event
        spread = max(top - q[len(q) // 2], TAIL_SPREAD_FLOOR_Z)
        if (
            light
        ):  # a bounded-increment statistic: exponential tail, the last half-decades per spread, continued
            return decades + 0.5 * decades * (az - top) / spread
        return decades + 2.0 * math.log10(1.0 + (az - top) / spread)
    i = bisect_left(q, az)  # q[i-1] < az <= q[i]
    lo, hi = q[i - 1], q[i]
    frac = (az - lo) / (hi - lo) if hi > lo else 1.0
    return (i - 1 + frac) / TAIL_POINTS * decades


def normalised_score(
    prof_tails: Tails,
    tail_n: TailCounts,
    zs: dict[str, dict[str, float]],
    channel: str | None = None,
    slow_excluded: Collection[str] = (),
) -> float:
    """Largest tail score of a step, over the components of one channel (``None``: all); the slow channel
    leaves out the signals of ``slow_excluded``."""
    best = 0.0
    for name, zc in zs.items():
        tq, tn = prof_tails.get(name, {}), tail_n.get(name, {})
        for comp, z in zc.items():
            if slow_skips(name, comp, slow_excluded):
                continue
            if comp in tq and (channel is None or CHANNEL_OF.get(comp) == channel):
                best = max(best, tail_score(tq[comp], tn[comp], abs(z), comp in LIGHT_TAILED))
    return best


JOINT_K = 3


def joint_trend_score(prof_tails: Tails, tail_n: TailCounts, zs: dict[str, dict[str, float]]) -> float:
    """Mean of the three largest per-signal trend tail scores: several signals drifting together at once is
    rarer in healthy runs than any one of them drifting."""
    per = []
    for name, zc in zs.items():
        tq, tn = prof_tails.get(name, {}), tail_n.get(name, {})
        if "trend" in zc and "trend" in tq:
            per.append(tail_score(tq["trend"], tn["trend"], abs(zc["trend"]), "trend" in LIGHT_TAILED))
    if len(per) < JOINT_K:
        return 0.0
    per.sort(reverse=True)
    return sum(per[:JOINT_K]) / JOINT_K


CHANNELS: tuple[str, ...] = ("instant", "trend", "joint", "slow")


def channel_score(
    prof_tails: Tails,
    tail_n: TailCounts,
    zs: dict[str, dict[str, float]],
    channel: str,
    slow_excluded: Collection[str] = (),
) -> float:
    """The score of one alarm channel (instant, trend, joint, slow) for one step's z-scores."""
    if channel == "joint":
        return joint_trend_score(prof_tails, tail_n, zs)
    return normalised_score(prof_tails, tail_n, zs, channel, slow_excluded)


def gumbel_quantile(maxima: Sequence[float], level: float) -> float:
    """Quantile of a Gumbel fitted (robustly: median and MAD) to run maxima: with a few dozen normal runs the empirical quantile
    at 1-2 % is just the largest value seen; the fitted tail extrapolates past it."""
    m = np.asarray(maxima, dtype=float)
    if len(m) < 3:
        return float(m.max()) if len(m) else 0.0
    med = float(np.median(m))
    beta = max(float(np.median(np.abs(m - med))) / 0.767, 1e-6)  # robust: Gumbel MAD = 0.767 beta
    mu = med - 0.3665 * beta  # Gumbel median = mu + 0.3665 beta
    return mu - beta * math.log(-math.log(level))


def _tails(runs_z) -> tuple[dict[str, dict[str, list[float]]], dict[str, dict[str, int]]]:
    pool: dict[tuple[str, str], list[float]] = {}
    for run in runs_z:
        for zs in run:
            for name, zc in zs.items():
                for comp, z in zc.items():
                    pool.setdefault((name, comp), []).append(abs(z))
    tails: dict[str, dict[str, list[float]]] = {}
    tail_n: dict[str, dict[str, int]] = {}
    for (name, comp), vals in pool.items():
        tails.setdefault(name, {})[comp] = tail_sketch(vals)
        tail_n.setdefault(name, {})[comp] = len(vals)
    return tails, tail_n


def fit_profile(
    normal_runs: Sequence[Run],
    target_false_alarm_rate: float = FALSE_ALARM_BUDGET,
    folds: int = 5,
    margin: float = 0.0,
    slow_excluded: Sequence[str] = OBJECTIVE_SIGNALS,
    setups: Sequence[Mapping[str, float]] | None = None,
) -> NormalProfile:
    """Fit the profile on healthy runs; calibrate tails and threshold on held-out normal runs. ``margin`` adds
    decades of rarity to the threshold (for profiles fitted on very few runs); the slow channel does not alarm
    on ``slow_excluded`` (default: the objective; see the module note). ``setups``: each run's declared
    settings; the level is adjusted for those that vary among the runs (see :func:`adjusted_settings`)."""
    if not normal_runs:
        raise ValueError("no normal runs to fit the profile on")
    if setups is not None and len(setups) != len(normal_runs):
        raise ValueError(f"{len(setups)} setups for {len(normal_runs)} normal runs")
    centers = adjusted_settings(setups) if setups is not None else {}
    keys = sorted(centers)
    run_off = [setting_offsets(centers, setup) for setup in setups] if centers and setups else None
    run_x = [[off[k] for k in keys] for off in run_off] if run_off else None
    signals = sorted({n for run in normal_runs for _, sig in run for n in sig})
    steps = [s for run in normal_runs for s, _ in run]
    edges = _edges(steps)
    table = _raw_table(normal_runs)
    quanta = _quanta(table)
    k = min(folds, len(table))
    held_z: list[list[dict[str, dict[str, float]]]] = []
    for f in range(k):
        train = [rows for i, rows in enumerate(table) if i % k != f or k == 1]
        train_x = [x for i, x in enumerate(run_x) if i % k != f or k == 1] if run_x else None
        st = _fit_stats(train, edges, signals, quanta, train_x, keys)
        held_z.extend(
            _run_z(st, edges, rows, run_off[i] if run_off else None)
            for i, rows in enumerate(table)
            if i % k == f
        )
    # Each held-out run is scored with tails built from the *other* held-out runs (leave one run out): what a
    # new run meets, so a threshold is not biased low by a run whose own extremes shaped the tails, and every
    # normal run serves both the tails and the calibration. The profile keeps the tails of all of them.
    tails, tail_n = _tails(held_z)
    excluded = frozenset(slow_excluded)
    channel_maxima: list[list[float]] = [[] for _ in CHANNELS]
    for i, run in enumerate(held_z):
        t_i, n_i = (
            _tails([r for j, r in enumerate(held_z) if j != i]) if len(held_z) >= 4 else (tails, tail_n)
        )
        for c, ch in enumerate(CHANNELS):
            channel_maxima[c].append(
                max((channel_score(t_i, n_i, zs, ch, excluded) for zs in run), default=0.0)
            )
    # The channels share the false-alarm budget: instant (level/diff/shift: abrupt or large faults), trend
    # (smoothed level: subtle but persistent ones), joint (several signals drifting together) and slow (CUSUM
    # of the level: small offsets that persist for many steps).
    level = 1 - target_false_alarm_rate / len(CHANNELS)
    thresholds = [
        max(float(np.quantile(m, level, method="higher")), gumbel_quantile(m, level)) + margin
        for m in channel_maxima
    ]
    grads = [
        sig["grad_norm"]
        for run in normal_runs
        for _, sig in run
        if math.isfinite(sig.get("grad_norm", math.nan))
    ]
    return NormalProfile(
        signals=signals,
        progress_edges=edges,
        stats=_fit_stats(table, edges, signals, quanta, run_x, keys),
        tails=tails,
        tail_n=tail_n,
        threshold=max(thresholds[0], 1.0),
        trend_threshold=max(thresholds[1], 1.0),
        joint_threshold=max(thresholds[2], 1.0),
        slow_threshold=max(thresholds[3], 1.0),
        slow_excluded=sorted(excluded),
        target_false_alarm_rate=target_false_alarm_rate,
        grad_norm_limit=10.0 * float(np.quantile(grads, 0.999)) if grads else None,
        grad_norm_floor=1e-3 * min(grads) if grads and min(grads) > 0 else None,
        n_normal_runs=len(normal_runs),
        horizon_step=max(steps) if steps else None,
        setting_centers=centers,
    )


def adjusted_settings(setups: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """The settings the level is adjusted for, with their mean: those of :data:`LEVEL_SETTINGS` every run
    declares (finite) and that take at least two values among them; none unless there are
    :data:`RUNS_PER_SETTING` runs per setting."""
    if not setups:
        return {}
    common = set.intersection(
        *({k for k, v in s.items() if v is not None and math.isfinite(v)} for s in setups)
    )
    varying = sorted(k for k in common if k in LEVEL_SETTINGS and len({float(s[k]) for s in setups}) >= 2)
    if not varying or len(setups) < RUNS_PER_SETTING * len(varying):
        return {}
    return {k: float(np.mean([s[k] for s in setups])) for k in varying}
