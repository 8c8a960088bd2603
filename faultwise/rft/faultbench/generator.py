"""Generate an RFT-FaultBench directory: run every planned GRPO run and record it, resumably.

Layout of ``OUT``::

    bench.json                       scale, base seed, variant, planned run count, policy cache key
    registry.csv                     one RunInfo row per *complete* run (the completeness marker)
    runs/<run_id>/steps.jsonl        StepRecord per train step
    runs/<run_id>/trajectories.parquet  TrajectoryRecord per trajectory
    runs/<run_id>/run.json           RunInfo + wall time and peak memory of the run

A run is written into ``runs/.tmp-<run_id>-*`` by its worker and moved into place by the parent, which then
rewrites ``registry.csv`` atomically. A run directory without a registry row (a generation killed between the
move and the row) is discarded and redone, so nothing half-written ever looks complete, and a rerun continues
where the last one stopped.
"""

from __future__ import annotations

import csv
import io
import json
import os
import resource
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faultwise.errors import InputError
from faultwise.io import atomic_write_text
from faultwise.rft.faultbench.config import RunConfig
from faultwise.rft.faultbench.load import REGISTRY, REGISTRY_COLUMNS, read_registry
from faultwise.rft.faultbench.scales import SCALES, balanced_order, check_base_seed, get_variant, run_configs
from faultwise.rft.records import RunInfo, StepRecord, TrajectoryRecord


@dataclass
class GenerateSummary:
    """What one ``generate`` call did: runs planned, found complete, generated now, and what they cost."""

    planned: int
    already_done: int
    generated: int
    wall_time_s: float
    run_wall_s: list[float]
    peak_rss_mb: float


def write_registry(out: Path, rows: list[RunInfo]) -> None:
    """Rewrite ``out/registry.csv`` atomically with ``rows`` (one per complete run)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=REGISTRY_COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow(r.model_dump())
    atomic_write_text(out / REGISTRY, buf.getvalue())


def write_run_files(
    run_dir: Path,
    info: RunInfo,
    steps: Sequence[StepRecord],
    trajectories: Sequence[TrajectoryRecord],
    extra: dict[str, Any],
) -> None:
    """Write one run's three files into ``run_dir`` (a private temp dir, moved into place by the caller)."""
    import pandas as pd

    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / "steps.jsonl", "w", encoding="utf-8") as fh:
        for s in steps:
            fh.write(s.model_dump_json() + "\n")
    rows = [t.model_dump(mode="json", by_alias=True) for t in trajectories]
    pd.DataFrame(rows).to_parquet(run_dir / "trajectories.parquet", index=False)
    (run_dir / "run.json").write_text(json.dumps({**info.model_dump(), **extra}, indent=1))


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _worker_init() -> None:
    import torch

    torch.set_num_threads(1)


def _run_one(cfg_json: str, runs_root: str, cache_dir: str | None) -> tuple[str, str, float, float]:
    """Worker: train one run in a scratch dir, write its files to a temp dir under ``runs_root``."""
    from faultwise.rft.faultbench.runner import run

    cfg = RunConfig.model_validate_json(cfg_json)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{cfg.run_id}-", dir=runs_root))
    scratch = Path(tempfile.mkdtemp(prefix="faultbench-"))
    try:
        out = run(cfg, scratch, cache_dir=cache_dir)
        extra = {"wall_time_s": out.wall_time_s, "peak_rss_mb": _peak_rss_mb()}
        write_run_files(tmp, out.info, out.steps, out.trajectories, extra)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return cfg.run_id, str(tmp), out.wall_time_s, extra["peak_rss_mb"]


def _clean_incomplete(out: Path, done: set[str]) -> None:
    runs = out / "runs"
    if not runs.exists():
        return
    for p in runs.iterdir():
        if p.name.startswith(".tmp-") or (p.is_dir() and p.name not in done):
            shutil.rmtree(p, ignore_errors=True)


def generate(
    out: str | Path,
    scale: str = "smoke",
    seed: int = 0,
    workers: int = 1,
    cache_dir: str | Path | None = None,
    on_progress: Callable[[int, int, str], None] | None = None,
    limit: int | None = None,
    variant: str = "default",
    first: int | None = None,
) -> GenerateSummary:
    """Generate (or continue) the bench in ``out``. ``on_progress(done, planned, run_id)`` after each run;
    ``limit`` stops after that many new runs (used to test resumption); ``first`` keeps only the first N runs
    of the plan in its balanced order (:func:`~faultwise.rft.faultbench.scales.balanced_order`: the normal
    runs, then rounds over every type and strength), so a partial bench is balanced and a later call without
    it completes the same bench. Every argument is checked here, before any worker starts."""
    if scale not in SCALES:
        raise InputError("scale", f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    check_base_seed(seed)
    get_variant(variant)
    if first is not None and first < 1:
        raise InputError("first", f"must be at least 1, got {first}")
    out = Path(out)
    configs = balanced_order(run_configs(scale, seed, variant))
    meta = {
        "scale": scale,
        "seed": seed,
        "variant": variant,
        "planned_runs": len(configs),
        "policy_key": configs[0].policy_config().key(),
    }
    meta_path = out / "bench.json"
    if meta_path.exists():
        old = json.loads(meta_path.read_text())
        was = (old.get("scale"), old.get("seed"), old.get("variant", "default"))
        if was != (scale, seed, variant):
            raise InputError(
                meta_path,
                f"holds a {was[0]} bench with seed {was[1]} and variant {was[2]}; use another OUT",
            )
    else:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(meta_path, json.dumps(meta, indent=1))
    if first is not None:
        configs = configs[:first]
    rows = read_registry(out)
    done = {r.run_id for r in rows}
    _clean_incomplete(out, done)
    todo = [c for c in configs if c.run_id not in done]
    if limit is not None:
        todo = todo[:limit]
    (out / "runs").mkdir(exist_ok=True)
    cache = str(cache_dir) if cache_dir is not None else None
    # train the shared warm start once, before the workers need it
    from faultwise.rft.faultbench.policy import warm_start

    warm_start(configs[0].policy_config(), cache)
    t0 = time.perf_counter()
    walls: list[float] = []
    peak = 0.0
    by_id = {c.run_id: c for c in configs}

    def finish(run_id: str, tmp: str, wall: float, rss: float) -> None:
        nonlocal peak
        target = out / "runs" / run_id
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
        rows.append(by_id[run_id].run_info())
        write_registry(out, rows)
        walls.append(wall)
        peak = max(peak, rss)
        if on_progress:
            on_progress(len(rows), len(configs), run_id)

    if on_progress:
        on_progress(len(rows), len(configs), "")
    if workers <= 1:
        _worker_init()
        for c in todo:
            finish(*_run_one(c.model_dump_json(), str(out / "runs"), cache))
    elif todo:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        with ctx.Pool(workers, initializer=_worker_init, maxtasksperchild=None) as pool:
            jobs = [pool.apply_async(_run_one, (c.model_dump_json(), str(out / "runs"), cache)) for c in todo]
            try:
                for j in jobs:
                    finish(*j.get())
            except BaseException:
                pool.terminate()
                raise
        _clean_incomplete(out, {r.run_id for r in rows})
    return GenerateSummary(
        planned=len(configs),
        already_done=len(done),
        generated=len(walls),
        wall_time_s=time.perf_counter() - t0,
        run_wall_s=walls,
        peak_rss_mb=max(peak, _peak_rss_mb()),
    )
