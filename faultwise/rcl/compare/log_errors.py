"""Log error-rate increase: rank pods by how far their rate of error lines rose above normal.

Error lines are :func:`faultwise.rcl.telemetry.levels.is_error_line` (ERROR level, or a head that names an
error, an exception or a failure: many services log failures at INFO/WARN). The score is a Poisson z of the window's count against the count the normal rate predicts
(the expectation is floored at one line, so a pod needs several new errors to stand out).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from faultwise.rcl.compare.base import candidates_from_pod_scores, split_periods
from faultwise.rcl.records import Ranking
from faultwise.rcl.telemetry.levels import error_lines_per_pod
from faultwise.rcl.telemetry.schema import Telemetry


@dataclass(frozen=True)
class LogErrorRate:
    name: str = "log-errors"

    def find_root_causes(
        self, incident: Telemetry, normal: Telemetry | None = None, start_us: int | None = None
    ) -> Ranking:
        periods = split_periods(incident, normal, start_us)
        window_us = max(periods.window_us[1] - periods.window_us[0], 1)
        now = error_lines_per_pod(periods.logs)
        before = error_lines_per_pod(periods.normal_logs)
        scale = window_us / periods.normal_us if periods.normal_us > 0 else 1.0
        pods = sorted(set(periods.pod_service) | set(map(str, now.index)))
        k = now.reindex(pods).fillna(0.0).to_numpy()
        expected = np.maximum(before.reindex(pods).fillna(0.0).to_numpy() * scale, 1.0)
        z = (k - expected) / np.sqrt(expected)
        scores = {p: float(v) for p, v in zip(pods, z, strict=True)}
        return Ranking(candidates=candidates_from_pod_scores(scores, periods, self.name, "exception"))
