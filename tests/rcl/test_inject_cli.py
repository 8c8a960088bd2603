"""``faultwise rcl inject``: the incident in the input's format plus label.json; bad input is one line."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from rcl_support.files import write_nezha_folder
from rcl_support.incidents import small_incident

from faultwise.rcl.inject import span_forest
from faultwise.rcl.simulate import write_incident_otlp
from faultwise.rcl.telemetry import load_telemetry


@pytest.fixture(scope="module")
def otlp_normal(tmp_path_factory):
    """The generator's fault-free window as the OTLP files a collector writes."""
    inc = small_incident("cpu", 0)
    folder = tmp_path_factory.mktemp("otlp")
    paths = write_incident_otlp(inc, folder)
    return paths, inc


def _args(paths, out, *extra):
    return [
        "rcl",
        "inject",
        "--traces",
        paths["baseline"],
        "--logs",
        paths["baseline_logs"],
        "--metrics",
        paths["baseline_metrics"],
        "--out",
        out,
        *extra,
    ]


def test_inject_writes_otlp_and_the_label(cli, otlp_normal, tmp_path):
    paths, inc = otlp_normal
    target = inc.truth.service
    rc, out, err = cli(_args(paths, tmp_path / "a", "--fault", "exception", "--target", target, "--json"))
    assert rc == 0, err
    label = json.loads(out)
    assert label["fault"] == "exception" and label["target"] == target and label["statuses"] == "http"
    written = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert written == ["label.json", "logs.jsonl", "metrics.jsonl", "traces.jsonl"]
    assert json.loads((tmp_path / "a" / "label.json").read_text()) == label
    back = load_telemetry(tmp_path / "a" / "traces.jsonl", logs=tmp_path / "a" / "logs.jsonl")
    assert (back.spans["status_code"] == "500").sum() > 0
    assert back.logs["message"].str.contains("RuntimeException").sum() == label["effect"]["log_lines_added"]
    rc, _, err = cli(_args(paths, tmp_path / "b", "--fault", "exception", "--target", target, "--json"))
    assert rc == 0, err
    for name in written:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_nezha_traces_become_canonical_csv_without_statuses(cli, tmp_path):
    root = write_nezha_folder(tmp_path / "nezha", [small_incident("cpu", 0)])
    normal = next((root / "construct_data").rglob("*_trace.csv"))
    logs = next((root / "construct_data").rglob("*_log.csv"))
    spans = load_telemetry(normal).spans
    forest = span_forest(spans)
    called = pd.Series(forest.service[forest.crosses_pods()])
    target = str(called.value_counts().index[0])  # a pod failure shows only in the calls into the pod
    rc, out, err = cli(
        [
            "rcl",
            "inject",
            "--traces",
            normal,
            "--logs",
            logs,
            "--fault",
            "pod_failure",
            "--target",
            target,
            "--strength",
            "hard",
            "--seed",
            "3",
            "--out",
            tmp_path / "o",
            "--json",
        ]
    )
    assert rc == 0, err
    label = json.loads(out)
    assert label["statuses"] == "none" and label["strength"] == "hard" and label["seed"] == 3
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["label.json", "logs.csv", "traces.csv"]
    back = load_telemetry(tmp_path / "o" / "traces.csv")
    assert not back.spans["is_error"].any() and len(back.spans) < len(spans)


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--fault", "meteor", "--target", "{t}"], "--fault: input should be"),
        (["--target", "{t}"], "--fault: required"),
        (["--fault", "cpu_hog"], "--target: required"),
        (["--fault", "cpu_hog", "--target", "nope"], "--target: 'nope' is no service, pod or node"),
        (["--fault", "cpu_hog", "--target", "{t}", "--strength", "medium"], "--strength: input should be"),
        (["--fault", "cpu_hog", "--target", "{t}", "--param", "slowdown"], "--param: expected NAME=VALUE"),
        (["--fault", "cpu_hog", "--target", "{t}", "--param", "speed=2"], "--param speed: not a parameter"),
        (
            ["--fault", "cpu_hog", "--target", "{t}", "--param", "slowdown=0.5"],
            "--param slowdown: input should",
        ),
        (["--fault", "cpu_hog", "--target", "{t}", "--start", "2001-01-01"], "--start: the onset"),
        (["--fault", "cpu_hog", "--target", "{t}", "--start", "soon"], "--start: not an ISO 8601 time"),
        (["--fault", "network_delay", "--target", "{root}"], "has no calls into it from another traced pod"),
        (
            ["--fault", "exception", "--target", "{t}", "--param", "operation=GET /nowhere"],
            "--param operation",
        ),
    ],
)
def test_bad_input_is_one_line(cli, otlp_normal, tmp_path, extra, needle):
    paths, inc = otlp_normal
    spans = inc.normal.spans
    root = str(spans.loc[spans["parent_id"] == "", "service"].iat[0])
    args = [a.format(t=inc.truth.service, root=root) for a in extra]
    rc, out, err = cli(_args(paths, tmp_path / "x", *args))
    assert rc != 0 and out == ""
    assert needle in err and err.count("\n") == 1 and "Traceback" not in err, err


def test_missing_files_and_outputs_are_one_line(cli, otlp_normal, tmp_path):
    paths, inc = otlp_normal
    a_file = tmp_path / "file"
    a_file.write_text("x")
    for args, needle in (
        (["rcl", "inject", "--fault", "cpu_hog", "--target", "x", "--out", tmp_path / "o"], "--traces"),
        (["rcl", "inject", "--traces", paths["baseline"], "--fault", "cpu_hog", "--target", "x"], "--out"),
        (_args(paths, a_file, "--fault", "cpu_hog", "--target", "x"), "exists and is not a folder"),
        (
            [
                "rcl",
                "inject",
                "--traces",
                tmp_path / "none.jsonl",
                "--fault",
                "cpu_hog",
                "--target",
                "x",
                "--out",
                tmp_path / "o",
            ],
            "none.jsonl",
        ),
    ):
        rc, out, err = cli(args)
        assert rc != 0 and needle in err and err.count("\n") == 1, err
