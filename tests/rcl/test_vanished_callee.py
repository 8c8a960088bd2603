"""A vanished callee (issue 11, mechanism 7): a pod that answers nothing makes its callers fail, and their
failures name it. The unanswered calls into pods that sent no span are the callee's evidence
(``EmbeddedConfig.callee_down``), so the blame does not stay with the callers that show the errors."""

from __future__ import annotations

import pytest

from faultwise.rcl.method import RCLAgent, RCLConfig
from faultwise.rcl.reasoners.embedded import EmbeddedConfig
from faultwise.rcl.simulate import SynthConfig, generate_incident

US = 1_000_000


@pytest.mark.parametrize(("seed", "use_logs"), [(1, False), (2, True)])
def test_the_callers_failures_are_blamed_on_the_silent_callee(seed, use_logs):
    inc = generate_incident(SynthConfig(fault_type="pod_failure", seed=seed))
    start_us = int(inc.truth.start_ts_s * US)

    def top(callee_down: float) -> str:
        cfg = RCLConfig(use_logs=use_logs, reasoner=EmbeddedConfig(callee_down=callee_down))
        return (
            RCLAgent(cfg)
            .find_root_causes(inc.incident, inc.normal, start_us=start_us)
            .candidates[0]
            .component
        )

    assert top(EmbeddedConfig().callee_down) == inc.truth.component
    assert top(0.0) != inc.truth.component  # without that evidence a failing caller takes the blame


def _without_kinds(tel):
    """The same telemetry as a format that records no span kinds (Nezha, some Jaeger and Zipkin exports)."""
    from dataclasses import replace

    return replace(tel, spans=tel.spans.assign(kind=""))


@pytest.mark.parametrize("seed", [1, 3])
def test_unanswered_calls_are_known_as_calls_without_span_kinds(seed):
    """Where no span says it is a client, a childless span is still known as a call when its operation's spans
    answered calls on another pod in the normal traces: the vanished callee keeps its evidence."""
    inc = generate_incident(SynthConfig(fault_type="pod_failure", seed=seed))
    start_us = int(inc.truth.start_ts_s * US)
    incident, normal = _without_kinds(inc.incident), _without_kinds(inc.normal)
    cfg = RCLConfig(use_logs=False)
    top = RCLAgent(cfg).find_root_causes(incident, normal, start_us=start_us).candidates[0].component
    assert top == inc.truth.component
