"""The HTML report of one diagnosis: one self-contained file, readable offline.

No CDN, fonts or scripts: the page is plain HTML with inline CSS, and every piece of text that came from
the user's telemetry (span names, pods, log templates, rationales) goes through :func:`html.escape`.
Sections: the ranked candidates with their evidence, the modalities used and missing, warnings, and the
trace trees of the diagnosed traces that support the top candidates (abnormal spans highlighted, the blamed
path emphasised, a waterfall bar per span).
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from faultwise.io import atomic_write_text
from faultwise.rcl.profile.graph import TraceGraph
from faultwise.rcl.records import EvidenceGraph
from faultwise.rcl.reports.table import MODALITIES, missing_modalities

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


def _fmt_us(us: float) -> str:
    if us >= 1_000_000:
        return f"{us / 1e6:.2f} s"
    if us >= 1_000:
        return f"{us / 1e3:.1f} ms"
    return f"{us:.0f} µs"


def _fmt_ts(us: int) -> str:
    return datetime.fromtimestamp(us / 1e6, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


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
"""


def _candidates_html(diagnosis: Diagnosis, truth: ReportTruth | None) -> str:
    if not diagnosis.candidates:
        return '<div class="card">No candidate: nothing in the incident deviates from the baseline.</div>'
    top = max((c.score for c in diagnosis.candidates), default=1.0) or 1.0
    out = []
    for i, c in enumerate(diagnosis.candidates[:MAX_CANDIDATES], start=1):
        evidence = "".join(f"<li>{_e(x)}</li>" for x in c.evidence)
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
            f"<div>{_e(c.rationale)}</div>{evidence_html}</div>"
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


def _context_html(diagnosis: Diagnosis, sources: dict[str, str]) -> str:
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
    rows = [
        ("modalities", tags + note),
        ("window", f"{_e(_fmt_ts(diagnosis.window_us[0]))} → {_e(_fmt_ts(diagnosis.window_us[1]))}"),
        (
            "analysed",
            f"{diagnosis.traces_analyzed} of {diagnosis.traces_total} traces, "
            f"{diagnosis.spans_analyzed} spans, {diagnosis.seconds:.2f} s",
        ),
        ("normal baseline", _e(diagnosis.baseline_source or "-")),
        ("reasoner", _e(diagnosis.reasoner)),
    ]
    for mod, src in sources.items():
        rows.append((f"{_e(mod)} from", _e(src)))
    body = "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in rows)
    return f'<div class="card"><table class="kv">{body}</table></div>'


def _warnings_html(warnings: Iterable[str]) -> str:
    items = "".join(f"<li>{_e(w)}</li>" for w in warnings)
    return f'<h2>Warnings</h2><div class="card warn"><ul>{items}</ul></div>' if items else ""


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


def _tree_html(geg: EvidenceGraph, tg: TraceGraph) -> str:
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
        symptoms = "".join(f'<span class="sym">• {_e(s)}</span>' for s in (ev.key_symptoms if ev else [])[:4])
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
            f'<div><div class="dur">{_e(_fmt_us(sp.duration_us))}</div><div class="wf">'
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


def _traces_html(diagnosis: Diagnosis) -> str:
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
            f"(confidence {report.confidence:.2f}): {_e(report.reason)}"
            if report and report.root_cause_span
            else "no root cause found in this trace"
        )
        n_abn = sum(1 for n in geg.nodes.values() if n.is_abnormal)
        out.append(
            f'<div class="card"><div><b>trace {_e(tg.trace_id)}</b> · {len(tg)} spans · {n_abn} abnormal · '
            f'anomaly {geg.trace_anomaly:.2f}</div><div class="meta">{blame}</div>'
            f'<div class="tree">{_tree_html(geg, tg)}</div></div>'
        )
    return "\n".join(out)


def render_html(
    diagnosis: Diagnosis,
    *,
    title: str = "faultwise root cause report",
    sources: dict[str, str] | None = None,
    truth: ReportTruth | None = None,
) -> str:
    """The whole report as one HTML string (no external resources)."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body><main>",
        f"<h1>{_e(title)}</h1>",
        f'<p class="sub">Ranked root-cause candidates of the incident, the evidence behind each, and the '
        f"diagnosed traces. Generated by faultwise ({_e(diagnosis.reasoner)} reasoner).</p>",
    ]
    if truth is not None:
        parts.append(_truth_html(diagnosis, truth))
    parts += [
        "<h2>Candidates</h2>",
        _candidates_html(diagnosis, truth),
        "<h2>What the diagnosis used</h2>",
        _context_html(diagnosis, sources or {}),
        _warnings_html(diagnosis.warnings),
        "<h2>Diagnosed traces</h2>",
        _traces_html(diagnosis),
        "</main></body></html>",
    ]
    return "\n".join(parts)


def write_html(path: str | Path, diagnosis: Diagnosis, **kwargs) -> Path:
    """Render and write atomically (a failed render leaves no file)."""
    text = render_html(diagnosis, **kwargs)
    atomic_write_text(path, text)
    return Path(path)
