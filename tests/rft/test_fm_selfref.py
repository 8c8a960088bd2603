"""The self-referenced detector and alarm events: scale-free, quiet on drifts and bursts, loud on breaks."""

import json
import math

import numpy as np
import pytest

from faultwise.cli import main
from faultwise.rft.fm.detect.selfref import SelfRefConfig, SelfReferencedDetector
from faultwise.rft.fm.monitor import EXCURSION_Z, FailureMonitor


def healthy(n: int, scale: float, seed: int = 0) -> list[dict[str, float]]:
    """A healthy-looking run: entropy falls, KL grows, reward rises, with noise; every value times ``scale``
    where the signal has units (lengths, losses), so the same run at two scales."""
    rng = np.random.default_rng(seed)
    out = []
    for t in range(n):
        out.append(
            {
                "reward_mean": 0.2 + 0.5 * (1 - math.exp(-t / 30)) + rng.normal(0, 0.03),
                "entropy": 0.6 * math.exp(-t / 80) + 0.05 + rng.normal(0, 0.01),
                "kl": 0.0005 * t + abs(rng.normal(0, 0.002)),
                "grad_norm": scale * (0.3 + abs(rng.normal(0, 0.05))),
                "response_length_mean": max(scale, 1.0) * (200 + t + rng.normal(0, 5)),  # tokens: >= 1
                "policy_loss": scale * rng.normal(0, 0.02),
            }
        )
    return out


def alarms(run: list[dict[str, float]]) -> list[int]:
    d = SelfReferencedDetector()
    return [s for s, sig in enumerate(run, 1) if d.update_signals(s, sig).alarm]


@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e3])
def test_quiet_on_slow_drifts_at_any_scale(scale):
    assert alarms(healthy(200, scale)) == []


def test_one_step_burst_is_no_alarm_but_a_sustained_change_is():
    run = healthy(120, 1.0, seed=1)
    for t in (60, 61):  # a gradient-norm burst of 30x that recovers (healthy verl runs show these)
        run[t]["grad_norm"] *= 30
    assert alarms(run) == []
    for t in range(80, 120):  # entropy collapses abruptly and stays down
        run[t]["entropy"] = 0.2 * run[t]["entropy"]
    hit = alarms(run)
    assert hit and 81 <= hit[0] <= 81 + 4


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        ({"kl": float("nan")}, "non_finite:kl"),
        ({"entropy": 0.0}, "entropy_floor:entropy"),
        ({"reward_std": 0.0, "reward_mean": 0.0}, "reward_constant:reward_std"),  # nothing rewarded
        ({"response_length_mean": 0.0}, "length_zero:response_length_mean"),
    ],
)
def test_invariant_breaks_alarm_at_once(change, rule):
    run = healthy(40, 1.0, seed=2)
    for r in run:
        r["reward_std"] = 0.3
    run[30].update(change)
    d = SelfReferencedDetector()
    verdicts = [d.update_signals(s, sig) for s, sig in enumerate(run, 1)]
    assert [v.step for v in verdicts if v.alarm] == [31] and verdicts[30].rule == rule


def test_a_solved_batch_is_no_break_but_two_in_a_row_are():
    run = healthy(40, 1.0, seed=5)
    for r in run:
        r["reward_std"] = 0.3
    run[20]["reward_std"] = 0.0  # every answer of one step right: saturation, not a fault
    assert alarms(run) == []
    run[30]["reward_std"] = run[31]["reward_std"] = 0.0
    assert alarms(run) == [32]


