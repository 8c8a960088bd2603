"""Call structure in the incident window: whose a longer client->server wait is, which calls went
unanswered (and by whom), and which operations changed the child calls they make (usual calls vanished,
new calls appeared, call counts changed): the traces-only evidence of a cut code path."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from faultwise.rcl.profile.calls import child_call_counts, parent_rows
from faultwise.rcl.profile.normal import NormalProfile, client_calls
from faultwise.rcl.profile.stats import binomial_z
from faultwise.rcl.tools.records import MAX_ITEMS, CallShift, StructureEvidence

#: An edge's waits shifted when they exceed their normal 95th percentile this much more often than 5 % of
#: the time (binomial z).
SHIFTED_Z = 3.0
#: Two extra waits are of a similar amount within this factor of each other (effect sizes, not counts); 1
#: switches the comparisons off.
SIMILAR_FACTOR = 4.0


def attribute_gaps(spans: pd.DataFrame, window: np.ndarray, similar_factor: float = SIMILAR_FACTOR) -> None:
    """Decide whose a longer client->server wait is, comparing each edge with its siblings on both ends.

    - Waits that grew on the calls from one pod into *many* callees point at the caller (its own CPU,
      threads or client stack), except on an edge whose extra wait exceeds all the pod's others by more
      than ``similar_factor``: that is one slow callee (netem on it), not the caller (like with like).
    - A wait that grew on the calls from *few* of a callee's callers by far more than on its other callers'
      calls (``similar_factor``; extra waiting time in microseconds, like with like) points at those callers
      too: a delay on the callee's network or queue reaches every caller by about the same amount.
    - Otherwise (one callee, and all or most of its callers waiting longer) the wait is the callee's.

    Adds ``gap_blames_caller`` and, for client spans, ``caller_overhead_z`` (how strongly the pod's outgoing
    calls slowed where the wait is its own)."""
    has_gap = spans["gap_us"].notna().to_numpy() & window
    e = pd.DataFrame(
        {
            "caller": spans["parent_pod"].to_numpy()[has_gap],
            "callee": spans["pod"].to_numpy()[has_gap],
            "x": spans["gap_exceeds"].to_numpy()[has_gap],
            "extra_us": (spans["gap_us"] - spans["base_gap_med"]).to_numpy()[has_gap],
        }
    )
    broad: dict[str, float] = {}
    narrow: dict[tuple[str, str], float] = {}
    lone: set[tuple[str, str]] = set()
    if len(e):
        by_edge = e.groupby(["caller", "callee"])
        g = by_edge["x"].agg(["sum", "size"])
        g["extra_us"] = by_edge["extra_us"].median().clip(lower=0.0).fillna(0.0)
        g["z"] = binomial_z(g["sum"].to_numpy(), g["size"].to_numpy(), 0.05)
        g = g[g["size"] >= 3]
        for caller, grp in g.groupby(level=0):
            shifted = grp[grp["z"] >= SHIFTED_Z]
            # like with like: an edge whose extra wait exceeds every other edge's of the caller by more than
            # similar_factor (+1 s beside +0.2 ms) is one slow callee, never the caller's own wait
            extra = shifted["extra_us"].sort_values(ascending=False)
            if (
                similar_factor > 1
                and len(extra) >= 2
                and extra.iloc[0] > similar_factor * max(extra.iloc[1], 0.0)
            ):
                lone.add((str(caller), str(extra.index[0][1])))
                shifted = shifted.drop(extra.index[0])
            if len(shifted) >= 2 and len(shifted) >= 0.5 * len(grp):
                broad[str(caller)] = float(grp["z"].median())
        for _, grp in g.groupby(level=1):
            top = grp["extra_us"] * similar_factor > grp["extra_us"].max()  # the callers waiting the most
            top &= grp["z"] >= SHIFTED_Z
            if top.any() and 2 * int(top.sum()) <= len(grp):
                for (caller, callee), z in grp.loc[top, "z"].items():
                    narrow[(str(caller), str(callee))] = float(z)
    caller = spans["parent_pod"].astype(str)
    own_wait = caller.isin(list(broad)).to_numpy(dtype=bool) if broad else np.zeros(len(spans), bool)
    if narrow or lone:
        edge = pd.MultiIndex.from_arrays([caller.to_numpy(), spans["pod"].astype(str).to_numpy()])
        if lone:
            own_wait = own_wait & ~edge.isin(pd.MultiIndex.from_tuples(list(lone)))
        if narrow:
            own_wait = own_wait | edge.isin(pd.MultiIndex.from_tuples(list(narrow)))
    spans["gap_blames_caller"] = own_wait & has_gap
    overhead = dict(broad)
    for (c, _), z in narrow.items():
        overhead[c] = max(overhead.get(c, 0.0), z)
    spans["caller_overhead_z"] = np.where(
        spans["client_like"].to_numpy() & window,
        spans["pod"].astype(str).map(overhead).fillna(0.0).to_numpy(),
        0.0,
    )


@dataclass
class UnansweredCalls:
    """Per unanswered client span: the usual callee pods that sent no span in the window (``absent``), and
    the usual callees ordered by how much their share of the answers fell (``suspects``)."""

    absent: dict[str, list[str]] = field(default_factory=dict)
    suspects: dict[str, list[str]] = field(default_factory=dict)


def find_unanswered_calls(spans: pd.DataFrame, window: np.ndarray, profile: NormalProfile) -> UnansweredCalls:
    """Client calls left without an answering server span, more often than normal: the callee is
    unreachable. Pods that used to answer and sent nothing in the window are *absent* (down); otherwise the
    suspects are the usual callee pods whose share of the answered calls dropped most (lossy). Adds
    ``unanswered`` and ``unanswered_z`` to the spans."""
    active = set(spans.loc[window, "pod"].astype(str))
    client = window & client_calls(spans, profile.callee_pods)
    cand = client & (spans["n_children"].to_numpy() == 0)
    found = UnansweredCalls()
    unanswered = np.zeros(len(spans), dtype=bool)
    unanswered_z = np.zeros(len(spans))
    if cand.any():
        keys = list(zip(spans["service"].astype(str), spans["operation"].astype(str), strict=True))
        calls = pd.Series(client).groupby([spans["service"], spans["operation"]]).sum()
        missed = pd.Series(cand).groupby([spans["service"], spans["operation"]]).sum()
        answered = answered_by_pod(spans, client)
        op_z: dict[tuple[str, str], float] = {}
        op_suspects: dict[tuple[str, str], list[str]] = {}
        for i in np.flatnonzero(cand):
            key = keys[i]
            known = profile.callee_pods.get(key)
            if not known:
                continue
            unanswered[i] = True
            if key not in op_z:
                base = profile.unanswered_share.get(key, 0.0)
                op_z[key] = float(
                    binomial_z(
                        np.array([missed.get(key, 0)]), np.array([calls.get(key, 0)]), np.array([base])
                    )[0]
                )
                total = sum(known.values())
                now = answered.get(key, {})
                now_total = max(sum(now.values()), 1)
                drop = {p: known[p] / total - now.get(p, 0) / now_total for p in known}
                op_suspects[key] = sorted(known, key=lambda p: -drop[p])
            unanswered_z[i] = op_z[key]
            sid = str(spans["span_id"].iat[i])
            gone = sorted(p for p in known if p not in active)
            if gone:
                found.absent[sid] = gone
            found.suspects[sid] = op_suspects[key]
    spans["unanswered"] = unanswered
    spans["unanswered_z"] = unanswered_z
    return found


def answered_by_pod(spans: pd.DataFrame, client: np.ndarray) -> dict[tuple[str, str], dict[str, int]]:
    """For each client operation among ``spans[client]``: how many of its calls each callee pod answered."""
    key = spans["trace_id"].astype(str) + "\x1f" + spans["span_id"].astype(str)
    caller = pd.DataFrame(
        {
            "service": spans["service"].to_numpy()[client],
            "operation": spans["operation"].to_numpy()[client],
        },
        index=key.to_numpy()[client],
    )
    caller = caller[~caller.index.duplicated()]
    pkey = (spans["trace_id"].astype(str) + "\x1f" + spans["parent_id"].astype(str)).to_numpy()
    hit = pd.Index(caller.index).get_indexer(pkey)
    ok = hit >= 0
    if not ok.any():
        return {}
    rows = caller.iloc[hit[ok]]
    counts = (
        pd.DataFrame(
            {
                "service": rows["service"].to_numpy(),
                "operation": rows["operation"].to_numpy(),
                "pod": spans["pod"].to_numpy()[ok],
            }
        )
        .groupby(["service", "operation", "pod"])
        .size()
    )
    out: dict[tuple[str, str], dict[str, int]] = {}
    for (a, b, pod), n in counts.items():
        out.setdefault((str(a), str(b)), {})[str(pod)] = int(n)
    return out


#: A child call is *usual* for its parent operation when at least this share of the parent's normal spans
#: make it; only usual calls can vanish.
USUAL_CALL_SHARE = 0.5

#: Default share points (0..1) by which a call's share of the parent's spans must change before it is a
#: shift at all (the effect-size floor; the count-based z then says how sure the change is). The analyzer
#: passes :attr:`~faultwise.rcl.reasoners.embedded.EmbeddedConfig.call_share_change`.
MIN_SHARE_CHANGE = 0.25

#: Ratio of calls per parent span (either way) from which a changed call count is a shift.
MIN_COUNT_RATIO = 1.5

#: Fewest incident-window spans of a parent operation before its calls are compared at all.
MIN_PARENT_SPANS = 3


@dataclass
class CallShifts:
    """The call-structure shifts of an incident window (:func:`find_call_shifts`): per parent operation its
    shifts, strongest first; per span (by row) which of them it shows."""

    by_operation: dict[tuple[str, str], list[CallShift]] = field(default_factory=dict)
    vanished: dict[int, list[tuple[float, str]]] = field(default_factory=dict)
    new: dict[int, list[tuple[float, str]]] = field(default_factory=dict)
    count: dict[int, list[tuple[float, str]]] = field(default_factory=dict)

    def shows_any(self, row: int) -> bool:
        """Whether the span at ``row`` shows any shift (most spans do not)."""
        return row in self.vanished or row in self.new or row in self.count

    def evidence(self, row: int, duration_ratio: float | None) -> StructureEvidence:
        """The structural evidence of the span at ``row`` (calls listed strongest first, capped)."""

        def top(d: dict[int, list[tuple[float, str]]]) -> tuple[float, list[str]]:
            items = sorted(d.get(row, ()), key=lambda zc: -zc[0])
            return (items[0][0] if items else 0.0), [c for _, c in items[:MAX_ITEMS]]

        vz, vc = top(self.vanished)
        nz, nc = top(self.new)
        cz, cc = top(self.count)
        return StructureEvidence(
            vanished_calls=vc,
            new_calls=nc,
            count_calls=cc,
            vanished_z=vz,
            new_z=nz,
            count_z=cz,
            duration_ratio=duration_ratio,
        )


_POD_KEYS = ["service", "operation", "pod", "child_service", "child_operation"]


def _shift_table(sub: pd.DataFrame, profile: NormalProfile) -> pd.DataFrame:
    """Per (parent operation, pod, child operation): the normal child-call figures of the operation (all
    its pods) against the incident window's on this pod, with shares, counts and the confidences."""
    n1 = sub.groupby(["service", "operation", "pod"]).size().rename("n1").reset_index()
    normal = profile.child_calls.reset_index().merge(n1, on=["service", "operation"])
    inc = child_call_counts(sub, by_pod=True).reset_index()
    t = normal.merge(inc, on=_POD_KEYS, how="outer", suffixes=("_0", "_1"))
    t = t.drop(columns="n1").merge(n1, on=["service", "operation", "pod"], how="left")
    n0 = profile.op_stats["n"].reindex(pd.MultiIndex.from_frame(t[["service", "operation"]]))
    t["n0"] = n0.fillna(0).to_numpy(dtype=float)
    t = t.fillna({"spans_with_0": 0, "calls_0": 0, "spans_with_1": 0, "calls_1": 0, "n1": 0})
    t = t[(t["n1"] >= MIN_PARENT_SPANS) & (t["n0"] > 0)].reset_index(drop=True)
    k0, k1 = t["spans_with_0"].to_numpy(dtype=float), t["spans_with_1"].to_numpy(dtype=float)
    c0, c1 = t["calls_0"].to_numpy(dtype=float), t["calls_1"].to_numpy(dtype=float)
    n0, n1 = t["n0"].to_numpy(dtype=float), t["n1"].to_numpy(dtype=float)
    t["p0"] = (k0 + 0.5) / (n0 + 1.0)  # a few normal spans cannot make a call certain
    t["p1"] = k1 / np.maximum(n1, 1)
    t["z_vanished"] = binomial_z(n1 - k1, n1, 1.0 - t["p0"].to_numpy())
    t["z_new"] = binomial_z(k1, n1, t["p0"].to_numpy())
    m0 = np.where(k0 > 0, c0 / np.maximum(k0, 1), 0.0)
    expected = k1 * m0
    with np.errstate(divide="ignore", invalid="ignore"):
        t["z_count"] = np.nan_to_num(np.abs(c1 - expected) / np.sqrt(expected), nan=0.0, posinf=0.0)
    t["m0"], t["m1"] = m0, np.where(k1 > 0, c1 / np.maximum(k1, 1), 0.0)
    return t


