"""A model re-baselined on healthy runs of another setup: its profile is theirs, its diagnosers are kept.

The "other setup" here is a policy whose healthy runs answer at twice the length with 40 % less entropy (a
larger model, other sampling): the fitted profile calls such runs anomalous, so the model stays out of them,
and a fault present from their first step is then invisible to the run's own history.
"""

import json

import pytest

from faultwise.cli import main
from faultwise.errors import InputError
from faultwise.rft.faultbench.load import load_bench
from faultwise.rft.fm.evaluation import fit_model, rebaseline_model
from faultwise.rft.fm.monitor import FailureMonitor, logged_signals

OTHER_SETUP = {"learning_rate": 2e-3, "hidden_size": 256.0}


def other_setup(run):
    """The same run as a larger policy would log it."""
    return [
        s.model_copy(update={"response_length_mean": 2 * s.response_length_mean, "entropy": 0.6 * s.entropy})
        for s in run
    ]


@pytest.fixture(scope="module")
def model(write_bench, tmp_path_factory):
    return fit_model(load_bench(write_bench(tmp_path_factory.mktemp("bench") / "fit", 0, per_type=2)).runs)


@pytest.fixture(scope="module")
def baseline(make_run):
    """Healthy runs of the other setup, as signals per step."""
    return [[(s.step, logged_signals(s)) for s in other_setup(make_run(7000 + i))] for i in range(16)]


@pytest.fixture(scope="module")
def rebased(model, baseline):
    return rebaseline_model(model, baseline, [OTHER_SETUP] * len(baseline), baseline="their-runs")


def events(model, steps, setup):
    fm = FailureMonitor(model, setup=setup)
    for s in steps:
        fm.update(s)
    fm.finish()
    return fm


def test_the_profile_is_refitted_and_the_diagnosers_kept(model, rebased, baseline):
    assert rebased.profile.n_normal_runs == len(baseline) != model.profile.n_normal_runs
    assert rebased.profile.target_false_alarm_rate == model.profile.target_false_alarm_rate
    assert rebased.diagnoser == model.diagnoser and rebased.selfref_diagnoser == model.selfref_diagnoser
    assert rebased.domain.ranges == {"learning_rate": (2e-3, 2e-3), "hidden_size": (256.0, 256.0)}
    assert rebased.baseline == "their-runs" and rebased.fitted_on == model.fitted_on
    assert model.baseline == ""  # the original is untouched


def test_a_fault_from_the_first_step_shows_once_the_profile_is_the_setups_own(model, rebased, make_run):
    run = other_setup(make_run(9300, "entropy_collapse", "easy", onset=0))
    before = events(model, run, OTHER_SETUP)
    assert before.model_applies is False and not before.events  # out of its setups: nothing to compare with
    after = events(rebased, run, OTHER_SETUP)
    assert after.model_applies is True
    first = after.events[0]
    assert first.opened_step == 0 and first.diagnosis.fault_type == "entropy_collapse"


def test_healthy_runs_of_the_setup_stay_quiet_with_its_own_profile(model, rebased, make_run):
    """The original profile, made to judge the other setup, alarms on its healthy runs; their own does not."""
    runs = [other_setup(make_run(8000 + i)) for i in range(8)]
    forced = model.model_copy(update={"domain": None})
    assert sum(bool(events(forced, r, OTHER_SETUP).events) for r in runs) >= 6
    assert sum(bool(events(rebased, r, OTHER_SETUP).events) for r in runs) <= 1


def test_the_rebaselined_model_stays_out_of_the_setups_it_no_longer_describes(rebased, make_run):
    fm = events(rebased, make_run(9300, "entropy_collapse", "easy", onset=0), {"learning_rate": 5e-4})
    assert fm.model_applies is False and fm.declined.startswith("learning_rate 0.0005 outside")


def test_fewer_than_two_healthy_runs_is_an_error(model, baseline):
    with pytest.raises(InputError, match="needs at least 2 healthy runs, found 1"):
        rebaseline_model(model, baseline[:1], baseline="x")


def test_cli_rebaseline_on_a_bench_and_on_logs(write_bench, model, make_run, tmp_path, capsys):
    """Bench directories give their normal runs with their declared setups; a log is one healthy run and
    declares none (the new model then judges runs by their first steps' signals)."""
    from faultwise.rft.fm.model import save_model

    mp = tmp_path / "model.json"
    save_model(model, mp)
    bench = write_bench(tmp_path / "theirs", 500, per_type=1, normals=6, steps=20)
    out = tmp_path / "rebased.json"
    assert main(["rft", "rebaseline", str(mp), str(bench), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "profile refitted on 6 healthy runs (120 steps)" in text and "diagnosers kept" in text
    assert "judges runs within the baseline's setups: learning_rate 0.0005" in text
    doc = json.loads(out.read_text())
    assert doc["baseline"] == str(bench) and doc["profile"]["n_normal_runs"] == 6

    logs = []
    for i in range(2):
        logs.append(tmp_path / f"run{i}.jsonl")
        logs[-1].write_text("".join(s.model_dump_json() + "\n" for s in other_setup(make_run(7100 + i))))
    from_logs = tmp_path / "from_logs.json"
    assert main(["rft", "rebaseline", str(mp), *map(str, logs), "--out", str(from_logs)]) == 0
    assert "profile refitted on 2 healthy runs (60 steps)" in capsys.readouterr().out
    assert json.loads(from_logs.read_text())["domain"] is None


def test_cli_rebaseline_without_two_healthy_runs_is_one_line_and_writes_nothing(
    write_bench, model, make_run, tmp_path, capsys
):
    from faultwise.rft.fm.model import save_model

    mp = tmp_path / "model.json"
    save_model(model, mp)
    faulty_only = write_bench(tmp_path / "faulty", 600, per_type=1, normals=0, steps=12)
    out = tmp_path / "rebased.json"
    assert main(["rft", "rebaseline", str(mp), str(faulty_only), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "needs at least 2 healthy runs, found 0" in err[0], err
    assert not out.exists()


def test_true_accuracy_enters_the_new_profile_only_if_the_model_was_fitted_with_it(
    write_bench, model, tmp_path, capsys
):
    from faultwise.rft.fm.model import save_model

    bench = write_bench(tmp_path / "theirs", 700, per_type=0, normals=4, steps=12)
    with_acc = fit_model(load_bench(bench).runs, use_accuracy=True)
    for name, fitted in (("plain", model), ("acc", with_acc)):
        save_model(fitted, tmp_path / f"{name}.json")
        out = tmp_path / f"{name}-rebased.json"
        assert main(["rft", "rebaseline", str(tmp_path / f"{name}.json"), str(bench), "--out", str(out)]) == 0
        signals = json.loads(out.read_text())["profile"]["signals"]
        assert ("task_accuracy" in signals) is (name == "acc"), name
    capsys.readouterr()
