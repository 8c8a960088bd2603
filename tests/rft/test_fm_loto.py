"""The leave-one-type-out script: each type is scored by a model fitted without its runs."""

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "rft_loto.py"


def test_leave_one_type_out_fits_without_the_scored_type(write_bench, tmp_path):
    fit = write_bench(tmp_path / "fit", 0, per_type=1, normals=12)
    ev = write_bench(tmp_path / "eval", 5000, per_type=1, normals=6)
    out = subprocess.run(
        [sys.executable, str(SCRIPT), str(fit), str(ev), "--types", "kl_explosion,entropy_collapse"],
        capture_output=True,
        text=True,
        check=True,
    )
    doc = json.loads(out.stdout)
    assert set(doc["types"]) == {"kl_explosion", "entropy_collapse"} and doc["normal_runs"] == 6
    for row in doc["types"].values():
        assert row["diagnoser_knows_type"] is False and row["diagnoser_classes"] == 15
        assert row["easy"]["runs"] == row["hard"]["runs"] == 1
        assert 0 <= row["easy"]["detected"] + row["hard"]["detected"] <= 2
    bad = subprocess.run(
        [sys.executable, str(SCRIPT), str(fit), str(ev), "--types", "no_such_fault"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "unknown fault type" in bad.stderr and "Traceback" not in bad.stderr


def test_with_a_baseline_every_fold_judges_by_the_baselines_profile(write_bench, tmp_path):
    fit = write_bench(tmp_path / "fit", 0, per_type=1, normals=12)
    ev = write_bench(tmp_path / "eval", 5000, per_type=1, normals=6)
    base = write_bench(tmp_path / "base", 7000, per_type=0, normals=5)
    argv = [sys.executable, str(SCRIPT), str(fit), str(ev), "--types", "kl_explosion"]
    plain = json.loads(subprocess.run(argv, capture_output=True, text=True, check=True).stdout)
    assert plain["baseline"] == [] and plain["profile_normal_runs"] == 12
    argv += ["--baseline", str(base)]
    doc = json.loads(subprocess.run(argv, capture_output=True, text=True, check=True).stdout)
    assert doc["baseline"] == [str(base)] and doc["profile_normal_runs"] == 5


def test_more_benches_pool_on_either_side(write_bench, tmp_path):
    """``--also-fit`` / ``--also-eval`` pool benches: the profile sees both fitting benches' normal runs and
    every scored bench's runs are counted."""
    fit = write_bench(tmp_path / "fit", 0, per_type=1, normals=12)
    fit2 = write_bench(tmp_path / "fit2", 1000, per_type=1, normals=4)
    ev = write_bench(tmp_path / "eval", 5000, per_type=1, normals=6)
    ev2 = write_bench(tmp_path / "eval2", 6000, per_type=1, normals=3)
    argv = [sys.executable, str(SCRIPT), str(fit), str(ev), "--types", "kl_explosion"]
    argv += ["--also-fit", str(fit2), "--also-eval", str(ev2)]
    doc = json.loads(subprocess.run(argv, capture_output=True, text=True, check=True).stdout)
    assert doc["profile_normal_runs"] == 16 and doc["normal_runs"] == 9
    assert doc["fit_bench"] == f"{fit},{fit2}" and doc["eval_bench"] == f"{ev},{ev2}"
    row = doc["types"]["kl_explosion"]
    assert row["easy"]["runs"] == row["hard"]["runs"] == 2