def test_a_batch_solved_at_the_declared_maximum_is_saturation_not_a_collapse():
    """Two steps where every sample earned the declared maximum (a converged run) give no learning signal and
    so no gradient, but nothing broke; the same constant below the maximum, the maximum while the update stays
    as large as usual (a term besides the reward drives it), or a vanished gradient while the rewards still
    spread, is a break."""
    declared = SelfRefConfig(reward_range=(0.0, 1.2))

    def rules(run):
        d = SelfReferencedDetector(declared)
        return {s: v.rule for s, sig in enumerate(run, 1) if (v := d.update_signals(s, sig)).alarm}

    run = healthy(40, 1.0, seed=5)
    for r in run:
        r["reward_std"] = 0.3
    for r in run[30:32]:
        r.update(reward_mean=1.2, reward_std=0.0, grad_norm=1e-4)
    assert rules(run) == {}
    for r in run[30:32]:
        r["grad_norm"] = 0.3  # the usual update
    assert rules(run) == {32: "reward_constant:reward_std"}
    for r in run[30:32]:
        r.update(reward_mean=0.9, grad_norm=1e-4)
    assert rules(run) == {32: "reward_constant:reward_std"}
    for r in run[30:32]:
        r.update(reward_mean=1.0, reward_std=0.3)
    assert rules(run) == {32: "grad_norm_vanished:grad_norm"}


def test_events_open_once_and_close_when_healthy_again():
    run = healthy(100, 1.0, seed=3)
    run[40]["kl"] = float("nan")
    run[70]["kl"] = float("inf")
    fm = FailureMonitor()
    evs = [fm.update_signals(s, sig) for s, sig in enumerate(run, 1)]
    assert [e.opened.opened_step for e in evs if e.opened] == [41, 71]
    assert [e.closed.closed_step for e in evs if e.closed] == [44, 74]  # 3 healthy steps close an event
    first = fm.events[0]
    assert first.diagnosis is not None and first.diagnosis.fault_type == "unknown" and first.rules
    assert fm.first_alarm_step == 41 and fm.onset_estimate == 41


