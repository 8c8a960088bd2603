"""The service map of a diagnosis: services as nodes, calls as edges, what moved, laid out offline.

:func:`build_service_map` reads the calls between services from the spans (a span whose parent belongs to
another service is a call from that service), and compares each call edge in the incident window with the
same edge in the normal period (the declared fault-free telemetry and the spans before the window): how
much longer the caller waits (its client span, else the callee's span), what share of the calls exceed the
normal 95th percentile, and how many fail. A call edge *moved* when a quarter of its calls wait longer than
the normal 95th percentile and its median wait grew by a tenth, or when its share of failed calls grew by 5
points. The top candidates are marked with their rank, and so are the paths the recursion blamed in the
drawn traces.

:func:`layout` places the services in layers (callers above callees, longest path from the entry services;
a layer wider than ``per_row`` wraps onto more rows), orders each layer by the barycentre of its neighbours,
and :func:`render_svg` draws it as inline SVG: no script, no font, no network.
"""

from __future__ import annotations

import html
import math
from collections import defaultdict
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from faultwise.rcl.reports.units import human_duration, human_shift
from faultwise.rcl.telemetry.schema import Telemetry

if TYPE_CHECKING:
    from faultwise.rcl.method.analyzer import Diagnosis

#: Services drawn at most; the rest are counted (candidates, blamed paths and moved calls are kept first).
MAX_NODES = 28
#: Candidates marked on the map.
MAX_RANKED = 10
#: Normal calls an edge needs before its incident calls are compared with them.
MIN_NORMAL_CALLS = 5
#: An edge moved when this share of its incident calls wait longer than the normal 95th percentile ...
SLOW_SHARE_MOVED = 0.25
#: ... and its median wait grew by this share of the normal median at least ...
WAIT_SHIFT_MOVED = 0.1
#: ... or its share of failed calls grew by this much.
ERROR_SHARE_MOVED = 0.05

NODE_W = 150
NODE_H = 46
GAP_X = 34
ROW_H = NODE_H + 78
MARGIN = 24
WIDE_PER_ROW = 6
NARROW_PER_ROW = 2


@dataclass(frozen=True)
class ServiceEdge:
    """Calls from one service into another, in the incident window and normally."""

    caller: str
    callee: str
    calls: int
    median_wait_us: float
    error_share: float
    normal_calls: int = 0
    normal_median_wait_us: float | None = None
    normal_error_share: float | None = None
    slow_share: float | None = None  # share of incident calls above the normal 95th percentile
    blamed: bool = False

    @property
    def wait_shift_us(self) -> float | None:
        if self.normal_median_wait_us is None:
            return None
        return self.median_wait_us - self.normal_median_wait_us

    @property
    def slower(self) -> bool:
        shift = self.wait_shift_us
        if self.slow_share is None or shift is None or self.normal_median_wait_us is None:
            return False
        return self.slow_share >= SLOW_SHARE_MOVED and shift > WAIT_SHIFT_MOVED * self.normal_median_wait_us

    @property
    def failing(self) -> bool:
        base = self.normal_error_share or 0.0
        return self.error_share >= ERROR_SHARE_MOVED and self.error_share - base >= ERROR_SHARE_MOVED

    @property
    def moved(self) -> bool:
        return self.slower or self.failing

    def label(self) -> str:
        """What moved, in words: ``wait +2.0 s, 96 % of calls`` and/or ``errors 30 % (normal 0 %)``."""
        parts = []
        if self.slower:
            parts.append(f"wait {human_shift(self.wait_shift_us or 0)}, {self.slow_share:.0%} of calls")
        if self.failing:
            base = self.normal_error_share
            normal = f" (normal {base:.0%})" if base is not None else ""
            parts.append(f"errors {self.error_share:.0%} of calls{normal}")
        return "; ".join(p.replace("%", " %") for p in parts)


@dataclass(frozen=True)
class ServiceNode:
    name: str
    spans: int
    errors: int
    rank: int | None = None  # best rank of a candidate on this service
    fault_type: str = ""
    blamed: bool = False  # a drawn trace's recursion ended here


@dataclass
class ServiceMap:
    nodes: list[ServiceNode]
    edges: list[ServiceEdge]
    hidden: int = 0  # services left out of the drawing
    compared: bool = False  # whether incident calls were compared with normal ones
    other_candidates: list[tuple[int, str, str]] = field(default_factory=list)  # (rank, level, component)
    display: dict[str, str] = field(default_factory=dict)  # service -> label drawn
    strip_note: str = ""


