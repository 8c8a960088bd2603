"""Reasoners: the pluggable decision inside each Dedicated Agent.

The embedded reasoner is imported with the package; the LLM reasoner and its factory load the OpenAI client
only when first used (``from faultwise.rcl.reasoners import LLMReasoner``).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from faultwise.rcl.reasoners.base import Reasoner
from faultwise.rcl.reasoners.embedded import EmbeddedConfig, EmbeddedReasoner
from faultwise.rcl.reasoners.escalation import EscalationRule

_LAZY = {
    "LLMReasoner": "faultwise.rcl.reasoners.llm",
    "LLMReasonerConfig": "faultwise.rcl.reasoners.llm",
    "build_reasoner": "faultwise.rcl.reasoners.factory",
    "check_answered": "faultwise.rcl.reasoners.factory",
}

__all__ = [
    "EmbeddedConfig",
    "EmbeddedReasoner",
    "EscalationRule",
    "LLMReasoner",
    "LLMReasonerConfig",
    "Reasoner",
    "build_reasoner",
    "check_answered",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
