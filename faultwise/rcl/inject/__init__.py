"""Faults replayed into real traces: physically modelled faults injected into fault-free telemetry.

``inject(normal, InjectConfig(fault=..., target=..., strength=...))`` gives an incident whose minutes before
the onset are the input's own, and its :class:`InjectionLabel`. One module per fault model
(:mod:`~faultwise.rcl.inject.network_delay`, :mod:`~faultwise.rcl.inject.network_loss`,
:mod:`~faultwise.rcl.inject.cpu_contention`, :mod:`~faultwise.rcl.inject.cpu_hog`,
:mod:`~faultwise.rcl.inject.exception`, :mod:`~faultwise.rcl.inject.error_return`,
:mod:`~faultwise.rcl.inject.pod_failure`), each saying what it imitates; the tree-consistent span-time
shifter (:mod:`~faultwise.rcl.inject.shifter`) moves every other span so that the traces stay consistent;
:mod:`~faultwise.rcl.inject.write` writes the incident in the input's format and ``label.json``.
"""

from faultwise.rcl.inject.inject import (
    InjectConfig,
    Injection,
    InjectionLabel,
    default_onset_us,
    inject,
    resolve_target,
)
from faultwise.rcl.inject.model import FaultModel, FaultParams, Needs
from faultwise.rcl.inject.models import FAULT_MODELS, FAULTS, STRENGTHS
from faultwise.rcl.inject.shifter import Effects, Shifted, replay
from faultwise.rcl.inject.tree import SpanForest, span_forest
from faultwise.rcl.inject.write import LABEL_FILE, write_injection

__all__ = [
    "Effects",
    "FAULTS",
    "FAULT_MODELS",
    "FaultModel",
    "FaultParams",
    "InjectConfig",
    "Injection",
    "InjectionLabel",
    "LABEL_FILE",
    "Needs",
    "STRENGTHS",
    "Shifted",
    "SpanForest",
    "default_onset_us",
    "inject",
    "replay",
    "resolve_target",
    "span_forest",
    "write_injection",
]