def call_table(spans: pd.DataFrame) -> pd.DataFrame:
    """One row per call between services: caller, callee, how long the caller waited, whether it failed,
    when it started."""
    cols = ["caller", "callee", "wait_us", "failed", "start_us"]
    if not len(spans):
        return pd.DataFrame(columns=cols)
    parents = spans[["trace_id", "span_id", "service", "kind", "duration_us"]].rename(
        columns={
            "span_id": "parent_id",
            "service": "caller",
            "kind": "caller_kind",
            "duration_us": "caller_us",
        }
    )
    m = spans[["trace_id", "parent_id", "service", "duration_us", "is_error", "start_us"]].merge(
        parents, on=["trace_id", "parent_id"], how="inner"
    )
    m = m[m["caller"].astype(str) != m["service"].astype(str)]
    client_side = m["caller_kind"].isin(["client", "producer"]).to_numpy()
    wait = np.where(client_side, m["caller_us"].to_numpy(), m["duration_us"].to_numpy())
    return pd.DataFrame(
        {
            "caller": m["caller"].astype(str).to_numpy(),
            "callee": m["service"].astype(str).to_numpy(),
            "wait_us": wait.astype(float),
            "failed": m["is_error"].astype(bool).to_numpy(),
            "start_us": m["start_us"].to_numpy(),
        },
        columns=cols,
    )


def _edges(incident_calls: pd.DataFrame, normal_calls: pd.DataFrame) -> list[ServiceEdge]:
    if not len(incident_calls):
        return []
    key = ["caller", "callee"]
    inc = incident_calls.groupby(key).agg(
        calls=("wait_us", "size"), median=("wait_us", "median"), errors=("failed", "mean")
    )
    nor = (
        normal_calls.groupby(key).agg(
            calls=("wait_us", "size"),
            median=("wait_us", "median"),
            p95=("wait_us", lambda s: float(np.quantile(s, 0.95))),
            errors=("failed", "mean"),
        )
        if len(normal_calls)
        else pd.DataFrame(columns=["calls", "median", "p95", "errors"])
    )
    slow: dict[tuple[str, str], float] = {}
    if len(nor):
        joined = incident_calls.join(nor["p95"], on=key, how="inner")
        if len(joined):
            slow = (
                (joined["wait_us"] > joined["p95"])
                .groupby([joined["caller"], joined["callee"]])
                .mean()
                .to_dict()
            )
    out = []
    for (caller, callee), row in inc.iterrows():
        n = nor.loc[(caller, callee)] if (caller, callee) in nor.index else None
        known = n is not None and int(n["calls"]) >= MIN_NORMAL_CALLS
        out.append(
            ServiceEdge(
                caller=str(caller),
                callee=str(callee),
                calls=int(row["calls"]),
                median_wait_us=float(row["median"]),
                error_share=float(row["errors"]),
                normal_calls=int(n["calls"]) if n is not None else 0,
                normal_median_wait_us=float(n["median"]) if known else None,
                normal_error_share=float(n["errors"]) if known else None,
                slow_share=float(slow.get((caller, callee), 0.0)) if known else None,
            )
        )
    return out


def _blamed_paths(diagnosis: Diagnosis) -> tuple[set[tuple[str, str]], set[str]]:
    """Service-to-service steps of the paths the recursion blamed in the drawn traces, and the services
    those paths end in."""
    from faultwise.rcl.reports.html import pick_traces

    steps: set[tuple[str, str]] = set()
    ends: set[str] = set()
    for geg, tg in pick_traces(diagnosis):
        report = max(geg.root_reports, key=lambda r: r.confidence, default=None)
        if report is None or not report.root_cause_span:
            continue
        services = [tg.spans[s].service for s in report.path if s in tg.spans]
        for a, b in zip(services, services[1:], strict=False):
            if a != b:
                steps.add((a, b))
        if services:
            ends.add(services[-1])
    return steps, ends


