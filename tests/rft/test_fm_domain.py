"""A fitted model judges only runs whose declared setup lies within the setups it was fitted on; elsewhere the
run is judged as without a model, and a scale-free diagnoser names what the run's own history shows."""

import json
import re
from types import SimpleNamespace

import pytest

from faultwise.rft.faultbench.load import load_bench
from faultwise.rft.fm.callback import FMCallback, trainer_setup
from faultwise.rft.fm.domain import fit_domain
from faultwise.rft.fm.evaluation import fit_model, run_monitor
from faultwise.rft.fm.monitor import FailureMonitor

OUTSIDE = {"learning_rate": 1.0, "hidden_size": 4096.0}


@pytest.fixture(scope="module")
def bench(write_bench, tmp_path_factory):
    return load_bench(write_bench(tmp_path_factory.mktemp("bench") / "fit", 0, per_type=2))


@pytest.fixture(scope="module")
def model(bench):
    return fit_model(bench.runs)


def events(model, steps, setup=None):
    fm = FailureMonitor(model, setup=setup)
    for s in steps:
        fm.update(s)
    fm.finish()
    return fm


def test_the_domain_is_the_hull_of_the_fitted_setups_and_judges_only_declared_settings():
    dom = fit_domain(
        [{"learning_rate": 3e-4, "beta": 0.02}, {"learning_rate": 8e-4, "beta": 0.08, "other": 5}]
    )
    assert dom.ranges == {"learning_rate": (3e-4, 8e-4), "beta": (0.02, 0.08)}
    assert dom.outside({"learning_rate": 5e-4, "beta": 0.08}) == []
    assert dom.outside({"temperature": 9.0}) == []  # not recorded: not judged
    why = dom.outside({"learning_rate": 1e-3, "beta": 0.05})
    assert len(why) == 1 and why[0].startswith("learning_rate 0.001 outside the fitted 0.0003..0.0008")


def test_fit_records_the_bench_setups(model, bench):
    assert model.domain is not None
    lo, hi = model.domain.ranges["learning_rate"]
    assert lo <= 5e-4 <= hi  # the bench's runs declare the default learning rate
    assert model.domain.ranges["hidden_size"] == (64.0, 64.0)


def test_outside_its_setups_the_model_changes_no_detection(make_run, model):
    """A fault active from step 0 is caught at once by the fitted profile; declared outside the fitted
    setups, the same run is detected exactly as without a model, and the monitor says why."""
    run = make_run(9300, "entropy_collapse", "easy", onset=0)
    inside = events(model, run)
    assert inside.model_applies is True and inside.events[0].opened_step == 0
    outside = events(model, run, OUTSIDE)
    alone = events(None, run)
    assert outside.model_applies is False
    assert "learning_rate 1 outside the fitted" in outside.declined
    assert "hidden_size 4096 outside the fitted" in outside.declined
    assert [(e.opened_step, e.signals) for e in outside.events] == [
        (e.opened_step, e.signals) for e in alone.events
    ]
    assert not outside.events  # a fault from the first step is invisible to the run's own history


def test_the_evaluation_declares_each_bench_run_setup(bench, model):
    run = next(r for r in bench.runs if r.info.fault_type == "entropy_collapse" and r.onset == 0)
    assert run_monitor(model, run).declined is None
    narrow = model.model_copy(
        update={"domain": model.domain.model_copy(update={"ranges": {"learning_rate": (1.0, 2.0)}})}
    )
    assert run_monitor(narrow, run).declined.startswith("learning_rate 0.0005 outside")


def test_the_callback_declares_the_trainer_setup_when_training_begins(model):
    args = SimpleNamespace(learning_rate=0.5, beta=0.04, num_generations=8, logging_dir="x")
    net = SimpleNamespace(config=SimpleNamespace(hidden_size=64, num_hidden_layers=2))
    assert trainer_setup(args, net) == {
        "learning_rate": 0.5,
        "beta": 0.04,
        "num_generations": 8.0,
        "hidden_size": 64.0,
        "num_hidden_layers": 2.0,
    }
    cb = FMCallback(model, on_event=None)
    cb.on_train_begin(args, SimpleNamespace(global_step=0), None, model=net)
    assert cb.monitor.model_applies is False and cb.monitor.declined.startswith("learning_rate 0.5")
    given = FMCallback(model, on_event=None, setup={"learning_rate": 5e-4})  # the supervisor's own setup
    given.on_train_begin(args, SimpleNamespace(global_step=0), None, model=net)
    assert given.monitor.declined is None


