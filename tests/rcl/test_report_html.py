"""The HTML report: self-contained, escaped, and drawing the blamed path of the diagnosed traces."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pandas as pd
import pytest

from faultwise.rcl.method.analyzer import Diagnosis, RCLAgent, RCLConfig
from faultwise.rcl.profile.graph import TraceGraph
from faultwise.rcl.records import AgentReport, Candidate, EvidenceGraph, SelfEvidence
from faultwise.rcl.reports.html import MAX_ROWS, ReportTruth, pick_traces, render_html, write_html
from faultwise.rcl.telemetry import Telemetry

EVIL = '<script>alert("x")</script> & "q"'
VOID = {"meta", "br", "img", "hr", "input", "link"}


class _TagChecker(HTMLParser):
    """Collects problems: unbalanced tags, scripts, external resources."""

    def __init__(self):
        super().__init__()
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "iframe", "object", "embed", "link"):
            self.problems.append(f"<{tag}>")
        for name, value in attrs:
            if name in ("src", "href") and value and re.match(r"\s*(https?:)?//", value):
                self.problems.append(f"external {name}={value}")
            if name.startswith("on"):
                self.problems.append(f"event handler {name}")
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"unbalanced </{tag}> (open: {self.stack[-3:]})")
        else:
            self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def _check(page: str) -> str:
    checker = _TagChecker()
    checker.feed(page)
    checker.close()
    assert checker.problems == []
    assert checker.stack == []
    assert not re.search(r"https?://", page), "no URL at all in an offline report"
    assert "@import" not in page and "url(" not in page
    return "".join(checker.text)


def _hand_built(n_spans: int = 400) -> Diagnosis:
    """A deep chain with a wide fan-out at the bottom, one abnormal leaf blamed by the root."""
    depth = 6
    rows = []
    for i in range(depth):
        rows.append(
            (f"c{i}", f"c{i - 1}" if i else "", f"svc{i}", f"svc{i}-0", f"op{i}", i * 10, 10_000 - i * 10)
        )
    for j in range(n_spans - depth):
        rows.append((f"f{j}", f"c{depth - 1}", "fan", "fan-0", f"fan-op-{j}", 100 + j, 5))
    rows[-1] = ("bad", f"c{depth - 1}", "svc<b>", "svc<b>-0", EVIL, 200, 9_000)
    df = pd.DataFrame(
        [dict(trace_id="t1", span_id=s, parent_id=p, service=sv, pod=pod, node="n1", operation=op, kind="",
              start_us=1_000_000 + st, duration_us=du, is_error=s == "bad", status_code="") for s, p, sv, pod, op, st, du in rows]
    )  # fmt: skip
    tg = TraceGraph.from_frame(df)
    nodes = {
        sid: SelfEvidence(span_id=sid, service=sp.service, pod=sp.pod, operation=sp.operation,
                          is_abnormal=sid == "bad", has_error=sid == "bad", has_error_logs=False,
                          has_metric_anomaly=False, key_symptoms=[EVIL] if sid == "bad" else [],
                          hypothesis="exception" if sid == "bad" else "unknown", score=1.0 if sid == "bad" else 0.0)
        for sid, sp in tg.spans.items()
    }  # fmt: skip
    path = [f"c{i}" for i in range(depth)] + ["bad"]
    report = AgentReport(span_id="c0", root_cause_span="bad", component="svc<b>-0", service="svc<b>",
                         fault_type="exception", reason=EVIL, confidence=0.9, path=path)  # fmt: skip
    geg = EvidenceGraph(
        trace_id="t1",
        nodes=nodes,
        edges=[(p, c) for c, p in tg.parent.items()],
        reports={"c0": report},
        roots=["c0"],
        trace_anomaly=1.0,
    )
    cand = Candidate(component="svc<b>-0", level="pod", fault_type="exception", score=0.9, rationale=EVIL,
                     evidence=[EVIL, "plain evidence"], service="svc<b>")  # fmt: skip
    return Diagnosis(
        candidates=[cand], modalities=["traces"], traces_total=1, traces_analyzed=1, spans_analyzed=len(tg),
        window_us=(1_000_000, 1_010_000), baseline_source=EVIL, seconds=0.1, reasoner="embedded",
        warnings=[f"trace t1: {EVIL}"], graphs=[geg], trace_graphs=[tg],
    )  # fmt: skip


def test_escapes_everything_and_stays_offline():
    page = render_html(_hand_built(), sources={"traces": "/data/<x>.json"})
    text = _check(page)
    assert "<script" not in page.lower()
    assert "&lt;script&gt;" in page
    assert EVIL in text  # the parsed text shows what the data said, literally
    assert "svc<b>-0" in text and "<b>-0" not in page
    assert "/data/<x>.json" in text


def test_large_trace_is_drawn_around_the_blamed_path():
    d = _hand_built(1_000)
    page = render_html(d)
    _check(page)
    rows = page.count('<div class="row')
    assert 0 < rows <= MAX_ROWS
    assert rows < 100  # the normal fan-out is summarised, not drawn span by span
    assert "normal child span(s) not drawn" in page
    path_rows = re.findall(r'<div class="row[^"]*\bpath\b', page)
    assert len(path_rows) == 7  # the chain of 6 and the blamed leaf
    assert len(re.findall(r'<div class="row[^"]*\bcause\b', page)) == 1
    assert len(re.findall(r'<div class="row[^"]*\babn\b', page)) == 1
    assert "missing" in page and "logs" in page  # missing modalities are named


@pytest.fixture(scope="module")
def diagnosed(small_incident):
    """A real diagnosis where the faulty service's operations carry a hostile name."""
    inc = small_incident("exception", 1)
    svc = inc.truth.service

    def rename(t: Telemetry) -> Telemetry:
        spans = t.spans.copy()
        mask = spans["service"] == svc
        spans["operation"] = (
            spans["operation"].astype(object).where(~mask, EVIL + spans["operation"].astype(object))
        )
        spans["operation"] = spans["operation"].astype("string")
        return Telemetry(spans, t.logs, t.metrics, t.sources)

    d = RCLAgent(RCLConfig(max_traces=40)).find_root_causes(rename(inc.incident), rename(inc.normal))
    return inc, d


def test_real_diagnosis_report(diagnosed, tmp_path):
    inc, d = diagnosed
    path = write_html(
        tmp_path / "r" / "report.html",
        d,
        truth=ReportTruth(inc.truth.component, inc.truth.level, inc.truth.fault_type),
    )
    page = path.read_text(encoding="utf-8")
    text = _check(page)
    assert "<script" not in page.lower()
    assert "&lt;script&gt;" in page
    assert "Ground truth" in text and inc.truth.component in text
    for c in d.candidates[:3]:
        assert c.component in text
    picked = pick_traces(d)
    assert 1 <= len(picked) <= 3
    for geg, _ in picked:
        assert f"trace {geg.trace_id}" in text
    blamed = [r for g, _ in picked for r in g.root_reports if r.root_cause_span]
    if blamed:
        assert re.search(r'<div class="row[^"]*\bcause\b', page)
    assert not list(path.parent.glob(".*.part"))
