"""Fault injectors of RFT-FaultBench: one class per fault type, each with an easy and a hard strength."""

from __future__ import annotations

from faultwise.rft.faults.base import Injector, StepContext
from faultwise.rft.faults.ca import AdvantageInstability, DelayedCredit, ValueMismatch
from faultwise.rft.faults.od import EntropyCollapse, KLExplosion, UpdateFreeze
from faultwise.rft.faults.pg import EmptyResponse, LengthTooLong, LengthTooShort, RepetitionCollapse
from faultwise.rft.faults.rf import RewardCollapse, RewardHacking, RewardSpike
from faultwise.rft.faults.te import ObservationCorruption, TerminationError, ToolCallError
from faultwise.rft.records import FAULT_TYPES

INJECTORS: dict[str, type[Injector]] = {
    cls.fault_type: cls
    for cls in (
        RewardSpike, RewardCollapse, RewardHacking,
        EmptyResponse, RepetitionCollapse, LengthTooShort, LengthTooLong,
        KLExplosion, UpdateFreeze, EntropyCollapse,
        ValueMismatch, AdvantageInstability, DelayedCredit,
        ToolCallError, ObservationCorruption, TerminationError,
    )
}  # fmt: skip
assert set(INJECTORS) == set(FAULT_TYPES), "one injector per fault type"


def make_injector(fault_type: str, strength: str, onset_step: int = 1) -> Injector:
    """The injector of ``fault_type`` at ``strength`` ('easy'|'hard'), active from ``onset_step``."""
    if fault_type not in INJECTORS:
        raise ValueError(f"unknown fault type {fault_type!r}; known: {', '.join(FAULT_TYPES)}")
    return INJECTORS[fault_type](strength, onset_step)


__all__ = ["INJECTORS", "Injector", "StepContext", "make_injector"]
