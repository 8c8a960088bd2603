"""RFT-FaultBench: real GRPO runs (TRL, CPU) with injected faults, recorded step by step, and their reader.

- :func:`run` trains one run from a :class:`RunConfig` (``runner``, ``controller``: the glue to TRL), on the
  calculator task (``task``) with a tiny warm-started policy (``policy``), through the fault injectors
  (``faults``).
- :func:`generate` writes a whole bench of a :class:`Scale` (``generator``, ``scales``); :func:`load_bench`
  is the one reader of a bench (``load``); :func:`bench_stats` its counts and fingerprint table (``stats``).

Nothing here imports torch or TRL at import time.
"""

from __future__ import annotations

from faultwise.rft.faultbench.config import RunConfig
from faultwise.rft.faultbench.controller import BenchController, StepListener
from faultwise.rft.faultbench.faults import INJECTORS, Injector, StepContext, make_injector
from faultwise.rft.faultbench.generator import GenerateSummary, generate
from faultwise.rft.faultbench.load import Bench, BenchRun, load_bench, read_trajectories, split_runs
from faultwise.rft.faultbench.policy import PolicyConfig, SamplingParams, warm_start
from faultwise.rft.faultbench.runner import RunOutput, injectors_for, run
from faultwise.rft.faultbench.scales import SCALES, Scale, run_configs
from faultwise.rft.faultbench.stats import bench_stats

__all__ = [
    "Bench",
    "BenchController",
    "BenchRun",
    "GenerateSummary",
    "INJECTORS",
    "Injector",
    "PolicyConfig",
    "RunConfig",
    "RunOutput",
    "SCALES",
    "SamplingParams",
    "Scale",
    "StepContext",
    "StepListener",
    "bench_stats",
    "generate",
    "injectors_for",
    "load_bench",
    "make_injector",
    "read_trajectories",
    "run",
    "run_configs",
    "split_runs",
    "warm_start",
]
