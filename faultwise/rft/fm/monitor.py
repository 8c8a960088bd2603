"""Detection and diagnosis together, online: the object a training loop or a log follower feeds.

Detection is the self-referenced detector (``detect/selfref.py``): the run against its own history and
physical invariants, no model needed. A fitted model adds its normal-profile detector and its diagnoser, but
only on a run that looks like what the model was fitted on (its first steps lie within the profile, judged by
scale-free z-scores) and whose declared training setup lies within the setups it was fitted on
(``domain.py``); on any other run its profile changes no detection (a run that declares no setup is judged by
its first steps alone), and only its scale-free diagnoser names what the run's own history shows.

Alarms are grouped into :class:`AlarmEvent` s: an event opens at the first alarming step (with the detector's
own onset estimate), is diagnosed ``confirm_steps`` later (at once on an invariant break), and closes after
``close_after_steps`` healthy steps in a row. While an event is open (a run pinned at its length limit may stay
in one event for hundreds of steps), the other signals are still judged: a material change of at least
:data:`EXCURSION_Z` robust z in a signal the event does not already name is kept as one of the event's
``excursions`` (a reward spike inside a length event, say), so the event does not hide what happens within it;
so is the objective (:data:`OBJECTIVE_SIGNALS`) falling below every value the run logged before (a ``run_low``
excursion: the run is now worse than it has ever been, whatever the size of the step).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal

from pydantic import BaseModel, Field, field_serializer

from faultwise.rft.fm.detect.detector import Detector, Evidence, StepVerdict
from faultwise.rft.fm.detect.selfref import (
    CENTRED,
    FRACTIONS,
    INVARIANT_DIAGNOSIS,
    SelfRefConfig,
    SelfReferencedDetector,
)
from faultwise.rft.fm.diagnose.classifier import FaultDiagnosis, diagnose
from faultwise.rft.fm.model import FMModel
from faultwise.rft.records import FAMILY_OF, FAULT_FAMILIES, StepRecord, TrajectoryRecord
from faultwise.rft.signals import INVARIANT_OF, OBJECTIVE_SIGNALS, extract_signals

# signals a real trainer cannot log: the environment's done flag only our injector sets, and everything
# computed from the true correctness of each answer (used only when accuracy is declared an input)
INJECTOR_ONLY_SIGNALS: frozenset[str] = frozenset({"traj_env_terminated_ratio"})
ACCURACY_DERIVED_SIGNALS: frozenset[str] = frozenset(
    {
        "task_accuracy",
        "reward_accuracy_gap",
        "traj_reward_incorrect_mean",
        "traj_tool_user_accuracy",
        "traj_tool_accuracy_gap",
    }
)
# what real trainers log beside the step fields (readers keep them as extras); only the online monitor reads
# them, so the profile a bench fits is unchanged by them
LOGGED_EXTRA_SIGNALS: tuple[str, ...] = (
    "length_clip_ratio",
    "value_loss",
    "critic_grad_norm",
    "reward_max",
    "reward_min",
    "advantage_max",
    "advantage_min",
)
# invariant breaks that are their fault's definition, named whoever diagnoses: advantages centred by construction
# (group-normalised, whitened) whose mean is pushed one way say the baseline does not match the returns (a value
# mismatch), which no other fault does (noise in the advantages does not move their mean one way); on the
# fitting benches all 13 runs with this break were value mismatches
DEFINING_INVARIANTS: frozenset[str] = frozenset({"advantage_biased"})
# invariant breaks that many faults cause alike (every completion scored the same: an empty, cut, collapsed or
# terminated answer, or a broken reward): a symptom, not a cause; a fitted diagnoser names the fault
SYMPTOM_INVARIANTS: frozenset[str] = frozenset({"reward_constant"})
# where that symptom shows by itself (the reward side): a change elsewhere is evidence for another cause
SYMPTOM_GROUPS: frozenset[str] = frozenset({"return_stability", "reward_trajectory_consistency"})
# rules whose cause is certain: the event is diagnosed at the step they break, whoever diagnoses
HARD_RULES: frozenset[str] = frozenset({"non_finite", "vanished_update", "exploding_grad_norm"})
# invariant breaks whose persistence tells two causes apart: the event waits its confirmation steps, and a break
# held on every step from the opening through them names the second cause. Rewards above the declared range on
# some steps are a grader's outliers (a reward spike); on every step, the grader systematically pays for
# something its declared range leaves out (a bonus term, a lenient check), which the policy learns to exploit.
SUSTAINED_BREAKS: dict[str, str] = {"reward_out_of_range": "reward_hacking"}
# invariant breaks only one family of faults can cause: the diagnosis is the most probable type of that family. A
# reward outside the task's declared range comes from the reward function itself (a policy only moves among the
# values the grader pays), whatever else the window shows. On six development benches (720 runs) the break came
# with reward spikes (35 of 36) and reward hacking (36 of 36) only, no other fault and no healthy run; on two of
# the wide variant (240 runs) likewise
FAMILY_BREAKS: dict[str, str] = {"reward_out_of_range": "RF"}
DOMAIN_STEPS = 5  # steps over which a model's applicability to a run is judged
DOMAIN_Z = 30.0  # a signal whose median |level z| over those steps exceeds this lies outside the profile
DOMAIN_FRACTION = 0.25  # more than this fraction of signals outside: the model does not apply to the run
DOMAIN_COVERAGE = 0.75  # the run must log at least this fraction of the signals the profile was fitted on
# a change inside an open event worth reporting (not alarming on): the conventional three-sigma bar on the
# self-referenced detector's robust z of a step's difference, with the same materiality as an alarm
EXCURSION_Z = 3.0
MAX_EXCURSIONS = 5  # per event, the largest by |z| (bounded memory in a long event)


def logged_signals(
    step: StepRecord, trajectories: Sequence[TrajectoryRecord] | None = None
) -> dict[str, float]:
    """The named signals the monitor reads from one logged step: :func:`extract_signals` plus the extras real
    trainers log beside the step fields (:data:`LOGGED_EXTRA_SIGNALS`)."""
    signals = extract_signals(step, trajectories)
    extra = step.model_extra or {}
    for name in LOGGED_EXTRA_SIGNALS:
        v = extra.get(name)
        if isinstance(v, int | float) and not isinstance(v, bool):
            signals[name] = float(v)
    return signals


def _finite_or_text(v: float) -> float | str:
    return v if math.isfinite(v) else ("inf" if v > 0 else "-inf" if v < 0 else "nan")


def _invariant_diagnosis(kind: str, fault_type: str | None = None) -> FaultDiagnosis:
    """What an invariant break names (``fault_type``: what its persistence names instead, see
    :data:`SUSTAINED_BREAKS`)."""
    ftype = fault_type or INVARIANT_DIAGNOSIS[kind]
    return FaultDiagnosis(
        fault_type=ftype,
        family=FAMILY_OF.get(ftype, "unknown"),
        confidence=1.0 if ftype != "unknown" else 0.0,
        source="invariant:" + kind + (":sustained" if fault_type else ""),
    )


def _possible_types(kinds: Sequence[str]) -> frozenset[str] | None:
    """The fault types an event's invariant breaks leave possible (:data:`FAMILY_BREAKS`); None: any."""
    families = {FAMILY_BREAKS[k] for k in kinds if k in FAMILY_BREAKS}
    if len(families) != 1:  # none, or breaks that disagree: the breaks bound nothing
        return None
    return frozenset(FAULT_FAMILIES[families.pop()])


