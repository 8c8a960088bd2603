"""The HTML report of one diagnosis: one self-contained file, readable offline.

No CDN, fonts or scripts: the page is plain HTML with inline CSS and inline SVG, and every piece of text
that came from the user's telemetry (span names, pods, log templates, rationales) goes through
:func:`html.escape`. Sections: a header with what the diagnosis rests on (window, baseline, modalities,
spans and traces analysed, every warning, the error spans it did not analyse); the service map (services,
calls, the calls that moved, the candidates with their rank, the blamed paths); the ranked candidates with
their evidence; and the trace trees of the diagnosed traces that support the top candidates (abnormal spans
highlighted, the blamed path emphasised, a waterfall bar per span, each duration beside its operation's
normal one). Durations are in µs, ms or s by size everywhere (:mod:`units`). The page reads at desktop
width and on a phone (the map has a narrow drawing of its own).
"""

from __future__ import annotations

import html
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from faultwise.errors import InputError
from faultwise.io import atomic_write_text
from faultwise.rcl.profile.graph import TraceGraph
from faultwise.rcl.records import EvidenceGraph
from faultwise.rcl.reports.coverage import Coverage, baseline_kind, baseline_words
from faultwise.rcl.reports.servicemap import (
    NARROW_PER_ROW,
    WIDE_PER_ROW,
    ServiceMap,
    build_service_map,
    render_svg,
)
from faultwise.rcl.reports.table import MODALITIES, missing_modalities
from faultwise.rcl.reports.units import human_duration, human_window, humanize_text
from faultwise.rcl.telemetry.schema import Telemetry

if TYPE_CHECKING:
    from faultwise.rcl.method.analyzer import Diagnosis

MAX_CANDIDATES = 10
MAX_TRACES = 3
FULL_TREE_SPANS = 80  # smaller traces are drawn whole; larger ones only around the abnormal spans
MAX_ROWS = 250  # rows drawn per trace, whatever its size


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


@dataclass(frozen=True)
class ReportTruth:
    """The known cause of a generated incident (demo only), shown beside the answer."""

    component: str
    level: str
    fault_type: str


def _h(value: object) -> str:
    """Escaped, with raw microsecond figures in human units."""
    return _e(humanize_text(str(value)))


