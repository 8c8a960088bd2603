"""The method: one Dedicated Agent per span, the dependency-driven coordinator, label-free trace selection,
the synthesis into ranked candidates, and the analyzer that runs them (:class:`RCLAgent`)."""

from faultwise.rcl.method.agent import DedicatedAgent
from faultwise.rcl.method.analyzer import Diagnosis, RCLAgent, RCLConfig
from faultwise.rcl.method.coordinator import Coordinator, Schedule, StepEvent
from faultwise.rcl.method.selection import select_traces, trace_anomaly_scores
from faultwise.rcl.method.synthesis import SynthesisConfig, synthesize

__all__ = [
    "Coordinator",
    "DedicatedAgent",
    "Diagnosis",
    "RCLAgent",
    "RCLConfig",
    "Schedule",
    "StepEvent",
    "SynthesisConfig",
    "select_traces",
    "synthesize",
    "trace_anomaly_scores",
]