class Excursion(BaseModel):
    """One signal at one step inside an open event, in a signal the event did not name: a material change
    (``kind="change"``) or the objective below every value the run logged before (``kind="run_low"``)."""

    step: int
    signal: str
    z: float = Field(description="robust z of the step's change against the run's own recent changes")
    value: float
    expected: float = Field(description="the run's own recent level carried forward")
    kind: Literal["change", "run_low"] = "change"
    previous_low: float | None = Field(None, description="run_low: the run's lowest value before this step")


class AlarmEvent(BaseModel):
    """One alarm, from its opening to its closing: onset, signals, diagnosis, evidence."""

    event_id: int = Field(ge=1)
    opened_step: int = Field(description="the first alarming step")
    onset_step: int = Field(description="the detector's own estimate of where the change began")
    closed_step: int | None = Field(None, description="the step it closed (healthy again); None: still open")
    last_alarm_step: int
    signals: list[str] = Field(default_factory=list, description="signals that alarmed, first first")
    invariant: str | None = None
    rules: list[str] = Field(default_factory=list, description="invariant breaks seen (non_finite:kl, ...)")
    diagnosis: FaultDiagnosis | None = None
    diagnosed_step: int | None = None
    evidence: list[Evidence] = Field(default_factory=list)
    excursions: list[Excursion] = Field(
        default_factory=list, description="the largest changes inside the event, in signals it does not name"
    )
    run_low: Excursion | None = Field(
        None, description="the objective's latest new low of the run inside the event (the lowest point)"
    )
    peak_score: float = Field(0.0, description="largest score (over its threshold); inf for an invariant")

    @field_serializer("peak_score")
    def _ser_score(self, v: float) -> float | str:
        return _finite_or_text(v)