_CSS = """
:root { --fg:#1d2330; --muted:#5b6577; --line:#d9dee7; --bg:#f6f7fa; --card:#fff; --bad:#c62828;
        --badbg:#fdecea; --path:#e65100; --pathbg:#fff3e0; --ok:#2e7d32; --accent:#1f5fae; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
       color:var(--fg); background:var(--bg); }
main { max-width:1180px; margin:0 auto; padding:24px 20px 60px; }
h1 { font-size:22px; margin:0 0 4px; } h2 { font-size:17px; margin:28px 0 10px; }
.sub { color:var(--muted); margin:0 0 16px; }
.card { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:14px 16px;
        margin:0 0 12px; }
.cand { display:grid; grid-template-columns:44px 1fr 180px; gap:6px 14px; align-items:start; }
.rank { font-size:22px; font-weight:700; color:var(--accent); text-align:center; }
.comp { font-weight:650; font-size:15px; word-break:break-all; }
.meta { color:var(--muted); font-size:13px; }
.tag { display:inline-block; padding:1px 8px; border-radius:10px; font-size:12px; margin-right:4px;
       background:#eef2f8; border:1px solid var(--line); }
.tag.ft { background:#f3e8fd; border-color:#dcc4f5; }
.tag.used { background:#e8f5e9; border-color:#b9dfbc; color:var(--ok); }
.tag.missing { background:#f4f4f4; color:#888; text-decoration:line-through; }
.score { text-align:right; } .score b { font-size:18px; }
.bar { height:6px; background:#e6e9ef; border-radius:3px; overflow:hidden; margin-top:4px; }
.bar > i { display:block; height:100%; background:var(--accent); }
.cand ul { margin:6px 0 0; padding-left:18px; } .cand li { margin:1px 0; font-size:13px; }
.truth { border-left:4px solid var(--ok); }
.hit { color:var(--ok); font-weight:650; } .miss { color:var(--bad); font-weight:650; }
.warn { border-left:4px solid #f9a825; } .warn li { font-size:13px; }
table.kv { border-collapse:collapse; } table.kv td { padding:2px 14px 2px 0; vertical-align:top; }
table.kv td:first-child { color:var(--muted); white-space:nowrap; }
.tree { font:12.5px/1.35 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace; }
.row { display:grid; grid-template-columns:minmax(0,1fr) 260px; gap:10px; padding:3px 6px;
       border-bottom:1px solid #f0f2f5; }
.row .lbl { overflow-wrap:anywhere; } .row .op { font-weight:600; }
.row .svc { color:var(--muted); }
.row.abn { background:var(--badbg); } .row.abn .op { color:var(--bad); }
.row.path { background:var(--pathbg); box-shadow:inset 4px 0 0 var(--path); }
.row.path.abn { background:linear-gradient(90deg,var(--pathbg),var(--badbg)); }
.row.cause { outline:2px solid var(--path); outline-offset:-2px; }
.sym { display:block; color:#7a3b00; font-size:12px; } .row.abn .sym { color:var(--bad); }
.wf { position:relative; height:12px; background:#f1f3f7; border-radius:2px; margin-top:3px; }
.wf > i { position:absolute; top:0; bottom:0; background:#9fb3d1; border-radius:2px; min-width:2px; }
.row.abn .wf > i { background:var(--bad); } .row.path .wf > i { background:var(--path); }
.dur { font-size:11.5px; color:var(--muted); text-align:right; }
.more { color:var(--muted); font-style:italic; padding:2px 6px; }
.legend span { margin-right:14px; font-size:12.5px; }
.sw { display:inline-block; width:12px; height:12px; vertical-align:-2px; margin-right:4px; border-radius:2px; }
details > summary { cursor:pointer; color:var(--accent); }
h3 { font-size:14.5px; margin:16px 0 6px; }
.facts { display:grid; grid-template-columns:repeat(auto-fit,minmax(260px,1fr)); gap:8px 22px; margin:0 0 12px; }
.facts dt { color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.04em; }
.facts dd { margin:1px 0 0; overflow-wrap:anywhere; }
.src { font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace; overflow-wrap:anywhere; }
.warn ul { margin:6px 0 0; padding-left:18px; } .warn li { overflow-wrap:anywhere; }
.scroll { overflow-x:auto; }
table.grid { border-collapse:collapse; width:100%; font-size:13px; }
table.grid th, table.grid td { text-align:left; padding:4px 10px 4px 0; border-bottom:1px solid #eef0f4;
  vertical-align:top; overflow-wrap:anywhere; }
table.grid th { color:var(--muted); font-weight:600; }
.mapcard { padding:10px 12px; }
.smap { display:block; width:100%; height:auto; margin:0 auto 6px; }
.smap text { font:13px system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif; text-anchor:middle; }
.smap .node rect { fill:#fff; stroke:#9aa7bb; stroke-width:1.5; }
.smap .node.err rect { stroke:#d98c8c; }
.smap .node.cand rect { fill:var(--badbg); stroke:var(--bad); stroke-width:2.5; }
.smap .node.blamed rect { stroke:var(--path); stroke-width:3; }
.smap .name { font-weight:650; fill:var(--fg); }
.smap .sub { font-size:11px; fill:var(--muted); }
.smap .node.cand .sub { fill:var(--bad); font-weight:600; }
.smap .badge { fill:var(--bad); stroke:#fff; stroke-width:2; }
.smap .badge-t { font-size:13px; font-weight:700; fill:#fff; }
.smap .edge path { fill:none; stroke:#b3bccb; } .smap .edge polygon { fill:#b3bccb; }
.smap .edge.moved path { stroke:var(--bad); } .smap .edge.moved polygon { fill:var(--bad); }
.smap .edge.blamed path { stroke:var(--path); } .smap .edge.blamed polygon { fill:var(--path); }
.smap .elabel { font-size:11.5px; font-weight:600; fill:var(--bad); }
.smap .lbg { fill:#fff; fill-opacity:.92; stroke:#f3c7c7; stroke-width:1; }
.smap.narrow { display:none; }
.norm { color:#8a93a3; }
@media (max-width: 720px) {
  main { padding:14px 10px 40px; }
  .smap.wide { display:none; } .smap.narrow { display:block; }
  .cand { grid-template-columns:34px minmax(0,1fr); } .cand .score { grid-column:2; text-align:left; }
  .row { grid-template-columns:minmax(0,1fr) 112px; }
  .facts { grid-template-columns:minmax(0,1fr); }
}
"""