def _ranks(
    diagnosis: Diagnosis, services: set[str]
) -> tuple[dict[str, tuple[int, str]], list[tuple[int, str, str]]]:
    """Best candidate rank (and its fault type) per service, and the candidates that are no service."""
    ranks: dict[str, tuple[int, str]] = {}
    others: list[tuple[int, str, str]] = []
    for i, c in enumerate(diagnosis.candidates[:MAX_RANKED], start=1):
        service = c.service or (c.component if c.level == "service" else "")
        if service in services:
            ranks.setdefault(service, (i, c.fault_type))
        else:
            others.append((i, c.level, c.component))
    return ranks, others


def _keep(nodes: dict[str, ServiceNode], edges: list[ServiceEdge], max_nodes: int) -> set[str]:
    """The services to draw: all of a small map; else candidates, blamed services, ends of moved calls and
    then the busiest neighbours, up to ``max_nodes``."""
    if len(nodes) <= max_nodes:
        return set(nodes)
    keep: list[str] = []

    def add(name: str) -> None:
        if name in nodes and name not in keep and len(keep) < max_nodes:
            keep.append(name)

    for n in sorted(nodes.values(), key=lambda n: n.rank or 10**6):
        if n.rank is not None or n.blamed:
            add(n.name)
    for e in edges:
        if e.blamed or e.moved:
            add(e.caller)
            add(e.callee)
    by_volume = sorted(edges, key=lambda e: -e.calls)
    for e in by_volume:
        if e.caller in keep or e.callee in keep:
            add(e.caller)
            add(e.callee)
    for n in sorted(nodes.values(), key=lambda n: -n.spans):
        add(n.name)
    return set(keep)


def _common_affixes(names: list[str]) -> tuple[str, str]:
    """A prefix and suffix (``ts-``, ``-service``) that most names share, to leave out of the drawing."""
    if len(names) < 3:
        return "", ""

    def most(values: list[str]) -> str:
        counts: dict[str, int] = defaultdict(int)
        for v in values:
            counts[v] += 1
        best = max(counts.items(), key=lambda kv: kv[1], default=("", 0))
        return best[0] if best[1] * 2 > len(names) else ""

    pre = most([n.split("-", 1)[0] + "-" for n in names if "-" in n])
    suf = most(["-" + n.rsplit("-", 1)[1] for n in names if "-" in n])
    return pre, suf


def _display_names(names: list[str]) -> tuple[dict[str, str], str]:
    pre, suf = _common_affixes(names)
    out = {}
    for n in names:
        short = n
        if pre and short.startswith(pre) and len(short) > len(pre) + 2:
            short = short[len(pre) :]
        if suf and short.endswith(suf) and len(short) > len(suf) + 2:
            short = short[: -len(suf)]
        out[n] = short
    strip = " and ".join(f"“{a}”" for a in (pre, suf) if a)
    note = (
        f"Names are drawn without their common {strip}."
        if strip and any(k != v for k, v in out.items())
        else ""
    )
    return out, note


def build_service_map(
    diagnosis: Diagnosis,
    incident: Telemetry | None,
    normal: Telemetry | None = None,
    max_nodes: int = MAX_NODES,
) -> ServiceMap:
    """The service map of a diagnosis, from the incident's spans (those of the diagnosed traces when no
    telemetry is given) compared with the normal period."""
    if incident is not None and len(incident.spans):
        spans = incident.spans
    else:
        spans = pd.DataFrame([asdict(s) for tg in diagnosis.trace_graphs for s in tg.spans.values()])
    if not len(spans):
        return ServiceMap([], [])
    w = diagnosis.window_us[0]
    in_window = spans["start_us"] >= w
    compared = bool(in_window.any()) and bool(
        (~in_window).any() or (normal is not None and len(normal.spans))
    )
    window_spans = spans[in_window] if in_window.any() else spans
    calls = call_table(spans)
    inc_calls = calls[calls["start_us"] >= w] if in_window.any() else calls
    normal_parts = [calls[calls["start_us"] < w]] if in_window.any() else []
    if normal is not None and len(normal.spans) and in_window.any():
        normal_parts.append(call_table(normal.spans))
    normal_calls = pd.concat(normal_parts, ignore_index=True) if normal_parts else calls.iloc[0:0]
    edges = _edges(inc_calls, normal_calls)
    steps, ends = _blamed_paths(diagnosis)
    edges = [replace(e, blamed=True) if (e.caller, e.callee) in steps else e for e in edges]
    per_service = window_spans.groupby("service").agg(spans=("span_id", "size"), errors=("is_error", "sum"))
    services = {str(s) for s in per_service.index} | {e.caller for e in edges} | {e.callee for e in edges}
    ranks, others = _ranks(diagnosis, services)
    nodes = {}
    for s in services:
        row = per_service.loc[s] if s in per_service.index else None
        rank = ranks.get(s)
        nodes[s] = ServiceNode(
            name=s,
            spans=int(row["spans"]) if row is not None else 0,
            errors=int(row["errors"]) if row is not None else 0,
            rank=rank[0] if rank else None,
            fault_type=rank[1] if rank else "",
            blamed=s in ends,
        )
    keep = _keep(nodes, edges, max_nodes)
    kept_nodes = sorted((nodes[s] for s in keep), key=lambda n: n.name)
    kept_edges = [e for e in edges if e.caller in keep and e.callee in keep]
    display, note = _display_names([n.name for n in kept_nodes])
    return ServiceMap(
        nodes=kept_nodes,
        edges=kept_edges,
        hidden=len(nodes) - len(keep),
        compared=compared,
        other_candidates=others,
        display=display,
        strip_note=note,
    )


