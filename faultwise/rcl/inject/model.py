"""The shape every fault model has: its name, the fault type the methods' vocabulary calls it, a pydantic
parameter model with an ``easy`` and a ``hard`` preset, what traffic it needs, and its plan."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from faultwise.rcl.inject.context import InjectionContext
from faultwise.rcl.records import FaultType

#: What a target must have after the onset for a fault to leave a trace: calls into it from another traced
#: pod (network faults), requests that begin in it (code faults, pod failure), or any span (cpu).
Needs = Literal["calls_into", "entries", "spans"]


class FaultParams(BaseModel):
    """Base of every model's parameters: frozen, unknown names refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")


@dataclass(frozen=True)
class FaultModel:
    """One fault model (see its module's docstring for the mechanism it imitates)."""

    name: str
    fault_type: FaultType
    params: type[FaultParams]
    presets: dict[str, FaultParams]
    plan: Callable[[InjectionContext, Any], None]
    needs: Needs
    summary: str
