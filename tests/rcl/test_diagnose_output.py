"""What ``faultwise rcl diagnose`` says about what it did and did not analyse, in every output; the report
path that cannot be written; human units; the service map of the HTML report."""

from __future__ import annotations

import errno
import json
import re

import pandas as pd
import pytest
from rich.console import Console

from faultwise.rcl.reports import html as html_report
from faultwise.rcl.reports.servicemap import build_service_map, layout
from faultwise.rcl.reports.units import human_duration, human_shift, human_window, humanize_text
from faultwise.rcl.simulate import write_incident_otlp
from faultwise.rcl.telemetry.schema import SPAN_COLUMNS
from faultwise.rcl.telemetry.writers import write_jaeger, write_zipkin

T0 = 1_700_000_000_000_000
ERROR_SPANS = ("e000000000000001", "e000000000000002", "e000000000000003")


def _one_trace(cycle: bool = False) -> pd.DataFrame:
    """One trace of a gateway calling two services, three of whose spans failed (as a single exported
    trace is: no baseline, no second trace); with ``cycle`` its root hangs under its last span."""
    rows = [("r000000000000001", "", "gateway", "GET /order", "server", 0, 90_000)]
    for i, (svc, op) in enumerate([("orders", "load"), ("stock", "reserve"), ("orders", "save")]):
        client = f"c00000000000000{i + 1}"
        rows.append(
            (client, "r000000000000001", "gateway", f"call {svc}", "client", 1_000 + 20_000 * i, 15_000)
        )
        rows.append((ERROR_SPANS[i], client, svc, op, "server", 1_500 + 20_000 * i, 14_000))
    df = pd.DataFrame(
        [dict(trace_id="a" * 32, span_id=s, parent_id=p, service=sv, pod=sv, node="", operation=op, kind=k,
              start_us=T0 + st, duration_us=d, is_error=s in ERROR_SPANS, status_code="500" if s in ERROR_SPANS else "200")
         for s, p, sv, op, k, st, d in rows]
    )[list(SPAN_COLUMNS)]  # fmt: skip
    if cycle:
        df.loc[df["span_id"] == "r000000000000001", "parent_id"] = ERROR_SPANS[-1]
    return df


def _json(cli, *args):
    rc, out, err = cli(["rcl", "diagnose", *args, "--json"])
    assert rc == 0, err
    assert "Traceback" not in err
    return json.loads(out)


# --- defect 1: the output says what was and was not analysed ---------------------------------------------------


def test_a_single_trace_is_never_a_silent_all_clear(tmp_path, cli):
    path = tmp_path / "one-trace.json"
    write_zipkin(_one_trace(), path)
    doc = _json(cli, "--traces", path)
    cov = doc["coverage"]
    assert cov["spans_total"] == 7 and cov["traces_total"] == 1
    assert cov["error_spans_total"] == 3
    listed = {e["span_id"] for e in cov["error_spans"]}
    assert set(ERROR_SPANS) <= listed  # every failed span is named
    assert cov["baseline_kind"] in ("pre-start", "none")
    if doc["traces_analyzed"] == 0:  # the method analysed nothing: the output says why, and what it left
        assert cov["why_nothing"]
        assert any(w.startswith("no trace was analysed") for w in doc["warnings"])
        assert any("3 error span(s)" in w for w in doc["warnings"])
        assert all(not e["analysed"] for e in cov["error_spans"])
        assert cov["error_spans_missed"] == 3
    else:
        assert cov["error_spans_analysed"] == 3


