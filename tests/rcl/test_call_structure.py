"""The call-structure signal from traces: usual child calls that vanished, new calls, changed call counts
(the traces-only evidence of a cut code path), the early-return fault of the generator that produces it,
and how the method uses it (blame the deepest cut, not the callers that echo it)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from faultwise.rcl.method import RCLAgent, RCLConfig
from faultwise.rcl.profile import NormalProfile
from faultwise.rcl.reasoners.embedded import EmbeddedConfig, EmbeddedReasoner
from faultwise.rcl.records import AgentReport, SelfEvidence
from faultwise.rcl.telemetry.schema import SPAN_COLUMNS, Span, Telemetry, conform
from faultwise.rcl.tools import DataTools

T0 = 1_700_000_000_000_000


def _trace(tid: str, start_us: int, children: list[tuple[str, str]], pod: str = "api-1") -> list[dict]:
    """One trace: a root ``api:handle`` span on ``pod`` with the given (service, operation) children."""
    rows = [
        dict(trace_id=tid, span_id=f"{tid}-r", parent_id="", service="api", pod=pod, operation="handle",
             kind="server", start_us=start_us, duration_us=10_000)
    ]  # fmt: skip
    for j, (svc, op) in enumerate(children):
        rows.append(
            dict(trace_id=tid, span_id=f"{tid}-{j}", parent_id=f"{tid}-r", service=svc, pod=f"{svc}-1",
                 operation=op, kind="internal", start_us=start_us + 100 * (j + 1), duration_us=50)
        )  # fmt: skip
    return rows


def _frame(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows).assign(node="", is_error=False, status_code="")
    return conform(df, SPAN_COLUMNS, "test", "spans")


def _tables(incident_children: list[list[tuple[str, str]]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    usual = [("api", "db.query"), ("api", "cache.get"), ("api", "cache.get")]
    normal = [r for i in range(60) for r in _trace(f"n{i}", T0 + i * 1000, usual)]
    inc = [r for i, ch in enumerate(incident_children) for r in _trace(f"i{i}", T0 + 10**9 + i * 1000, ch)]
    return _frame(normal), _frame(inc)


def _tools(normal: pd.DataFrame, incident: pd.DataFrame) -> DataTools:
    profile = NormalProfile.fit(normal)
    lo = int(incident["start_us"].min())
    return DataTools(Telemetry(incident, None, None, {}), profile, window_us=(lo, lo + 10**9))


def test_vanished_new_and_count_shifts_are_found_and_shown_by_the_right_spans():
    cut = [[("api", "error.handler")] for _ in range(12)]  # db + cache vanished, a new call
    loop = [[("api", "db.query")] + [("api", "cache.get")] * 6 for _ in range(8)]  # cache called 3x as often
    normal, incident = _tables(cut + loop)
    tools = _tools(normal, incident)
    shifts = {(s.kind, s.child_operation): s for s in tools.call_shifts("api", "handle")}
    assert ("vanished", "db.query") in shifts and ("vanished", "cache.get") in shifts
    assert ("new", "error.handler") in shifts
    assert ("count", "cache.get") in shifts
    v = shifts[("vanished", "db.query")]
    assert v.normal_share > 0.95 and v.incident_share == pytest.approx(8 / 20) and v.z > 3
    assert shifts[("count", "cache.get")].effect == pytest.approx(3.0)
    first_cut = tools.span_structure("i0-r")
    assert "api:db.query" in first_cut.vanished_calls and first_cut.vanished_z > 3
    assert first_cut.new_calls == ["api:error.handler"] and first_cut.count_z == 0
    in_loop = tools.span_structure("i12-r")
    assert in_loop.vanished_calls == [] and in_loop.new_calls == [] and in_loop.count_z > 3
    assert tools.span_structure("i0-0").vanished_calls == []  # a child span shows nothing of its parent's


def test_no_shift_when_the_window_calls_as_usual():
    usual = [[("api", "db.query"), ("api", "cache.get"), ("api", "cache.get")] for _ in range(30)]
    tools = _tools(*_tables(usual))
    assert tools.call_shifts("api", "handle") == []
    assert not tools.structure_strengths().any()


def test_a_few_missing_calls_are_not_a_shift():
    calls = [("api", "db.query"), ("api", "cache.get"), ("api", "cache.get")]
    few = [[] for _ in range(2)] + [calls for _ in range(28)]  # 2 of 30: below the effect-size floor
    assert _tools(*_tables(few)).call_shifts("api", "handle") == []


def test_generator_early_return_drops_the_target_pods_child_calls(small_incident):
    inc = small_incident("early_return", 0)
    t = inc.truth
    assert t.fault_type == "error_return"

    def calls_per_server_span(sp: pd.DataFrame) -> float:
        srv = sp[(sp["pod"] == t.component) & (sp["kind"] == "server")]
        return sp["parent_id"].isin(srv["span_id"]).sum() / max(len(srv), 1)

    after = inc.incident.spans[inc.incident.spans["start_us"] >= t.inject_ts_s * 1e6]
    assert calls_per_server_span(after) < 0.6 * calls_per_server_span(inc.normal.spans)
    assert not after.loc[after["pod"] == t.component, "is_error"].any()  # a cut path, no error status


def _diagnose(inc, call_structure: float) -> list[str]:
    cfg = RCLConfig(
        use_logs=False,
        use_metrics=False,
        reasoner=EmbeddedConfig(call_structure=call_structure, call_count=call_structure / 2),
    )
    d = RCLAgent(cfg).find_root_causes(
        Telemetry(inc.incident.spans, None, None, {}),
        Telemetry(inc.normal.spans, None, None, {}),
        start_us=int(inc.truth.inject_ts_s * 1e6),
    )
    return [c.service for c in d.candidates]


@pytest.mark.parametrize("seed", [0, 3])
def test_traces_only_early_return_is_found_by_its_vanished_calls(small_incident, seed):
    inc = small_incident("early_return", seed)
    assert _diagnose(inc, EmbeddedConfig().call_structure)[:1] == [inc.truth.service]  # the default weight
    assert _diagnose(inc, 0.0)[:1] != [inc.truth.service]  # without the structural signal it is missed


def _evidence(span: Span, structure: float) -> SelfEvidence:
    return SelfEvidence(
        span_id=span.span_id, service=span.service, pod=span.pod, operation=span.operation,
        is_abnormal=True, has_error=False, has_error_logs=False, has_metric_anomaly=False,
        structure_score=structure, score=structure, hypothesis="error_return",
    )  # fmt: skip


def _child_report(fault_type: str, confidence: float) -> AgentReport:
    return AgentReport(
        span_id="c", root_cause_span="c", component="db-1", service="db", fault_type=fault_type,
        confidence=confidence, path=["c"],
    )  # fmt: skip


def test_a_caller_that_lost_calls_below_a_cut_callee_is_its_victim():
    span = Span("t", "p", "", "api", "api-1", "", "handle", "server", 0, 1000, False)
    r = EmbeddedReasoner()
    own = _evidence(span, 0.9)
    # like with like: the callee's own cut code path explains the caller's vanished calls
    assert r.consolidate_sync(span, own, [_child_report("error_return", 0.4)]).component == "db-1"
    # a callee blamed for something else does not take the caller's own cut
    assert r.consolidate_sync(span, own, [_child_report("cpu", 0.4)]).component == "api-1"


def test_structure_strengths_follow_the_spans_rows():
    cut = [[] for _ in range(12)]
    tools = _tools(*_tables(cut))
    z = tools.structure_strengths()
    rows = np.flatnonzero(z > 0)
    assert set(tools.spans["span_id"].to_numpy()[rows]) == {f"i{i}-r" for i in range(12)}
