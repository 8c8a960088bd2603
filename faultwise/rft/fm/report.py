"""A self-contained offline HTML page of one run: curves with alarms, diagnosis and actions marked on them.

No scripts, no CDN, no fonts to fetch: the curves are inline SVG drawn here, so the page opens anywhere and
can be attached to a ticket. People read curves faster than tables, so the tables only back the curves up.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from faultwise.rft.fm.monitor import EXCURSION_Z, FMEvent
from faultwise.rft.records import StepRecord

if TYPE_CHECKING:
    from faultwise.rft.fm.model import FMModel
    from faultwise.rft.fm.remediate.supervisor import SupervisionReport

CURVES: tuple[tuple[str, str], ...] = (
    ("reward_mean", "reward (mean)"),
    ("task_accuracy", "true task accuracy"),
    ("kl", "KL to reference"),
    ("entropy", "entropy"),
    ("response_length_mean", "response length (mean)"),
    ("grad_norm", "grad norm"),
    ("reward_std", "reward (std)"),
    ("clip_ratio", "clip ratio"),
    ("tool_errors_per_traj", "tool errors / trajectory"),
    ("advantage_std", "advantage (std)"),
)
W, H, PAD_L, PAD_R, PAD_T, PAD_B = 460, 150, 48, 10, 18, 22


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    a = abs(v)
    return f"{v:.2e}" if a >= 1e4 or a < 1e-2 else f"{v:.3g}"


def svg_curve(
    title: str,
    points: Sequence[tuple[int, float]],
    alarms: Sequence[int] = (),
    onset: int | None = None,
    diagnosed: int | None = None,
    rollbacks: Sequence[int] = (),
) -> str:
    """One small line chart; non-finite values are drawn as red crosses on the top edge."""
    finite = [(s, v) for s, v in points if math.isfinite(v)]
    steps = [s for s, _ in points]
    if not steps:
        return ""
    x0, x1 = min(steps), max(steps)
    x1 = x1 if x1 > x0 else x0 + 1
    ys = [v for _, v in finite] or [0.0]
    y0, y1 = min(ys), max(ys)
    if y1 - y0 < 1e-12:
        y0, y1 = y0 - 0.5, y1 + 0.5

    def px(s: float) -> float:
        return PAD_L + (s - x0) / (x1 - x0) * (W - PAD_L - PAD_R)

    def py(v: float) -> float:
        return PAD_T + (1 - (v - y0) / (y1 - y0)) * (H - PAD_T - PAD_B)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" role="img">',
        f"<title>{html.escape(title)}</title>",
        f'<rect x="{PAD_L}" y="{PAD_T}" width="{W - PAD_L - PAD_R}" height="{H - PAD_T - PAD_B}" class="plot"/>',
    ]
    if alarms:
        a0 = min(alarms)
        parts.append(
            f'<rect x="{px(a0):.1f}" y="{PAD_T}" width="{max(px(x1) - px(a0), 2):.1f}" '
            f'height="{H - PAD_T - PAD_B}" class="alarmzone"/>'
        )
    for s in alarms:
        parts.append(f'<line x1="{px(s):.1f}" x2="{px(s):.1f}" y1="{PAD_T}" y2="{H - PAD_B}" class="alarm"/>')
    if onset is not None:
        parts.append(
            f'<line x1="{px(onset):.1f}" x2="{px(onset):.1f}" y1="{PAD_T}" y2="{H - PAD_B}" class="onset"/>'
        )
    for s in rollbacks:
        parts.append(
            f'<line x1="{px(s):.1f}" x2="{px(s):.1f}" y1="{PAD_T}" y2="{H - PAD_B}" class="rollback"/>'
        )
    if diagnosed is not None:
        parts.append(f'<circle cx="{px(diagnosed):.1f}" cy="{PAD_T + 6}" r="5" class="diag"/>')
    if finite:
        path = " ".join(f"{'M' if i == 0 else 'L'}{px(s):.1f},{py(v):.1f}" for i, (s, v) in enumerate(finite))
        parts.append(f'<path d="{path}" class="line"/>')
    for s, v in points:
        if not math.isfinite(v):
            parts.append(f'<text x="{px(s):.1f}" y="{PAD_T + 4}" class="nan">×</text>')
    parts += [
        f'<text x="{PAD_L}" y="12" class="t">{html.escape(title)}</text>',
        f'<text x="{PAD_L - 4}" y="{PAD_T + 8}" class="ax" text-anchor="end">{_fmt(y1)}</text>',
        f'<text x="{PAD_L - 4}" y="{H - PAD_B}" class="ax" text-anchor="end">{_fmt(y0)}</text>',
        f'<text x="{PAD_L}" y="{H - 6}" class="ax">step {x0}</text>',
        f'<text x="{W - PAD_R}" y="{H - 6}" class="ax" text-anchor="end">{x1}</text>',
        "</svg>",
    ]
    return "".join(parts)


CSS = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1000px}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}
.grid{display:flex;flex-wrap:wrap;gap:8px}
.plot{fill:#fafafa;stroke:#ddd}.line{fill:none;stroke:#1f6feb;stroke-width:1.6}
.alarm{stroke:#d1242f;stroke-width:1;opacity:.55}.alarmzone{fill:#d1242f;opacity:.07}
.onset{stroke:#555;stroke-dasharray:4 3}.rollback{stroke:#8250df;stroke-width:2;stroke-dasharray:2 2}
.diag{fill:#bf8700}.nan{fill:#d1242f;font-size:14px}.t{font-size:12px;font-weight:600}.ax{font-size:10px;fill:#666}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ddd;padding:4px 8px;text-align:left}
.legend span{margin-right:14px;font-size:12px}.ok{color:#1a7f37}.bad{color:#d1242f}
"""


