"""``evaluate`` scores what the monitor emitted online, never a re-diagnosis at the labelled onset."""

from types import SimpleNamespace

from faultwise.rft.fm.diagnose.classifier import FaultDiagnosis
from faultwise.rft.fm.evaluation import detection_metrics, run_monitor
from faultwise.rft.fm.monitor import FailureMonitor


def _run(fault: str, onset: int | None, n: int = 30, nan_at: int | None = None):
    steps = []
    for s in range(1, n + 1):
        sig = {"reward_mean": 0.5 + 0.001 * s, "entropy": 0.5 - 0.001 * s, "kl": 0.01 + 0.0001 * s}
        if nan_at is not None and s >= nan_at:
            sig["kl"] = float("nan")
        steps.append((s, sig))
    info = SimpleNamespace(
        run_id=f"{fault}-x", fault_type=fault, strength="easy", task_group="arithmetic", config="{}"
    )
    return SimpleNamespace(info=info, onset=onset, is_faulty=fault != "none", signal_run=lambda: steps)


class Opinionated(FailureMonitor):
    """A monitor whose online answer (always entropy collapse, onset 3 steps early) differs from what a
    re-diagnosis of the window would give (a NaN KL: "unknown")."""

    def _diagnose(self, ev):
        ev.onset_step -= 3
        return FaultDiagnosis(fault_type="entropy_collapse", family="OD", confidence=0.9, source="rules")


def test_scoring_uses_the_emitted_diagnosis_and_onset_estimate():
    run = _run("kl_explosion", onset=10, nan_at=12)
    plain = run_monitor(None, run)
    assert plain.alarm_after_onset == 12 and plain.predicted == "unknown" and plain.onset_estimate == 12
    emitted = run_monitor(None, run, monitor_factory=Opinionated)
    assert emitted.predicted == "entropy_collapse"  # what it said at its alarm, not a re-diagnosis
    assert (
        emitted.onset_estimate == 9 and emitted.alarm_after_onset == 12
    )  # its own onset; delay vs the label


def test_an_event_before_the_onset_is_a_false_alarm_and_no_event_after_it_is_a_miss():
    early = run_monitor(None, _run("kl_explosion", onset=20, nan_at=5))
    assert early.false_alarm and early.first_alarm == 5
    missed = run_monitor(None, _run("kl_explosion", onset=20))
    assert missed.alarm_after_onset is None and missed.predicted == "unknown"
    normal = run_monitor(None, _run("none", onset=None))
    assert not normal.false_alarm and normal.predicted is None
    det = detection_metrics([early, missed, normal])
    assert det["false_alarm_rate"] == 0.0 and det["easy"]["recall"] == 0.0
