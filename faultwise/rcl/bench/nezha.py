"""The cases of a Nezha-layout folder, scored at service level.

The labels of ``cases.csv`` (root cause, fault type) are read only to score; a method sees the case's
telemetry, its fault-free telemetry and the injection time (the incident's alarm time).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from faultwise.errors import InputError
from faultwise.rcl.bench.cases import US_PER_S, BenchCase
from faultwise.rcl.telemetry import MetricCache, NezhaCase, load_nezha_case, read_nezha_cases


def select_cases(
    root: str | Path, case_ids: Sequence[str] | None = None, limit: int | None = None
) -> list[NezhaCase]:
    """The cases to run, in ``cases.csv`` order; unknown ids are a one-line error."""
    cases = read_nezha_cases(root)
    if case_ids:
        known = {c.case_id for c in cases}
        unknown = [c for c in case_ids if c not in known]
        if unknown:
            raise InputError(Path(root) / "cases.csv", f"no case(s) {', '.join(unknown)}")
        wanted = set(case_ids)
        cases = [c for c in cases if c.case_id in wanted]
    if limit is not None:
        if limit < 1:
            raise InputError("--limit", f"must be at least 1, got {limit}")
        cases = cases[:limit]
    return cases


def nezha_cases(root: str | Path, cases: Sequence[NezhaCase]) -> Iterator[BenchCase]:
    """Each case loaded when its turn comes (a day's metric folder read once for all its cases)."""
    metric_cache: MetricCache = {}
    for case in cases:
        t0 = time.perf_counter()
        incident, normal = load_nezha_case(root, case, metric_cache)
        yield BenchCase(
            case_id=case.case_id,
            fault_type=case.fault_type,
            level="service",
            truth=case.root_cause_service,
            incident=incident,
            normal=normal,
            start_us=case.inject_unix_utc * US_PER_S,
            load_seconds=round(time.perf_counter() - t0, 3),
        )
