"""The normal profile judges a run's level against healthy runs of its own sampling temperature."""

import json

import numpy as np
import pytest

from faultwise.rft.fm.detect.detector import Detector
from faultwise.rft.fm.detect.profile import RUNS_PER_SETTING, adjusted_settings, fit_profile
from faultwise.rft.fm.model import FMModel, load_model
from faultwise.rft.fm.monitor import FailureMonitor

TEMPERATURES = (0.8, 0.95, 1.2)


def _sampled_run(seed: int, temperature: float, flaky: float = 0.0, steps: int = 32):
    """A healthy-looking run whose tool-error rate rises with the sampling temperature and spreads more where
    it is higher (a tiny policy's malformed calls); ``flaky`` adds a tool server's failures on top."""
    rng = np.random.default_rng(seed)
    level = 0.02 + 0.25 * (temperature - 0.8)  # 0.02 at 0.8, 0.12 at 1.2
    noise = 0.01 + 0.05 * (temperature - 0.8)
    return [
        (
            t,
            {
                "reward_mean": 0.6 + 0.05 * rng.normal(),
                "tool_errors_per_traj": level + flaky + noise * rng.normal(),
            },
        )
        for t in range(steps)
    ]


def _setup(i: int) -> dict[str, float]:
    return {"temperature": TEMPERATURES[i % 3], "learning_rate": 1e-4 * (1 + i % 2)}


@pytest.fixture(scope="module")
def healthy():
    runs = [_sampled_run(i, TEMPERATURES[i % 3]) for i in range(36)]
    return runs, [_setup(i) for i in range(36)]


@pytest.fixture(scope="module")
def adjusted(healthy):
    runs, setups = healthy
    return fit_profile(runs, setups=setups)


def _first_alarm(profile, run, setup=None):
    det = Detector(profile, setup=setup)
    return next((v for t, sig in run if (v := det.update_signals(t, sig)).alarm), None)


def test_the_level_is_adjusted_for_the_sampling_temperature_only(adjusted):
    """The learning rate varies too, but it is a pace, not a level: only the temperature is adjusted for."""
    assert list(adjusted.setting_centers) == ["temperature"]
    assert adjusted.setting_centers["temperature"] == pytest.approx(np.mean(TEMPERATURES))
    st = adjusted.stats["tool_errors_per_traj"]["level"]
    assert all(s["temperature"] == pytest.approx(0.25, abs=0.05) for s in st.slopes)  # the runs' own slope
    off = adjusted.setting_offsets({"temperature": 0.8, "learning_rate": 3e-4})
    assert set(off) == {"temperature"}
    assert st.median(2, off) == pytest.approx(0.02, abs=0.01)
    assert st.spread(2, off) < st.spread(2, adjusted.setting_offsets({"temperature": 1.2}))


def test_a_flaky_tool_at_a_cool_temperature_alarms_where_healthy_runs_of_every_temperature_hide_it(healthy):
    """A tool failing on top of a cool run's few malformed calls lands where a hot healthy run sits: judged
    against healthy runs of every temperature it passes, judged against those of its own it alarms, on the
    tool errors, with the cool runs' level as what was expected."""
    runs, setups = healthy
    plain, adjusted = fit_profile(runs), fit_profile(runs, setups=setups)
    cool = {"temperature": 0.8}
    flaky = _sampled_run(900, 0.8, flaky=0.06)
    assert _first_alarm(plain, flaky, cool) is None
    v = _first_alarm(adjusted, flaky, cool)
    assert v is not None and v.evidence[0].signal == "tool_errors_per_traj"
    assert v.evidence[0].expected == pytest.approx(0.02, abs=0.01)
    # healthy held-out runs of every temperature stay quiet, the hot ones included
    alarms = sum(
        _first_alarm(adjusted, _sampled_run(1000 + i, t), {"temperature": t}) is not None
        for i, t in enumerate(TEMPERATURES * 10)
    )
    assert alarms <= 2