def render_report(
    title: str,
    steps: Sequence[StepRecord],
    events: Sequence[FMEvent],
    supervision: SupervisionReport | None = None,
) -> str:
    """The whole page. ``supervision`` is a SupervisionReport (closed loop) or None (monitor only)."""
    alarms = [e.verdict.step for e in events if e.verdict.alarm]
    diag_ev = next((e for e in events if e.diagnosis is not None), None)
    onset = next((s.step for s in steps if s.fault_active), None)
    rollbacks = []
    if supervision is not None:
        rollbacks = [a.resumed_from_step or 0 for a in supervision.attempts[1:]]
        alarms = sorted({a.step for a in supervision.alarms} | set(alarms))
    charts = []
    for field, label in CURVES:
        pts = [(s.step, float(getattr(s, field))) for s in steps if getattr(s, field, None) is not None]
        if pts:
            charts.append(
                svg_curve(label, pts, alarms, onset, diag_ev.verdict.step if diag_ev else None, rollbacks)
            )
    esc = html.escape
    out = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}</title><style>{CSS}</style>",
        f"</head><body><h1>{esc(title)}</h1>",
    ]
    status = "no alarm" if not alarms else f"{len(alarms)} alarm step(s), first at step {alarms[0]}"
    if supervision is not None:
        status += f" — closed loop: <b>{esc(supervision.status)}</b>"
    out.append(f"<p>{len(steps)} steps; {status}.</p>")
    out.append(
        "<p class='legend'><span style='color:#d1242f'>| alarm</span><span>┆ fault onset (label)</span>"
        "<span style='color:#8250df'>┆ rollback point</span><span style='color:#bf8700'>● diagnosis</span>"
        "<span style='color:#d1242f'>× non-finite value</span></p>"
    )
    out.append("<div class='grid'>" + "".join(charts) + "</div>")
    diag = diag_ev.diagnosis if diag_ev else (supervision.diagnosis if supervision else None)
    if diag is not None:
        out.append(
            "<h2>Diagnosis</h2><table><tr><th>family</th><th>fault type</th><th>confidence</th><th>source</th>"
            "<th>alternatives</th></tr>"
        )
        alts = ", ".join(f"{esc(k)} {v:.2f}" for k, v in diag.alternatives.items())
        out.append(
            f"<tr><td>{esc(diag.family)}</td><td><b>{esc(diag.fault_type)}</b></td><td>{diag.confidence:.2f}</td>"
            f"<td>{esc(diag.source)}</td><td>{alts}</td></tr></table>"
        )
        if diag.deciding_signals:
            out.append(
                "<p>Deciding signals:</p><table><tr><th>signal</th><th>feature</th><th>z (squashed)</th>"
                "<th>weight</th></tr>"
            )
            for d in diag.deciding_signals:
                out.append(
                    f"<tr><td>{esc(d.signal)}</td><td>{esc(d.feature)}</td><td>{d.z:+.2f}</td>"
                    f"<td>{d.weight:.2f}</td></tr>"
                )
            out.append("</table>")
    first = next((e for e in events if e.verdict.alarm), None)
    if first is not None:
        v = first.verdict
        out.append(
            f"<h2>First alarm: step {v.step}</h2><p>score {_fmt(v.score)}, broken invariant "
            f"<b>{esc(v.invariant or '-')}</b>{', rule ' + esc(v.rule) if v.rule else ''}</p>"
        )
        if v.evidence:
            out.append(
                "<table><tr><th>signal</th><th>component</th><th>value</th><th>normal (median)</th><th>z</th>"
                "<th>score</th></tr>"
            )
            for e in v.evidence:
                out.append(
                    f"<tr><td>{esc(e.signal)}</td><td>{esc(e.component)}</td><td>{_fmt(e.value)}</td>"
                    f"<td>{_fmt(e.expected)}</td><td>{e.z:+.2f}</td><td>{e.normalised:.2f}</td></tr>"
                )
            out.append("</table>")
    found = [x for e in events for x in e.excursions]
    excursions = sorted((x for x in found if x.kind == "change"), key=lambda x: -abs(x.z))[:10]
    lows = [x for x in found if x.kind == "run_low"][-10:]
    if excursions or lows:
        out.append(
            f"<h2>Within the open event</h2><p>Material changes of {EXCURSION_Z:g}+ robust z in signals the event "
            "did not name, and the objective's new lows (below every value the run logged before; reported, "
            "not alarmed on):</p><table><tr><th>step</th><th>signal</th><th>value</th>"
            "<th>expected</th><th>z</th></tr>"
        )
        for x in [*excursions, *lows]:
            z = f"{x.z:+.2f}" if x.kind == "change" else f"run low (previous {_fmt(x.previous_low)})"
            out.append(
                f"<tr><td>{x.step}</td><td>{esc(x.signal)}</td><td>{_fmt(x.value)}</td><td>{_fmt(x.expected)}</td>"
                f"<td>{z}</td></tr>"
            )
        out.append("</table>")
    if supervision is not None:
        out.append(
            "<h2>Actions</h2><table><tr><th>#</th><th>kind</th><th>for</th><th>changes</th><th>why</th></tr>"
        )
        for a in supervision.actions:
            ch = ", ".join(f"{esc(k)}={esc(str(v))}" for k, v in a.changes.items()) or "-"
            out.append(
                f"<tr><td>{a.attempt}</td><td>{esc(a.kind)}</td><td>{esc(a.fault_type)}</td><td>{ch}</td>"
                f"<td>{esc(a.rationale)}</td></tr>"
            )
        out.append("</table>")
        if supervision.stop_cause:
            out.append(f"<p class='bad'><b>Stopped:</b> {esc(supervision.stop_cause)}</p>")
        elif supervision.status == "recovered":
            out.append("<p class='ok'><b>Recovered:</b> no new alarm after the last rollback.</p>")
    out.append(
        "<p style='font-size:11px;color:#888'>faultwise RFT-FM report (offline, self-contained)</p></body></html>"
    )
    return "".join(out)


