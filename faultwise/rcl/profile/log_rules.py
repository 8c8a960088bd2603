"""Log lines against spans: which templates an operation's spans carry, and the code-path rules among them.

A log line *follows* another when a span of the operation that logs the first almost always logs the second
too: a step of one code path. The normal profile keeps these rules; the data tools see a rule broken in the
incident window as a code path cut short.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from faultwise.rcl.profile.templates import template_of

OpKey = tuple[str, str]

#: A log line "follows" another when a span that logs the first almost always logs the second too; fewest
#: spans with the first line, and least share, before that is taken as a rule of the code path.
MIN_FOLLOW_SPANS = 5
MIN_FOLLOW_SHARE = 0.9


def follow_counts(pairs: pd.DataFrame) -> pd.DataFrame:
    """For spans of one operation: how many carry template ``a`` (``n_a``) and how many of those also carry
    ``b`` (``k_ab``). ``pairs`` holds one row per (span_id, service, operation, template)."""
    cols = ["span_id", "service", "operation", "template"]
    if not len(pairs):
        return pd.DataFrame(columns=["service", "operation", "a", "b", "k_ab", "n_a"])
    p = pairs[cols]
    both = p.merge(p[["span_id", "template"]], on="span_id", suffixes=("_a", "_b"))
    both = both[both["template_a"] != both["template_b"]]
    k = both.groupby(["service", "operation", "template_a", "template_b"]).size().rename("k_ab")
    n = spans_per_template(p).rename("n_a")
    out = k.reset_index().merge(
        n.reset_index().rename(columns={"template": "template_a"}), on=["service", "operation", "template_a"]
    )
    return out.rename(columns={"template_a": "a", "template_b": "b"})


RULE_KEYS = ["service", "operation", "a", "b"]


def rules_table(rules: dict[OpKey, dict[tuple[str, str], float]]) -> pd.DataFrame:
    """The rules as rows (service, operation, a, b, p)."""
    rows = [(svc, op, a, b, p) for (svc, op), rs in rules.items() for (a, b), p in rs.items()]
    return pd.DataFrame(rows, columns=[*RULE_KEYS, "p"])


def rule_counts(table: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """``table`` with, in the spans of ``pairs``, how many carry ``a`` (``n_a``) and how many of those also
    ``b`` (``k_ab``); zero where none does."""
    k = follow_counts(pairs)[[*RULE_KEYS, "k_ab"]]
    n = spans_per_template(pairs).rename("n_a").reset_index().rename(columns={"template": "a"})
    t = table.merge(k, on=RULE_KEYS, how="left").merge(n, on=["service", "operation", "a"], how="left")
    return t.assign(k_ab=t["k_ab"].fillna(0).to_numpy(), n_a=t["n_a"].fillna(0).to_numpy())


def follow_rules(pairs: pd.DataFrame) -> dict[OpKey, dict[tuple[str, str], float]]:
    """Pairs of log lines where the second reliably accompanies the first within a span of an operation:
    the steps of one code path. Smoothed share ``(k + 0.5) / (n + 1)``."""
    c = follow_counts(pairs)
    c = c[c["n_a"] >= MIN_FOLLOW_SPANS]
    share = (c["k_ab"] + 0.5) / (c["n_a"] + 1.0)
    c = c[share >= MIN_FOLLOW_SHARE].assign(p=share[share >= MIN_FOLLOW_SHARE])
    out: dict[OpKey, dict[tuple[str, str], float]] = {}
    for r in c.itertuples(index=False):
        out.setdefault((str(r.service), str(r.operation)), {})[(str(r.a), str(r.b))] = float(r.p)
    return out


def linked_lines(spans: pd.DataFrame, logs: pd.DataFrame) -> pd.DataFrame:
    """Log lines that name a span of ``spans``, with that span's service and operation."""
    return logs[logs["span_id"] != ""].merge(
        spans[["span_id", "service", "operation"]].drop_duplicates("span_id"),
        on="span_id",
        suffixes=("_log", ""),
    )


def spans_per_template(pairs: pd.DataFrame) -> pd.Series:
    """How many spans of each (service, operation) carry each template (``pairs``: one row per span and
    template)."""
    return pairs.groupby(["service", "operation", "template"]).size()


def segment_rules(
    pairs: pd.DataFrame,
) -> tuple[dict[OpKey, dict[tuple[str, str], float]], set[tuple[str, str, str, str]]]:
    """Code-path rules of the normal periods, and the ones some period broke (doubted).

    The first segment is the reference (the declared fault-free window, or the only one); its rules count
    even where the pooled data disagrees. A rule another period breaks may be workload drift (a cache
    warming up, another request mix) or a fault already running before the alarm: it is kept, doubted."""
    pooled = follow_rules(pairs)
    if "segment" not in pairs.columns or pairs["segment"].nunique() < 2:
        return pooled, set()
    first = pairs["segment"].min()
    rules = follow_rules(pairs[pairs["segment"] == first])
    for key, rs in pooled.items():
        rules.setdefault(key, {}).update(rs)
    table = rules_table(rules)
    if not len(table):
        return rules, set()
    broken = np.zeros(len(table), dtype=bool)
    for _, seg in pairs.groupby("segment"):
        t = rule_counts(table, seg)
        k_ab, n_a = t["k_ab"].to_numpy(), t["n_a"].to_numpy()
        broken |= (n_a >= MIN_FOLLOW_SPANS) & ((k_ab + 0.5) / (n_a + 1.0) < MIN_FOLLOW_SHARE)
    doubted = {tuple(map(str, r)) for r in table[broken][RULE_KEYS].itertuples(index=False)}
    return rules, doubted  # type: ignore[return-value]


def with_templates(logs: pd.DataFrame) -> pd.DataFrame:
    """Logs with a ``template`` column (memoised per distinct message)."""
    out = logs.copy()
    uniq = pd.unique(out["message"].astype(str))
    mapping = {m: template_of(m) for m in uniq}
    out["template"] = out["message"].astype(str).map(mapping)
    return out
