"""Every public config of rft is a checked model: unknown fields, out-of-range values and inconsistent
combinations are refused where they are made, not deep inside a run."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from faultwise.cli import main
from faultwise.rft.faultbench import SCALES, PolicyConfig, RunConfig, SamplingParams, Scale, run_configs
from faultwise.rft.fm import FMModel
from faultwise.rft.fm.diagnose.rules import FINGERPRINTS
from faultwise.rft.records import FAULT_TYPES


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"fault_type": "reward_spike"}, "needs strength easy or hard"),
        ({"strength": "easy"}, "without a fault"),
        ({"fault_type": "reward_spikes", "strength": "easy"}, "unknown fault_type 'reward_spikes'"),
        ({"policy": {"hiden_size": 32}}, "hiden_size"),
        ({"policy": {"hidden_size": 0}}, "greater than 0"),
        ({"group_size": 1}, "greater than 1"),
        ({"reward_guard": 0.0}, "greater than 0"),
        ({"learning_rate": 1e-3, "lr": 1e-3}, "Extra inputs"),
    ],
)
def test_run_config_refuses_bad_settings(fields, problem):
    with pytest.raises(ValidationError, match=problem):
        RunConfig(**fields)


def test_run_config_accepts_every_fault_at_both_strengths_and_the_normal_run():
    assert RunConfig().fault_type == "none"
    for ft in FAULT_TYPES:
        for strength in ("easy", "hard"):
            assert RunConfig(fault_type=ft, strength=strength, onset_step=3).run_info().family != "none"
    # every planned run of every scale is a valid config (the validator does not reject the bench itself)
    assert sum(len(run_configs(name)) for name in SCALES) == 5 + 120 + 816


def test_other_configs_are_checked_models():
    with pytest.raises(ValidationError, match="Extra inputs"):
        PolicyConfig(hidden=8)
    with pytest.raises(ValidationError, match="less than or equal to 1"):
        SamplingParams(empty_fraction=1.5)
    with pytest.raises(ValidationError, match="greater than 0"):
        SamplingParams(temperature=0.0)
    with pytest.raises(ValidationError, match="greater than 1"):
        Scale(name="x", steps=4, prompts_per_step=2, group_size=1, easy_runs=1, hard_runs=1, normal_runs=2,
              mid_onset_every=0)  # fmt: skip
    with pytest.raises(ValidationError, match="Extra inputs"):
        FMModel.model_validate({"profile": {}, "confirm": 3})
    # the warm-start cache key is the config's JSON: it must not move when the config class changes form
    assert PolicyConfig().key() == "7d3a69631cb295f7"


def test_every_fault_type_has_an_interpretable_fingerprint():
    assert set(FINGERPRINTS) == set(FAULT_TYPES)


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["rft", "fit", "B", "--out", "m.json", "--split", "held"], "--split"),
        (["rft", "fit", "B", "--out", "m.json", "--false-alarm-rate", "1.5"], "--false-alarm-rate"),
        (["rft", "bench", "generate", "B", "--scale", "huge"], "--scale"),
        (["rft", "bench", "generate", "B", "--workers", "0"], "--workers"),
        (["rft", "bench", "remediate", "B", "--limit", "0"], "--limit"),
        (["rft", "watch", "x.log", "--poll-s", "0"], "--poll-s"),
    ],
)
def test_cli_bad_values_are_one_line_naming_the_flag(argv, flag, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"faultwise: error: {flag}:"), err
    assert not (tmp_path / "B").exists() and not (tmp_path / "m.json").exists()


def test_fit_defaults_to_the_false_alarm_budget():
    """The CLI states its default literally (it loads the detector lazily); it must be the profile's budget."""
    import inspect

    from faultwise.rft import cli
    from faultwise.rft.fm.detect.profile import FALSE_ALARM_BUDGET, fit_profile

    assert inspect.signature(cli.fit).parameters["false_alarm_rate"].default == FALSE_ALARM_BUDGET
    assert inspect.signature(fit_profile).parameters["target_false_alarm_rate"].default == FALSE_ALARM_BUDGET