def find_call_shifts(
    spans: pd.DataFrame,
    window: np.ndarray,
    profile: NormalProfile,
    min_z: float,
    min_share_change: float = MIN_SHARE_CHANGE,
) -> CallShifts:
    """Which operations changed the child calls they make in the window (on which pod), and which spans
    show it.

    The normal figures are the operation's over all its pods, the window's those of one pod (a fault hits
    one pod). A usual child call (made by at least :data:`USUAL_CALL_SHARE` of the parent's normal spans)
    *vanished* when the share of the parent's window spans that make it fell by ``min_share_change``
    or more; a call is *new* when its share rose by as much; a *count* shift is a change of calls per span
    by :data:`MIN_COUNT_RATIO` either way. Only shifts with a confidence ``z >= min_z`` are kept. A span
    shows a vanished call it does not make, and a new or changed call it makes. Rows index ``spans``.
    """
    out = CallShifts()
    if profile.child_calls is None or not len(profile.child_calls) or not window.any():
        return out
    rows = np.flatnonzero(window)
    sub = spans.iloc[rows].reset_index(drop=True)
    t = _shift_table(sub, profile)
    if not len(t):
        return out
    drop = t["p0"] - t["p1"]
    ratio = np.where(t["m0"] > 0, t["m1"] / t["m0"].where(t["m0"] > 0, 1.0), 1.0)
    kinds = {
        "vanished": (t["p0"] >= USUAL_CALL_SHARE) & (drop >= min_share_change) & (t["z_vanished"] >= min_z),
        "new": (-drop >= min_share_change) & (t["z_new"] >= min_z),
        "count": (t["spans_with_0"] > 0)
        & (t["spans_with_1"] > 0)
        & ((ratio >= MIN_COUNT_RATIO) | (ratio <= 1 / MIN_COUNT_RATIO))
        & (t["z_count"] >= min_z),
    }
    if not any(m.any() for m in kinds.values()):
        return out
    parent = parent_rows(sub)
    has = parent >= 0
    call_key = sub["service"].astype(str) + ":" + sub["operation"].astype(str)
    made = pd.DataFrame({"parent": parent[has], "call": call_key.to_numpy()[has]})
    per_span = made.groupby(["call", "parent"]).size()
    op_rows = {
        k: np.asarray(v)
        for k, v in pd.Series(np.arange(len(sub)))
        .groupby([sub["service"], sub["operation"], sub["pod"]])
        .groups.items()
    }
    target = {"vanished": out.vanished, "new": out.new, "count": out.count}
    z_col = {"vanished": "z_vanished", "new": "z_new", "count": "z_count"}
    for kind, mask in kinds.items():
        for r in t[mask.to_numpy()].itertuples(index=False):
            call = f"{r.child_service}:{r.child_operation}"
            z = float(getattr(r, z_col[kind]))
            effect = {"vanished": r.p0 - r.p1, "new": r.p1 - r.p0, "count": r.m1 / max(r.m0, 1e-9)}[kind]
            out.by_operation.setdefault((str(r.service), str(r.operation)), []).append(
                CallShift(
                    kind=kind,
                    z=round(z, 3),
                    effect=round(float(effect), 4),
                    parent_spans=int(r.n1),
                    **{k: str(getattr(r, k)) for k in _POD_KEYS},
                    normal_share=round(float(r.p0), 4),
                    incident_share=round(float(r.p1), 4),
                    normal_calls_per_span=round(float(r.m0), 3),
                    incident_calls_per_span=round(float(r.m1), 3),
                )
            )
            members = op_rows.get((r.service, r.operation, r.pod), np.array([], dtype=np.int64))
            made_by = (
                per_span.loc[call] if call in per_span.index.get_level_values(0) else pd.Series(dtype=int)
            )
            n_made = made_by.reindex(members).fillna(0).to_numpy(dtype=float)
            if kind == "vanished":
                shown = members[n_made == 0]
            elif kind == "new":
                shown = members[n_made > 0]
            else:
                shown = members[(n_made > 0) & ((n_made > r.m0) if r.m1 >= r.m0 else (n_made < r.m0))]
            for i in rows[shown]:
                target[kind].setdefault(int(i), []).append((z, call))
    for shifts in out.by_operation.values():
        shifts.sort(key=lambda s: -s.z)
    return out
