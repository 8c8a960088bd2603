"""Data tools: what an agent can see, computed once, compact and capped."""

import pytest

from faultwise.rcl.method.analyzer import RCLAgent, RCLConfig
from faultwise.rcl.method.selection import select_traces, trace_anomaly_scores
from faultwise.rcl.profile import NormalProfile
from faultwise.rcl.reasoners.embedded import EmbeddedConfig
from faultwise.rcl.telemetry.schema import span_at
from faultwise.rcl.tools import MAX_ITEMS, DataTools, LogEvidence, ScopedTools


def _tools(inc):
    profile = NormalProfile.fit(inc.normal.spans, inc.normal.logs)
    start = int(inc.truth.inject_ts_s * 1e6)
    return DataTools(inc.incident, profile, window_us=(start, inc.incident.time_range_us()[1]))


@pytest.fixture(scope="module")
def exception_case(full_incident):
    inc = full_incident("exception", 0)
    return inc, _tools(inc)


def test_pod_error_rate_rises_on_the_failing_pod_only(exception_case):
    inc, tools = exception_case
    z = tools.pod_error_rates()
    assert z[inc.truth.component] > 5
    others = [v for p, v in z.items() if p != inc.truth.component and not p.startswith("gateway")]
    assert all(v < z[inc.truth.component] for v in others)


def test_span_level_tools_are_scoped_and_capped(exception_case):
    inc, tools = exception_case
    spans = tools.spans
    target = spans[(spans["pod"] == inc.truth.component) & spans["is_error"]]
    sp = span_at(target, 0)
    scoped = ScopedTools(sp, tools)
    t = scoped.timing()
    assert t.op_error_shift_z > 3  # its operation fails far more often than normal
    lg = scoped.logs()
    assert lg.pod_error_rate_z > 3
    assert len(lg.new_error_templates) <= MAX_ITEMS and len(lg.missing_templates) <= MAX_ITEMS
    m = scoped.pod_metrics()
    assert len(m.deviations) <= MAX_ITEMS
    st = scoped.operation_stats()
    assert st.service == sp.service and st.incident_spans > 0 and st.incident_error_rate > 0
    assert scoped.node() == (sp.node or tools.node_of(sp.pod)) != ""


def test_network_delay_shows_as_gap_into_the_target_not_as_its_own_time(full_incident):
    inc = full_incident("network_delay", 0)
    s = _tools(inc).spans
    mine = s[s["pod"] == inc.truth.component]
    assert mine["op_gap_shift_z"].max() > 5
    assert not mine["gap_blames_caller"].any()
    assert mine["op_self_shift_z"].max() < mine["op_gap_shift_z"].max()


def test_unknown_span_gets_empty_log_evidence(exception_case):
    _, tools = exception_case
    # nothing at all: no lines, no shift, and no pod to take an error rate from
    assert tools.span_logs("no-such-span") == LogEvidence()
    with pytest.raises(KeyError):
        tools.span_timing("no-such-span")


def test_pod_failure_names_the_absent_callee(full_incident):
    inc = full_incident("pod_failure", 0)
    tools = _tools(inc)
    s = tools.spans
    unanswered = s[s["unanswered"]]["span_id"].astype(str)
    absent = {p for sid in unanswered for p in tools.absent_callees(sid)}
    assert inc.truth.component in absent
    assert tools.absent_callees("no-such-span") == []


def test_trace_selection_scores_with_the_reasoners_config(exception_case):
    inc, tools = exception_case
    start = int(inc.truth.inject_ts_s * 1e6)
    default = trace_anomaly_scores(tools, start)
    assert default.max() > 0.5 and select_traces(tools, start, 10, 0.1) == [
        str(t) for t in default.index[:10]
    ]
    # a reasoner that takes nothing short of an enormous deviation for evidence selects nothing
    deaf = EmbeddedConfig(z0=1000.0)
    assert (trace_anomaly_scores(tools, start, deaf) == 0).all()
    assert select_traces(tools, start, 10, 0.1, deaf) == []
    # and the analyzer selects with the config it reasons with
    d = RCLAgent(RCLConfig(reasoner=deaf)).find_root_causes(inc.incident, inc.normal, start_us=start)
    assert d.traces_analyzed == 0 and d.candidates == []
