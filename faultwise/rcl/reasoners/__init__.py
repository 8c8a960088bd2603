"""Reasoners: the pluggable decision inside each Dedicated Agent."""

from faultwise.rcl.reasoners.base import Reasoner
from faultwise.rcl.reasoners.embedded import EmbeddedConfig, EmbeddedReasoner

__all__ = ["EmbeddedConfig", "EmbeddedReasoner", "Reasoner"]