def _candidates_html(diagnosis: Diagnosis, truth: ReportTruth | None) -> str:
    if not diagnosis.candidates:
        why = (
            "no trace was analysed (see the warnings above)"
            if not diagnosis.traces_analyzed
            else "nothing in the analysed traces deviates from the baseline"
        )
        return f'<div class="card">No candidate: {_e(why)}.</div>'
    top = max((c.score for c in diagnosis.candidates), default=1.0) or 1.0
    out = []
    for i, c in enumerate(diagnosis.candidates[:MAX_CANDIDATES], start=1):
        evidence = "".join(f"<li>{_h(x)}</li>" for x in c.evidence)
        evidence_html = f"<ul>{evidence}</ul>" if evidence else '<div class="meta">no itemised evidence</div>'
        service = f" · service <b>{_e(c.service)}</b>" if c.service and c.service != c.component else ""
        is_truth = truth is not None and c.component == truth.component and c.level == truth.level
        mark = ' <span class="hit">← the injected cause</span>' if is_truth else ""
        width = max(0.0, min(1.0, c.score / top)) * 100
        out.append(
            f'<div class="card cand"><div class="rank">{i}</div>'
            f'<div><div class="comp">{_e(c.component)}{mark}</div>'
            f'<div class="meta"><span class="tag">{_e(c.level)}</span>'
            f'<span class="tag ft">{_e(c.fault_type)}</span>{service}</div>'
            f"<div>{_h(c.rationale)}</div>{evidence_html}</div>"
            f'<div class="score">score <b>{c.score:.3f}</b><div class="bar"><i style="width:{width:.1f}%">'
            f"</i></div></div></div>"
        )
    return "\n".join(out)


def _truth_html(diagnosis: Diagnosis, truth: ReportTruth) -> str:
    ranked = [c.component for c in diagnosis.candidates if c.level == truth.level]
    rank = ranked.index(truth.component) + 1 if truth.component in ranked else None
    verdict = (
        f'<span class="hit">ranked #{rank} among {_e(truth.level)} candidates</span>'
        if rank
        else '<span class="miss">not among the candidates</span>'
    )
    return (
        f'<div class="card truth"><b>Ground truth (generated incident):</b> {_e(truth.component)} '
        f'<span class="tag">{_e(truth.level)}</span><span class="tag ft">{_e(truth.fault_type)}</span> — '
        f"{verdict}</div>"
    )


