"""Seeded synthetic incidents: a microservice system with traffic, logs, metrics and one injected fault.

Feeds the demo, the tests and the scale benchmarks. ``generate_incident(SynthConfig(...))`` returns the
fault-free baseline window, the window after injection and the ground truth.
"""

from faultwise.rcl.simulate.config import INJECTABLE_FAULTS, GroundTruth, SynthConfig, SynthIncident
from faultwise.rcl.simulate.export import OTLP_FILES, write_incident_otlp
from faultwise.rcl.simulate.faults import TRUTH_TYPE
from faultwise.rcl.simulate.generator import generate_incident, generate_large_trace
from faultwise.rcl.simulate.metrics import NODE_METRICS, POD_METRICS
from faultwise.rcl.simulate.realism import PRESETS as REALISM_PRESETS
from faultwise.rcl.simulate.realism import REALISTIC, Realism
from faultwise.rcl.simulate.topology import Operation, Step, Topology

__all__ = [
    "GroundTruth",
    "INJECTABLE_FAULTS",
    "NODE_METRICS",
    "OTLP_FILES",
    "Operation",
    "POD_METRICS",
    "REALISM_PRESETS",
    "REALISTIC",
    "Realism",
    "Step",
    "SynthConfig",
    "SynthIncident",
    "TRUTH_TYPE",
    "Topology",
    "generate_incident",
    "generate_large_trace",
    "write_incident_otlp",
]
