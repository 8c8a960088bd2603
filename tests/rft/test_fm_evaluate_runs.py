"""`rft evaluate` over several benches pooled, and its per-run table (`--runs`)."""

import csv
import json

import pytest

from faultwise.cli import main
from faultwise.rft.faultbench.load import load_bench
from faultwise.rft.fm.evaluation import (
    OUTCOME_COLUMNS,
    detection_metrics,
    evaluate,
    fit_model,
    outcome_rows,
    score_runs,
    summarize,
)
from faultwise.rft.fm.model import save_model


@pytest.fixture(scope="module")
def setup(write_bench, tmp_path_factory):
    root = tmp_path_factory.mktemp("evalruns")
    fit_dir = write_bench(root / "fit", 500, per_type=1, normals=10, steps=16)
    a = write_bench(root / "a", 600, per_type=1, normals=4, steps=16)
    b = write_bench(root / "b", 700, per_type=1, normals=5, steps=16)
    model = fit_model(load_bench(fit_dir).runs)
    mp = root / "model.json"
    save_model(model, mp)
    return model, mp, a, b


def test_summarize_of_scored_runs_is_evaluate(setup):
    model, _, a, _ = setup
    runs = load_bench(a).runs
    calls = []
    outcomes = score_runs(model, runs, lambda done, total: calls.append((done, total)))
    assert summarize(outcomes, model) == evaluate(model, runs)
    assert calls == [(i, len(runs)) for i in range(1, len(runs) + 1)]  # a progress bar's (done, total)


def test_several_benches_are_scored_pooled(setup, capsys):
    model, mp, a, b = setup
    assert main(["rft", "evaluate", str(a), str(b), "--model", str(mp), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    pooled = evaluate(model, load_bench(a).runs + load_bench(b).runs)
    assert doc == pooled
    assert doc["runs"]["normal"] == 4 + 5
    assert main(["rft", "evaluate", str(a), str(a) + "/", "--json"]) == 2
    assert "given twice" in capsys.readouterr().err


def test_runs_table_lists_every_run_as_scored(setup, tmp_path, capsys):
    model, mp, a, b = setup
    out = tmp_path / "runs.csv"
    assert main(["rft", "evaluate", str(a), str(b), "--model", str(mp), "--json", "--runs", str(out)]) == 0
    doc = json.loads(capsys.readouterr().out)
    with out.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["bench", *OUTCOME_COLUMNS]
    n_a, n_b = len(load_bench(a).runs), len(load_bench(b).runs)
    assert len(rows) == n_a + n_b
    assert [r["bench"] for r in rows] == [str(a)] * n_a + [str(b)] * n_b
    normal = [r for r in rows if r["fault_type"] == "none"]
    faulty = [r for r in rows if r["fault_type"] != "none"]
    assert len(normal) == 9 and all(r["onset_step"] == "" and r["diagnosis"] == "" for r in normal)
    assert all(r["diagnosis_correct"] == str(r["diagnosis"] == r["fault_type"]) for r in faulty)
    # the table agrees with the scores: recall and false alarms recounted from it
    for strength in ("easy", "hard"):
        sub = [r for r in faulty if r["strength"] == strength]
        recall = sum(r["detected_step"] != "" for r in sub) / len(sub)
        assert recall == pytest.approx(doc["detection"][strength]["recall"], abs=1e-4)
    fa = sum(r["false_alarm"] == "True" for r in normal) / len(normal)
    assert fa == pytest.approx(doc["detection"]["false_alarm_rate"], abs=1e-4)


def test_outcome_rows_leave_not_applicable_cells_empty(setup):
    model, _, a, _ = setup
    outcomes = score_runs(model, load_bench(a).runs)
    rows = outcome_rows(outcomes)
    assert [tuple(r) for r in rows] == [OUTCOME_COLUMNS] * len(outcomes)
    for o, r in zip(outcomes, rows, strict=True):
        if o.fault_type == "none":
            assert r["onset_step"] is None and r["detected_step"] is None and r["diagnosis_correct"] is None
        else:
            assert r["detected_step"] == o.alarm_after_onset and r["diagnosis"] == o.predicted
    assert detection_metrics(outcomes) == evaluate(model, load_bench(a).runs)["detection"]


def test_a_failed_evaluation_leaves_no_table(setup, tmp_path, capsys):
    _, _, a, _ = setup
    out = tmp_path / "runs.csv"
    # --compare needs a model: the command fails after scoring, and writes nothing
    assert main(["rft", "evaluate", str(a), "--compare", "--runs", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--compare" in err and "Traceback" not in err
    assert not out.exists() and not list(tmp_path.iterdir())
