"""The faults of AIOps-2022 cloudbed-day folders: each ground-truth fault is one case, scored at the fault's
own level (node, pod or service) against its ``cmdb_id``; the label is used only to score."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

from faultwise.errors import InputError
from faultwise.rcl.bench.cases import BenchCase
from faultwise.rcl.telemetry.aiops2022_full import aiops2022_incidents, load_aiops2022_bed


def find_beds(root: str | Path) -> list[Path]:
    """``root`` itself when it is a bed (holds ``trace/``), else its sub-folders that are."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(root, "no such folder")
    if (root / "trace").is_dir():
        return [root]
    beds = sorted(p for p in root.iterdir() if (p / "trace").is_dir())
    if not beds:
        raise InputError(root, "no AIOps-2022 cloudbed folders (none holds trace/)")
    return beds


def aiops2022_cases(beds: list[Path], before_s: int = 600, after_s: int = 600) -> Iterator[BenchCase]:
    """Each bed loaded once, cut into one window per fault; the minutes before the fault are normal."""
    for bed in beds:
        t0 = time.perf_counter()
        tel = load_aiops2022_bed(bed)
        incidents = aiops2022_incidents(bed, before_s, after_s, bed=tel)
        per_case = (time.perf_counter() - t0) / max(len(incidents), 1)
        for inc in incidents:
            f = inc.fault
            if f.level not in ("node", "pod", "service"):
                raise InputError(bed / "groundtruth.csv", f"unknown level {f.level!r}")
            yield BenchCase(
                case_id=inc.case_id,
                fault_type=f.failure_type,
                level=f.level,
                truth=f.cmdb_id,
                incident=inc.telemetry,
                normal=None,
                start_us=inc.start_us,
                load_seconds=round(per_case, 3),
            )
