"""The cases of RCAEval RE2/RE3 folders, scored at service level.

The truth comes from the folder name (``<service>_<fault>``) and is used only to score; a method sees the
case's telemetry and the injection time, and learns normal behaviour from the period before it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from faultwise.errors import InputError
from faultwise.rcl.bench.cases import BenchCase
from faultwise.rcl.telemetry.rcaeval import RCAEvalCase, find_rcaeval_cases, load_rcaeval_case


def select_rcaeval_cases(root: str | Path, limit: int | None = None) -> list[RCAEvalCase]:
    if limit is not None and limit < 1:
        raise InputError("--limit", f"must be at least 1, got {limit}")
    cases = find_rcaeval_cases(root)
    return cases[:limit] if limit is not None else cases


def rcaeval_cases(cases: Sequence[RCAEvalCase]) -> Iterator[BenchCase]:
    """Each case loaded when its turn comes (no separate fault-free telemetry: the time before the
    injection is normal)."""
    for case in cases:
        t0 = time.perf_counter()
        telemetry, inject_us = load_rcaeval_case(case)
        yield BenchCase(
            case_id=case.case_id,
            fault_type=case.fault,
            level="service",
            truth=case.service,
            incident=telemetry,
            normal=None,
            start_us=inject_us,
            load_seconds=round(time.perf_counter() - t0, 3),
        )