def _header_html(
    diagnosis: Diagnosis, sources: dict[str, str], coverage: Coverage | None, baseline_words: str
) -> str:
    """What the diagnosis rests on, before anything it concluded: window, baseline, modalities, how much
    was analysed, where the data came from."""
    tags = "".join(
        f'<span class="tag {"used" if m in diagnosis.modalities else "missing"}">{_e(m)}</span>'
        for m in MODALITIES
    )
    missing = missing_modalities(diagnosis)
    note = (
        f'<div class="meta">Missing {_e(", ".join(missing))}: the diagnosis rests on the rest.</div>'
        if missing
        else ""
    )
    lo, hi = diagnosis.window_us
    analysed = (
        f"{diagnosis.traces_analyzed} of {diagnosis.traces_total} traces, {diagnosis.spans_analyzed} spans"
    )
    if coverage is not None:
        analysed += f" (of {coverage.spans_total} loaded)"
        if coverage.error_spans_total:
            analysed += (
                f"; {coverage.error_spans_analysed} of {coverage.error_spans_total} failed spans "
                "inside the analysed traces"
            )
    facts = [
        ("incident window", _e(human_window(lo, hi))),
        ("normal baseline", _e(baseline_words)),
        ("modalities", tags + note),
        ("analysed", _e(analysed) + f" in {_e(human_duration(diagnosis.seconds * 1e6))}"),
        ("reasoner", _e(diagnosis.reasoner)),
    ]
    for mod, src in sources.items():
        files = "<br>".join(_e(f) for f in src.split(";"))
        facts.append((f"{_e(mod)} from", f'<span class="src">{files}</span>'))
    body = "".join(f"<div><dt>{k}</dt><dd>{v}</dd></div>" for k, v in facts)
    return f'<dl class="card facts">{body}</dl>'


def _warnings_html(warnings: Iterable[str]) -> str:
    warnings = list(warnings)
    items = "".join(f"<li>{_h(w)}</li>" for w in warnings)
    if not items:
        return ""
    n = len(warnings)
    return (
        f'<div class="card warn" id="warnings"><b>{n} warning{"s" if n != 1 else ""}</b> — read these before '
        f"the ranking<ul>{items}</ul></div>"
    )


def _error_spans_html(coverage: Coverage | None) -> str:
    """The failed spans the diagnosis left out (never silently)."""
    if coverage is None or not coverage.error_spans_missed:
        return ""
    missed = coverage.error_spans[: coverage.error_spans_missed]
    rows = "".join(
        f"<tr><td>{_e(e.service)}</td><td>{_e(e.operation)}</td><td>{_e(e.status_code or '-')}</td>"
        f'<td class="src">{_e(e.span_id)}</td><td class="src">{_e(e.trace_id)}</td></tr>'
        for e in missed
    )
    more = f" (the first {len(missed)} shown)" if coverage.error_spans_missed > len(missed) else ""
    return (
        f'<details class="card" open><summary>Failed spans not analysed: {coverage.error_spans_missed}'
        f"{_e(more)}</summary>"
        '<div class="scroll"><table class="grid"><tr><th>service</th><th>operation</th><th>status</th>'
        f"<th>span</th><th>trace</th></tr>{rows}</table></div></details>"
    )


def pick_traces(diagnosis: Diagnosis, n: int = MAX_TRACES) -> list[tuple[EvidenceGraph, TraceGraph]]:
    """The traces to draw: for each top candidate in turn, the most anomalous diagnosed trace whose
    recursion blamed it; then the most anomalous of the rest, up to ``n``."""
    by_id = {g.trace_id: g for g in diagnosis.trace_graphs}
    gegs = [g for g in diagnosis.graphs if g.trace_id in by_id]
    order = sorted(
        range(len(gegs)),
        key=lambda i: (-gegs[i].trace_anomaly, -max((r.confidence for r in gegs[i].root_reports), default=0)),
    )
    chosen: list[int] = []
    for cand in diagnosis.candidates[:n]:
        for i in order:
            if i in chosen:
                continue
            if any(r.component == cand.component or r.node == cand.component for r in gegs[i].root_reports):
                chosen.append(i)
                break
    for i in order:
        if len(chosen) >= n:
            break
        if i not in chosen:
            chosen.append(i)
    return [(gegs[i], by_id[gegs[i].trace_id]) for i in chosen[:n]]


