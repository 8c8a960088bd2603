"""The online detector: one train step in, one verdict out, with bounded memory.

The state per run is a few floats per signal plus a fixed-length window of recent z-scores (for the
diagnoser), so memory does not grow with the run length.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence

from pydantic import BaseModel, Field, field_serializer

from faultwise.rft.fm.detect.profile import (
    JOINT_K,
    LIGHT_TAILED,
    NormalProfile,
    RunState,
    SignalState,
    joint_trend_score,
    raw_components,
    tail_score,
    z_scores,
)
from faultwise.rft.records import StepRecord, TrajectoryRecord
from faultwise.rft.signals import INVARIANT_OF, extract_signals

WINDOW_STEPS = 8
ONSET_SIGNALS = 3  # the alarm's top signals whose CUSUM change-points date the onset


class Evidence(BaseModel):
    """One signal component that pushed the score up: what it was, what normal runs show, how far."""

    signal: str
    component: str
    value: float
    expected: float
    z: float
    normalised: float = Field(
        description="-log10 tail probability among normal steps; the alarm compares this"
    )

    @field_serializer("value")
    def _ser_value(self, v: float) -> float | str:
        return v if math.isfinite(v) else ("inf" if v > 0 else "-inf" if v < 0 else "nan")


class StepVerdict(BaseModel):
    """The detector's answer for one step: its score, whether it alarms, and why."""

    step: int
    score: float
    alarm: bool
    invariant: str | None = None
    rule: str | None = None
    evidence: list[Evidence] = Field(default_factory=list)
    onset_estimate: int | None = Field(
        None,
        description="on an alarm: the earliest step its top signals started to drift (CUSUM change-point)",
    )

    @field_serializer("score")
    def _ser_score(self, v: float) -> float | str:
        """JSON has no infinity: an invariant break's score is written "inf", never null."""
        return v if math.isfinite(v) else ("inf" if v > 0 else "-inf" if v < 0 else "nan")