# --- layout ---------------------------------------------------------------------------------------------


def _layers(names: list[str], edges: list[tuple[str, str]]) -> dict[str, int]:
    """Longest-path layers from the entry services, with cycles broken at the edges that close them."""
    succ: dict[str, list[str]] = defaultdict(list)
    indeg: dict[str, int] = defaultdict(int)
    for a, b in edges:
        if a != b:
            succ[a].append(b)
            indeg[b] += 1
    order = sorted(names, key=lambda n: (indeg[n] > 0, n))
    state: dict[str, int] = {}
    dag: dict[str, list[str]] = defaultdict(list)
    topo: list[str] = []
    for start in order:
        if start in state:
            continue
        stack = [(start, iter(sorted(succ[start])))]
        state[start] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[node] = 2
                topo.append(node)
                stack.pop()
                continue
            if state.get(nxt) == 1:
                continue  # a back edge: left out of the layering
            dag[node].append(nxt)
            if nxt not in state:
                state[nxt] = 1
                stack.append((nxt, iter(sorted(succ[nxt]))))
    layer = {n: 0 for n in names}
    for n in reversed(topo):
        for m in dag[n]:
            layer[m] = max(layer[m], layer[n] + 1)
    return layer


@dataclass(frozen=True)
class Layout:
    positions: dict[str, tuple[float, float]]  # top-left corner of each node box
    width: float
    height: float


def layout(names: list[str], edges: list[tuple[str, str]], per_row: int) -> Layout:
    """Node positions: layers top to bottom, wrapped at ``per_row``, each ordered by its neighbours'
    barycentre (a few sweeps), every row centred."""
    if not names:
        return Layout({}, 2 * MARGIN, 2 * MARGIN)
    layer = _layers(names, edges)
    n_layers = max(layer.values()) + 1
    rows: list[list[str]] = [sorted(n for n in names if layer[n] == i) for i in range(n_layers)]
    neighbours: dict[str, list[str]] = defaultdict(list)
    for a, b in edges:
        if a != b and a in layer and b in layer:
            neighbours[a].append(b)
            neighbours[b].append(a)
    for _ in range(4):
        pos = {n: i / max(len(r), 1) for r in rows for i, n in enumerate(r)}
        for r in rows:
            r.sort(key=lambda n: (np.mean([pos[m] for m in neighbours[n]]) if neighbours[n] else pos[n], n))
    wrapped: list[list[str]] = []
    for r in rows:
        wrapped.extend(r[i : i + per_row] for i in range(0, len(r), per_row))
    widest = max(len(r) for r in wrapped)
    width = 2 * MARGIN + widest * NODE_W + (widest - 1) * GAP_X
    positions: dict[str, tuple[float, float]] = {}
    for ri, r in enumerate(wrapped):
        row_w = len(r) * NODE_W + (len(r) - 1) * GAP_X
        x0 = (width - row_w) / 2
        for i, n in enumerate(r):
            positions[n] = (x0 + i * (NODE_W + GAP_X), MARGIN + ri * ROW_H)
    height = 2 * MARGIN + (len(wrapped) - 1) * ROW_H + NODE_H
    return Layout(positions, width, height)


# --- drawing --------------------------------------------------------------------------------------------


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _fit(text: str, max_chars: int) -> str:
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