def test_a_symptom_invariant_leaves_the_fault_to_the_scale_free_diagnoser(make_run, model):
    """Every completion scored alike (reward spread 0) follows many faults: outside the model's setups its
    scale-free diagnoser names the fault the run's own history shows; without that diagnoser the invariant
    names a reward collapse. An invariant that names its cause (a KL jump) keeps its diagnosis."""
    run = make_run(9300, "entropy_collapse", "easy", onset=10)
    flat = [s.model_copy(update={"reward_std": 0.0}) if s.step in (11, 12, 13) else s for s in run]
    d = events(model, flat, OUTSIDE).events[0].diagnosis
    assert d.fault_type == "entropy_collapse" and not d.source.startswith("invariant")
    plain = model.model_copy(update={"selfref_diagnoser": None})
    d = events(plain, flat, OUTSIDE).events[0].diagnosis
    assert (d.fault_type, d.source) == ("reward_collapse", "invariant:reward_constant")
    kl = events(model, make_run(9300, "kl_explosion", "easy", onset=10), OUTSIDE).events[0].diagnosis
    assert (kl.fault_type, kl.source) == ("kl_explosion", "invariant:kl_jump")


def test_a_symptom_with_nothing_else_moving_keeps_the_symptom_diagnosis(make_run, model):
    """All-equal rewards and nothing outside the reward side moved (an all-zero reward on a healthy run, as in
    a real issue paste): the diagnoser has no evidence for another cause, so the symptom names the fault."""
    run = make_run(9311)
    flat = [s.model_copy(update={"reward_std": 0.0}) if s.step in (11, 12, 13) else s for s in run]
    fm = events(model, flat, OUTSIDE)
    assert fm.model_applies is False
    d = fm.events[0].diagnosis
    assert (d.fault_type, d.source) == ("reward_collapse", "invariant:reward_constant")


def test_the_scale_free_diagnoser_reads_relative_moves_of_the_run(make_run, model):
    """Its windows carry, per signal, the change relative to the run's own level and the move since the
    run's first step (no units of any run)."""
    assert model.selfref_diagnoser is not None
    fm = events(model, make_run(9300, "length_too_long", "easy", onset=10), OUTSIDE)
    last = fm.selfref.window[-1][1]["response_length_mean"]
    assert last["cusum"] == pytest.approx(1.0, abs=0.25)  # lengths doubled since the start
    assert abs(last["shift"]) < 0.2  # and hold at the new level


@pytest.mark.parametrize("hidden", [64, 96])
def test_watching_a_bench_run_folder_declares_its_setup(make_run, model, tmp_path, hidden):
    """A FaultBench run folder's ``run.json`` holds its config: ``watch`` and ``report`` declare that setup, so
    a model fitted on another policy size stays out of the run (its alarms are those of no model)."""
    from faultwise.rft.faultbench.config import RunConfig, run_dir_setup
    from faultwise.rft.fm.report import report_for_path
    from faultwise.rft.fm.watcher import watch

    cfg = RunConfig(run_id="r", policy={} if hidden == 64 else {"hidden_size": hidden})
    run_dir = tmp_path / "r"
    run_dir.mkdir()
    (run_dir / "run.json").write_text(json.dumps({"run_id": "r", "config": cfg.model_dump_json()}))
    steps = make_run(9300, "entropy_collapse", "easy", onset=0)
    (run_dir / "steps.jsonl").write_text("".join(s.model_dump_json() + "\n" for s in steps))
    assert run_dir_setup(run_dir)["hidden_size"] == hidden
    assert run_dir_setup(tmp_path) == {}  # not a bench run: nothing declared

    def opened(m):
        return [ev.opened.opened_step for ev in watch(run_dir, m, follow=False) if ev.opened is not None]

    def first_alarm(m):  # the report's status line: "N alarm step(s), first at step K" or "no alarm"
        return re.search(r"no alarm|first at step \d+", report_for_path(run_dir, m)).group(0)

    if hidden == 64:  # the model applies and sees the fault from the first step
        assert opened(model) != opened(None)
        assert first_alarm(model) != first_alarm(None)
    else:
        assert opened(model) == opened(None)
        assert first_alarm(model) == first_alarm(None)


def test_beyond_the_longest_fitted_run_the_model_judges_no_step(make_run, model):
    """The profile is indexed by training progress: a step later than any fitted run's last step (a run an
    action lengthened, say) is judged as without a model; a profile with no recorded horizon judges it."""
    run = make_run(9300, "entropy_collapse", "easy", onset=0)
    horizon = model.profile.horizon_step
    assert horizon == max(s.step for s in run)  # the fitted runs are as long as this one
    late = [s.model_copy(update={"step": s.step + horizon + 1}) for s in run]
    unlimited = model.model_copy(update={"profile": model.profile.model_copy(update={"horizon_step": None})})
    assert events(unlimited, late).events[0].opened_step == horizon + 1
    beyond, plain = events(model, late), events(None, late)
    assert [e.opened_step for e in beyond.events] == [e.opened_step for e in plain.events]
    assert events(model, run).events[0].opened_step == 0  # within the horizon it still judges
