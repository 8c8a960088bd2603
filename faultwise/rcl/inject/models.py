"""Every fault model by name, in the order benches list them."""

from __future__ import annotations

from faultwise.rcl.inject import (
    cpu_contention,
    cpu_hog,
    error_return,
    exception,
    network_delay,
    network_loss,
    pod_failure,
)
from faultwise.rcl.inject.model import FaultModel

FAULT_MODELS: dict[str, FaultModel] = {
    m.name: m
    for m in (
        network_delay.MODEL,
        network_loss.MODEL,
        cpu_contention.MODEL,
        cpu_hog.MODEL,
        exception.MODEL,
        error_return.MODEL,
        pod_failure.MODEL,
    )
}
FAULTS: tuple[str, ...] = tuple(FAULT_MODELS)
#: Presets: every model has ``easy`` and ``hard``; the code faults also ``logs`` (log-only).
STRENGTHS: tuple[str, ...] = ("easy", "hard", "logs")