def _curve(a: tuple[float, float], b: tuple[float, float]) -> tuple[list[tuple[float, float]], bool]:
    """Control points of the edge from node box ``a`` to node box ``b`` (top-left corners)."""
    ax, ay = a
    bx, by = b
    if by > ay:  # callee below: bottom centre to top centre
        p0, p3 = (ax + NODE_W / 2, ay + NODE_H), (bx + NODE_W / 2, by)
        dy = (p3[1] - p0[1]) / 2
        return [p0, (p0[0], p0[1] + dy), (p3[0], p3[1] - dy), p3], True
    if by == ay:  # same row: over the top
        left = bx < ax
        p0 = (ax + (NODE_W * 0.3 if left else NODE_W * 0.7), ay)
        p3 = (bx + (NODE_W * 0.7 if left else NODE_W * 0.3), by)
        lift = 40 + abs(p3[0] - p0[0]) * 0.15
        return [p0, (p0[0], p0[1] - lift), (p3[0], p3[1] - lift), p3], False
    # callee above (a call closing a cycle): top of the caller to the bottom of the callee
    p0, p3 = (ax + NODE_W * 0.65, ay), (bx + NODE_W * 0.65, by + NODE_H)
    dy = (p0[1] - p3[1]) / 2
    return [p0, (p0[0] + 30, p0[1] - dy), (p3[0] + 30, p3[1] + dy), p3], False


def _arrow(p2: tuple[float, float], p3: tuple[float, float], size: float) -> str:
    dx, dy = p3[0] - p2[0], p3[1] - p2[1]
    norm = math.hypot(dx, dy) or 1.0
    ux, uy = dx / norm, dy / norm
    bx, by = p3[0] - ux * size, p3[1] - uy * size
    left = (bx - uy * size * 0.5, by + ux * size * 0.5)
    right = (bx + uy * size * 0.5, by - ux * size * 0.5)
    return f"{p3[0]:.1f},{p3[1]:.1f} {left[0]:.1f},{left[1]:.1f} {right[0]:.1f},{right[1]:.1f}"


def _node_svg(n: ServiceNode, x: float, y: float, label: str) -> str:
    classes = ["node"]
    if n.rank is not None:
        classes.append("cand")
    if n.blamed:
        classes.append("blamed")
    if n.errors:
        classes.append("err")
    sub = (
        f"#{n.rank} {n.fault_type}"
        if n.rank is not None
        else (f"{n.spans} spans · {n.errors} failed" if n.errors else f"{n.spans} spans")
    )
    title = f"{n.name}: {n.spans} span(s) in the incident window, {n.errors} failed"
    if n.rank is not None:
        title += f"; candidate #{n.rank} ({n.fault_type})"
    badge = (
        f'<circle class="badge" cx="{x:.1f}" cy="{y:.1f}" r="13"></circle>'
        f'<text class="badge-t" x="{x:.1f}" y="{y + 4.5:.1f}">{n.rank}</text>'
        if n.rank is not None
        else ""
    )
    return (
        f'<g class="{" ".join(classes)}" data-service="{_e(n.name)}"'
        f"{f' data-rank={chr(34)}{n.rank}{chr(34)}' if n.rank is not None else ''}>"
        f"<title>{_e(title)}</title>"
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{NODE_W}" height="{NODE_H}" rx="8"></rect>'
        f'<text class="name" x="{x + NODE_W / 2:.1f}" y="{y + 19:.1f}">{_e(_fit(label, 20))}</text>'
        f'<text class="sub" x="{x + NODE_W / 2:.1f}" y="{y + 36:.1f}">{_e(_fit(sub, 24))}</text>'
        f"{badge}</g>"
    )


Box = tuple[float, float, float, float]  # x0, y0, x1, y1
LABEL_CHAR_W = 6.6  # width of one label character (11.5 px, semi-bold), for placing labels apart
LABEL_H = 15
_LABEL_TS = (0.5, 0.4, 0.6, 0.3, 0.7, 0.22, 0.78)


def _bezier(pts: list[tuple[float, float]], t: float) -> tuple[float, float]:
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = pts
    u = 1 - t
    x = u**3 * x0 + 3 * u * u * t * x1 + 3 * u * t * t * x2 + t**3 * x3
    y = u**3 * y0 + 3 * u * u * t * y1 + 3 * u * t * t * y2 + t**3 * y3
    return x, y


