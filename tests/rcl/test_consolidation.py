"""Consolidation rules of the embedded reasoner, on hand-made reports."""

from faultwise.rcl.reasoners.embedded import EmbeddedReasoner
from faultwise.rcl.records import AgentReport, SelfEvidence
from faultwise.rcl.telemetry.schema import Span


def _span(sid: str, failed: bool) -> Span:
    return Span("t1", sid, "", "review", "review-1", "n1", "POST /review", "server", 0, 1000, failed, "")


def _own(sid: str, score: float, pattern: float = 0.0) -> SelfEvidence:
    return SelfEvidence(
        span_id=sid,
        service="review",
        pod="review-1",
        operation="POST /review",
        is_abnormal=score > 0,
        has_error=False,
        has_error_logs=False,
        has_metric_anomaly=False,
        score=score,
        log_score=max(pattern, 0.0),
        log_pattern_score=pattern,
    )


def _child(sid: str, pod: str, conf: float, failed: bool) -> AgentReport:
    return AgentReport(
        span_id=sid,
        root_cause_span=sid,
        component=pod,
        service=pod.split("-")[0],
        fault_type="error_return",
        confidence=conf,
        failed=failed,
        path=[sid],
    )


def test_a_failed_span_follows_its_failed_call_over_a_louder_healthy_one():
    children = [
        _child("db", "review-1", 1.0, failed=False),  # own pod, noisy but the call succeeded
        _child("rec", "recommendation-1", 0.8, failed=True),  # the call that failed
    ]
    rep = EmbeddedReasoner().consolidate_sync(_span("s", failed=True), _own("s", 0.5), children)
    assert rep.component == "recommendation-1" and rep.path == ["s", "rec"] and rep.failed


def test_a_healthy_span_takes_the_strongest_child():
    children = [
        _child("db", "review-1", 1.0, failed=False),
        _child("rec", "recommendation-1", 0.8, failed=True),
    ]
    rep = EmbeddedReasoner().consolidate_sync(_span("s", failed=False), _own("s", 0.0), children)
    assert rep.component == "review-1" and not rep.failed


def test_no_abnormal_child_and_normal_self_blames_nothing():
    rep = EmbeddedReasoner().consolidate_sync(_span("s", failed=True), _own("s", 0.0), [])
    assert rep.root_cause_span is None and rep.failed


def test_own_log_pattern_far_stronger_than_a_healthy_childs_keeps_the_blame():
    children = [_child("db", "db-1", 0.2, failed=False)]
    rep = EmbeddedReasoner().consolidate_sync(_span("s", failed=False), _own("s", 0.8, pattern=0.8), children)
    assert rep.component == "review-1" and rep.root_cause_span == "s"


def test_own_log_pattern_does_not_outweigh_a_failed_call():
    children = [_child("rec", "recommendation-1", 0.2, failed=True)]
    rep = EmbeddedReasoner().consolidate_sync(_span("s", failed=True), _own("s", 0.8, pattern=0.8), children)
    assert rep.component == "recommendation-1"
