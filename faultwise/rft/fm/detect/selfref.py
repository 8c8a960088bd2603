"""The self-referenced detector: each run judged against its own recent history and physical invariants.

No profile from another run is needed, and no statistic has units, so a 7B PPO run and the CPU bench use
one rule:

- **invariants** (alarm at once): a logged value is not finite; the reward has no spread at all (every
  sample scored the same, e.g. all zero; not when every sample earned the declared maximum and the update
  vanished with the advantages: a solved batch); entropy below a floor; the gradient norm
  ``grad_explode_factor`` times its own running median, or below it by that factor (unless the batch has no
  spread to learn from); KL ``kl_jump_factor`` times its largest recent value, two steps running; lengths
  pinned at the limit (``length_clip_ratio`` near 1, or the mean at the declared limit) or at zero; the clip
  fraction saturating; the reward outside a declared range; the advantages' mean held off zero (a biased
  baseline).
- **change points**: per signal, a robust z-score of the latest *difference* against the run's own recent
  differences (median / MAD), so a slow monotone drift (entropy falling, KL growing, as healthy RL does) has
  small z, and an abrupt change has a large one; a change must also be material (a relative change of the
  level) and sustained (``persist_steps`` steps), or very large.

The per-signal z-scores of recent steps are kept in ``window`` in the diagnoser's layout
(``signal -> {"level", "diff", "trend"} -> z``, beside the relative ``shift`` and ``cusum``, the step's
``value`` and ``expected`` level, whether the change is ``material`` as an alarm needs it: 1 or 0, and, on a
step below every value the run logged before (after ``min_history_steps``), ``run_low`` = 1 with the
``previous_low``), so the interpretable fingerprints and the monitor can read them.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from faultwise.rft.fm.detect.detector import Evidence, StepVerdict
from faultwise.rft.records import StepRecord
from faultwise.rft.signals import INVARIANT_OF, STEP_SIGNALS, extract_signals

# Signals a real trainer logs, used by default. True task accuracy is optional (``use_accuracy``); signals
# only an injector can set (the environment's termination flag) are never used.
# (response_length_max, a per-batch maximum, is too jumpy to judge; advantage_mean is ~0 by construction)
REAL_SIGNALS: tuple[str, ...] = tuple(
    s for s in STEP_SIGNALS if s not in ("task_accuracy", "response_length_max", "advantage_mean")
) + ("length_clip_ratio", "value_loss", "critic_grad_norm")
ACCURACY_SIGNALS: tuple[str, ...] = ("task_accuracy",)
# bounded fractions: a change is material in absolute terms (a 0 -> 0.003 clip fraction is no change)
FRACTIONS: frozenset[str] = frozenset(
    {
        "clip_ratio",
        "empty_ratio",
        "repetition_ratio_mean",
        "length_clip_ratio",
        "task_accuracy",
        "tool_calls_per_traj",
        "tool_errors_per_traj",
    }
)
# signals whose sign carries no meaning around zero (losses): relative change is taken against their spread
# signals whose change is a fault in one direction only: KL growing (falling KL is the policy settling),
# lengths falling (growth is judged by the length-limit invariant: healthy math RL doubles its lengths)
ONE_SIDED: dict[str, float] = {"kl": 1.0, "response_length_mean": -1.0}
# judged by invariants only: healthy runs show multi-step gradient-norm bursts of 10-100x that recover
INVARIANT_ONLY: frozenset[str] = frozenset({"grad_norm", "critic_grad_norm"})
# read by the invariants only: per-step extremes some tools log (verl), and the advantages' mean (centred by
# construction in GRPO, RLOO and whitened PPO: no change-point signal, but a baseline's bias shows in it)
_INVARIANT_FIELDS = (
    "reward_max",
    "reward_min",
    "advantage_max",
    "advantage_min",
    "traj_reward_max",
    "advantage_mean",
)
CENTRED: frozenset[str] = frozenset({"policy_loss", "advantage_mean"})
# a batch whose advantages' std is under this share of the run's largest carries next to no learning signal
# (nearly every group scored alike): its std is the normaliser's epsilon, nothing to measure a bias against
_LEARNING_SIGNAL_STD_SHARE = 0.1
# what an invariant break says (the diagnosis it implies; "unknown" keeps the evidence only)
INVARIANT_DIAGNOSIS: dict[str, str] = {
    "non_finite": "unknown",
    "reward_constant": "reward_collapse",
    "reward_out_of_range": "reward_spike",
    "entropy_floor": "entropy_collapse",
    "grad_norm_exploding": "kl_explosion",
    "grad_norm_vanished": "update_freeze",
    "kl_jump": "kl_explosion",
    "length_at_limit": "length_too_long",
    "length_zero": "empty_response",
    "clip_saturated": "kl_explosion",
    "advantage_biased": "value_mismatch",
    # the fitted profile detector's hard rules (see detect/detector.py)
    "exploding_grad_norm": "kl_explosion",
    "vanished_update": "update_freeze",
}


class SelfRefConfig(BaseModel):
    """Constants of the self-referenced detector (chosen by cross-validation by seed on the fitting bench and
    checked on the healthy real runs; see docs/rft-fm.md)."""

    model_config = ConfigDict(extra="forbid")

    history_steps: int = Field(16, ge=4, le=256, description="recent logged steps a signal is judged against")
    min_history_steps: int = Field(5, ge=3, le=64, description="steps of history before change points count")
    z_threshold: float = Field(6.0, gt=0, description="robust z of a difference that counts as a change")
    z_single: float | None = Field(
        None, gt=0, description="robust z that alarms without persisting (None: changes must persist)"
    )
    rel_change: float = Field(
        0.5, gt=0, description="relative level change (to |level| or, for fractions, to 1) that is material"
    )
    fraction_change: float = Field(0.15, gt=0, le=1, description="material change of a bounded fraction")
    persist_steps: int = Field(3, ge=1, le=10, description="consecutive changed steps that make an alarm")
    entropy_floor: float = Field(1e-3, ge=0, description="entropy (nats/token) below this: collapsed")
    grad_explode_factor: float = Field(50.0, gt=1, description="grad norm over its running median: exploding")
    kl_jump_factor: float = Field(30.0, gt=1, description="KL over its largest recent value: a jump")
    kl_jump_min: float = Field(0.1, ge=0, description="a KL jump must also reach this value (nats)")
    kl_material_nats: float = Field(
        0.5,
        ge=0,
        description="KL changes are material relative to at least this level (nats): healthy runs wander "
        "between 0.1 and 1 nat as they learn, a KL blow-up reaches several nats",
    )
    length_clip_limit: float = Field(
        0.9, gt=0, le=1, description="fraction of responses cut at the limit that means pinned"
    )
    clip_saturation: float = Field(0.5, gt=0, le=1, description="PPO clip fraction that means saturated")
    advantage_bias_limit: float = Field(
        0.5,
        gt=0,
        description="advantages' mean in units of their std that means a biased baseline (GRPO, RLOO and "
        "whitened PPO centre them; the healthy verl runs stay within 0.05; an unstable normaliser's "
        "heavy-tailed noise within 0.35)",
    )
    use_accuracy: bool = Field(False, description="also watch true task accuracy (a held-out eval signal)")
    reward_range: tuple[float, float] | None = Field(
        None, description="declared reward range (from the config); outside it is an invariant break"
    )
    max_response_length: float | None = Field(
        None, gt=0, description="declared length limit (tokens); a mean pinned at it is an invariant break"
    )

    def with_declared(
        self, reward_range: tuple[float, float] | None = None, max_response_length: float | None = None
    ) -> SelfRefConfig:
        """A copy that takes what the run declares (its config, its log) where these constants give none."""
        update: dict[str, object] = {}
        if self.reward_range is None and reward_range is not None:
            update["reward_range"] = reward_range
        if self.max_response_length is None and max_response_length:
            update["max_response_length"] = float(max_response_length)
        return self.model_copy(update=update) if update else self


class _SignalHistory:
    def __init__(self, n: int) -> None:
        self.values: deque[float] = deque(maxlen=n)
        self.first: float | None = None  # the run's first value: how far a signal moved since the start
        self.low = math.inf  # the run's lowest value so far (the objective's new lows are reported in events)
        self.seen = 0  # values seen in the whole run
        self.streak = 0
        self.streak_start: int | None = None
        self.sign = 0.0


def _relative(name: str, x: float, ref: float, spread: float) -> float:
    """``x - ref`` in the signal's own units: absolute for bounded fractions, relative to the larger of the
    reference's size and the run's own ``spread`` otherwise (so no unit of any run enters)."""
    if name in FRACTIONS:
        return x - ref
    typical = max(abs(ref), spread)
    return (x - ref) / typical if typical > 0 else 0.0


def _mad_scale(xs: np.ndarray) -> float:
    med = float(np.median(xs))
    return 1.4826 * float(np.median(np.abs(xs - med)))


class SelfReferencedDetector:
    """Online, bounded memory: ``history_steps`` values per signal and ``window_steps`` z-score dicts."""

    def __init__(self, config: SelfRefConfig | None = None, window_steps: int = 8) -> None:
        self.config = config or SelfRefConfig()
        self.window: deque[tuple[int, dict[str, dict[str, float]]]] = deque(maxlen=window_steps)
        self._hist: dict[str, _SignalHistory] = {}
        self._grad_hist: deque[float] = deque(maxlen=64)
        self._flat_before = False
        self._bias_sign_before = 0.0
        self._advantage_std_max = 0.0
        self.n_steps = 0

    @property
    def signals_used(self) -> tuple[str, ...]:
        """The signals this detector reads (real-trainer signals, plus accuracy when asked)."""
        return REAL_SIGNALS + (ACCURACY_SIGNALS if self.config.use_accuracy else ())

    def update(self, step: StepRecord) -> StepVerdict:
        """The verdict of one step record."""
        signals = extract_signals(step)
        extra = step.model_extra or {}
        for name in ("length_clip_ratio", "value_loss", "critic_grad_norm", *_INVARIANT_FIELDS):
            v = extra.get(name)
            if isinstance(v, int | float) and not isinstance(v, bool):
                signals[name] = float(v)
        return self.update_signals(step.step, signals)

    def update_signals(self, step: int, signals: dict[str, float]) -> StepVerdict:
        """The verdict of one step given its named signals."""
        cfg = self.config
        self.n_steps += 1
        used = set(self.signals_used)
        sig = {k: v for k, v in signals.items() if k in used or k in _INVARIANT_FIELDS}
        broken = self._invariants(sig)
        zs: dict[str, dict[str, float]] = {}
        changed: list[tuple[float, str, float, float, float]] = []  # (|z|, name, z, value, expected)
        for name, x in sig.items():
            if name not in used or not math.isfinite(x):
                continue
            h = self._hist.setdefault(name, _SignalHistory(cfg.history_steps))
            vals = np.fromiter(h.values, float)
            spread = _mad_scale(vals) if len(vals) >= 2 else 0.0  # the run's own recent spread, once
            z, expected, material = self._change(name, x, vals, spread)
            # beside the change z, two scale-free magnitudes for the diagnoser: the change relative to the
            # run's own level (absolute for fractions) and the move since the run's first step
            if h.first is None:
                h.first = x
            zs[name] = {
                "level": z,
                "diff": z,
                "trend": z,
                "shift": _relative(name, x, expected, spread),
                "cusum": _relative(name, x, h.first, spread),
                "value": x,
                "expected": expected,
            }
            if (name in ONE_SIDED and z * ONE_SIDED[name] < 0) or name in INVARIANT_ONLY:
                material = False
            zs[name]["material"] = float(material)  # this detector's own judgement, which others reuse
            if h.seen >= cfg.min_history_steps and x < h.low:  # below every value the run has logged
                zs[name]["run_low"], zs[name]["previous_low"] = 1.0, h.low
            h.low, h.seen = min(h.low, x), h.seen + 1
            if abs(z) >= cfg.z_threshold and material and (h.streak == 0 or z * h.sign > 0):
                if h.streak == 0:
                    h.streak_start, h.sign = step, math.copysign(1.0, z)
                h.streak += 1
            else:
                h.streak, h.streak_start = 0, None
            single = cfg.z_single is not None and abs(z) >= cfg.z_single and material
            if h.streak >= cfg.persist_steps or single:
                changed.append((abs(z), name, z, x, expected))
            h.values.append(x)
        if "grad_norm" in sig and math.isfinite(sig["grad_norm"]):
            self._grad_hist.append(sig["grad_norm"])
        for name, kind, value in broken:  # an invariant break shows in the diagnoser's window too
            if math.isfinite(value):
                zs[name] = {
                    **zs.get(name, {}),
                    **dict.fromkeys(("level", "diff", "trend"), math.copysign(50.0, _direction(kind, value))),
                }
        self.window.append((step, zs))
        changed.sort(key=lambda r: -r[0])
        evidence = [
            Evidence(signal=n, component="diff", value=v, expected=e, z=z, normalised=a / cfg.z_threshold)
            for a, n, z, v, e in changed[:5]
        ]
        rule = None
        invariant = None
        if broken:
            kinds = sorted({k for _, k, _ in broken})
            rule = ";".join(f"{k}:{','.join(sorted(n for n, kk, _ in broken if kk == k))}" for k in kinds)
            invariant = (
                "numerical_health" if "non_finite" in kinds else INVARIANT_OF.get(broken[0][0], "other")
            )
            evidence = [
                Evidence(
                    signal=n,
                    component="invariant:" + k,
                    value=v,
                    expected=0.0,
                    z=0.0,
                    normalised=0.0,
                )
                for n, k, v in broken
            ] + evidence
        elif changed:
            invariant = INVARIANT_OF.get(changed[0][1], "other")
        score = math.inf if broken else (changed[0][0] / cfg.z_threshold if changed else 0.0)
        if not broken and not changed:
            top = max((abs(z["diff"]) for z in zs.values()), default=0.0)
            score = min(top / cfg.z_threshold, 0.999)
        alarm = bool(broken or changed)
        # onset: where the alarming signals' current streak of changed steps began
        streaks = [self._hist[n].streak_start for _, n, *_ in changed[:3]]
        onset = min([step, *(s for s in streaks if s is not None)]) if alarm else None
        return StepVerdict.model_validate(
            {"step": step, "score": score, "alarm": alarm, "invariant": invariant, "rule": rule,
             "evidence": evidence[:8], "onset_estimate": onset}
        )  # fmt: skip

    def _change(self, name: str, x: float, vals: np.ndarray, spread: float) -> tuple[float, float, bool]:
        """Robust z of the level against the run's own recent level carried forward by its typical
        difference (median of the last 5 values + 3 median differences), in units of the spread of the
        run's own step-to-step differences (MAD); and whether the change is material (relative to the level,
        or absolute for bounded fractions). A one-step spike that recovers does not move the median. ``vals``
        are the run's recent values, ``spread`` their MAD scale."""
        cfg = self.config
        if len(vals) < cfg.min_history_steps:
            return 0.0, x, False
        diffs = np.diff(vals)
        med_d = float(np.median(diffs))
        k = min(len(vals), 5)
        base = float(np.median(vals[-k:]))
        expected = base + (k + 1) / 2 * med_d
        nonzero = np.abs(diffs[diffs != 0])
        quantum = float(nonzero.min()) if nonzero.size else 0.0  # the log's printed resolution, at least
        if name in FRACTIONS:
            floor = cfg.fraction_change / 3
            material = abs(x - expected) >= cfg.fraction_change
        else:
            typical = max(spread, _mad_scale(diffs), quantum) if name in CENTRED else max(abs(base), spread)
            if name == "kl":
                typical = max(typical, cfg.kl_material_nats)
            floor = 1e-3 * typical
            material = typical > 0 and abs(x - expected) >= cfg.rel_change * typical
        scale = max(_mad_scale(diffs), quantum, floor, 1e-12)
        return (x - expected) / scale, expected, material

    def _invariants(self, sig: dict[str, float]) -> list[tuple[str, str, float]]:
        """Broken physical invariants this step: (signal, kind, value)."""
        cfg = self.config
        out: list[tuple[str, str, float]] = []
        for name, v in sig.items():
            if not math.isfinite(v):
                out.append((name, "non_finite", v))
        if out:
            return out

        def g(name: str) -> float | None:
            v = sig.get(name)
            return v if v is not None and math.isfinite(v) else None

        # no learning signal: every sample scored alike and (when logged) every advantage zero; with a critic
        # (PPO) equal rewards still give advantages, so that is not a break
        rmax, rmin, rstd = g("reward_max"), g("reward_min"), g("reward_std")
        amax, amin = g("advantage_max"), g("advantage_min")
        flat = (rmax is not None and rmin is not None and rmax == rmin) or (rmax is None and rstd == 0.0)
        no_signal = flat and (amax is None or amin is None or amax == amin == 0.0)
        declared = cfg.reward_range
        slack = 1e-6 * max(1.0, declared[1] - declared[0]) if declared else 0.0  # float sums land on bounds
        rmean = g("reward_mean")
        gn = g("grad_norm")
        hist = self._grad_hist  # the logged grad norms before this step
        # the running median before the last logged step (a one-step burst does not move it); 0: too little history
        grad_med = float(np.median(list(hist)[:-1])) if len(hist) >= cfg.min_history_steps else 0.0
        # with every advantage zero only the regularisers move the policy, so the update all but vanishes; one
        # as large as usual means another term drives it (an entropy bonus of the wrong sign, say)
        still_updating = gn is not None and grad_med > 0 and gn >= grad_med / cfg.grad_explode_factor
        # every sample at the declared maximum, and the update gone with the advantages: a solved batch (no
        # learning signal, but the reward works)
        solved = (
            declared is not None
            and rmean is not None
            and abs(rmean - declared[1]) <= slack
            and not still_updating
        )
        # all zero (nothing rewarded) breaks at once; any other constant below the maximum only when the
        # previous logged step was constant too
        if no_signal and not solved and (rmean == 0.0 or self._flat_before):
            out.append(("reward_std" if rstd is not None else "reward_mean", "reward_constant", rstd or 0.0))
        # with no advantage the policy gradient is zero: a vanished gradient is then explained, not a break
        grad_explained = no_signal and self._flat_before
        self._flat_before = no_signal
        if declared is not None:  # any reward outside the declared range: the mean, or a sample's
            lo, hi = declared
            highs = [(n, g(n)) for n in ("reward_mean", "reward_max", "traj_reward_max")]
            lows = [(n, g(n)) for n in ("reward_mean", "reward_min")]
            broken = [(n, v) for n, v in highs if v is not None and v > hi + slack]
            broken += [(n, v) for n, v in lows if v is not None and v < lo - slack]
            if broken:
                out.append((broken[0][0], "reward_out_of_range", broken[0][1]))
        e = g("entropy")
        if e is not None and e < cfg.entropy_floor:
            out.append(("entropy", "entropy_floor", e))
        if gn is not None and grad_med > 0:
            if min(gn, hist[-1]) > cfg.grad_explode_factor * grad_med:
                out.append(("grad_norm", "grad_norm_exploding", gn))  # two logged steps running
            if max(gn, hist[-1]) < grad_med / cfg.grad_explode_factor and not grad_explained:
                out.append(("grad_norm", "grad_norm_vanished", gn))  # the updates stopped
        if gn == 0.0 and hist and hist[-1] == 0.0 and not grad_explained:
            out.append(("grad_norm", "grad_norm_vanished", gn))
        kl = g("kl")
        kh = self._hist.get("kl")
        if kl is not None and kh is not None and len(kh.values) > cfg.min_history_steps:
            # two logged steps running above the largest of the five before them: one batch's KL spike that
            # is gone the next step (seen in a healthy bench run: 0.26 -> 9.9 -> 0.13 nats) is not a jump
            *before, prev = list(kh.values)[-6:]
            recent = max(abs(v) for v in before)
            high = min(kl, prev)
            if high >= cfg.kl_jump_min and high > cfg.kl_jump_factor * max(recent, 1e-12):
                out.append(("kl", "kl_jump", kl))
        lc = g("length_clip_ratio")
        lh = self._hist.get("length_clip_ratio")
        limit = cfg.length_clip_limit - 1e-6  # float32 logs (TensorBoard) store 0.9 as 0.89999998
        if lc is not None and lc >= limit and lh and lh.values and lh.values[-1] >= limit:
            out.append(("length_clip_ratio", "length_at_limit", lc))  # pinned two logged steps running
        lm = g("response_length_mean")
        if lm is not None and cfg.max_response_length and lm >= 0.98 * cfg.max_response_length:
            out.append(("response_length_mean", "length_at_limit", lm))
        if lm is not None and lm < 1.0:
            out.append(("response_length_mean", "length_zero", lm))
        cr = g("clip_ratio")
        ch = self._hist.get("clip_ratio")
        if (
            cr is not None
            and cr >= cfg.clip_saturation
            and ch
            and ch.values
            and ch.values[-1] >= cfg.clip_saturation
        ):
            out.append(("clip_ratio", "clip_saturated", cr))
        bias = self._advantage_bias(g)
        if bias is not None:
            out.append(("advantage_mean", "advantage_biased", bias))
        return out

    def _advantage_bias(self, g: Callable[[str], float | None]) -> float | None:
        """The advantages' mean in units of their std when it sits ``advantage_bias_limit`` or more off zero
        with one sign two logged steps running (a baseline biased one way; an unstable normaliser's noise
        changes sign), while the batch still carries a learning signal (:data:`_LEARNING_SIGNAL_STD_SHARE`).
        A fault there from the first step shows at once: no history is needed."""
        mean, std = g("advantage_mean"), g("advantage_std")
        bias = 0.0
        if mean is not None and std:
            self._advantage_std_max = max(self._advantage_std_max, std)
            if std >= _LEARNING_SIGNAL_STD_SHARE * self._advantage_std_max:
                bias = mean / std
        sign = math.copysign(1.0, bias) if abs(bias) >= self.config.advantage_bias_limit else 0.0
        held = sign != 0.0 and sign == self._bias_sign_before
        self._bias_sign_before = sign
        return bias if held else None


def _direction(kind: str, value: float) -> float:
    """The sign an invariant break gives its signal in the diagnoser's window."""
    if kind == "advantage_biased":
        return math.copysign(1.0, value)
    return -1.0 if kind in ("reward_constant", "entropy_floor", "length_zero") else 1.0