def _overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _place_label(
    pts: list[tuple[float, float]], text: str, taken: list[Box], width: float
) -> tuple[float, float]:
    """Where on its edge a label overlaps no node and no label placed before (the middle when nowhere)."""
    half = len(text) * LABEL_CHAR_W / 2
    first = None
    for t in _LABEL_TS:
        x, y = _bezier(pts, t)
        x = min(max(x, half + 2), width - half - 2)  # inside the drawing
        box = (x - half, y - LABEL_H + 4, x + half, y + 4)
        first = first or (x, y, box)
        if not any(_overlaps(box, b) for b in taken):
            taken.append(box)
            return x, y
    x, y, box = first  # type: ignore[misc]
    taken.append(box)
    return x, y


def render_svg(smap: ServiceMap, per_row: int, labels: bool, css_class: str) -> str:
    """One drawing of the map (``per_row`` services per row at most); ``labels`` writes each moved edge's
    shift beside it, where it overlaps no node and no other label."""
    names = [n.name for n in smap.nodes]
    lay = layout(names, [(e.caller, e.callee) for e in smap.edges], per_row)
    parts: list[str] = []
    label_parts: list[str] = []
    taken: list[Box] = [(x - 4, y - 4, x + NODE_W + 4, y + NODE_H + 4) for x, y in lay.positions.values()]
    drawn = [
        e
        for e in sorted(smap.edges, key=lambda e: (e.blamed, e.moved))  # the marked ones drawn last, on top
        if e.caller in lay.positions and e.callee in lay.positions and e.caller != e.callee
    ]
    curves = {
        (e.caller, e.callee): _curve(lay.positions[e.caller], lay.positions[e.callee])[0] for e in drawn
    }
    for e in drawn:
        pts = curves[(e.caller, e.callee)]
        (x0, y0), (x1, y1), (x2, y2), (x3, y3) = pts
        cls = ["edge"]
        if e.moved:
            cls.append("moved")
        if e.blamed:
            cls.append("blamed")
        width = 1.2 + min(3.0, math.log10(max(e.calls, 1)))
        tip = f"{e.caller} → {e.callee}: {e.calls} call(s), median wait {human_duration(e.median_wait_us)}"
        if e.normal_median_wait_us is not None:
            tip += f" (normal {human_duration(e.normal_median_wait_us)})"
        if e.moved:
            tip += f"; {e.label()}"
        parts.append(
            f'<g class="{" ".join(cls)}" data-caller="{_e(e.caller)}" data-callee="{_e(e.callee)}">'
            f"<title>{_e(tip)}</title>"
            f'<path d="M{x0:.1f},{y0:.1f} C{x1:.1f},{y1:.1f} {x2:.1f},{y2:.1f} {x3:.1f},{y3:.1f}" '
            f'stroke-width="{width + (1.5 if e.blamed else 0):.1f}"></path>'
            f'<polygon points="{_arrow((x2, y2), (x3, y3), 8 + width)}"></polygon></g>'
        )
    if labels:
        moved = sorted((e for e in drawn if e.moved), key=lambda e: (not e.blamed, -(e.slow_share or 0)))
        for e in moved:
            text = _fit(e.label(), 44)
            x, y = _place_label(curves[(e.caller, e.callee)], text, taken, lay.width)
            half = len(text) * LABEL_CHAR_W / 2
            label_parts.append(
                f'<rect class="lbg" x="{x - half - 3:.1f}" y="{y - LABEL_H + 3:.1f}" width="{2 * half + 6:.1f}" '
                f'height="{LABEL_H + 2}" rx="3"></rect>'
                f'<text class="elabel" x="{x:.1f}" y="{y:.1f}">{_e(text)}</text>'
            )
    for n in smap.nodes:
        x, y = lay.positions[n.name]
        parts.append(_node_svg(n, x, y, smap.display.get(n.name, n.name)))
    body = "".join(parts) + "".join(label_parts)
    return (
        f'<svg class="smap {css_class}" viewBox="0 0 {lay.width:.0f} {lay.height:.0f}" '
        f'style="max-width:{lay.width * 1.15:.0f}px" role="img" '
        f'aria-label="service map: {len(smap.nodes)} services, {len(smap.edges)} call edges">{body}</svg>'
    )


__all__ = [
    "Layout",
    "ServiceEdge",
    "ServiceMap",
    "ServiceNode",
    "build_service_map",
    "call_table",
    "layout",
    "render_svg",
]
