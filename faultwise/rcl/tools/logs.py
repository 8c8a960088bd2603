"""Log shifts: which log templates an operation's spans carry more or less often than normally, which code
paths were cut short, and how far each pod's rate of error lines rose.

A template over-represented among an operation's spans is *new* to the spans that carry it; one
under-represented is *missing* from the spans that lack it; a rule of the code path (a line that reliably
followed another) that now often fails marks the second line missing. A change of request mix, where lines
of one normal branch give way to lines of another, is workload and is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from faultwise.rcl.profile.log_rules import linked_lines, rule_counts, rules_table
from faultwise.rcl.profile.normal import MIN_PATTERN_SPANS, NormalProfile
from faultwise.rcl.profile.stats import binomial_z
from faultwise.rcl.telemetry.levels import (
    error_lines_per_pod,
    is_error_line,
    is_warning_or_error_level,
    names_trouble,
)
from faultwise.rcl.tools.records import LogEvidence

#: A code-path rule some normal period broke speaks at half strength.
DOUBTED_RULE_WEIGHT = 0.5

OpKey = tuple[str, str]
CutRules = dict[OpKey, dict[str, list[tuple[str, float]]]]  # op -> first line -> [(second line, z)]


def drop_branch_shifts(
    tab: pd.DataFrame, errorish: np.ndarray
) -> tuple[pd.DataFrame, set[tuple[str, str, str]]]:
    """Remove template shifts that a change of request mix explains: within one operation, usual lines that
    went missing while other *known*, non-error lines of it rose by about as much. The requests took another
    normal branch of the code (other input data), which is workload, not a fault; a fault leaves a deficit
    that no normal line makes up for, or new error lines (kept). Also returns the (service, operation,
    template) of the lines whose drop the shift explains."""
    benign = ~errorish & (tab["pb"].to_numpy() > 0) & (tab["z"].to_numpy() > 0)
    rise = tab[benign].groupby(["service", "operation"])["excess"].sum()
    drop = (-tab[tab["z"] < 0]["excess"]).groupby([tab["service"], tab["operation"]]).sum()
    shifted = {key for key, d in drop.items() if rise.get(key, 0.0) >= 0.5 * d}
    if not shifted:
        return tab, set()
    in_shift = np.array([(a, b) in shifted for a, b in zip(tab["service"], tab["operation"], strict=True)])
    fell = tab[in_shift & (tab["z"].to_numpy() < 0)]
    explained = {
        (str(a), str(b), str(t))
        for a, b, t in zip(fell["service"], fell["operation"], fell["template"], strict=True)
    }
    return tab[~(in_shift & ((tab["z"].to_numpy() < 0) | benign))], explained


def cut_paths(profile: NormalProfile, pairs: pd.DataFrame, explained: set[tuple[str, str, str]]) -> CutRules:
    """Code paths cut short: a line that reliably followed another within a span of the operation now often
    fails to (the request left the path between the two statements, e.g. on an exception). Lines whose drop
    a change of request mix already explains (``explained``) are left out."""
    if not profile.op_follow or not len(pairs):
        return {}
    tab = rule_counts(rules_table(profile.op_follow), pairs)
    tab = tab[tab["n_a"] > 0]  # rules whose first line the window shows
    if not len(tab):
        return {}
    tab["z"] = binomial_z(tab["k_ab"].to_numpy(), tab["n_a"].to_numpy(), tab["p"].to_numpy())
    doubted = profile.op_follow_doubted
    if doubted:
        keys = zip(tab["service"], tab["operation"], tab["a"], tab["b"], strict=True)
        tab["z"] *= np.array([DOUBTED_RULE_WEIGHT if k in doubted else 1.0 for k in keys])
    out: CutRules = {}
    for r in tab[tab["z"] <= -3.0].itertuples(index=False):
        if (str(r.service), str(r.operation), str(r.b)) in explained:
            continue
        out.setdefault((str(r.service), str(r.operation)), {}).setdefault(str(r.a), []).append(
            (str(r.b), float(r.z))
        )
    return out


@dataclass
class LogShifts:
    """The log-pattern shifts of one incident window, kept as raw pieces; a span's :class:`LogEvidence` is
    assembled only when an agent asks (:meth:`evidence`)."""

    profile: NormalProfile
    carried: dict[str, set[str]] = field(default_factory=dict)  # span -> templates it carries
    over: dict[tuple[str, str, str], tuple[bool, float]] = field(default_factory=dict)  # -> (error-like, z)
    under: dict[OpKey, list[tuple[str, float]]] = field(default_factory=dict)  # op -> [(template, z)]
    cut: CutRules = field(default_factory=dict)
    op_of: dict[str, OpKey] = field(default_factory=dict)  # window span -> its operation
    error_lines: dict[str, int] = field(default_factory=dict)  # span -> error lines it logged

    @classmethod
    def build(cls, profile: NormalProfile, window_spans: pd.DataFrame, logs: pd.DataFrame) -> LogShifts:
        """Templates whose share among an operation's window spans shifted significantly against the
        profile (``logs`` carry a ``template`` column)."""
        out = cls(profile)
        win = window_spans
        linked = linked_lines(win, logs)
        if not len(linked):
            return out
        linked["is_err"] = is_warning_or_error_level(linked["level"])
        op_n = win.groupby(["service", "operation"]).size()
        pairs = linked.drop_duplicates(["span_id", "template"])
        k = pairs.groupby(["service", "operation", "template"]).agg(
            k=("span_id", "size"), err=("is_err", "max")
        )
        rows = []
        for (svc, op, tmpl), r in k.iterrows():
            rows.append((svc, op, tmpl, r["k"], bool(r["err"])))
        # templates expected of the operation but absent from the window entirely
        for svc, op in op_n.index:
            for tmpl in profile.op_templates.get((str(svc), str(op)), {}):
                if (svc, op, tmpl) not in k.index:
                    rows.append((svc, op, tmpl, 0, False))
        tab = pd.DataFrame(rows, columns=["service", "operation", "template", "k", "err"])
        tab["n"] = [int(op_n.get((a, b), 0)) for a, b in zip(tab["service"], tab["operation"], strict=True)]
        nb = np.array(
            [
                profile.op_logged_spans.get((str(a), str(b)), 0)
                for a, b in zip(tab["service"], tab["operation"], strict=True)
            ]
        )
        pb = np.array(
            [
                profile.op_templates.get((str(a), str(b)), {}).get(str(t), 0.0)
                for a, b, t in zip(tab["service"], tab["operation"], tab["template"], strict=True)
            ]
        )
        p0 = (pb * nb + 0.5) / (nb + 1.0)
        tab["z"] = binomial_z(tab["k"].to_numpy(), tab["n"].to_numpy(), p0)
        tab["excess"] = tab["k"] - tab["n"] * p0
        tab["pb"] = pb
        tab = tab[(nb >= MIN_PATTERN_SPANS) & (tab["z"].abs() >= 3.0)]
        errorish = tab["err"].to_numpy() | names_trouble(tab["template"])
        tab, explained = drop_branch_shifts(tab, errorish)
        errorish = tab["err"].to_numpy() | names_trouble(tab["template"])
        out.over = {
            (r.service, r.operation, r.template): (bool(e), float(r.z))
            for r, e in zip(tab.itertuples(), errorish, strict=True)
            if r.z > 0
        }
        for r in tab[tab["z"] < 0].itertuples():
            out.under.setdefault((r.service, r.operation), []).append((r.template, float(r.z)))
        for sid, tmpl in zip(pairs["span_id"].tolist(), pairs["template"].tolist(), strict=True):
            out.carried.setdefault(str(sid), set()).add(str(tmpl))
        out.cut = cut_paths(profile, pairs, explained)
        out.op_of = dict(
            zip(
                win["span_id"].astype(str).tolist(),
                zip(win["service"].tolist(), win["operation"].tolist(), strict=True),
                strict=True,
            )
        )
        err = linked[is_error_line(linked)].groupby("span_id").size()
        out.error_lines = {str(k): int(v) for k, v in err.items()}
        return out

    def _cut_missing(self, svc: str, op: str, has: set[str] | tuple) -> list[tuple[float, str]]:
        """(strength, template) of lines this span lacks although a line it carries normally brings them."""
        rules = self.cut.get((svc, op))
        if not rules:
            return []
        return [(-z, b) for a in has for b, z in rules.get(a, ()) if b not in has]

    def evidence(self, sid: str) -> LogEvidence | None:
        """The span's full (uncapped) log evidence; ``None`` for a span outside the window or without any."""
        key = self.op_of.get(sid)
        if key is None:
            return None
        svc, op = key
        has = self.carried.get(sid, set())
        over = self.over
        new_err = sorted(
            ((over[(svc, op, t)][1], t) for t in has if (svc, op, t) in over and over[(svc, op, t)][0]),
            reverse=True,
        )
        new = sorted(
            ((over[(svc, op, t)][1], t) for t in has if (svc, op, t) in over and not over[(svc, op, t)][0]),
            reverse=True,
        )
        missing = sorted(
            [(-z, t) for t, z in self.under.get((svc, op), []) if t not in has]
            + self._cut_missing(svc, op, has),
            reverse=True,
        )
        if not (new_err or new or missing or has):
            return None
        return LogEvidence(
            lines=len(has),
            error_lines=self.error_lines.get(sid, 0),
            new_error_templates=[t for _, t in new_err],
            new_templates=[t for _, t in new],
            missing_templates=[t for _, t in missing],
            new_error_z=new_err[0][0] if new_err else 0.0,
            new_z=new[0][0] if new else 0.0,
            missing_z=missing[0][0] if missing else 0.0,
            pattern_known=self.profile.op_logged_spans.get((svc, op), 0) >= MIN_PATTERN_SPANS,
        )

    def strengths(self, span_ids: list[str], new_template_weight: float) -> np.ndarray:
        """Per span, the strongest log-pattern shift (z) it shows, without assembling records: an
        over-represented error-like template counts in full, another at ``new_template_weight``, a missing
        line or a cut code path in full."""
        out = np.zeros(len(span_ids))
        if not self.op_of:
            return out
        for i, sid in enumerate(span_ids):
            key = self.op_of.get(sid)
            if key is None:
                continue
            svc, op = key
            has = self.carried.get(sid, ())
            best = 0.0
            for t in has:
                hit = self.over.get((svc, op, t))
                if hit is not None:
                    best = max(best, hit[1] if hit[0] else new_template_weight * hit[1])
            for t, z in self.under.get((svc, op), ()):
                if t not in has:
                    best = max(best, -z)
            for strength, _ in self._cut_missing(svc, op, has):
                best = max(best, strength)
            out[i] = best
        return out


def pod_error_rates(
    profile: NormalProfile, logs: pd.DataFrame, window_us: tuple[int, int]
) -> dict[str, float]:
    """Poisson z of each pod's error lines in the window against its normal rate (expectation floored at one
    line, so a pod needs several new errors to stand out)."""
    if not profile.log_seconds:
        return {}
    lo, hi = window_us
    win = logs[(logs["ts_us"] >= lo) & (logs["ts_us"] <= hi)]
    if not len(win):
        return {}
    seconds = max((hi - lo) / 1e6, 1.0)
    out: dict[str, float] = {}
    for pod, k in error_lines_per_pod(win).items():
        expected = max(profile.pod_error_lines_per_s.get(str(pod), 0.0) * seconds, 1.0)
        out[str(pod)] = float((k - expected) / np.sqrt(expected))
    return out
