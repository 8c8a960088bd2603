"""Fault injectors of RFT-FaultBench: one class per fault type, each with an easy and a hard strength.

One module per family: ``reward`` (RF), ``generation`` (PG), ``optimization`` (OD), ``credit`` (CA),
``tool_env`` (TE). Each injector registers itself in :data:`INJECTORS` when its class is defined.
"""

from __future__ import annotations

from faultwise.errors import InputError
from faultwise.rft.faultbench.faults.base import INJECTORS, Injector, StepContext, TrainerKnobs
from faultwise.rft.faultbench.faults.credit import AdvantageInstability, DelayedCredit, ValueMismatch
from faultwise.rft.faultbench.faults.generation import (
    EmptyResponse,
    LengthTooLong,
    LengthTooShort,
    RepetitionCollapse,
)
from faultwise.rft.faultbench.faults.optimization import EntropyCollapse, KLExplosion, UpdateFreeze
from faultwise.rft.faultbench.faults.reward import RewardCollapse, RewardHacking, RewardSpike
from faultwise.rft.faultbench.faults.tool_env import ObservationCorruption, TerminationError, ToolCallError
from faultwise.rft.records import FAULT_TYPES


def make_injector(fault_type: str, strength: str, onset_step: int = 1) -> Injector:
    """The injector of ``fault_type`` at ``strength`` ('easy'|'hard'), active from ``onset_step``."""
    if fault_type not in INJECTORS:
        raise InputError("fault_type", f"unknown fault type {fault_type!r}; known: {', '.join(FAULT_TYPES)}")
    return INJECTORS[fault_type](strength, onset_step)


__all__ = [
    "AdvantageInstability",
    "DelayedCredit",
    "EmptyResponse",
    "EntropyCollapse",
    "INJECTORS",
    "Injector",
    "KLExplosion",
    "LengthTooLong",
    "LengthTooShort",
    "ObservationCorruption",
    "RepetitionCollapse",
    "RewardCollapse",
    "RewardHacking",
    "RewardSpike",
    "StepContext",
    "TerminationError",
    "ToolCallError",
    "TrainerKnobs",
    "UpdateFreeze",
    "ValueMismatch",
    "make_injector",
]
