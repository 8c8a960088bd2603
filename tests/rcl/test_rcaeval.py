"""RCAEval RE2/RE3 case folders: written from generated incidents by our own code, loaded back, benched."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from faultwise.cli import app, main
from faultwise.errors import InputError
from faultwise.rcl.bench.rcaeval import rcaeval_cases, select_rcaeval_cases
from faultwise.rcl.telemetry.rcaeval import (
    epoch_to_us,
    find_rcaeval_cases,
    load_rcaeval_case,
    load_rcaeval_logs,
    load_rcaeval_metrics,
    load_rcaeval_traces,
    read_inject_time,
    split_metric_column,
    write_rcaeval_case,
)
from faultwise.rcl.telemetry.schema import Telemetry


def _whole(inc) -> Telemetry:
    """Normal window and incident window in one telemetry, as an RCAEval case folder holds them."""
    a, b = inc.normal, inc.incident
    return Telemetry(
        pd.concat([a.spans, b.spans], ignore_index=True),
        pd.concat([a.logs, b.logs], ignore_index=True),
        pd.concat([a.metrics, b.metrics], ignore_index=True),
    )


@pytest.fixture(scope="module")
def layout(tmp_path_factory, small_incident):
    root = tmp_path_factory.mktemp("rcaeval")
    made = []
    for fault, seed in (("cpu", 0), ("memory", 1), ("exception", 0)):
        inc = small_incident(fault, seed)
        folder = root / "RE2-SYN" / f"{inc.truth.service}_{fault}" / "1"
        write_rcaeval_case(_whole(inc), int(inc.truth.inject_ts_s), folder)
        made.append(inc)
    return root, made


def test_cases_found_with_truth_from_folder_names(layout):
    root, made = layout
    cases = find_rcaeval_cases(root)
    assert len(cases) == 3
    assert {(c.service, c.fault) for c in cases} == {(i.truth.service, i.truth.fault_type) for i in made}
    assert all(c.system == "RE2-SYN" and c.case_id.startswith("RE2-SYN/") for c in cases)
    # a system folder as root works too
    assert len(find_rcaeval_cases(root / "RE2-SYN")) == 3


def test_case_loads_into_canonical_tables(layout):
    root, made = layout
    case = next(c for c in find_rcaeval_cases(root) if c.fault == "cpu")
    inc = next(i for i in made if i.truth.fault_type == "cpu")
    tel, inject_us = load_rcaeval_case(case)
    assert inject_us == int(inc.truth.inject_ts_s) * 1_000_000
    whole = _whole(inc)
    assert len(tel.spans) == len(whole.spans)
    assert set(tel.spans["span_id"]) == set(whole.spans["span_id"])
    assert (tel.spans["pod"] == tel.spans["service"]).all()  # RCAEval has no instances
    assert tel.spans["start_us"].min() == whole.spans["start_us"].min()
    assert int(tel.spans["is_error"].sum()) == int(whole.spans["is_error"].sum())
    assert (tel.spans["parent_id"] == "").sum() == (whole.spans["parent_id"] == "").sum()
    assert len(tel.logs) == len(whole.logs)
    assert set(tel.logs["level"]) <= {"ERROR", "WARN", "INFO", "DEBUG"}
    assert tel.logs["ts_us"].min() == whole.logs["ts_us"].min()
    kinds = tel.metrics.groupby("entity")["entity_kind"].first().to_dict()
    assert kinds["node-1"] == "node" and kinds[inc.truth.service] == "service"
    assert tel.modalities == ["traces", "logs", "metrics"]


def test_metric_column_split_prefers_known_components():
    assert split_metric_column("ts-order-service_cpu", ["ts-order-service"]) == ("ts-order-service", "cpu")
    known = sorted(["redis", "redis_cart"], key=len, reverse=True)
    assert split_metric_column("redis_cart_mem", known) == ("redis_cart", "mem")
    assert split_metric_column("cart_latency-90", []) == ("cart", "latency-90")


def test_epoch_units_by_magnitude():
    s = 1_700_000_000
    for value, unit in ((s, 1), (s * 1000, 1000), (s * 1_000_000, 1_000_000), (s * 1_000_000_000, 1e9)):
        assert epoch_to_us(np.array([value]))[0] == s * 1_000_000, unit


def test_bad_files_are_one_line_errors(tmp_path):
    t = tmp_path / "traces.csv"
    t.write_text("traceID,spanID,serviceName,startTime,duration\nt,s,a,1,2\n")
    with pytest.raises(InputError, match="missing column.*parentSpanID"):
        load_rcaeval_traces(t)
    t.write_text("traceID,spanID,parentSpanID,serviceName,startTime,duration\nt,s,,a,x,2\n")
    with pytest.raises(InputError, match="non-numeric value 'x'"):
        load_rcaeval_traces(t)
    empty = tmp_path / "logs.csv"
    empty.write_text("")
    with pytest.raises(InputError, match="empty file"):
        load_rcaeval_logs(empty)
    m = tmp_path / "data.csv"
    m.write_text("time,nothing\n1,2\n")
    with pytest.raises(InputError, match="no <component>_<metric> column"):
        load_rcaeval_metrics(m)
    i = tmp_path / "inject_time.txt"
    i.write_text("soon\n")
    with pytest.raises(InputError, match="not a unix time"):
        read_inject_time(i)


def test_bad_layouts(tmp_path):
    with pytest.raises(InputError, match="no RCAEval case folders"):
        find_rcaeval_cases(tmp_path)
    (tmp_path / "sys" / "nofault" / "1").mkdir(parents=True)
    (tmp_path / "sys" / "nofault" / "1" / "inject_time.txt").write_text("1700000000")
    with pytest.raises(InputError, match="not named <service>_<fault>"):
        find_rcaeval_cases(tmp_path)
    with pytest.raises(InputError, match="no such folder"):
        find_rcaeval_cases(tmp_path / "missing")
    with pytest.raises(InputError, match="at least 1"):
        select_rcaeval_cases(tmp_path, limit=0)


def test_missing_traces_file(tmp_path):
    folder = tmp_path / "s" / "a_cpu" / "1"
    folder.mkdir(parents=True)
    (folder / "inject_time.txt").write_text("1700000000")
    case = find_rcaeval_cases(tmp_path)[0]
    with pytest.raises(InputError, match="no such file"):
        load_rcaeval_case(case)


def test_bench_cases_score_at_service_level(layout):
    root, _ = layout
    cases = list(rcaeval_cases(find_rcaeval_cases(root)))
    assert all(c.level == "service" and c.normal is None and c.start_us for c in cases)


def test_cli_bench_rcaeval_methods_json(layout):
    root, _ = layout
    res = CliRunner().invoke(
        app, ["rcl", "bench", "rcaeval", str(root), "--methods", "random,metric-dev", "--json"]
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["cases"] == 3 and doc["level"] == "service"
    assert list(doc["methods"]) == ["random", "metric-dev"]
    # metric deviation sees cpu and memory faults in the containers' metrics
    by_type = doc["methods"]["metric-dev"]["by_fault_type"]
    assert by_type["cpu"]["ac1"] == 1.0 and by_type["memory"]["ac1"] == 1.0


def test_cli_bench_rcaeval_bad_root(tmp_path, capsys):
    code = main(["rcl", "bench", "rcaeval", str(tmp_path), "--methods", "random"])
    err = capsys.readouterr().err
    assert code != 0
    assert "no RCAEval case folders" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