def test_the_monitor_gives_its_detector_the_declared_setup(adjusted):
    """``FailureMonitor(setup=...)`` and a later ``declare_setup`` reach the profile detector's z-scores."""
    run = _sampled_run(901, 0.8, flaky=0.06)
    direct = Detector(adjusted, setup={"temperature": 0.8})
    direct.update_signals(*run[0])
    want = direct.window[-1][1]["tool_errors_per_traj"]["level"]

    fm = FailureMonitor(FMModel(profile=adjusted), setup={"temperature": 0.8})
    fm.update_signals(*run[0])
    assert fm.detector.window[-1][1]["tool_errors_per_traj"]["level"] == pytest.approx(want)

    late = FailureMonitor(FMModel(profile=adjusted))
    late.declare_setup({"temperature": 0.8})
    late.update_signals(*run[0])
    assert late.detector.window[-1][1]["tool_errors_per_traj"]["level"] == pytest.approx(want)

    undeclared = FailureMonitor(FMModel(profile=adjusted))  # judged at the fitted mean temperature
    undeclared.update_signals(*run[0])
    assert undeclared.detector.window[-1][1]["tool_errors_per_traj"]["level"] < want


def test_which_settings_are_adjusted_for():
    """Only a level setting that every run declares and that varies, with enough runs per setting."""
    enough = RUNS_PER_SETTING
    assert adjusted_settings([{"temperature": TEMPERATURES[i % 3]} for i in range(enough)]) != {}
    assert adjusted_settings([{"temperature": TEMPERATURES[i % 3]} for i in range(enough - 1)]) == {}
    assert adjusted_settings([{"temperature": 1.0} for _ in range(enough)]) == {}  # does not vary
    missing = [{"temperature": TEMPERATURES[i % 3]} for i in range(enough)] + [{"learning_rate": 1e-4}]
    assert adjusted_settings(missing) == {}  # one run does not declare it
    assert adjusted_settings([{"learning_rate": 1e-4 * (1 + i % 3)} for i in range(enough)]) == {}
    with pytest.raises(ValueError, match="setups for"):
        fit_profile([_sampled_run(0, 0.8)] * 3, setups=[{"temperature": 0.8}])


def test_a_model_saved_before_the_adjustment_judges_as_it_was_calibrated(adjusted, tmp_path):
    """Models written before profiles recorded setting slopes load with no adjustment, whatever the run
    declares; a model written after keeps its slopes through JSON."""
    data = FMModel(profile=adjusted).model_dump(mode="json")
    path = tmp_path / "new.json"
    path.write_text(json.dumps(data))
    assert load_model(path).profile == adjusted
    del data["profile"]["setting_centers"]
    for comps in data["profile"]["stats"].values():
        for st in comps.values():
            for key in ("slopes", "scale_slopes", "scale_floor"):
                st.pop(key, None)
    old = tmp_path / "old.json"
    old.write_text(json.dumps(data))
    prof = load_model(old).profile
    assert prof.setting_centers == {} and prof.setting_offsets({"temperature": 0.8}) == {}
    a = Detector(prof, setup={"temperature": 0.8})
    b = Detector(prof)
    run = _sampled_run(902, 0.8)
    for step, sig in run[:3]:
        assert a.update_signals(step, sig).score == b.update_signals(step, sig).score


def test_a_rebaseline_on_healthy_runs_of_several_temperatures_adjusts_for_them(healthy, adjusted):
    """``rft rebaseline`` with the runs' declared setups fits the adjusted profile; with none (training logs)
    it cannot, and fits the plain one."""
    from faultwise.rft.fm.evaluation import rebaseline_model

    runs, setups = healthy
    base = FMModel(profile=fit_profile(runs[:12]))
    assert base.profile.setting_centers == {}
    new = rebaseline_model(base, runs, setups)
    assert new.profile.setting_centers == adjusted.setting_centers
    assert rebaseline_model(base, runs, None).profile.setting_centers == {}


def test_the_setup_a_bench_run_declares_carries_no_label():
    """The declared setup now moves the profile's z-scores, so it must be the operator's settings only: runs
    whose configs differ only in the injected fault (type, strength, onset) declare the same setup."""
    from faultwise.rft.faultbench.config import FAULT_FIELDS, RunConfig, trainer_setup_of

    base = RunConfig(temperature=0.8)
    faulty = base.model_copy(update={"fault_type": "tool_call_error", "strength": "hard", "onset_step": 12})
    setup = trainer_setup_of(base.model_dump_json())
    assert setup["temperature"] == 0.8
    assert trainer_setup_of(faulty.model_dump_json()) == setup
    assert not set(setup) & FAULT_FIELDS
