"""``faultwise rft bench remediate``: faulty runs with the closed loop on, scored on true task accuracy.

For every faulty run of the scale, the seed-matched fault-free run (same seed and hyperparameters, no
injector) is trained too; both final policies are scored on the same held-out problems with a healthy tool.
A remediation succeeds when the supervised run's accuracy is not significantly below the fault-free run's
(one-sided, 95 %, two-proportion normal approximation, at least 5 points of slack). For environment faults
(TE) no training change can help: success then means the loop stopped and named the injected cause.
Without ``--model``, the scale's normal runs are generated first and a profile is fitted on them
(fingerprint rules diagnose, no learned classifier) — a weaker, self-contained setting.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from itertools import zip_longest
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from faultwise.errors import InputError
from faultwise.io import atomic_write_text
from faultwise.rft.faultbench.config import RunConfig
from faultwise.rft.faultbench.scales import SCALES
from faultwise.rft.fm.model import FMModel
from faultwise.rft.records import FAMILY_OF


class RemediationOutcome(BaseModel):
    """One faulty run under the closed loop: what happened, both accuracies, and the verdict."""

    run_id: str
    fault_type: str
    family: str
    strength: str
    onset_step: int
    status: str
    diagnosed: str | None
    stop_cause: str | None
    accuracy_remediated: float
    accuracy_fault_free: float
    tolerance: float
    success: bool


def tolerance(p_ref: float, n: int) -> float:
    """How far below the fault-free accuracy ``p_ref`` (on ``n`` problems) still counts as recovered."""
    return max(0.05, 1.645 * math.sqrt(max(2 * p_ref * (1 - p_ref), 1e-9) / n))


def judge(
    fault_type: str, status: str, diagnosed: str | None, acc_fix: float, acc_free: float, n: int
) -> tuple[bool, float]:
    """Whether a remediation succeeded, and the tolerance it was judged with."""
    tol = tolerance(acc_free, n)
    if FAMILY_OF.get(fault_type) == "TE":
        return status == "stopped" and diagnosed == fault_type, tol
    return acc_fix >= acc_free - tol, tol


def _normal_profile_model(cfgs: Sequence[RunConfig], out: Path, cache_dir: str | Path | None) -> FMModel:
    from faultwise.rft.faultbench.runner import run
    from faultwise.rft.fm.detect.profile import fit_profile
    from faultwise.rft.signals import extract_signals

    normal = []
    for cfg in cfgs:
        res = run(cfg, out / "normal" / cfg.run_id, cache_dir=cache_dir)
        by: dict[int, list] = {}
        for t in res.trajectories:
            by.setdefault(t.step, []).append(t)
        normal.append([(s.step, extract_signals(s, by.get(s.step))) for s in res.steps])
    return FMModel(profile=fit_profile(normal), fitted_on=f"normal runs under {out}")


def remediation_bench(
    out: str | Path,
    scale: str = "smoke",
    seed: int = 0,
    model: FMModel | None = None,
    n_eval: int = 128,
    cache_dir: str | Path | None = None,
    limit: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the scale's faulty runs (seeds from ``seed``) under the closed loop, and their fault-free twins;
    write each outcome under ``out`` (resumable) and return the summary document."""
    from faultwise.rft.faultbench.runner import run
    from faultwise.rft.faultbench.scales import run_configs
    from faultwise.rft.fm.remediate.supervisor import Supervisor, heldout_accuracy

    if scale not in SCALES:
        raise InputError("scale", f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    out = Path(out)
    cfgs = run_configs(scale, seed)
    faulty = interleave_families([c for c in cfgs if c.fault_type != "none"])
    if limit is not None:
        faulty = faulty[:limit]
    if model is None:
        model = _normal_profile_model([c for c in cfgs if c.fault_type == "none"], out, cache_dir)
    results: list[RemediationOutcome] = []
    for cfg in faulty:
        done = out / "runs" / cfg.run_id / "outcome.json"
        if done.is_file():  # resumable: a finished run is never redone
            results.append(RemediationOutcome.model_validate_json(done.read_text(encoding="utf-8")))
            continue
        work = out / "work" / cfg.run_id
        sup = Supervisor(model, cache_dir=cache_dir).run(cfg, work / "supervised")
        acc_fix = heldout_accuracy(sup.model, n_eval)
        free_cfg = cfg.model_copy(
            update={"run_id": cfg.run_id + "-free", "fault_type": "none", "strength": "none", "onset_step": 0}
        )
        free = run(free_cfg, work / "fault_free", cache_dir=cache_dir)
        acc_free = heldout_accuracy(free.policy, n_eval)
        rep = sup.report
        diagnosed = rep.diagnosis.fault_type if rep.diagnosis else None
        ok, tol = judge(cfg.fault_type, rep.status, diagnosed, acc_fix, acc_free, n_eval)
        res = RemediationOutcome(
            run_id=cfg.run_id,
            fault_type=cfg.fault_type,
            family=FAMILY_OF[cfg.fault_type],
            strength=cfg.strength,
            onset_step=cfg.onset_step,
            status=rep.status,
            diagnosed=diagnosed,
            stop_cause=rep.stop_cause,
            accuracy_remediated=acc_fix,
            accuracy_fault_free=acc_free,
            tolerance=tol,
            success=ok,
        )
        run_dir = done.parent
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(run_dir / "steps.jsonl", "".join(s.model_dump_json() + "\n" for s in sup.steps))
        atomic_write_text(run_dir / "supervision.json", rep.model_dump_json(indent=1))
        atomic_write_text(done, res.model_dump_json(indent=1))  # last: marks the run complete
        results.append(res)
        if progress:
            progress(
                f"{cfg.run_id}: {rep.status}, diagnosed {diagnosed}, acc {acc_fix:.2f} vs {acc_free:.2f} "
                f"-> {'success' if ok else 'failure'}"
            )
    doc = summarise(results)
    atomic_write_text(out / "remediation.json", json.dumps(doc, indent=2))
    return doc


def interleave_families(cfgs: list[RunConfig]) -> list[RunConfig]:
    """Order runs round-robin over families, then types, so a ``limit`` still covers every family."""
    by_fam: dict[str, list[RunConfig]] = {}
    for c in cfgs:
        by_fam.setdefault(FAMILY_OF[c.fault_type], []).append(c)
    for fam, lst in by_fam.items():  # within a family, alternate its types
        by_type: dict[str, list[RunConfig]] = {}
        for c in lst:
            by_type.setdefault(c.fault_type, []).append(c)
        queues = []
        for j, q in enumerate(by_type.values()):  # alternate strengths, odd types starting with "hard"
            easy = [c for c in q if c.strength == "easy"]
            hard = [c for c in q if c.strength != "easy"]
            first, second = (hard, easy) if j % 2 else (easy, hard)
            queues.append([c for pair in zip_longest(first, second) for c in pair if c is not None])
        by_fam[fam] = [q[i] for i in range(max(map(len, queues))) for q in queues if i < len(q)]
    queues = [by_fam[f] for f in sorted(by_fam)]
    return [q[i] for i in range(max(map(len, queues), default=0)) for q in queues if i < len(q)]


def summarise(results: list[RemediationOutcome]) -> dict[str, Any]:
    """Success rate overall and per family."""
    by_family: dict[str, dict] = {}
    for fam in sorted({r.family for r in results}):
        sub = [r for r in results if r.family == fam]
        by_family[fam] = {"runs": len(sub), "success_rate": round(sum(r.success for r in sub) / len(sub), 4)}
    n = len(results)
    return {
        "runs": n,
        "success_rate": round(sum(r.success for r in results) / n, 4) if n else 0.0,
        "by_family": by_family,
    }
