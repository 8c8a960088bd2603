"""Code-path evidence from logs: a line that reliably follows another within a span goes missing (the request
left the path early), told apart from a change of request mix (the requests took another normal branch)."""

import numpy as np
import pandas as pd

from faultwise.rcl.profile import NormalProfile
from faultwise.rcl.profile.log_rules import follow_rules, with_templates
from faultwise.rcl.telemetry.schema import LOG_COLUMNS, SPAN_COLUMNS, Telemetry
from faultwise.rcl.tools import DataTools

SVC, POD, OP = "cart", "cart-7d9f8b6c5d-abcde", "CartController.checkout"
STEP_1 = "INFO c.s.CartServiceImpl#40 [checkout][load cart] items: {n}"
STEP_2 = "INFO c.s.CartServiceImpl#52 [checkout][load cart] items: {n}"  # same text, later statement
BRANCH_A = "INFO c.s.CartServiceImpl#60 [checkout][express shipping]"
BRANCH_B = "INFO c.s.CartServiceImpl#64 [checkout][standard shipping]"


def _period(t0_us: int, n: int, lines_of, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``n`` requests of one operation, one per 100 ms; ``lines_of(i, rng)`` gives the log lines of request i."""
    rng = np.random.default_rng(seed)
    spans, logs = [], []
    for i in range(n):
        start = t0_us + i * 100_000
        tid, sid = f"{seed:04x}{i:028x}", f"{seed:04x}{i:012x}"
        spans.append(
            {
                "trace_id": tid,
                "span_id": sid,
                "parent_id": "",
                "service": SVC,
                "pod": POD,
                "node": "node-1",
                "operation": OP,
                "kind": "server",
                "start_us": start,
                "duration_us": int(rng.normal(20_000, 1_000)),
                "is_error": False,
                "status_code": "200",
            }
        )
        for k, line in enumerate(lines_of(i, rng)):
            logs.append(
                {
                    "ts_us": start + 100 * (k + 1),
                    "service": SVC,
                    "pod": POD,
                    "node": "node-1",
                    "level": "INFO",
                    "message": line.format(n=int(rng.integers(1, 9))),
                    "trace_id": tid,
                    "span_id": sid,
                }
            )
    return (
        pd.DataFrame(spans).astype(SPAN_COLUMNS),
        pd.DataFrame(logs, columns=list(LOG_COLUMNS)).astype(LOG_COLUMNS),
    )


def _normal(i, rng):
    return [STEP_1, STEP_2, BRANCH_A if rng.random() < 0.8 else BRANCH_B]


def _tools(base_periods, incident) -> DataTools:
    spans = pd.concat([s for s, _ in base_periods], ignore_index=True)
    logs = pd.concat([lg.assign(segment=k) for k, (_, lg) in enumerate(base_periods)], ignore_index=True)
    profile = NormalProfile.fit(spans, logs)
    inc_spans, inc_logs = incident
    lo = int(inc_spans["start_us"].min())
    return DataTools(
        Telemetry(inc_spans, inc_logs), profile, window_us=(lo, int(inc_spans["start_us"].max()))
    )


def _missing_of_cut_spans(tools: DataTools, incident) -> list[float]:
    spans, logs = incident
    step_2 = set(logs[logs["message"].str.contains("#52")]["span_id"])
    cut = [sid for sid in spans["span_id"] if sid not in step_2]
    return [tools.span_logs(sid).missing_z for sid in cut]


def test_statements_with_the_same_text_are_told_apart_by_their_source_line():
    base = _period(0, 100, _normal, seed=1)
    rules = follow_rules(
        with_templates(base[1]).assign(operation=OP).drop_duplicates(["span_id", "template"])
    )
    # the two steps always come together; the branches never do
    pairs = {(a.split("#")[1][:2], b.split("#")[1][:2]) for (a, b) in rules[(SVC, OP)]}
    assert ("40", "52") in pairs and ("52", "40") in pairs
    assert not any({a, b} == {"60", "64"} for a, b in pairs)


def test_a_path_cut_short_is_missing_log_evidence_on_the_cut_spans():
    base = _period(0, 200, _normal, seed=1)
    # the fault: most requests stop between the two steps (an exception after line 40)
    incident = _period(60_000_000, 60, lambda i, rng: [STEP_1] if i % 4 else _normal(i, rng), seed=2)
    tools = _tools([base], incident)
    z = _missing_of_cut_spans(tools, incident)
    assert z and min(z) > 10
    assert any("#52" in t for t in tools.span_logs(incident[0]["span_id"].iloc[1]).missing_templates)


def test_a_rule_a_later_normal_period_breaks_is_kept_but_doubted():
    base = _period(0, 200, _normal, seed=1)
    drifted = _period(30_000_000, 100, lambda i, rng: [STEP_1] if i % 4 else _normal(i, rng), seed=3)
    incident = _period(60_000_000, 60, lambda i, rng: [STEP_1] if i % 4 else _normal(i, rng), seed=2)
    doubted_tools = _tools([base, drifted], incident)
    rules = doubted_tools.profile.op_follow[(SVC, OP)]
    doubted = doubted_tools.profile.op_follow_doubted
    cut = next((a, b) for a, b in rules if "#40" in a and "#52" in b)
    assert (SVC, OP, *cut) in doubted  # drift, or a fault already running before the alarm
    assert not any(k[2:] == (a, b) for k in doubted for a, b in rules if "#60" in a)  # every period keeps it
    trusted = _missing_of_cut_spans(_tools([base], incident), incident)
    weaker = _missing_of_cut_spans(doubted_tools, incident)
    assert 0 < max(weaker) < min(trusted)


def test_a_change_of_request_mix_between_normal_branches_is_not_evidence():
    base = _period(0, 200, _normal, seed=1)
    # the requests now mostly take the other, normal branch: workload, not a fault
    incident = _period(
        60_000_000, 60, lambda i, rng: [STEP_1, STEP_2, BRANCH_B if rng.random() < 0.9 else BRANCH_A], seed=2
    )
    tools = _tools([base], incident)
    for sid in incident[0]["span_id"]:
        ev = tools.span_logs(sid)
        assert ev.missing_z == 0.0 and ev.new_z == 0.0


def test_a_request_mix_shift_also_explains_the_code_path_rule_it_breaks():
    # normally nearly every request takes branch A, so "A follows step 1" is a code-path rule
    base = _period(0, 400, lambda i, rng: [STEP_1, STEP_2, BRANCH_B if i % 40 == 0 else BRANCH_A], seed=1)
    assert any("#60" in b for _, b in follow_rules_of(base))
    incident = _period(
        60_000_000, 80, lambda i, rng: [STEP_1, STEP_2, BRANCH_B if i % 2 else BRANCH_A], seed=2
    )
    tools = _tools([base], incident)
    assert all(tools.span_logs(sid).missing_z == 0.0 for sid in incident[0]["span_id"])


def follow_rules_of(period) -> dict:
    logs = with_templates(period[1]).assign(operation=OP).drop_duplicates(["span_id", "template"])
    return follow_rules(logs).get((SVC, OP), {})