def _visible(tg: TraceGraph, geg: EvidenceGraph, path: set[str]) -> set[str]:
    """Spans to draw: all of a small trace; else the roots, the abnormal spans, their ancestors, the
    blamed path and the direct children of the path (capped at ``MAX_ROWS``, strongest first)."""
    if len(tg) <= FULL_TREE_SPANS:
        return set(tg.spans)
    abnormal = sorted((n for n in geg.nodes.values() if n.is_abnormal), key=lambda n: -n.score)
    keep: set[str] = set(tg.roots) | {s for s in path if s in tg.spans}
    for s in list(path):
        keep.update(tg.children.get(s, [])[:20])
    for n in abnormal:
        if len(keep) >= MAX_ROWS:
            break
        keep.update(s for s in tg.path_to_root(n.span_id) if s in tg.spans)
    return keep


NormalDurations = dict[tuple[str, str], float]


def normal_durations(normal_spans: pd.DataFrame | None) -> NormalDurations:
    """Median duration of each (service, operation) in the normal period."""
    if normal_spans is None or not len(normal_spans):
        return {}
    med = normal_spans.groupby(["service", "operation"], sort=False)["duration_us"].median()
    return {(str(k[0]), str(k[1])): float(v) for k, v in med.items()}


def _tree_html(geg: EvidenceGraph, tg: TraceGraph, normal_us: NormalDurations) -> str:
    report = max(geg.root_reports, key=lambda r: r.confidence, default=None)
    path = set(report.path) if report else set()
    cause = report.root_cause_span if report else None
    visible = _visible(tg, geg, path)
    t0 = min((s.start_us for s in tg.spans.values()), default=0)
    t1 = max((s.end_us for s in tg.spans.values()), default=1)
    total = max(t1 - t0, 1)
    rows: list[str] = []
    stack: list[tuple[str, int]] = [(r, 0) for r in reversed(tg.roots)]
    while stack and len(rows) < MAX_ROWS:
        sid, depth = stack.pop()
        sp = tg.spans[sid]
        ev = geg.nodes.get(sid)
        classes = ["row"]
        if ev is not None and ev.is_abnormal:
            classes.append("abn")
        if sid in path:
            classes.append("path")
        if sid == cause:
            classes.append("cause")
        symptoms = "".join(f'<span class="sym">• {_h(s)}</span>' for s in (ev.key_symptoms if ev else [])[:4])
        flag = " ✖ error" if sp.is_error else ""
        hyp = f' <span class="tag ft">{_e(ev.hypothesis)}</span>' if ev is not None and ev.is_abnormal else ""
        cause_mark = ' <b style="color:var(--path)">◀ blamed</b>' if sid == cause else ""
        left = (sp.start_us - t0) / total * 100
        width = sp.duration_us / total * 100
        indent = depth * 18
        rows.append(
            f'<div class="{" ".join(classes)}"><div class="lbl" style="padding-left:{indent}px">'
            f'{"└ " if depth else ""}<span class="op">{_e(sp.operation)}</span>{hyp}{cause_mark}'
            f' <span class="svc">{_e(sp.service)} · {_e(sp.pod)}{(" · " + _e(sp.node)) if sp.node else ""}'
            f"{_e(flag)}</span>{symptoms}</div>"
            f'<div><div class="dur">{_e(human_duration(sp.duration_us))}{_normal_beside(sp, normal_us)}</div>'
            '<div class="wf">'
            f'<i style="left:{left:.2f}%;width:{width:.2f}%"></i></div></div></div>'
        )
        kids = tg.children.get(sid, [])
        shown = [k for k in kids if k in visible]
        hidden = len(kids) - len(shown)
        if hidden:
            stack.append((f"\x00more:{hidden}", depth + 1))
        stack.extend((k, depth + 1) for k in reversed(shown))
        while stack and stack[-1][0].startswith("\x00more:"):
            marker, d = stack.pop()
            n_hidden = marker.split(":", 1)[1]
            rows.append(
                f'<div class="more" style="padding-left:{d * 18 + 6}px">… {n_hidden} normal child span(s) '
                f"not drawn</div>"
            )
    if stack:
        rows.append(f'<div class="more">… the rest of the {len(tg)} spans are not drawn</div>')
    return "\n".join(rows)


