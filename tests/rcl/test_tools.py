"""Data tools: what an agent can see, computed once, compact and capped."""

import pandas as pd
import pytest

from faultwise.rcl.profile import NormalProfile
from faultwise.rcl.simulate import generate_incident
from faultwise.rcl.telemetry.schema import span_at
from faultwise.rcl.tools.data_tools import MAX_ITEMS, DataTools
from faultwise.rcl.tools.scoped import ScopedTools


@pytest.fixture(scope="module")
def exception_case():
    inc = generate_incident(fault_type="exception", seed=0)
    base = NormalProfile.fit(inc.normal.spans, inc.normal.logs)
    start = int(inc.truth.inject_ts_s * 1e6)
    tools = DataTools(inc.incident, base, window_us=(start, inc.incident.time_range_us()[1]))
    return inc, tools


def test_pod_error_rate_rises_on_the_failing_pod_only(exception_case):
    inc, tools = exception_case
    z = tools._pod_error_z
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


def test_network_delay_shows_as_gap_into_the_target_not_as_its_own_time():
    inc = generate_incident(fault_type="network_delay", seed=0)
    base = NormalProfile.fit(inc.normal.spans, inc.normal.logs)
    start = int(inc.truth.inject_ts_s * 1e6)
    tools = DataTools(inc.incident, base, window_us=(start, inc.incident.time_range_us()[1]))
    s = tools.spans
    mine = s[s["pod"] == inc.truth.component]
    assert mine["op_gap_shift_z"].max() > 5
    assert not mine["gap_blames_caller"].any()
    assert mine["op_self_shift_z"].max() < mine["op_gap_shift_z"].max()


def test_unknown_span_gets_empty_log_evidence(exception_case):
    _, tools = exception_case
    assert tools.span_logs("no-such-span").lines == 0
    assert isinstance(tools.spans, pd.DataFrame)
