"""Call structure in the incident window: whose a longer client->server wait is, and which calls went
unanswered (and by whom)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from faultwise.rcl.profile.normal import NormalProfile
from faultwise.rcl.profile.stats import binomial_z


def attribute_gaps(spans: pd.DataFrame, window: np.ndarray) -> None:
    """Decide whose a longer client->server wait is. Waits that grew on the calls from one pod into *many*
    callees point at the caller (its own CPU, threads or client stack); waits that grew only on calls into
    one callee point at that callee (its network or queue). Adds ``gap_blames_caller`` and, for client
    spans, ``caller_overhead_z`` (how broadly the pod's outgoing calls slowed)."""
    has_gap = spans["gap_us"].notna().to_numpy() & window
    e = pd.DataFrame(
        {
            "caller": spans["parent_pod"].to_numpy()[has_gap],
            "callee": spans["pod"].to_numpy()[has_gap],
            "x": spans["gap_exceeds"].to_numpy()[has_gap],
        }
    )
    broad: dict[str, float] = {}
    if len(e):
        g = e.groupby(["caller", "callee"])["x"].agg(["sum", "size"])
        g["z"] = binomial_z(g["sum"].to_numpy(), g["size"].to_numpy(), 0.05)
        g = g[g["size"] >= 3]
        for caller, grp in g.groupby(level=0):
            shifted = int((grp["z"] >= 3).sum())
            if shifted >= 2 and shifted >= 0.5 * len(grp):
                broad[str(caller)] = float(grp["z"].median())
    caller = spans["parent_pod"].astype(str)
    spans["gap_blames_caller"] = caller.map(lambda c: c in broad).to_numpy() & has_gap
    spans["caller_overhead_z"] = np.where(
        spans["client_like"].to_numpy() & window,
        spans["pod"].astype(str).map(broad).fillna(0.0).to_numpy(),
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
    client = window & (spans["kind"].astype(str).str.lower() == "client").to_numpy()
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