def _normal_beside(sp, normal_us: NormalDurations) -> str:
    med = normal_us.get((sp.service, sp.operation))
    return "" if med is None else f' <span class="norm">normal {_e(human_duration(med))}</span>'


def _traces_html(diagnosis: Diagnosis, normal_us: NormalDurations) -> str:
    picked = pick_traces(diagnosis)
    if not picked:
        return '<div class="card">No trace was diagnosed.</div>'
    legend = (
        '<div class="legend"><span><i class="sw" style="background:var(--badbg);border:1px solid var(--bad)">'
        "</i>abnormal span (its own evidence)</span>"
        '<span><i class="sw" style="background:var(--pathbg);border:1px solid var(--path)"></i>'
        "path the recursion blamed</span>"
        '<span><i class="sw" style="border:2px solid var(--path)"></i>root-cause span</span></div>'
    )
    out = [legend]
    for geg, tg in picked:
        report = max(geg.root_reports, key=lambda r: r.confidence, default=None)
        blame = (
            f"blames <b>{_e(report.component or report.node or '-')}</b> "
            f'<span class="tag ft">{_e(report.fault_type)}</span> '
            f"(confidence {report.confidence:.2f}): {_h(report.reason)}"
            if report and report.root_cause_span
            else "no root cause found in this trace"
        )
        n_abn = sum(1 for n in geg.nodes.values() if n.is_abnormal)
        out.append(
            f'<div class="card"><div><b>trace {_e(tg.trace_id)}</b> · {len(tg)} spans · {n_abn} abnormal · '
            f'anomaly {geg.trace_anomaly:.2f}</div><div class="meta">{blame}</div>'
            f'<div class="tree">{_tree_html(geg, tg, normal_us)}</div></div>'
        )
    return "\n".join(out)


def _map_html(smap: ServiceMap) -> str:
    if not smap.nodes:
        return '<div class="card">No service to draw.</div>'
    legend = (
        '<div class="legend"><span><i class="sw" style="background:var(--badbg);border:2px solid var(--bad)">'
        "</i>candidate (with its rank)</span>"
        '<span><i class="sw" style="background:var(--path)"></i>path the recursion blamed</span>'
        '<span><i class="sw" style="background:var(--bad)"></i>calls that moved</span>'
        '<span><i class="sw" style="background:#b3bccb"></i>calls (thicker: more)</span></div>'
    )
    notes = []
    if not smap.compared:
        notes.append("No normal period to compare the calls with: no call is marked as moved.")
    if smap.hidden:
        notes.append(
            f"{smap.hidden} more service(s) are not drawn (the candidates, the blamed paths and the calls "
            "that moved come first)."
        )
    if smap.other_candidates:
        named = ", ".join(f"#{r} {_e(level)} {_e(c)}" for r, level, c in smap.other_candidates)
        notes.append(f"Candidates that are not a service: {named}.")
    if smap.strip_note:
        notes.append(_e(smap.strip_note))
    note = "".join(f'<div class="meta">{n}</div>' for n in notes)
    return (
        f'<div class="card mapcard">{render_svg(smap, WIDE_PER_ROW, True, "wide")}'
        f"{render_svg(smap, NARROW_PER_ROW, False, 'narrow')}{legend}{note}{_moved_html(smap)}</div>"
    )