def report_for_path(path: str | Path, model: FMModel | None = None) -> str:
    """Read a run directory or a log, run the monitor over it, and render the page."""
    from faultwise.rft.faultbench.config import run_dir_setup
    from faultwise.rft.faultbench.load import read_trajectories
    from faultwise.rft.fm.readers import read_log
    from faultwise.rft.fm.watcher import watch

    p = Path(path)
    steps = read_log(p).steps
    trajs = read_trajectories(p) if p.is_dir() else {}
    events: list[FMEvent] = []
    if model is not None:
        from faultwise.rft.fm.monitor import FailureMonitor

        fm = FailureMonitor(model, setup=run_dir_setup(p))  # a bench run folder declares one; a log none
        events = [fm.update(s, trajs.get(s.step)) for s in steps]
        if fm.diagnosis is None and fm.finish() is not None:
            events.append(
                FMEvent(
                    verdict=events[-1].verdict.model_copy(update={"alarm": False}), diagnosis=fm.diagnosis
                )
            )
    else:
        events = list(watch(p, None, follow=False))
    supervision = None
    sup_file = p / "supervision.json" if p.is_dir() else None
    if sup_file is not None and sup_file.is_file():
        from faultwise.rft.fm.remediate.supervisor import SupervisionReport

        supervision = SupervisionReport.model_validate_json(sup_file.read_text(encoding="utf-8"))
    return render_report(f"RFT run: {p.name}", steps, events, supervision)
