"""Loaders on the real data, read in place from ../shared/data (skipped where absent).

Expected figures are recomputed here from the raw files with plain pandas, independently of the loaders.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest

from faultwise.rcl.telemetry import (
    LOG_COLUMNS,
    METRIC_COLUMNS,
    SPAN_COLUMNS,
    load_logs,
    load_metrics,
    load_nezha_case,
    load_traces,
    read_nezha_cases,
    service_of_pod,
    sniff_format,
)
from faultwise.rcl.telemetry.aiops2022 import read_aiops2022_groundtruth
from faultwise.rcl.telemetry.schema import LEVELS

pytestmark = pytest.mark.realdata

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
NEZHA = DATA / "nezha-tt"
AIOPS = DATA / "aiops2022-sample"


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} not present")
    return path


def _dtypes_ok(df: pd.DataFrame, columns: dict[str, str]) -> None:
    assert list(df.columns) == list(columns)
    for col, dtype in columns.items():
        got = str(df[col].dtype)
        assert got == dtype or (dtype == "string" and got.startswith("string")), (col, got)


@pytest.fixture(scope="module")
def cases():
    return read_nezha_cases(_need(NEZHA))


@pytest.fixture(scope="module")
def first_case(cases):
    return cases[0], *load_nezha_case(NEZHA, cases[0])


def test_cases_are_typed_and_consistent(cases):
    raw = pd.read_csv(NEZHA / "cases.csv")
    assert len(cases) == len(raw)
    assert [c.case_id for c in cases] == raw["case_id"].tolist()
    for c in cases:
        assert isinstance(c.inject_unix_utc, int) and c.inject_unix_utc > 1.6e9
        assert len(c.trace_files) >= 1 and all((NEZHA / f).is_file() for f in c.trace_files)
        assert (NEZHA / c.metric_dir).is_dir() and (NEZHA / c.normal_trace_file).is_file()
        # our pod -> service rule agrees with the benchmark's own labels
        assert service_of_pod(c.root_cause_pod) == c.root_cause_service


def test_sniffing_real_files(cases):
    c = cases[0]
    assert sniff_format(NEZHA / c.trace_files[0]) == "nezha-traces"
    assert sniff_format(NEZHA / c.log_files[0]) == "nezha-logs"
    assert sniff_format(NEZHA / c.metric_dir) == "nezha-metrics"


def test_case_spans_match_the_raw_files(first_case):
    case, incident, _ = first_case
    raw = pd.concat([pd.read_csv(NEZHA / f, dtype=str) for f in case.trace_files], ignore_index=True)
    raw = raw.drop_duplicates(["TraceID", "SpanID"])
    spans = incident.spans
    _dtypes_ok(spans, SPAN_COLUMNS)
    assert len(spans) == len(raw)
    assert (spans["parent_id"] == "").sum() == (raw["ParentID"] == "root").sum()
    assert not (spans["parent_id"] == "root").any()
    # durations are microseconds: they agree with (end - start) in ns / 1000 to within a microsecond
    ns = raw["EndTimeUnixNano"].astype("int64") - raw["StartTimeUnixNano"].astype("int64")
    by_id = spans.set_index(["trace_id", "span_id"])["duration_us"]
    ours = by_id.loc[list(zip(raw["TraceID"], raw["SpanID"], strict=True))].to_numpy()
    assert (abs(ours - ns.to_numpy() / 1000) <= 1).all()
    # start times in microseconds since the epoch, inside the case's three minutes (give or take a minute)
    assert spans["start_us"].min() / 1e6 > case.inject_unix_utc - 120
    assert spans["start_us"].max() / 1e6 < case.inject_unix_utc + 240
    assert set(spans["service"]) == {service_of_pod(p) for p in raw["PodName"]}


def test_case_logs_levels_and_nodes(first_case):
    case, incident, _ = first_case
    logs = incident.logs
    _dtypes_ok(logs, LOG_COLUMNS)
    raw = pd.concat([pd.read_csv(NEZHA / f, dtype=str) for f in case.log_files], ignore_index=True)
    assert len(logs) == len(raw)
    assert set(logs["level"]) <= set(LEVELS) | {""}
    inner = raw["Log"].map(lambda s: json.loads(s)["log"])
    assert (logs["level"] == "ERROR").sum() == inner.str.contains(r"^\S+\s+ERROR\b").sum()
    assert (logs["level"] == "ERROR").sum() > 0
    assert not logs["message"].str.endswith("\n").any()
    assert set(logs["node"]) == set(raw["Node"])
    # spans learn their node from the logs of their pod
    pod_node = dict(zip(raw["PodName"], raw["Node"], strict=True))
    sp = incident.spans
    logged = sp["pod"].isin(pod_node.keys())
    assert logged.any()
    assert (sp.loc[logged, "node"] == sp.loc[logged, "pod"].map(pod_node)).all()
    assert (sp.loc[~logged, "node"] == "").all()


def test_case_metrics_long_table(first_case):
    case, incident, _ = first_case
    m = incident.metrics
    _dtypes_ok(m, METRIC_COLUMNS)
    files = sorted((NEZHA / case.metric_dir).glob("*_metric.csv.gz"))
    pods = {f.name.removesuffix("_metric.csv.gz") for f in files}
    assert set(m.loc[m["entity_kind"] == "pod", "entity"]) == pods
    assert set(m.loc[m["entity_kind"] == "node", "entity"]) <= set(incident.logs["node"])
    assert (m["entity_kind"] == "service").any()
    assert m["value"].isna().any()  # the raw files have NaN latencies: kept, not dropped
    one = files[0]
    raw = pd.read_csv(one)
    pod = one.name.removesuffix("_metric.csv.gz")
    cpu = m[(m["entity"] == pod) & (m["metric"] == "CpuUsageRate(%)")].sort_values("ts_s")
    assert cpu["value"].tolist() == raw.sort_values("TimeStamp")["CpuUsageRate(%)"].tolist()
    assert cpu["ts_s"].tolist() == raw.sort_values("TimeStamp")["TimeStamp"].astype(float).tolist()


def test_case_baseline(first_case):
    case, incident, baseline = first_case
    raw = pd.read_csv(NEZHA / case.normal_trace_file, dtype=str)
    assert len(baseline.spans) == len(raw.drop_duplicates(["TraceID", "SpanID"]))
    assert baseline.logs is not None and len(baseline.logs) > 0
    assert baseline.metrics is None
    assert not set(baseline.spans["trace_id"]) & set(incident.spans["trace_id"])
    assert set(baseline.sources) == {"traces", "logs"}


def test_last_case_loads_with_every_modality(cases):
    incident, baseline = load_nezha_case(NEZHA, cases[-1])
    assert incident.modalities == ["traces", "logs", "metrics"]
    assert len(baseline.spans) > 0


def test_load_api_on_nezha_files(cases):
    c = cases[1]
    spans = load_traces([NEZHA / f for f in c.trace_files])
    assert len(spans) > 1000 and spans.duplicated(["trace_id", "span_id"]).sum() == 0
    logs = load_logs([NEZHA / f for f in c.log_files])
    assert len(logs) > 0
    metrics = load_metrics(NEZHA / c.metric_dir, pod_nodes={"no-such-pod": "n"})
    assert set(metrics["entity_kind"]) == {"pod", "service"}  # no pod of the map: node KPIs stay on pods


def test_aiops2022_sample():
    path = _need(AIOPS / "trace_jaeger-span.csv")
    assert sniff_format(path) == "aiops2022-traces"
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    spans = load_traces(path)
    _dtypes_ok(spans, SPAN_COLUMNS)
    assert len(spans) == len(raw)
    assert (spans["parent_id"] == "").sum() == (raw["parent_span"] == "").sum() == 1
    assert (spans["start_us"] == raw["timestamp"].astype("int64") * 1000).all()  # ms -> us
    assert (spans["duration_us"] == raw["duration"].astype("int64")).all()  # already us
    assert set(spans["status_code"]) == set(raw["status_code"])
    assert not spans["is_error"].any()  # 0 / OK / Ok / 200 are all success codes
    assert not spans["service"].str.contains(r"-\d+$").any()
    ids = set(spans["span_id"])
    assert set(spans.loc[spans["parent_id"] != "", "parent_id"]) <= ids


def test_aiops2022_groundtruth_real():
    path = _need(AIOPS / "groundtruth_2022-03-20-cloudbed1.csv")
    faults = read_aiops2022_groundtruth(path)
    raw = pd.read_csv(path)
    assert len(faults) == len(raw)
    assert {f.level for f in faults} <= {"node", "pod", "service"}
    assert [f.ts_s for f in faults] == raw["timestamp"].tolist()


@pytest.mark.slow  # reads all ~80 log files; the skipping rule itself has a fast unit test
def test_every_nezha_log_file_loads(cases):
    """Real exports have the odd truncated line (free text inside quoted JSON); every log file of every
    case must still load."""
    for f in sorted({f for c in cases for f in c.log_files}):
        raw_lines = sum(1 for _ in gzip.open(NEZHA / f, "rt", encoding="utf-8", errors="replace")) - 1
        df = load_logs(NEZHA / f)
        assert 0.95 * raw_lines <= len(df) <= raw_lines, f
