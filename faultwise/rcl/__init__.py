"""RCLAgent: root cause localization for microservices by multi-agent recursion-of-thought over traces.

Example::

    from faultwise.rcl import RCLAgent, RCLConfig, load_telemetry

    incident = load_telemetry("traces.jsonl", logs="logs.jsonl", metrics="metrics.jsonl")
    normal = load_telemetry("normal-traces.jsonl")
    diagnosis = RCLAgent(RCLConfig()).find_root_causes(incident, normal)

Layout: ``telemetry`` (loaders, writers, levels), ``profile`` (the normal profile, log templates, trace
graph), ``tools`` (what an agent may see), ``method`` (agents, coordinator, selection, synthesis, analyzer),
``reasoners`` (embedded, LLM), ``llm`` (the chat-completions transport), ``compare`` (comparison methods),
``bench`` (datasets and the one runner), ``simulate`` (synthetic incidents), ``reports``.
"""

from faultwise.rcl.method.analyzer import Diagnosis, RCLAgent, RCLConfig
from faultwise.rcl.method.synthesis import SynthesisConfig
from faultwise.rcl.reasoners import EmbeddedConfig, EmbeddedReasoner, Reasoner
from faultwise.rcl.records import AgentReport, Candidate, EvidenceGraph, FaultType, Ranking, SelfEvidence
from faultwise.rcl.simulate import SynthConfig, generate_incident
from faultwise.rcl.telemetry import Telemetry, load_telemetry

__all__ = [
    "AgentReport",
    "Candidate",
    "Diagnosis",
    "EmbeddedConfig",
    "EmbeddedReasoner",
    "EvidenceGraph",
    "FaultType",
    "RCLAgent",
    "RCLConfig",
    "Ranking",
    "Reasoner",
    "SelfEvidence",
    "SynthConfig",
    "SynthesisConfig",
    "Telemetry",
    "generate_incident",
    "load_telemetry",
]
