import json
import os

import pytest

from faultwise.cli import main
from faultwise.rft.faultbench.load import load_bench, split_runs
from faultwise.rft.fm.detect.selfref import SelfRefConfig
from faultwise.rft.fm.diagnose.classifier import diagnose
from faultwise.rft.fm.evaluation import RunOutcome, detection_metrics, fit_model
from faultwise.rft.fm.model import FMModel
from faultwise.rft.fm.monitor import FailureMonitor


@pytest.fixture(scope="module")
def benches(write_bench, tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    return write_bench(root / "fit", 0, per_type=2), write_bench(root / "eval", 7000, per_type=1, normals=10)


@pytest.fixture(scope="module")
def model(benches):
    return fit_model(load_bench(benches[0]).runs)


@pytest.fixture(scope="module")
def model_acc(benches):
    """Fitted with true accuracy as a declared input (reward hacking shows only against it)."""
    return fit_model(load_bench(benches[0]).runs, use_accuracy=True)


def run_fm(model, run, use_accuracy=False):
    fm = FailureMonitor(model, SelfRefConfig(use_accuracy=use_accuracy))
    for s in run:
        ev = fm.update(s)
        if ev.diagnosis:
            return ev
    fm.finish()
    return None


@pytest.mark.parametrize(
    "fault",
    [
        "kl_explosion",
        "entropy_collapse",
        "length_too_long",
        "tool_call_error",
        "reward_hacking",
        "update_freeze",
    ],
)
def test_diagnoser_names_the_injected_type_with_deciding_signals(make_run, model, model_acc, fault):
    # reward hacking shows only against true accuracy: a declared optional input (off by default)
    acc = fault == "reward_hacking"
    ev = run_fm(model_acc if acc else model, make_run(9100, fault, "easy", onset=0), use_accuracy=acc)
    assert ev is not None and ev.verdict.step <= 4
    d = ev.diagnosis
    assert d.fault_type == fault and d.source == "classifier" and 0 < d.confidence <= 1
    assert d.deciding_signals and all(s.weight > 0 for s in d.deciding_signals)


def test_rules_alone_diagnose_a_clear_fingerprint(make_run, model):
    rules_only = model.model_copy(update={"diagnoser": None})
    ev = run_fm(rules_only, make_run(9200, "entropy_collapse", "easy", onset=5))
    assert ev.diagnosis.fault_type == "entropy_collapse" and ev.diagnosis.source == "rules"
    assert ev.diagnosis.family == "OD" and ev.diagnosis.deciding_signals[0].signal == "entropy"


def test_unknown_when_nothing_fits(model):
    # a window where only the learning rate moved, far beyond anything the diagnoser was fitted on
    window = [{"learning_rate": {"level": 400.0, "trend": 400.0, "diff": 0.0, "shift": 0.0}}] * 3
    d = diagnose(window, model.diagnoser)
    assert d.fault_type == "unknown" and d.family == "unknown"
    assert diagnose([], None).fault_type == "unknown"


def test_the_diagnosis_within_the_types_other_evidence_leaves_possible(flat_diagnoser):
    """``within`` conditions the classifier on the types other evidence allows: the most probable of them, its
    confidence renormalised over them, no alternative outside them; types the model does not know leave it to
    the fingerprints (or unknown)."""
    import math

    from faultwise.rft.records import FAULT_FAMILIES

    m = flat_diagnoser({"entropy_collapse": 2.0, "reward_spike": 1.0, "reward_hacking": 0.0})
    window = [{"entropy": {"level": 0.1, "trend": 0.1}}] * 3
    assert diagnose(window, m).fault_type == "entropy_collapse"
    d = diagnose(window, m, within=FAULT_FAMILIES["RF"])
    assert (d.fault_type, d.family, d.source) == ("reward_spike", "RF", "classifier")
    assert d.confidence == pytest.approx(math.e / (math.e + 1), abs=1e-3)
    assert set(d.alternatives) == {"reward_spike", "reward_hacking"}
    assert diagnose(window, m, within={"tool_call_error"}).fault_type == "unknown"


def test_detection_metric_definitions():
    outs = [
        RunOutcome("a", "kl_explosion", "easy", 5, 6, 6, False),
        RunOutcome("b", "kl_explosion", "easy", 5, 2, 7, True),  # alarm before onset: a false alarm too
        RunOutcome("c", "kl_explosion", "hard", 5, None, None, False),
        RunOutcome("n1", "none", "none", None, 3, None, True),
        RunOutcome("n2", "none", "none", None, None, None, False),
    ]
    m = detection_metrics(outs)
    assert m["easy"] == {"precision": 0.5, "recall": 1.0, "f1": 0.6667}
    assert m["hard"]["recall"] == 0.0 and m["false_alarm_rate"] == 0.5
    assert m["median_delay_steps"] == 1.5


def test_cli_fit_and_evaluate_json_document(benches, tmp_path, capsys):
    fit_dir, eval_dir = benches
    mp = tmp_path / "model.json"
    assert main(["rft", "fit", str(fit_dir), "--out", str(mp)]) == 0
    capsys.readouterr()
    assert main(["rft", "evaluate", str(eval_dir), "--model", str(mp), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc) == {
        "detection",
        "diagnosis",
        "scored",
        "signals",
        "runs",
        "median_onset_error_steps",
        "model_declined",
    }
    assert doc["model_declined"] == {"runs": 0, "reasons": {}}  # the eval bench's setups are the fitted ones
    assert doc["signals"] == "real-trainer signals only" and doc["runs"]["normal"] == 10
    assert set(doc["detection"]) == {"easy", "hard", "false_alarm_rate", "median_delay_steps"}
    assert set(doc["detection"]["easy"]) == {"precision", "recall", "f1"}
    assert set(doc["diagnosis"]) == {"easy", "hard", "by_family"}
    assert set(doc["diagnosis"]["hard"]) == {"macro_f1", "accuracy"}
    assert doc["detection"]["easy"]["recall"] >= 0.9 and doc["diagnosis"]["easy"]["macro_f1"] >= 0.8


def test_cli_fit_on_several_benches(benches, tmp_path, capsys):
    """Benches of other seeds add up: more healthy runs for the profile, more windows for the diagnoser; the
    same bench twice is refused (its runs would count double)."""
    fit_dir, eval_dir = benches
    mp = tmp_path / "model.json"
    assert main(["rft", "fit", str(fit_dir), str(eval_dir), "--out", str(mp)]) == 0
    n_fit, n_eval = (len(load_bench(b).runs) for b in benches)
    n_normal = sum(not r.is_faulty for b in benches for r in load_bench(b).runs)
    out = capsys.readouterr().out
    assert f"fitted on {n_normal} normal + {n_fit + n_eval - n_normal} faulty runs" in out
    assert "judges runs within the fitted setups: learning_rate 0.0005, " in out  # synthetic runs' default
    fm = json.loads(mp.read_text())
    assert fm["fitted_on"] == f"{fit_dir},{eval_dir}"
    assert main(["rft", "evaluate", str(eval_dir), "--model", str(mp), "--json", "--compare"]) == 0
    assert "knn" in json.loads(capsys.readouterr().out)["compare"]["diagnosis"]  # refit on both benches
    again = tmp_path / "again.json"
    assert main(["rft", "fit", str(fit_dir), str(fit_dir), "--out", str(again)]) == 2
    assert "given twice" in capsys.readouterr().err and not again.exists()


def test_cli_evaluate_with_comparison_methods(write_bench, tmp_path, capsys):
    fit_dir = write_bench(tmp_path / "fit", 300, per_type=1, normals=10, steps=16)
    eval_dir = write_bench(tmp_path / "eval", 400, per_type=1, normals=6, steps=16)
    mp = tmp_path / "model.json"
    assert main(["rft", "fit", str(fit_dir), "--out", str(mp)]) == 0
    capsys.readouterr()
    assert main(["rft", "evaluate", str(eval_dir), "--model", str(mp), "--json", "--compare"]) == 0
    base = json.loads(capsys.readouterr().out)["compare"]
    assert set(base["detection"]) == {"isolation_forest", "lof", "flag_every_run"}
    assert base["detection"]["flag_every_run"]["false_alarm_rate"] == 1.0
    assert {"knn", "svm", "majority_class", "fingerprint_rules_only"} <= set(base["diagnosis"])


def test_bad_bench_inputs(write_bench, tmp_path, capsys):
    assert main(["rft", "fit", str(tmp_path), "--out", str(tmp_path / "m.json")]) == 2
    assert "no registry.csv" in capsys.readouterr().err
    root = write_bench(tmp_path / "b", 1, per_type=1, normals=3, steps=10)
    run_dir = next((root / "runs").iterdir())
    (run_dir / "steps.jsonl").write_text('{"step": 0, "reward_mean": 0.5}\n{"step": -3}\n')
    assert main(["rft", "fit", str(root), "--out", str(tmp_path / "m.json")]) == 2
    err = capsys.readouterr().err
    assert "steps.jsonl:2: step:" in err and "Traceback" not in err
    assert not (tmp_path / "m.json").exists()


def test_fit_refuses_bench_without_normal_runs(write_bench, tmp_path):
    from faultwise.errors import InputError

    root = write_bench(tmp_path / "b", 1, per_type=1, normals=0, steps=10)
    with pytest.raises(InputError, match="normal runs"):
        fit_model(load_bench(root).runs)


def test_model_without_diagnoser_still_detects(make_run, model):
    fm = FailureMonitor(FMModel(profile=model.profile))
    for s in make_run(9300, "kl_explosion", "easy", onset=10):
        fm.update(s)
    assert fm.first_alarm_step is not None and fm.diagnosis is not None


def test_held_out_seed_split(benches):
    runs = load_bench(benches[0]).runs
    fit, ev = split_runs(runs, "fit"), split_runs(runs, "eval")
    assert len(fit) + len(ev) == len(runs)
    assert not {r.info.seed for r in fit} & {r.info.seed for r in ev}
    assert {r.info.fault_type for r in ev} - {r.info.fault_type for r in fit} == set()
    assert any(r.info.fault_type == "none" for r in ev)


def test_majority_class_comparison_is_the_same_in_every_process(benches, model, tmp_path):
    """The majority class among tied classes must not depend on the process's string hashing."""
    import subprocess
    import sys

    from faultwise.rft.fm import save_model

    save_model(model, tmp_path / "m.json")
    code = (
        "import json, sys; from faultwise.rft.faultbench import load_bench; from faultwise.rft.fm import load_model;"
        "from faultwise.rft.fm.compare import diagnosis_methods;"
        f"m = load_model({str(tmp_path / 'm.json')!r}); fit = load_bench({str(benches[0])!r}).runs;"
        f"ev = load_bench({str(benches[1])!r}).runs;"
        "print(json.dumps(diagnosis_methods(m, fit, ev)['majority_class'], sort_keys=True))"
    )
    outs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": h},
        ).stdout
        for h in ("1", "4", "5")
    }
    assert len(outs) == 1, outs


