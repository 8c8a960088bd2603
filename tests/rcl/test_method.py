"""The method end to end on generated incidents: the injected component ranks first, records are sound."""

import pandas as pd
import pytest

from faultwise.errors import InputError
from faultwise.rcl.method.analyzer import RCLAgent, RCLConfig
from faultwise.rcl.method.synthesis import SynthesisConfig
from faultwise.rcl.telemetry import Telemetry
from faultwise.rcl.telemetry.schema import SPAN_COLUMNS, empty_frame


@pytest.fixture(scope="module")
def diagnose(full_incident):
    """Diagnose a generated incident (default size) against its fault-free window and injection time."""

    def run(fault, seed=0, config=None):
        inc = full_incident(fault, seed)
        d = RCLAgent(config).find_root_causes(
            inc.incident, inc.normal, start_us=int(inc.truth.inject_ts_s * 1e6)
        )
        return inc.truth, d

    return run


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
def test_injected_pod_ranks_first_with_a_fitting_fault_type(diagnose, fault, expected_type):
    truth, d = diagnose(fault)
    assert truth.level == "pod"
    top = d.candidates[0]
    assert top.component == truth.component, [c.component for c in d.candidates[:3]]
    assert top.fault_type in expected_type
    assert top.evidence and top.rationale


def test_node_fault_is_named_at_node_level(diagnose):
    truth, d = diagnose("node_fault")
    assert truth.level == "node"
    assert truth.component in _ranked(d, "node")[:1]


def test_diagnosis_records_are_consistent(diagnose):
    truth, d = diagnose("cpu", seed=1)
    assert d.traces_analyzed > 0 and d.spans_analyzed >= d.traces_analyzed
    assert set(d.modalities) == {"traces", "logs", "metrics"}
    scores = [c.score for c in d.candidates]
    assert scores == sorted(scores, reverse=True)
    assert len(d.graphs) == d.traces_analyzed == len(d.trace_graphs)
    assert sum(len(g.nodes) for g in d.graphs) == d.spans_analyzed
    g, tg = d.graphs[0], d.trace_graphs[0]
    # every span of the trace has its agent's evidence and report, keyed by its own span id
    assert set(g.nodes) == set(g.reports) == set(tg.spans)
    assert all(sid == n.span_id == g.reports[sid].span_id for sid, n in g.nodes.items())
    assert g.roots == tg.roots and {r.span_id for r in g.root_reports} == set(tg.roots)
    pruned = g.pruned()
    assert set(pruned.nodes) <= set(g.nodes)
    assert all(n.is_abnormal or any(p == sid for p, _ in pruned.edges) for sid, n in pruned.nodes.items())
    # a pod candidate names its own service; the services list maps pods to services in rank order
    pods = [c for c in d.candidates if c.level == "pod"]
    assert pods and all(c.service and c.component.startswith(c.service) for c in pods)
    assert truth.service in d.services()[:3]
    assert "graphs" not in d.model_dump(mode="json")


def test_ablations_drop_their_modality_and_the_schedule_changes_no_answer(diagnose):
    _, d = diagnose("exception", config=RCLConfig(use_logs=False, use_metrics=False))
    assert d.modalities == ["traces"]
    _, full = diagnose("exception")
    _, levels = diagnose("exception", config=RCLConfig(schedule="levels"))
    # the barrier schedule is slower, never different: the same agents decide the same things
    assert [(c.component, c.score) for c in levels.candidates] == [
        (c.component, c.score) for c in full.candidates
    ]
    _, votes = diagnose("exception", config=RCLConfig(synthesis=SynthesisConfig(use_graph_breadth=False)))
    assert votes.candidates and [c.score for c in votes.candidates] != [c.score for c in full.candidates]


def test_without_baseline_or_start_the_first_part_is_taken_as_normal(full_incident):
    inc = full_incident("cpu", 2)
    both = Telemetry(
        spans=pd.concat([inc.normal.spans, inc.incident.spans], ignore_index=True),
        logs=pd.concat([inc.normal.logs, inc.incident.logs], ignore_index=True),
    )
    d = RCLAgent(RCLConfig(baseline_fraction=0.5)).find_root_causes(both)
    assert d.baseline_source == "period before the incident"
    assert inc.truth.component in [c.component for c in d.candidates[:3]]


def test_empty_incident_is_an_input_error():
    empty = empty_frame(SPAN_COLUMNS)
    assert list(empty.columns) == list(SPAN_COLUMNS) and len(empty) == 0
    with pytest.raises(InputError, match="no spans"):
        RCLAgent().find_root_causes(Telemetry(spans=empty))


@pytest.mark.parametrize(
    "bad",
    [
        {"schedule": "level"},  # a misspelt schedule is refused, not run as the default
        {"max_traces": -5},
        {"concurrency": 0},
        {"baseline_fraction": 7},
        {"min_trace_score": 1.5},
        {"use_log": False},  # an unknown field
    ],
)
def test_configs_refuse_what_they_cannot_run(bad):
    with pytest.raises(ValueError):
        RCLConfig(**bad)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_network_loss_names_the_callee_whose_calls_go_unanswered(diagnose, seed):
    truth, d = diagnose("network_loss", seed=seed)
    assert truth.component in [c.component for c in d.candidates[:3]]
