"""AIOps-2022 full cloudbed layout: written from a generated incident by our own code, loaded back, benched."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from faultwise.cli import app, main
from faultwise.errors import InputError
from faultwise.rcl.bench.aiops2022 import aiops2022_cases, find_beds
from faultwise.rcl.telemetry.aiops2022 import Aiops2022Fault
from faultwise.rcl.telemetry.aiops2022_full import (
    aiops2022_incidents,
    load_aiops2022_bed,
    load_aiops2022_kpis,
    load_aiops2022_logs,
    slice_window,
    write_aiops2022_bed,
)
from faultwise.rcl.telemetry.schema import Telemetry


@pytest.fixture(scope="module")
def bed(tmp_path_factory, small_incident):
    inc = small_incident("cpu", 0)
    a, b = inc.normal, inc.incident
    whole = Telemetry(
        pd.concat([a.spans, b.spans], ignore_index=True),
        pd.concat([a.logs, b.logs], ignore_index=True),
        pd.concat([a.metrics, b.metrics], ignore_index=True),
    )
    t = inc.truth
    faults = [
        Aiops2022Fault(int(t.inject_ts_s), t.level, t.component, "cpu load"),
        Aiops2022Fault(int(t.inject_ts_s) + 3600, "node", "node-1", "late, no spans"),
    ]
    folder = tmp_path_factory.mktemp("aiops") / "2023-11-14-cloudbed1"
    write_aiops2022_bed(whole, faults, folder)
    return folder, whole, inc


def test_bed_loads_every_modality(bed):
    folder, whole, _ = bed
    tel = load_aiops2022_bed(folder)
    assert len(tel.spans) == len(whole.spans)
    assert set(tel.spans["span_id"]) == set(whole.spans["span_id"])
    assert tel.spans["start_us"].min() == whole.spans["start_us"].min() // 1000 * 1000  # ms in the CSV
    assert int(tel.spans["is_error"].sum()) == int(whole.spans["is_error"].sum())
    # container ids <node>.<pod> give every pod its node
    truth_nodes = whole.pod_nodes()
    assert tel.pod_nodes() == {p: n for p, n in truth_nodes.items() if p in set(tel.spans["pod"])}
    assert len(tel.logs) == len(whole.logs)
    assert tel.logs["level"].value_counts().to_dict() == whole.logs["level"].value_counts().to_dict()
    kinds = set(tel.metrics["entity_kind"])
    assert kinds == {"pod", "node", "service"}
    services = set(tel.metrics.loc[tel.metrics["entity_kind"] == "service", "entity"])
    assert services == set(whole.spans["service"])  # protocol suffix (-grpc) removed


def test_incidents_skip_faults_without_spans(bed):
    folder, _, inc = bed
    got = aiops2022_incidents(folder, before_s=30, after_s=30)
    assert len(got) == 1
    assert got[0].fault.cmdb_id == inc.truth.component
    assert got[0].start_us == int(inc.truth.inject_ts_s) * 1_000_000
    spans = got[0].telemetry.spans
    assert spans["start_us"].min() >= got[0].start_us - 30_000_000


def test_slice_window_bounds(bed):
    folder, _, _ = bed
    tel = load_aiops2022_bed(folder)
    lo = int(tel.spans["start_us"].min()) + 5_000_000
    part = slice_window(tel, lo, lo + 10_000_000)
    assert len(part.spans) and part.spans["start_us"].between(lo, lo + 10_000_000 - 1).all()
    assert part.logs["ts_us"].between(lo, lo + 10_000_000 - 1).all()


def test_bad_files(tmp_path):
    log = tmp_path / "log.csv"
    log.write_text("log_id,timestamp,cmdb_id\n1,2,p\n")
    with pytest.raises(InputError, match="missing column.*value"):
        load_aiops2022_logs(log)
    kpi = tmp_path / "kpi.csv"
    kpi.write_text("timestamp,cmdb_id,kpi_name,value\nnever,node-1.p-0,cpu,1\n")
    with pytest.raises(InputError, match="non-numeric value 'never'"):
        load_aiops2022_kpis(kpi, "container")
    with pytest.raises(InputError, match="no trace CSV"):
        load_aiops2022_bed(tmp_path)
    with pytest.raises(InputError, match="no AIOps-2022 cloudbed folders"):
        find_beds(tmp_path)


def test_bench_cases_at_the_fault_level(bed):
    folder, _, inc = bed
    cases = list(aiops2022_cases(find_beds(folder.parent), 30, 30))
    assert [(c.level, c.truth) for c in cases] == [(inc.truth.level, inc.truth.component)]


def test_cli_bench_aiops2022(bed):
    folder, _, _ = bed
    res = CliRunner().invoke(
        app,
        ["rcl", "bench", "aiops2022", str(folder), "--methods", "random,self-time", "--json",
         "--before-s", "30", "--after-s", "30"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["cases"] == 1 and doc["methods"]["self-time"]["ac1"] == 1.0  # cpu contention, own time


def test_cli_bench_aiops2022_bad_root(tmp_path, capsys):
    assert main(["rcl", "bench", "aiops2022", str(tmp_path / "nope")]) != 0
    assert "no such folder" in capsys.readouterr().err