def _moved_html(smap: ServiceMap) -> str:
    moved = sorted(
        (e for e in smap.edges if e.moved),
        key=lambda e: (-(e.slow_share or 0) - (e.error_share - (e.normal_error_share or 0)), e.caller),
    )
    if not moved:
        return ""
    rows = "".join(
        f"<tr><td>{_e(e.caller)} → {_e(e.callee)}</td><td>{_e(e.label())}</td>"
        f"<td>{_e(human_duration(e.median_wait_us))}"
        f"{_e(f' (normal {human_duration(e.normal_median_wait_us)})') if e.normal_median_wait_us is not None else ''}"
        f"</td><td>{e.calls}</td></tr>"
        for e in moved
    )
    return (
        '<h3>Calls that moved</h3><div class="scroll"><table class="grid moved"><tr><th>call</th>'
        f"<th>what moved</th><th>median wait</th><th>calls</th></tr>{rows}</table></div>"
    )


def _normal_spans(
    diagnosis: Diagnosis, incident: Telemetry | None, normal: Telemetry | None
) -> pd.DataFrame | None:
    parts = []
    if normal is not None and len(normal.spans):
        parts.append(normal.spans)
    if incident is not None and len(incident.spans):
        before = incident.spans[incident.spans["start_us"] < diagnosis.window_us[0]]
        if len(before) and len(before) < len(incident.spans):
            parts.append(before)
    return pd.concat(parts, ignore_index=True) if parts else None


def render_html(
    diagnosis: Diagnosis,
    *,
    title: str = "faultwise root cause report",
    sources: dict[str, str] | None = None,
    truth: ReportTruth | None = None,
    incident: Telemetry | None = None,
    normal: Telemetry | None = None,
    coverage: Coverage | None = None,
) -> str:
    """The whole report as one HTML string (no external resources).

    ``incident`` and ``normal`` (the telemetry diagnosed and the declared fault-free telemetry) give the
    service map its calls and every duration its normal value; without them the map is drawn from the
    diagnosed traces alone. ``coverage`` (:func:`~faultwise.rcl.reports.coverage.describe_coverage`) adds
    the failed spans that were not analysed."""
    if sources is None:
        sources = dict(incident.sources) if incident is not None else {}
    kind = coverage.baseline_kind if coverage is not None else baseline_kind(diagnosis)
    words = coverage.baseline if coverage is not None else baseline_words(diagnosis, kind)
    smap = build_service_map(diagnosis, incident, normal)
    normal_us = normal_durations(_normal_spans(diagnosis, incident, normal))
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body><main>",
        f"<header><h1>{_e(title)}</h1>",
        f'<p class="sub">Ranked root-cause candidates of the incident, the service map, the evidence behind '
        f"each candidate and the diagnosed traces. Generated by faultwise ({_e(diagnosis.reasoner)} reasoner).</p>",
        _header_html(diagnosis, sources, coverage, words),
        _warnings_html(diagnosis.warnings),
        _error_spans_html(coverage),
        "</header>",
    ]
    if truth is not None:
        parts.append(_truth_html(diagnosis, truth))
    parts += [
        "<h2>Service map</h2>",
        _map_html(smap),
        "<h2>Candidates</h2>",
        _candidates_html(diagnosis, truth),
        "<h2>Diagnosed traces</h2>",
        _traces_html(diagnosis, normal_us),
        "</main></body></html>",
    ]
    return "\n".join(parts)


def check_report_path(path: str | Path) -> None:
    """Fail now, in one line, when the report cannot be written at ``path`` (a folder that cannot be
    created or written to), rather than after the diagnosis."""
    path = Path(path)
    if path.is_dir():
        raise InputError(path, "is a directory, expected an output file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe", dir=path.parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise InputError(path, f"cannot write the report there: {exc.strerror or exc}") from None


def write_html(path: str | Path, diagnosis: Diagnosis, **kwargs) -> Path:
    """Render and write atomically (a failed render leaves no file); a path that cannot be written is one
    :class:`InputError`."""
    text = render_html(diagnosis, **kwargs)
    try:
        atomic_write_text(path, text)
    except OSError as exc:
        raise InputError(path, f"cannot write the report: {exc.strerror or exc}") from None
    return Path(path)