class Detector:
    """Feeds one run's steps through the normal profile and the hard rules.

    ``window`` keeps the z-scores of the last ``window_steps`` steps (what the diagnoser reads). Signals a
    remediation withholds are left out before they reach it (:meth:`faultwise.rft.fm.monitor.FailureMonitor.ignore`).
    """

    def __init__(
        self,
        profile: NormalProfile,
        window_steps: int = WINDOW_STEPS,
        setup: Mapping[str, float] | None = None,
    ) -> None:
        self.profile = profile
        self._offsets = profile.setting_offsets(setup or {})
        self._raw = RunState()
        self._trend = RunState()
        self.window: deque[tuple[int, dict[str, dict[str, float]]]] = deque(maxlen=window_steps)
        self.n_steps = 0
        self._pace_from_step = 0
        self._pace_rate = 1.0

    def declare_setup(self, setup: Mapping[str, float]) -> None:
        """The run's declared settings (trainer arguments): the profile judges its level against healthy runs
        of those settings (see :mod:`faultwise.rft.fm.detect.profile`); an undeclared one counts as the mean."""
        self._offsets = self.profile.setting_offsets(setup)

    def set_pace(self, from_step: int, rate: float) -> None:
        """Each step after ``from_step`` advances training by ``rate`` declared steps (a remediation that scales
        the learning rate by ``rate``): the profile, indexed by training progress, then judges a step at the
        progress it stands for. With a constant learning rate, Adam's parameter motion per step is proportional
        to it, so a run at half the rate is where a normal run was at half the steps since the change."""
        if not (rate > 0 and math.isfinite(rate)):
            raise ValueError(f"pace rate must be a positive number, got {rate!r}")
        self._pace_from_step, self._pace_rate = from_step, rate

    def progress(self, step: int) -> float:
        """Training progress of ``step`` in declared steps (``step`` itself unless :meth:`set_pace` changed it)."""
        if step <= self._pace_from_step:
            return float(step)
        return self._pace_from_step + (step - self._pace_from_step) * self._pace_rate

    @property
    def tracked_signals(self) -> set[str]:
        """The signals the detector holds online state for (bounded: one entry per signal ever seen)."""
        return set(self._raw.signals)

    def update(self, step: StepRecord, trajectories: Sequence[TrajectoryRecord] | None = None) -> StepVerdict:
        """The verdict of one step record (and its trajectories, when known)."""
        return self.update_signals(step.step, extract_signals(step, trajectories))

    def update_signals(self, step: int, signals: dict[str, float]) -> StepVerdict:
        """The verdict of one step given its named signals (see :func:`faultwise.rft.signals.extract_signals`)."""
        self.n_steps += 1
        prof = self.profile
        bad = sorted(n for n, v in signals.items() if not math.isfinite(v))
        comps = {}
        for name, x in signals.items():
            if math.isfinite(x):
                comps[name] = raw_components(self._raw.signals.setdefault(name, SignalState()), x)
        b = prof.bin_of(self.progress(step))
        zs = z_scores(prof.stats, b, comps, self._trend, step, self._offsets)
        self.window.append((step, zs))
        ranked: list[tuple[float, str, str, float]] = []
        for name, zc in zs.items():
            tq, tn = prof.tails.get(name, {}), prof.tail_n.get(name, {})
            for comp, z in zc.items():
                if comp in tq:
                    thr = prof.channel_threshold(comp, name)
                    if thr is None:
                        continue
                    ts = tail_score(tq[comp], tn[comp], abs(z), comp in LIGHT_TAILED)
                    ranked.append((ts / thr, ts, name, comp, z))
        ranked.sort(key=lambda r: -r[0])
        joint = joint_trend_score(prof.tails, prof.tail_n, zs) / prof.joint_threshold
        if ranked and joint > ranked[0][0]:  # the joint channel decides: its evidence is the drifting trends
            trends = sorted((r for r in ranked if r[3] == "trend"), key=lambda r: -r[1])
            ranked = [(joint, *r[1:]) for r in trends[:JOINT_K]] + [
                r for r in ranked if r not in trends[:JOINT_K]
            ]
        evidence = []
        for _, n, name, comp, z in ranked[:5]:
            raw = "level" if comp in ("trend", "cusum") else comp
            st = prof.stats[name].get(raw)
            evidence.append(
                Evidence(
                    signal=name,
                    component=comp,
                    value=comps[name].get(raw, comps[name]["level"]),
                    expected=st.median(b, self._offsets) if st else 0.0,
                    z=z,
                    normalised=n,
                )
            )
        score = ranked[0][0] if ranked else 0.0  # tail score over its channel's threshold: alarm above 1
        rule = None
        if bad:
            rule = "non_finite:" + ",".join(bad)
            score = math.inf
        elif prof.grad_norm_limit is not None and signals.get("grad_norm", 0.0) > prof.grad_norm_limit:
            rule = "exploding_grad_norm"
            score = math.inf
        elif prof.grad_norm_floor is not None and signals.get("grad_norm", math.inf) < prof.grad_norm_floor:
            rule = "vanished_update"  # a zero gradient: the step changed nothing (normal runs never do this)
            score = math.inf
        alarm = score > 1.0
        invariant = None
        if rule:
            invariant = "numerical_health" if rule.startswith("non_finite") else INVARIANT_OF["grad_norm"]
        elif alarm and evidence:
            invariant = INVARIANT_OF.get(evidence[0].signal, "other")
        onset = None
        if alarm:
            starts = [step]
            for e in evidence[:ONSET_SIGNALS]:
                ss = self._trend.signals.get(e.signal)
                start = ss.excursion_start() if ss is not None else None
                if start is not None:
                    starts.append(start)
            onset = min(starts)
        return StepVerdict(
            step=step,
            score=score,
            alarm=alarm,
            invariant=invariant,
            rule=rule,
            evidence=evidence,
            onset_estimate=onset,
        )