@pytest.mark.parametrize("fault", ["entropy_collapse", "kl_explosion", "update_freeze"])
def test_where_the_model_applies_its_diagnoser_outranks_an_invariant_break(make_run, model, fault):
    """A few batches scored alike (reward spread 0: the self-referenced invariant alone calls it a reward
    collapse) in a run the model fits: the fitted diagnoser names the injected fault; without a diagnoser
    the invariant still names one; a non-finite value stays "unknown" whatever the model says."""
    run = make_run(9300, fault, "easy", onset=0)
    flat = [s.model_copy(update={"reward_std": 0.0}) if s.step in (1, 2, 3) else s for s in run]

    def first_diagnosis(m, steps):
        fm = FailureMonitor(m)
        for s in steps:
            fm.update(s)
        fm.finish()
        return fm.events[0].diagnosis

    d = first_diagnosis(model, flat)
    assert (d.fault_type, d.source) == (fault, "classifier")
    d = first_diagnosis(model.model_copy(update={"diagnoser": None}), flat)
    assert (d.fault_type, d.source) == ("reward_collapse", "invariant:reward_constant")
    nan = [s.model_copy(update={"kl": float("nan")}) if s.step == 1 else s for s in flat]
    d = first_diagnosis(model, nan)
    assert (d.fault_type, d.source) == ("unknown", "invariant:non_finite")