def test_the_table_and_the_report_say_it_too(tmp_path, cli):
    path = tmp_path / "one-trace.json"
    write_zipkin(_one_trace(), path)
    report = tmp_path / "r.html"
    rc, out, err = cli(["rcl", "diagnose", "--traces", path, "--html", report])
    assert rc == 0, err
    assert "normal baseline:" in out and "analysed:" in out and "incident window:" in out
    page = report.read_text(encoding="utf-8")
    for word in ("incident window", "normal baseline", "modalities", "analysed"):
        assert word in page
    doc = _json(cli, "--traces", path)
    for w in doc["warnings"]:
        assert html_report.html.escape(w.split(":")[0]) in page  # every warning is in the report
    if doc["traces_analyzed"] == 0:
        assert "Failed spans not analysed" in page
        for sid in ERROR_SPANS:
            assert sid in page


def test_loader_warnings_reach_the_diagnosis(tmp_path, cli):
    spans = _one_trace()
    path = tmp_path / "live.json"
    write_zipkin(spans, path)
    doc = json.loads(path.read_text())
    path.write_text(json.dumps(doc[:-1])[:-1] + ",\n" + json.dumps(doc[-1])[:30])  # a cut last span
    rc, out, err = cli(["rcl", "diagnose", "--traces", path, "--json"])
    # one document cut short is malformed, not a partial line of JSON lines: one clear line
    assert rc == 2 and "Traceback" not in err and "malformed JSON" in err
    lines = tmp_path / "live.jsonl"
    lines.write_text(json.dumps(doc[:4]) + "\n" + json.dumps(doc[4:])[:25])
    got = _json(cli, "--traces", lines)
    assert any("partial last line" in w for w in got["warnings"])


# --- defect 12: a parent cycle with no root is reported ----------------------------------------------------------


def test_a_parent_cycle_with_no_root_is_reported(tmp_path, cli):
    path = tmp_path / "cycle.json"
    write_jaeger(_one_trace(cycle=True), path)
    doc = _json(cli, "--traces", path)
    cyc = [w for w in doc["warnings"] if "cycle" in w]
    assert cyc and "a" * 32 in cyc[0]
    assert doc["coverage"]["error_spans_total"] == 3


# --- defect 6: an unwritable report ------------------------------------------------------------------------------


@pytest.mark.parametrize("as_json", [False, True])
def test_unwritable_html_path_is_one_line_before_any_work(tmp_path, cli, as_json):
    path = tmp_path / "t.json"
    write_zipkin(_one_trace(), path)
    args = ["rcl", "diagnose", "--traces", path, "--html", "/proc/x.html"] + (["--json"] if as_json else [])
    rc, out, err = cli(args)
    assert rc == 2
    assert "Traceback" not in err and err.count("\n") == 1
    assert "/proc/x.html" in err and "cannot write" in err
    assert out == ""  # nothing was diagnosed, nothing printed


