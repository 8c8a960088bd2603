"""The method end to end on generated incidents: the injected component ranks first, records are sound."""

import pytest

from faultwise.rcl.method.analyzer import RCLAgent, RCLConfig
from faultwise.rcl.records import AgentReport, Candidate, SelfEvidence
from faultwise.rcl.simulate import generate_incident


def _diagnose(fault, seed=0, config=None):
    inc = generate_incident(fault_type=fault, seed=seed)
    d = RCLAgent(config).find_root_causes(inc.incident, inc.normal, start_us=int(inc.truth.inject_ts_s * 1e6))
    return inc.truth, d


def _ranked(d, level):
    return [c.component for c in d.candidates if c.level == level]


@pytest.mark.parametrize(
    "fault,expected_type",
    [
        ("cpu", {"cpu", "latency"}),
        ("network_delay", {"network_delay"}),
        ("exception", {"exception", "error_return"}),
        ("pod_failure", {"pod_failure"}),
    ],
)
def test_injected_pod_ranks_first_with_a_fitting_fault_type(fault, expected_type):
    truth, d = _diagnose(fault)
    assert truth.level == "pod"
    top = d.candidates[0]
    assert top.component == truth.component, [c.component for c in d.candidates[:3]]
    assert top.fault_type in expected_type
    assert top.evidence and top.rationale


def test_node_fault_is_named_at_node_level():
    truth, d = _diagnose("node_fault")
    assert truth.level == "node"
    assert truth.component in _ranked(d, "node")[:1]


def test_diagnosis_records_are_typed_and_consistent():
    truth, d = _diagnose("cpu", seed=1)
    assert d.traces_analyzed > 0 and d.spans_analyzed >= d.traces_analyzed
    assert set(d.modalities) == {"traces", "logs", "metrics"}
    assert all(isinstance(c, Candidate) for c in d.candidates)
    scores = [c.score for c in d.candidates]
    assert scores == sorted(scores, reverse=True)
    g = d.graphs[0]
    assert all(isinstance(n, SelfEvidence) for n in g.nodes.values())
    assert all(isinstance(r, AgentReport) for r in g.reports.values())
    pruned = g.pruned()
    assert set(pruned.nodes) <= set(g.nodes)
    assert all(n.is_abnormal or any(p == sid for p, _ in pruned.edges) for sid, n in pruned.nodes.items())
    assert truth.service in d.services()[:3]
    assert "graphs" not in d.model_dump(mode="json")


def test_ablations_run_and_drop_their_modality():
    _, d = _diagnose("exception", config=RCLConfig(use_logs=False, use_metrics=False))
    assert d.modalities == ["traces"]
    _, d2 = _diagnose("exception", config=RCLConfig(schedule="levels", use_graph_breadth=False))
    assert d2.candidates


def test_without_baseline_or_start_the_first_part_is_taken_as_normal():
    inc = generate_incident(fault_type="cpu", seed=2)
    import pandas as pd

    from faultwise.rcl.telemetry import Telemetry

    both = Telemetry(
        spans=pd.concat([inc.normal.spans, inc.incident.spans], ignore_index=True),
        logs=pd.concat([inc.normal.logs, inc.incident.logs], ignore_index=True),
    )
    d = RCLAgent(RCLConfig(baseline_fraction=0.5)).find_root_causes(both)
    assert d.baseline_source == "period before the incident"
    assert inc.truth.component in [c.component for c in d.candidates[:3]]


def test_empty_incident_is_an_input_error():
    import pandas as pd

    from faultwise.errors import InputError
    from faultwise.rcl.telemetry.schema import SPAN_COLUMNS, Telemetry, empty_frame

    with pytest.raises(InputError, match="no spans"):
        RCLAgent().find_root_causes(Telemetry(spans=empty_frame(SPAN_COLUMNS)))
    assert isinstance(empty_frame(SPAN_COLUMNS), pd.DataFrame)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_network_loss_names_the_callee_whose_calls_go_unanswered(seed):
    truth, d = _diagnose("network_loss", seed=seed)
    assert truth.component in [c.component for c in d.candidates[:3]]
