"""The bench loader validates records and fails with one clear InputError line on bad input (no training)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from faultwise.cli import main
from faultwise.errors import InputError
from faultwise.rft.faultbench.generator import write_registry, write_run_files
from faultwise.rft.faultbench.load import load_bench, read_registry, read_trajectories
from faultwise.rft.faultbench.stats import bench_stats
from faultwise.rft.records import RunInfo, StepRecord, TrajectoryRecord


def _records(run_id: str, fault: str, steps: int = 4, n: int = 3):
    info = RunInfo(run_id=run_id, family="TE" if fault != "none" else "none", fault_type=fault,
                   strength="easy" if fault != "none" else "none", onset_step=1 if fault != "none" else 0,
                   seed=1, steps=steps, trajectories_per_step=n)  # fmt: skip
    errs = 0.8 if fault != "none" else 0.0
    srecs = [
        StepRecord(step=s, reward_mean=0.5 + 0.01 * s + (0.02 if run_id.endswith("b") else 0), task_accuracy=0.5,
                   tool_errors_per_traj=errs + 0.01 * s, entropy=0.4, fault_type=fault, strength=info.strength)
        for s in range(1, steps + 1)
    ]  # fmt: skip
    trecs = [
        TrajectoryRecord.model_validate(
            {"step": s, "index": i, "reward": 1.0, "correct": True, "response_length": 5, "advantage": 0.1,
             "return": 1.0, "repetition_ratio": 0.0, "unique_token_ratio": 1.0, "tool_calls": 1,
             "tool_errors": int(errs > 0), "is_empty": False, "is_short": False, "is_long": False}
        )
        for s in range(1, steps + 1)
        for i in range(n)
    ]  # fmt: skip
    return info, srecs, trecs


@pytest.fixture
def bench(tmp_path):
    rows = []
    for run_id, fault in (("normal-a", "none"), ("normal-b", "none"), ("tce-a", "tool_call_error")):
        info, s, t = _records(run_id, fault)
        write_run_files(tmp_path / "runs" / run_id, info, s, t, {})
        rows.append(info)
    write_registry(tmp_path, rows)
    return tmp_path


def test_roundtrip_and_stats(bench):
    b = load_bench(bench)
    assert [r.info.run_id for r in b.runs] == ["normal-a", "normal-b", "tce-a"]
    assert [len(r.steps) for r in b.runs] == [4, 4, 4] and [r.trajectory_count for r in b.runs] == [
        12,
        12,
        12,
    ]
    assert len(b.steps_frame()) == 12 and b.runs[2].onset == 1 and b.runs[0].onset is None
    assert [t.index for t in b.runs[0].trajectories[2]] == [0, 1, 2]
    assert not load_bench(bench, trajectories=False).runs[0].trajectories
    st = bench_stats(b)
    assert st["counts"]["by_family"] == {"TE": 1, "none": 2}
    eff = st["fingerprint"]["tool_call_error"]["easy"]
    assert eff["tool_errors_per_traj"] > 5  # the fault's trace is found
    assert abs(eff["entropy"]) < 1


def test_missing_registry(tmp_path):
    with pytest.raises(InputError, match="no registry.csv"):
        load_bench(tmp_path)


def test_bad_json_line_names_file_and_line(bench):
    path = bench / "runs" / "normal-b" / "steps.jsonl"
    lines = path.read_text().splitlines()
    lines[2] = "{not json"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=r"steps.jsonl:3: not JSON"):
        load_bench(bench)


def test_invalid_record(bench):
    path = bench / "runs" / "tce-a" / "steps.jsonl"
    lines = path.read_text().splitlines()
    rec = json.loads(lines[0])
    rec["step"] = -1
    lines[0] = json.dumps(rec)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=r"steps.jsonl:1: step"):
        load_bench(bench)


def test_step_count_must_match_registry(bench):
    path = bench / "runs" / "normal-a" / "steps.jsonl"
    path.write_text("\n".join(path.read_text().splitlines()[:2]) + "\n")
    with pytest.raises(InputError, match="2 steps, registry says 4"):
        load_bench(bench)


def test_trajectory_missing_column_and_bad_value(bench):
    path = bench / "runs" / "normal-a" / "trajectories.parquet"
    df = pd.read_parquet(path)
    df.drop(columns=["advantage"]).to_parquet(path)
    with pytest.raises(InputError, match="missing column.*advantage"):
        load_bench(bench)
    df.assign(tool_calls=-1).to_parquet(path)
    with pytest.raises(InputError, match="row 0: tool_calls"):
        load_bench(bench)
    path.write_text("garbage")
    with pytest.raises(InputError, match="not a readable parquet"):
        load_bench(bench)


def test_registry_errors(bench):
    reg = bench / "registry.csv"
    text = reg.read_text()
    reg.write_text(text.replace("run_id,", "id,", 1))
    with pytest.raises(InputError, match="missing column"):
        read_registry(bench)
    reg.write_text(text.replace(",arithmetic,4,3,", ",arithmetic,0,3,", 1))
    with pytest.raises(InputError, match=r"registry.csv:2: steps"):
        load_bench(bench)


def test_run_listed_but_missing(bench):
    import shutil

    shutil.rmtree(bench / "runs" / "tce-a")
    with pytest.raises(InputError, match="tce-a.*missing"):
        load_bench(bench)


def test_cli_stats_bad_input_is_one_line(tmp_path, capsys):
    assert main(["rft", "bench", "stats", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "registry.csv" in err[0]


def test_cli_stats_json(bench, capsys):
    assert main(["rft", "bench", "stats", str(bench), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["counts"]["runs"] == 3 and "tool_call_error" in out["fingerprint"]
    assert main(["rft", "bench", "stats", str(bench)]) == 0
    assert "tool_errors_per_traj" in capsys.readouterr().out


def test_trajectories_are_optional_and_jsonl_is_read_too(bench):
    run_dir = bench / "runs" / "normal-a"
    rows = pd.read_parquet(run_dir / "trajectories.parquet").to_dict(orient="records")
    (run_dir / "trajectories.parquet").unlink()
    assert read_trajectories(run_dir) == {}
    (run_dir / "trajectories.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    by_step = read_trajectories(run_dir)
    assert sorted(by_step) == [1, 2, 3, 4] and all(len(ts) == 3 for ts in by_step.values())
    (run_dir / "trajectories.jsonl").write_text("{broken\n")
    with pytest.raises(InputError, match=r"trajectories.jsonl:1: not JSON"):
        load_bench(bench)