def test_report_failing_at_the_end_keeps_the_json(tmp_path, cli, monkeypatch):
    path = tmp_path / "t.json"
    write_zipkin(_one_trace(), path)

    def disk_full(*_a, **_k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(html_report, "atomic_write_text", disk_full)
    rc, out, err = cli(["rcl", "diagnose", "--traces", path, "--html", tmp_path / "r.html", "--json"])
    assert rc == 2 and "Traceback" not in err
    assert "No space left on device" in err and err.count("\n") == 1
    assert json.loads(out)["coverage"]["spans_total"] == 7  # the diagnosis reached stdout first


# --- human units ----------------------------------------------------------------------------------------------------


def test_human_units():
    assert human_duration(789) == "789 µs"
    assert human_duration(4_029) == "4.03 ms"
    assert human_duration(45_600) == "45.6 ms"
    assert human_duration(2_012_343) == "2.01 s"
    assert human_duration(125_000_000) == "125 s"
    assert human_shift(2_000_000) == "+2.00 s" and human_shift(-350) == "-350 µs"
    assert humanize_text("own processing 2012343us vs normal 4029us (z=6.4)") == (
        "own processing 2.01 s vs normal 4.03 ms (z=6.4)"
    )
    assert humanize_text("bus 12 users") == "bus 12 users"  # only figures with the unit
    assert human_window(T0, T0 + 433_000).endswith("(433 ms)")
    assert ".000 →" in human_window(T0, T0 + 433_000)  # a short window to the millisecond


@pytest.fixture(scope="module")
def delay_files(tmp_path_factory, small_incident):
    inc = small_incident("network_delay", 0)
    return inc, write_incident_otlp(inc, tmp_path_factory.mktemp("delay"))


def test_table_speaks_human_units(small_incident):
    from faultwise.rcl.method.analyzer import RCLAgent, RCLConfig
    from faultwise.rcl.reports.table import print_diagnosis

    inc = small_incident("network_delay", 0)
    d = RCLAgent(RCLConfig(max_traces=20)).find_root_causes(inc.incident, inc.normal)
    d.candidates[0].rationale = "own processing 2012343us vs normal 4029us (operation shift z=6.4)"
    d.warnings.append("a wait of 1500us")
    console = Console(record=True, width=220)
    print_diagnosis(console, d, 3)
    out = console.export_text()
    assert "2.01 s vs normal 4.03 ms" in out and "a wait of 1.50 ms" in out
    assert not re.search(r"\d+us\b", out)


# --- the service map -------------------------------------------------------------------------------------------------


def test_report_has_a_service_map_with_ranks_and_moved_calls(delay_files, cli, tmp_path):
    inc, paths = delay_files
    report = tmp_path / "r.html"
    rc, _, err = cli(
        ["rcl", "diagnose", "--traces", paths["traces"], "--logs", paths["logs"], "--metrics", paths["metrics"],
         "--baseline", paths["baseline"], "--baseline-logs", paths["baseline_logs"],
         "--baseline-metrics", paths["baseline_metrics"], "--html", report]
    )  # fmt: skip
    assert rc == 0, err
    page = report.read_text(encoding="utf-8")
    assert page.count('<svg class="smap') == 2  # the wide and the narrow drawing
    wide = page[page.index('<svg class="smap wide') : page.index("</svg>")]
    services = set(inc.incident.spans["service"])
    drawn = set(re.findall(r'<g class="node[^"]*" data-service="([^"]+)"', wide))
    assert drawn == services
    assert 'data-rank="1"' in wide  # the top candidate is marked with its rank
    assert re.search(r'class="edge[^"]*\bmoved\b', wide)
    assert re.search(r"wait \+[\d.]+ (µs|ms|s), \d+ % of calls", wide)
    assert "url(" not in page and "<script" not in page


def test_service_map_compares_each_call_with_normal(small_incident):
    inc = small_incident("network_delay", 0)
    from faultwise.rcl.method.analyzer import RCLAgent, RCLConfig

    d = RCLAgent(RCLConfig(max_traces=30)).find_root_causes(inc.incident, inc.normal)
    smap = build_service_map(d, inc.incident, inc.normal)
    assert smap.compared
    moved = [e for e in smap.edges if e.moved]
    assert moved, "a network delay moves the calls into the delayed service"
    assert any(e.callee == inc.truth.service or e.caller == inc.truth.service for e in moved)
    quiet = [e for e in smap.edges if not e.moved and e.normal_median_wait_us is not None]
    assert quiet, "calls that did not move are not marked"
    for e in moved:
        assert e.slow_share is None or 0 <= e.slow_share <= 1


def test_layout_keeps_rows_inside_and_callers_above():
    names = [f"s{i}" for i in range(9)]
    edges = [("s0", f"s{i}") for i in range(1, 9)] + [("s1", "s2"), ("s2", "s1")]  # a cycle too
    lay = layout(names, edges, per_row=3)
    xs = [x for x, _ in lay.positions.values()]
    assert min(xs) >= 0 and max(xs) <= lay.width
    assert lay.positions["s0"][1] < min(y for n, (_, y) in lay.positions.items() if n != "s0")
    assert len({p for p in lay.positions.values()}) == len(names)  # no two nodes on one spot