def test_watch_json_prints_one_object_per_event_without_null_scores(tmp_path, capsys):
    p = tmp_path / "console.log"
    lines = []
    for s, sig in enumerate(healthy(30, 1.0, seed=4), 1):
        sig = dict(sig)
        if s >= 20:
            sig["kl"] = float("nan")
        body = " - ".join(f"{k}:{v:.4f}" for k, v in sig.items())
        lines.append(
            f"step:{s} - {body.replace('reward_mean', 'critic/score/mean').replace('entropy', 'actor/entropy')}"
        )
    p.write_text("\n".join(lines) + "\n")
    assert main(["rft", "watch", str(p), "--once", "--json"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1  # the NaN persists: one event, not one line per step
    ev = json.loads(out[0])
    assert ev["opened_step"] == 20 and ev["peak_score"] == "inf" and ev["closed_step"] is None  # still open
    assert all(e["value"] is not None for e in ev["evidence"])  # a NaN value is written "nan", not null
    assert ev["diagnosis"]["fault_type"] == "unknown" and ev["rules"] == ["non_finite:kl"]


def _pinned_run_with_reward_spike(spike_step: int | None) -> list[dict[str, float]]:
    """A healthy run whose completions are all cut at the length limit from step 20 on (one long event),
    with the reward jumping to 3x its level for one step at ``spike_step``."""
    run = healthy(80, 1.0, seed=6)
    for t, sig in enumerate(run, 1):
        sig["length_clip_ratio"] = 1.0 if t >= 20 else 0.1
        if t == spike_step:
            sig["reward_mean"] *= 3
    return run


def test_a_change_inside_an_open_event_is_kept_as_its_excursion():
    """A run pinned at its length limit stays in one event; a reward spike inside it is reported with the
    event (step, value, z), not swallowed by it, and opens no second event."""
    fm = FailureMonitor()
    evs = [fm.update_signals(s, sig) for s, sig in enumerate(_pinned_run_with_reward_spike(50), 1)]
    assert len(fm.events) == 1 and fm.events[0].opened_step == 21
    found = [(x.step, x.signal) for e in evs for x in e.excursions]
    assert found == [(50, "reward_mean")]
    (x,) = fm.events[0].excursions
    assert x.z >= 3.0 and x.value > 2 * x.expected > 0
    # without the spike nothing is reported: the event's own signal and the run's noise are not excursions
    fm = FailureMonitor()
    evs = [fm.update_signals(s, sig) for s, sig in enumerate(_pinned_run_with_reward_spike(None), 1)]
    assert len(fm.events) == 1 and fm.events[0].excursions == [] and not any(e.excursions for e in evs)


def test_an_excursion_is_a_change_the_detector_would_call_material():
    """Large robust z alone is not enough: the KL falling (the harmless way), a gradient-norm burst (judged by
    invariants only) and a reward step of a third of its level (under the material half) are not reported."""
    run = _pinned_run_with_reward_spike(None)
    run[39]["kl"] = 0.0
    run[49]["grad_norm"] *= 30
    run[59]["reward_mean"] += 0.2
    changed = {40: "kl", 50: "grad_norm", 60: "reward_mean"}
    d = SelfReferencedDetector()
    zs = {}
    for s, sig in enumerate(run, 1):
        d.update_signals(s, sig)
        zs[s] = d.window[-1][1]
    assert all(abs(zs[s][name]["diff"]) >= EXCURSION_Z for s, name in changed.items())  # each a 3+ z change
    fm = FailureMonitor()
    evs = [fm.update_signals(s, sig) for s, sig in enumerate(run, 1)]
    assert len(fm.events) == 1 and not any(e.excursions for e in evs)


def test_watch_and_report_show_excursions_live_in_the_final_json_and_on_the_page(tmp_path, capsys):
    p = tmp_path / "steps.jsonl"
    rows = _pinned_run_with_reward_spike(50)
    p.write_text("".join(json.dumps({"step": s, **sig}) + "\n" for s, sig in enumerate(rows, 1)))
    assert main(["rft", "watch", str(p), "--once"]) == 0
    out = capsys.readouterr().out
    assert "step 50: within the open event: reward_mean" in out
    assert "within it: reward_mean" in out.splitlines()[-2]  # the event's summary line
    assert main(["rft", "watch", str(p), "--once", "--json"]) == 0
    objs = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert [o["event_id"] for o in objs] == [1, 1]  # printed when diagnosed, again with what came since
    assert objs[0]["excursions"] == [] and [x["step"] for x in objs[-1]["excursions"]] == [50]
    assert main(["rft", "report", str(p), "--html", str(tmp_path / "run.html")]) == 0
    page = (tmp_path / "run.html").read_text()
    assert "Within the open event" in page and "<tr><td>50</td><td>reward_mean</td>" in page


def _pinned_run_with_new_lows() -> list[dict[str, float]]:
    """A run pinned at its length limit from step 20 whose reward wanders within 0.45-0.55, with a low of 0.42
    at step 10 (before the event), then 0.41 at step 45 and 0.40 at step 46."""
    run = _pinned_run_with_reward_spike(None)
    rng = np.random.default_rng(7)
    for sig in run:
        sig["reward_mean"] = 0.5 + float(rng.uniform(-0.05, 0.05))
    run[9]["reward_mean"], run[44]["reward_mean"], run[45]["reward_mean"] = 0.42, 0.41, 0.40
    return run


def test_the_objective_falling_below_every_earlier_value_is_reported_inside_the_event():
    """Inside a length event the reward falls by a small step to below anything the run logged (a step its own
    noise hides from the change z): reported as the run's new low with the previous one, kept as the event's
    lowest point; a new low of another signal, or one before any event, is not."""
    run = _pinned_run_with_new_lows()
    run[30]["entropy"] *= 0.5  # entropy's own new low inside the event: not the objective
    fm = FailureMonitor()
    evs = [fm.update_signals(s, sig) for s, sig in enumerate(run, 1)]
    lows = [
        (e.verdict.step, x.signal, x.previous_low) for e in evs for x in e.excursions if x.kind == "run_low"
    ]
    assert lows == [(45, "reward_mean", 0.42), (46, "reward_mean", 0.41)]
    (ev,) = fm.events
    assert ev.run_low is not None and (ev.run_low.step, ev.run_low.value) == (46, 0.40)
    assert ev.excursions == []  # none of them a change
    # the same run with the low never undercut: nothing reported
    run[44]["reward_mean"] = run[45]["reward_mean"] = 0.43
    fm = FailureMonitor()
    assert not any(
        x.kind == "run_low" for s, sig in enumerate(run, 1) for x in fm.update_signals(s, sig).excursions
    )
    assert fm.events[0].run_low is None


def test_watch_and_report_show_the_run_low(tmp_path, capsys):
    run = _pinned_run_with_new_lows()
    run[59]["reward_mean"] = -0.5  # step 60, far below: a change and the run's low, reported once (a change)
    p = tmp_path / "steps.jsonl"
    p.write_text("".join(json.dumps({"step": s, **sig}) + "\n" for s, sig in enumerate(run, 1)))
    assert main(["rft", "watch", str(p), "--once"]) == 0
    out = capsys.readouterr().out
    assert "step 45: within the open event: reward_mean 0.41, the run's lowest (previous low 0.42)" in out
    assert "step 46: within the open event: reward_mean 0.4, the run's lowest (previous low 0.41)" in out
    assert "step 60: within the open event: reward_mean -0.5 (expected" in out
    assert out.count("the run's lowest") == 3  # two live lines and the event's summary
    summary = out.splitlines()[-2]  # the event's line: the lowest point, also where it was a change
    assert "lowest point: reward_mean -0.5, the run's lowest (previous low 0.4) at step 60" in summary
    assert main(["rft", "watch", str(p), "--once", "--json"]) == 0
    objs = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert objs[0]["run_low"] is None and objs[-1]["run_low"]["step"] == 60  # printed again with the new low
    assert main(["rft", "report", str(p), "--html", str(tmp_path / "run.html")]) == 0
    page = (tmp_path / "run.html").read_text()
    assert "<tr><td>46</td><td>reward_mean</td><td>0.4</td>" in page and "run low (previous 0.41)" in page


def _kl_run(kl_from: float, kl_to: float) -> list[dict[str, float]]:
    """A healthy run whose KL steps from ``kl_from`` to ``kl_to`` at step 40 and stays there."""
    run = healthy(80, 1.0, seed=3)
    for t, sig in enumerate(run):
        sig["kl"] = (kl_from if t < 40 else kl_to) + 0.002 * (t % 3)
    return run


def test_kl_wandering_within_a_nat_is_learning_but_a_blow_up_is_not():
    """KL rising from 0.08 to 0.19 nats is what healthy runs do as they learn (the CPU bench's healthy runs
    wander to 0.1-1.8 nats); a rise to nats is a blow-up. Material only from half a nat
    (``kl_material_nats``); at the old 0.1 the learning run alarmed."""
    assert alarms(_kl_run(0.08, 0.19)) == []
    hit = alarms(_kl_run(0.08, 3.0))
    assert hit and 41 <= hit[0] <= 45

    def strict(run):
        d = SelfReferencedDetector(SelfRefConfig(kl_material_nats=0.1))
        return [s for s, sig in enumerate(run, 1) if d.update_signals(s, sig).alarm]

    assert strict(_kl_run(0.08, 0.19))


def test_a_kl_jump_is_a_break_when_it_holds_not_when_one_batch_spikes():
    """KL 30x its recent values and at least 0.1 nats, two logged steps running, breaks at once (rule
    ``kl_jump``, not the slower change point); one batch's spike that is gone the next step (a healthy bench run
    went 0.26 -> 9.9 -> 0.13 nats) is no alarm."""
    spike = healthy(60, 1.0, seed=4)
    spike[30]["kl"] = 10.0
    assert alarms(spike) == []
    held = healthy(60, 1.0, seed=4)
    for t in range(30, 60):
        held[t]["kl"] = 10.0
    d = SelfReferencedDetector()
    rules = {s: d.update_signals(s, sig).rule for s, sig in enumerate(held, 1)}
    assert rules[31] is None and rules[32] == "kl_jump:kl"


@pytest.mark.parametrize("field", ["reward_max", "traj_reward_max", "reward_mean"])
def test_one_sample_above_the_declared_reward_range_is_a_break(field):
    run = healthy(40, 1.0, seed=6)
    for r in run:
        r.update(reward_std=0.3, reward_max=1.2, traj_reward_max=1.2)  # on the bound: a perfect answer
    run[30][field] = 1.9
    declared = SelfReferencedDetector(SelfRefConfig(reward_range=(0.0, 1.2)))
    verdicts = [declared.update_signals(s, sig) for s, sig in enumerate(run, 1)]
    assert [v.step for v in verdicts if v.alarm] == [31]
    assert verdicts[30].rule == f"reward_out_of_range:{field}"
    assert alarms(run) == []  # no declared range: nothing to break


def test_bench_runs_declare_their_tasks_reward_range():
    from faultwise.rft.faultbench.config import RunConfig, declared_reward_range
    from faultwise.rft.faultbench.task import CORRECT_REWARD, FORMAT_REWARD

    assert RunConfig().reward_range == (0.0, CORRECT_REWARD + FORMAT_REWARD)
    assert declared_reward_range("a-task-nobody-declared") is None


def test_a_biased_baseline_is_a_break_an_unstable_one_is_not():
    run = healthy(40, 1.0, seed=9)
    for r in run:
        r.update(advantage_mean=-0.8, advantage_std=1.0)  # every advantage pushed one way
    fm = FailureMonitor()
    evs = [fm.update_signals(s, sig) for s, sig in enumerate(run, 1)]
    assert evs[1].verdict.rule == "advantage_biased:advantage_mean"
    assert fm.diagnosis is not None and fm.diagnosis.fault_type == "value_mismatch"
    noisy = healthy(40, 1.0, seed=9)
    for s, r in enumerate(noisy):  # heavy noise whose mean changes sign
        r.update(advantage_mean=0.8 * (-1) ** s, advantage_std=1.0)
    assert alarms(noisy) == []
    flat = healthy(40, 1.0, seed=9)
    for s, r in enumerate(flat):  # nearly every group scored alike: the std is the normaliser's epsilon
        r.update(advantage_mean=0.001, advantage_std=1.0 if s < 10 else 0.001)
    assert alarms(flat) == []
    no_spread = healthy(40, 1.0, seed=9)
    for r in no_spread:  # verl logs the mean but not the std: nothing to measure the bias against
        r.update(advantage_mean=-0.8)
    assert alarms(no_spread) == []


@pytest.mark.parametrize(
    "above,named",
    [
        ({30, 31, 32, 33, 34, 35}, "reward_hacking"),  # the grader pays above its range on every step
        ({30, 33}, "reward_spike"),  # on some steps: a grader's outliers
        ({30, 31, 33, 34}, "reward_spike"),  # not through the confirmation steps
    ],
)
def test_rewards_above_the_declared_range_on_every_step_name_a_systematic_excess(above, named):
    """A reward above the declared range names a spike when it comes and goes, reward hacking when it holds on
    every step from the event's opening through its confirmation steps."""
    run = healthy(40, 1.0, seed=6)
    for r in run:
        r.update(reward_std=0.3, reward_max=1.2)
    for t in above:
        run[t]["reward_max"] = 1.5
    fm = FailureMonitor(config=SelfRefConfig(reward_range=(0.0, 1.2)))
    for s, sig in enumerate(run):
        fm.update_signals(s, sig)
    fm.finish()
    ev = fm.events[0]
    assert ev.opened_step == 30 and ev.diagnosed_step == 30 + fm.confirm_steps
    assert ev.diagnosis.fault_type == named


@pytest.mark.parametrize("held,named", [(True, "reward_hacking"), (False, "reward_spike")])
def test_a_held_reward_break_names_hacking_also_where_the_models_diagnoser_abstains(
    make_run, normal_signal_runs, monkeypatch, held, named
):
    """Where a fitted model judges the run and its diagnoser answers unknown, the break decides, and it decides
    as without a model: a reward above the declared range on every step through the confirmation is a grader
    paying systematically (hacking), on some steps a spike."""
    import faultwise.rft.fm.monitor as monitor_module
    from faultwise.rft.fm.detect.profile import fit_profile
    from faultwise.rft.fm.diagnose.classifier import DiagnoserModel, FaultDiagnosis
    from faultwise.rft.fm.model import FMModel
    from faultwise.rft.signals import extract_signals

    abstains = DiagnoserModel(
        classes=["reward_spike"], features=[], mean=[], scale=[], coef=[[]], intercept=[0.0],
        max_distance=0.0, centroids=[[]], span=[],
    )  # fmt: skip
    unknown = FaultDiagnosis(fault_type="unknown", family="unknown", confidence=0.0, source="unknown")
    monkeypatch.setattr(monitor_module, "diagnose", lambda window, model=None, within=None: unknown)
    model = FMModel(profile=fit_profile(normal_signal_runs(12)), diagnoser=abstains)
    fm = FailureMonitor(model, SelfRefConfig(reward_range=(0.0, 1.2)))
    for rec in make_run(12345):
        sig = extract_signals(rec)
        above = rec.step >= 15 if held else rec.step in (15, 18)
        sig["reward_max"] = 1.5 if above else 1.0
        fm.update_signals(rec.step, sig)
    fm.finish()
    assert fm.model_applies is True  # the model's window and diagnoser had the first word
    ev = fm.events[0]
    assert ev.opened_step == 15 and ev.rules[0].startswith("reward_out_of_range")
    assert ev.diagnosis.fault_type == named


@pytest.mark.parametrize("family_breaks", [True, False])
def test_a_reward_beyond_its_declared_range_keeps_the_diagnosis_in_the_reward_family(
    make_run, normal_signal_runs, monkeypatch, flat_diagnoser, family_breaks
):
    """Rewards above the task's declared range can only come from the grader: where the model's diagnoser
    decides, it names the most probable reward fault, even when it would rank a fault of another family first
    (without the family bound, it names that one)."""
    import faultwise.rft.fm.monitor as monitor_module
    from faultwise.rft.fm.detect.profile import fit_profile
    from faultwise.rft.fm.model import FMModel
    from faultwise.rft.signals import extract_signals

    if not family_breaks:
        monkeypatch.setattr(monitor_module, "FAMILY_BREAKS", {})
    prefers = flat_diagnoser({"entropy_collapse": 2.0, "reward_spike": 1.0, "reward_hacking": 0.0})
    model = FMModel(profile=fit_profile(normal_signal_runs(12)), diagnoser=prefers)
    fm = FailureMonitor(model, SelfRefConfig(reward_range=(0.0, 1.2)))
    for rec in make_run(12345):
        sig = extract_signals(rec)
        sig["reward_max"] = 1.5 if rec.step >= 15 else 1.0
        fm.update_signals(rec.step, sig)
    fm.finish()
    assert fm.model_applies is True
    ev = fm.events[0]
    assert ev.opened_step == 15 and ev.rules[0].startswith("reward_out_of_range")
    assert (ev.diagnosis.fault_type, ev.diagnosis.source) == (
        ("reward_spike" if family_breaks else "entropy_collapse"),
        "classifier",
    )


def test_where_the_diagnoser_abstains_the_family_bound_holds_for_the_breaks_answer(
    make_run, normal_signal_runs, monkeypatch, flat_diagnoser
):
    """An event opened by another break (entropy at its floor) that then sees a reward beyond the declared range:
    where the model's diagnoser abstains and a break names the fault, the break that bounds the family speaks
    first, so the answer is a reward fault, not that of the break that happened to come first."""
    import faultwise.rft.fm.monitor as monitor_module
    from faultwise.rft.fm.detect.profile import fit_profile
    from faultwise.rft.fm.diagnose.classifier import FaultDiagnosis
    from faultwise.rft.fm.model import FMModel
    from faultwise.rft.signals import extract_signals

    unknown = FaultDiagnosis(fault_type="unknown", family="unknown", confidence=0.0, source="unknown")
    monkeypatch.setattr(monitor_module, "diagnose", lambda window, model=None, within=None: unknown)
    some = flat_diagnoser({"entropy_collapse": 0.0, "reward_spike": 0.0})
    model = FMModel(profile=fit_profile(normal_signal_runs(12)), diagnoser=some)
    fm = FailureMonitor(model, SelfRefConfig(reward_range=(0.0, 1.2)))
    for rec in make_run(12345):
        sig = extract_signals(rec)
        sig["reward_max"] = 1.5 if rec.step == 16 else 1.0
        if rec.step >= 15:
            sig["entropy"] = 0.0
        fm.update_signals(rec.step, sig)
    fm.finish()
    assert fm.model_applies is True
    ev = fm.events[0]
    kinds = [r.split(":")[0] for r in ev.rules]
    assert ev.opened_step == 15 and kinds[:2] == ["entropy_floor", "reward_out_of_range"]
    assert (ev.diagnosis.fault_type, ev.diagnosis.source) == ("reward_spike", "invariant:reward_out_of_range")


@pytest.mark.parametrize("biased,named", [(True, "value_mismatch"), (False, "advantage_instability")])
def test_a_biased_baseline_names_value_mismatch_over_the_models_diagnoser(
    make_run, normal_signal_runs, monkeypatch, biased, named
):
    """Group-centred advantages whose mean is pushed one way define a value mismatch: the break names it even
    where the model's diagnoser would name another fault; on another break the diagnoser still decides."""
    import faultwise.rft.fm.monitor as monitor_module
    from faultwise.rft.fm.detect.profile import fit_profile
    from faultwise.rft.fm.diagnose.classifier import DiagnoserModel, FaultDiagnosis
    from faultwise.rft.fm.model import FMModel
    from faultwise.rft.signals import extract_signals

    some = DiagnoserModel(
        classes=["advantage_instability"], features=[], mean=[], scale=[], coef=[[]], intercept=[0.0],
        max_distance=0.0, centroids=[[]], span=[],
    )  # fmt: skip
    answer = FaultDiagnosis(
        fault_type="advantage_instability", family="CA", confidence=0.9, source="classifier"
    )
    monkeypatch.setattr(monitor_module, "diagnose", lambda window, model=None, within=None: answer)
    model = FMModel(profile=fit_profile(normal_signal_runs(12)), diagnoser=some)
    fm = FailureMonitor(model, SelfRefConfig(reward_range=(0.0, 1.2)))
    for rec in make_run(12345):
        sig = extract_signals(rec)
        sig["reward_max"] = 1.0
        if rec.step >= 15:
            if biased:
                sig.update(advantage_mean=-0.8, advantage_std=1.0)  # every advantage pushed one way
            else:
                sig["reward_max"] = 1.5  # another break: the diagnoser's to name
        fm.update_signals(rec.step, sig)
    fm.finish()
    assert fm.model_applies is True
    ev = fm.events[0]
    assert ev.opened_step >= 15
    assert ("advantage_biased" in ev.rules[0]) is biased
    assert ev.diagnosis.fault_type == named