@pytest.mark.parametrize("fault", ["kl_explosion", "reward_collapse", "termination_error"])
@pytest.mark.parametrize("with_model", [True, False])
def test_the_online_monitor_never_reads_the_labels(make_run, model, fault, with_model):
    """The labels a bench writes beside each step (fault type, family, strength, whether the fault is active)
    and the injector-only done flag change nothing the monitor emits: the same events, at the same steps,
    with the same diagnoses and onsets."""
    run = make_run(5, fault, "easy", onset=8)
    blind = [
        s.model_copy(
            update={"fault_type": "none", "fault_family": "none", "strength": "none", "fault_active": False}
        )
        for s in run
    ]
    lied = [
        s.model_copy(update={"fault_type": "entropy_collapse", "strength": "hard", "fault_active": True})
        for s in run
    ]

    def events(steps):
        fm = FailureMonitor(model if with_model else None)
        for s in steps:
            fm.update(s)
        fm.finish()
        return [e.model_dump(mode="json") for e in fm.events]

    seen = events(run)
    assert seen == events(blind) == events(lied)
    assert seen  # an easy fault from step 8 is seen at all, so the comparison is not of two empty lists


def test_signals_a_remediation_withholds_do_not_take_the_model_out_of_its_domain(make_run, model):
    """Verification after a data filter ignores the generation and advantage signals on purpose: the model
    must still judge the rest (a run that logs those signals is not one the model was never fitted on)."""
    from faultwise.rft.fm.remediate.actions import FILTER_TOLERATES

    run = make_run(9400)
    fm = FailureMonitor(model)
    fm.ignore(set(FILTER_TOLERATES))
    for s in run[:6]:
        fm.update(s)
    assert fm.model_applies is True
    dropped = FailureMonitor(model)  # the same signals *missing* from the log: the model does not apply
    for s in run[:6]:
        sig = {k: v for k, v in s.model_dump().items() if k not in FILTER_TOLERATES}
        dropped.update(type(s).model_validate(sig))
    assert dropped.model_applies is False