class FMEvent(BaseModel):
    """What happened at one step: the verdict, the diagnosis when made at this step, the event opened or
    closed at this step."""

    verdict: StepVerdict
    diagnosis: FaultDiagnosis | None = None
    opened: AlarmEvent | None = None
    closed: AlarmEvent | None = None
    excursions: list[Excursion] = Field(default_factory=list, description="found at this step (open event)")


class FailureMonitor:
    """The online monitor. Bounded memory: the detectors' windows and at most ``max_events`` events.

    Args:
        model: a fitted model (optional): its profile detector and diagnoser, where the run fits it.
        config: the self-referenced detector's constants (default: the model's, else the defaults).
        close_after_steps: healthy steps in a row that close an event.
        setup: the run's training setup as its trainer declares it (``learning_rate``, ``hidden_size``, ...,
            see :data:`faultwise.rft.fm.domain.SETUP_KEYS`); a setting outside the model's fitted range keeps
            the model out of the run (``declined`` says why).

    Example::

        fm = FailureMonitor()  # or FailureMonitor(load_model("model.json"))
        for record in steps:
            ev = fm.update(record)
            if ev.opened is not None:
                print(ev.opened.onset_step, ev.opened.signals)
    """

    def __init__(
        self,
        model: FMModel | None = None,
        config: SelfRefConfig | None = None,
        close_after_steps: int = 3,
        max_events: int = 100,
        setup: Mapping[str, float] | None = None,
    ) -> None:
        self.model = model
        self.setup: dict[str, float] = {}
        self.config = config or (model.selfref if model is not None else None) or SelfRefConfig()
        self.selfref = SelfReferencedDetector(self.config)
        self.detector = Detector(model.profile) if model is not None else None
        self.close_after_steps = close_after_steps
        self.max_events = max_events
        self.confirm_steps = model.confirm_steps if model is not None else 2
        self.ignored: set[str] = set()  # what a remediation rewrites or tolerates on purpose (see ignore)
        self.excluded = set(INJECTOR_ONLY_SIGNALS)
        if not self.config.use_accuracy:
            self.excluded |= ACCURACY_DERIVED_SIGNALS
        self.model_applies: bool | None = None if model is not None else False
        self.declined: str | None = None  # why the model does not apply, when it does not
        self.declare_setup(setup or {})
        self._domain: list[dict[str, float]] = []
        self.events: list[AlarmEvent] = []
        self.open_event: AlarmEvent | None = None
        self._healthy_run = 0
        self._since_open = 0
        self._held_breaks: set[str] = set()  # sustained-break kinds broken on every step of the open event
        self._window_source: str = "selfref"
        # the first event, as the supervisor and the evaluation read it
        self.first_alarm_step: int | None = None
        self.onset_estimate: int | None = None
        self.diagnosis: FaultDiagnosis | None = None
        self.diagnosed_at: int | None = None

    def update(self, step: StepRecord, trajectories: Sequence[TrajectoryRecord] | None = None) -> FMEvent:
        """Feed one step record (and its trajectories, when known)."""
        return self.update_signals(step.step, logged_signals(step, trajectories))

    def declare(self, max_response_length: float | None = None) -> None:
        """Take a setting the log itself declares (its printed config), unless the caller already gave one."""
        self.config = self.selfref.config = self.config.with_declared(max_response_length=max_response_length)

    def declare_setup(self, setup: Mapping[str, float]) -> None:
        """Take the run's training setup; a setting outside the model's fitted range keeps the model out of
        the run from now on (settings the model did not record are not judged)."""
        self.setup = {**self.setup, **setup}
        if self.detector is not None:
            self.detector.declare_setup(self.setup)
        if self.model is None or self.model.domain is None:
            return
        outside = self.model.domain.outside(self.setup)
        if outside:
            self.model_applies, self.declined = False, "; ".join(outside)

    def ignore(self, signals: set[str]) -> None:
        """Leave these signals out of detection from now on: a remediation rewrites them, or works around the
        cause and so leaves them off-normal on purpose (the verification judges the run on the rest)."""
        self.ignored = set(signals)

    def set_pace(self, from_step: int, rate: float) -> None:
        """Steps after ``from_step`` train at ``rate`` times the declared learning rate (a remediation changed
        it): the model's profile, indexed by training progress, judges each later step at the progress it stands
        for, so a run slowed on purpose is not flagged for lagging behind normal runs of the same step count.
        The self-referenced detector is unaffected (it compares the run with itself)."""
        if self.detector is not None:
            self.detector.set_pace(from_step, rate)

    def update_signals(self, step: int, signals: dict[str, float]) -> FMEvent:
        """Feed one step's named signals."""
        ignored = self.excluded | self.ignored
        signals = {k: v for k, v in signals.items() if k not in ignored}
        verdict = self.selfref.update_signals(step, signals)
        model_judges = False
        if self.detector is not None:
            pv = self.detector.update_signals(step, signals)
            self._judge_domain(pv)
            # a profile indexed by training progress judges no step beyond the longest run it was fitted on
            horizon = self.detector.profile.horizon_step
            model_judges = bool(self.model_applies) and (
                horizon is None or self.detector.progress(step) <= horizon
            )
            if model_judges and pv.alarm and not verdict.alarm:
                verdict = pv
        return self._after(verdict, model_judges)

    def _judge_domain(self, pv: StepVerdict) -> None:
        """Does the model apply to this run? It must log most signals the model was fitted on, and on each of
        its first ``DOMAIN_STEPS`` steps the median |level z| per signal so far must stay within the profile
        for most signals; once out, out for good (the model then changes nothing)."""
        if self.detector is None or self.model_applies is False or len(self._domain) >= DOMAIN_STEPS:
            return
        zs = self.detector.window[-1][1] if self.detector.window else {}
        self._domain.append({n: abs(c.get("level", 0.0)) for n, c in zs.items()})
        names = set().union(*self._domain)
        fitted = set(self.detector.profile.stats) - self.excluded - self.ignored  # withheld is not missing
        if fitted and len(names & fitted) < DOMAIN_COVERAGE * len(fitted):
            self.model_applies = False
            self.declined = "the run does not log most signals the model was fitted on"
            return
        far = 0
        for n in names:
            vals = sorted(d[n] for d in self._domain if n in d and math.isfinite(d[n]))
            if vals and vals[len(vals) // 2] > DOMAIN_Z:
                far += 1
        self.model_applies = bool(names) and far / len(names) <= DOMAIN_FRACTION
        if not self.model_applies:
            self.declined = "its first steps lie outside the model's normal profile"

    def _after(self, verdict: StepVerdict, model_judges: bool = False) -> FMEvent:
        """Open, extend, diagnose and close events from a step's verdict (``model_judges``: the model's profile
        judged this step, so an event opened here is diagnosed on its detector's window)."""
        opened = closed = None
        diag = None
        ev = self.open_event
        if verdict.alarm:
            self._healthy_run = 0
            if ev is None:
                onset = verdict.onset_estimate if verdict.onset_estimate is not None else verdict.step
                ev = AlarmEvent(
                    event_id=len(self.events) + 1,
                    opened_step=verdict.step,
                    onset_step=min(onset, verdict.step),
                    last_alarm_step=verdict.step,
                    invariant=verdict.invariant,
                    evidence=verdict.evidence,
                    peak_score=verdict.score,
                )
                self.open_event, self._since_open, opened = ev, 0, ev
                self._held_breaks = set(SUSTAINED_BREAKS)
                # where the model judges, its diagnoser reads its own detector's window (what it was fitted on)
                self._window_source = "model" if model_judges else "selfref"
                if len(self.events) < self.max_events:
                    self.events.append(ev)
                if self.first_alarm_step is None:
                    self.first_alarm_step, self.onset_estimate = ev.opened_step, ev.onset_step
            else:
                self._since_open += 1
                ev.last_alarm_step = verdict.step
                ev.peak_score = max(ev.peak_score, verdict.score)
            for e in verdict.evidence:
                if e.signal not in ev.signals:
                    ev.signals.append(e.signal)
            if verdict.rule:
                for r in verdict.rule.split(";"):
                    if r not in ev.rules:
                        ev.rules.append(r)
        elif ev is not None:
            self._since_open += 1
            self._healthy_run += 1
        if ev is not None and ev.diagnosis is None:
            # an invariant break is diagnosed at once; where the model's diagnoser decides, it first reads the
            # confirmation steps (as it was fitted), unless a hard rule broke (a value not finite, a vanished or
            # exploding update: the cause is certain and a supervisor must act on it now); a break whose
            # persistence names its cause (SUSTAINED_BREAKS) waits the confirmation steps too
            kinds = {r.split(":")[0] for r in (verdict.rule or "").split(";") if r}
            self._held_breaks &= kinds
            at_once = bool(kinds - set(SUSTAINED_BREAKS)) and (
                not self._classifier_decides(ev) or bool(kinds & HARD_RULES)
            )
            if self._since_open >= self.confirm_steps or at_once:
                diag = self._diagnose(ev)
                ev.diagnosis, ev.diagnosed_step = diag, verdict.step
                if self.diagnosis is None:
                    self.diagnosis, self.diagnosed_at = diag, verdict.step
        found = self._excursions(ev, verdict.step) if ev is not None and opened is None else []
        if ev is not None and self._healthy_run >= self.close_after_steps:
            ev.closed_step = verdict.step
            closed, self.open_event, self._healthy_run = ev, None, 0
        return FMEvent(verdict=verdict, diagnosis=diag, opened=opened, closed=closed, excursions=found)

    def _excursions(self, ev: AlarmEvent, step: int) -> list[Excursion]:
        """This step's changes of at least :data:`EXCURSION_Z` that the self-referenced detector judged
        material (as it judges an alarm's) in signals the open event does not name (read from its window,
        which this step's update has just filled; an invariant break's marker carries no judgement); the event
        keeps its largest ones. Losses are left out: centred on zero and logged near their print resolution,
        one step's move of theirs is a z in the thousands that says little by itself. Beside them, the
        objective at a new low of the run (the event keeps the latest, its lowest point)."""
        found = []
        lows: list[Excursion] = []
        for name, comp in self.selfref.window[-1][1].items():
            if name in ev.signals or "value" not in comp:
                continue
            z = comp.get("diff", 0.0)
            change = bool(comp.get("material")) and name not in CENTRED and abs(z) >= EXCURSION_Z
            low = name in OBJECTIVE_SIGNALS and bool(comp.get("run_low"))
            if not (change or low):  # the usual case, every step of a long event: build nothing
                continue
            x = Excursion(step=step, signal=name, z=z, value=comp["value"], expected=comp["expected"])
            if change:
                found.append(x)
            if low:
                ev.run_low = x.model_copy(update={"kind": "run_low", "previous_low": comp["previous_low"]})
                if not change:  # a large change is reported once, as a change
                    lows.append(ev.run_low)
        if found:
            ev.excursions = sorted([*ev.excursions, *found], key=lambda x: -abs(x.z))[:MAX_EXCURSIONS]
        return found + lows

    def _material(self, name: str, comp: Mapping[str, float]) -> bool:
        """Is the change material, relative to the run's own recent level (absolute for fractions)? Signals
        centred on zero (losses) have no level to be relative to and never are."""
        if name in CENTRED:
            return False
        bar = self.config.fraction_change if name in FRACTIONS else self.config.rel_change
        return abs(comp.get("shift", 0.0)) >= bar

    def _classifier_decides(self, ev: AlarmEvent) -> bool:
        """Does a fitted diagnoser name the event's fault? Where the model applies, its diagnoser does (it was
        fitted on such windows). Elsewhere the scale-free diagnoser does, unless an invariant broke that names
        its cause by itself (lengths at the limit, entropy at the floor, ...): an invariant that many faults
        break alike (:data:`SYMPTOM_INVARIANTS`) leaves the choice to it."""
        if self.model is None:
            return False
        if self._window_source == "model":
            return self.model.diagnoser is not None
        kinds = {r.split(":")[0] for r in ev.rules}
        return self.model.selfref_diagnoser is not None and kinds <= SYMPTOM_INVARIANTS

    def _diagnose(self, ev: AlarmEvent) -> FaultDiagnosis:
        """The event's diagnosis: a non-finite value is "unknown" with its evidence, a break that defines its
        fault (:data:`DEFINING_INVARIANTS`) names it; where the model applies,
        its diagnoser reads its own detector's window (an invariant break names the fault only when the
        diagnoser answers unknown); elsewhere an invariant break names its fault, except a symptom break with a
        material change beyond the reward side, which the model's scale-free diagnoser names (if it has one);
        without a break, that diagnoser or the window's fingerprint. A break only one family causes
        (:data:`FAMILY_BREAKS`) keeps the answer within that family, a diagnoser's or a break's (a defining break
        still names its own fault)."""
        kinds = [r.split(":")[0] for r in ev.rules]
        # a break that bounds the family speaks first where a break names the fault (a stable sort: the rest
        # keep the order they broke in), so the bound holds for the breaks' answers as for the diagnosers'
        known = sorted((k for k in kinds if k in INVARIANT_DIAGNOSIS), key=lambda k: k not in FAMILY_BREAKS)
        defining = [k for k in known if k in DEFINING_INVARIANTS]
        if "non_finite" in known or defining or (known and not self._classifier_decides(ev)):
            return self._break_diagnosis("non_finite" if "non_finite" in known else (defining or known)[0])
        within = _possible_types(kinds)
        if self._window_source == "model" and self.detector is not None and self.model is not None:
            window = [zs for s, zs in self.detector.window if s >= ev.opened_step]
            diag = diagnose(
                window or [zs for _, zs in self.detector.window], self.model.diagnoser, within=within
            )
            return self._break_diagnosis(known[0]) if diag.fault_type == "unknown" and known else diag
        window = [zs for s, zs in self.selfref.window if s >= ev.opened_step]
        scale_free = self.model.selfref_diagnoser if self.model is not None else None
        diag = diagnose(window or [zs for _, zs in self.selfref.window], scale_free, within=within)
        if known and (diag.fault_type == "unknown" or not self._beyond_symptom(window)):
            return self._break_diagnosis(known[0])
        return diag

    def _break_diagnosis(self, kind: str) -> FaultDiagnosis:
        """What an invariant break names by itself: its own fault, or, for a break held on every step of the
        event through its confirmation steps, the cause its persistence tells (:data:`SUSTAINED_BREAKS`)."""
        if kind in SUSTAINED_BREAKS and kind in self._held_breaks and self._since_open >= self.confirm_steps:
            return _invariant_diagnosis(kind, SUSTAINED_BREAKS[kind])
        return _invariant_diagnosis(kind)

    def _beyond_symptom(self, window: Sequence[dict[str, dict[str, float]]]) -> bool:
        """Did a signal outside the reward side (where every symptom invariant lies) change materially in the
        event's window, relative to the run's own recent level? Only then has a diagnoser evidence to name
        another cause than the symptom's own. Materiality is the change points' (``rel_change``, absolute
        ``fraction_change`` for fractions); signals centred on zero have no level to be relative to, and the
        move since the run's start is not evidence (healthy runs drift: KL doubles, entropy falls)."""
        for zs in window:
            for name, comp in zs.items():
                if INVARIANT_OF.get(name, "other") not in SYMPTOM_GROUPS and self._material(name, comp):
                    return True
        return False

    def finish(self) -> FaultDiagnosis | None:
        """End of the run: diagnose a pending event with what was seen."""
        ev = self.open_event
        if ev is not None and ev.diagnosis is None:
            ev.diagnosis = self._diagnose(ev)
            ev.diagnosed_step = ev.last_alarm_step
            if self.diagnosis is None:
                self.diagnosis, self.diagnosed_at = ev.diagnosis, ev.diagnosed_step
        return self.diagnosis

    def reset_run(self) -> None:
        """Start a fresh run (e.g. after a rollback) with the same model and constants."""
        self.__init__(self.model, self.config, self.close_after_steps, self.max_events, self.setup)
