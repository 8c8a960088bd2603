"""Every bad input: non-zero exit, one line on stderr naming the problem, no traceback, no output file."""

from __future__ import annotations

import json

import pytest
from rcl_support.files import write_nezha_folder

from faultwise.rcl.telemetry import writers


@pytest.fixture(scope="module")
def good_traces(tmp_path_factory, small_incident):
    path = tmp_path_factory.mktemp("good") / "traces.jsonl"
    writers.write_otlp_traces(small_incident("cpu", 0).incident.spans.head(200), path)
    return path


def _assert_one_line_error(rc, out, err, *needles):
    assert rc != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("faultwise: error: ")
    assert "Traceback" not in err and "Traceback" not in out
    for n in needles:
        assert n in lines[0], (n, lines[0])


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def _diagnose_cases(tmp, good):
    nezha_no_duration = _write(
        tmp / "spans.csv",
        "TraceID,SpanID,ParentID,PodName,OperationName,StartTimeUnixNano,EndTimeUnixNano\n"
        "t1,s1,root,a-0,op,1000,2000\n",
    )
    return {
        "missing file": (["--traces", tmp / "nope.jsonl"], [str(tmp / "nope.jsonl"), "no such file"]),
        "malformed json": (
            ["--traces", _write(tmp / "bad.json", '{"resourceSpans": [{"resource": ')],
            ["bad.json"],
        ),
        "unknown format": (
            ["--traces", _write(tmp / "notes.txt", "hello\nworld\n")],
            ["notes.txt", "unknown format"],
        ),
        "empty file": (["--traces", _write(tmp / "empty.jsonl", "")], ["empty.jsonl", "empty"]),
        "empty traces": (["--traces", _write(tmp / "none.jsonl", '{"resourceSpans": []}\n')], ["none.jsonl"]),
        "missing column": (["--traces", nezha_no_duration, "--format", "nezha"], ["spans.csv", "Duration"]),
        "unknown --format": (["--traces", good, "--format", "xml"], ["--format", "xml"]),
        "bad --start": (["--traces", good, "--start", "last tuesday"], ["--start"]),
        "--start after the data": (["--traces", good, "--start", "4000000000"], ["--start", "after"]),
        "missing log file": (
            ["--traces", good, "--logs", tmp / "gone.jsonl"],
            ["gone.jsonl", "no such file"],
        ),
        "logs that are traces": (
            ["--traces", good, "--logs", good],
            [str(good), "holds OTLP traces but no logs"],
        ),
        "html is a folder": (["--traces", good, "--html", tmp], [str(tmp), "directory"]),
        "no --traces": (["--logs", good], ["--traces", "required"]),
        "--top 0": (["--traces", good, "--top", "0"], ["--top"]),
        "baseline logs without baseline": (["--traces", good, "--baseline-logs", good], ["--baseline"]),
    }


@pytest.mark.parametrize(
    "case",
    [
        "missing file", "malformed json", "unknown format", "empty file", "empty traces", "missing column",
        "unknown --format", "bad --start", "--start after the data", "missing log file",
        "logs that are traces", "html is a folder", "baseline logs without baseline", "no --traces", "--top 0",
    ],
)  # fmt: skip
@pytest.mark.parametrize("as_json", [False, True])
def test_diagnose_bad_input(case, as_json, tmp_path, good_traces, cli):
    args, needles = _diagnose_cases(tmp_path, good_traces)[case]
    report = tmp_path / "report.html"
    extra = ["--json"] if as_json else []
    if "--html" not in args:
        extra += ["--html", report]
    rc, out, err = cli(["rcl", "diagnose", *args, *extra])
    _assert_one_line_error(rc, out, err, *needles)
    assert out == ""  # no partial table or JSON
    assert not report.exists()
    assert not list(tmp_path.glob(".*.part"))


def test_bench_nezha_bad_input(tmp_path, cli):
    rc, out, err = cli(["rcl", "bench", "nezha", tmp_path / "nowhere", "--json"])
    _assert_one_line_error(rc, out, err, "cases.csv", "no such file")

    _write(tmp_path / "cases.csv", "case_id,fault_type\nx,cpu\n")
    rc, out, err = cli(["rcl", "bench", "nezha", tmp_path])
    _assert_one_line_error(rc, out, err, "cases.csv", "missing column")


def test_bench_nezha_unknown_case_and_bad_limit(tmp_path, cli, small_incident):
    root = tmp_path / "nz"
    root.mkdir()
    write_nezha_folder(root, [small_incident("cpu", 0)])
    rc, out, err = cli(["rcl", "bench", "nezha", root, "--cases", "synth-99", "--json"])
    _assert_one_line_error(rc, out, err, "synth-99")
    rc, out, err = cli(["rcl", "bench", "nezha", root, "--limit", "0", "--json"])
    _assert_one_line_error(rc, out, err, "--limit")
    # a case whose trace file is gone: the error names the file
    (root / "rca_data" / "2030-01-01" / "trace" / "00_01_trace.csv").unlink()
    rc, out, err = cli(["rcl", "bench", "nezha", root, "--json"])
    _assert_one_line_error(rc, out, err, "00_01_trace.csv")


def test_bench_synthetic_bad_input(cli):
    rc, out, err = cli(["rcl", "bench", "synthetic", "--fault-types", "cpu,gremlins", "--json"])
    _assert_one_line_error(rc, out, err, "gremlins")


def test_demo_out_is_a_file(tmp_path, cli):
    f = _write(tmp_path / "file", "x")
    rc, out, err = cli(["demo", "--out", f])
    _assert_one_line_error(rc, out, err, "not a folder")


def test_error_output_is_not_json(tmp_path, cli):
    """Under --json a failure prints nothing on stdout, so a caller piping it gets no half document."""
    rc, out, _ = cli(["rcl", "diagnose", "--traces", tmp_path / "x.json", "--json"])
    assert rc != 0 and out == ""
    with pytest.raises(json.JSONDecodeError):
        json.loads(out)
