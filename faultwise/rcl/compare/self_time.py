"""Span self-time deviation (the NSigma family on traces): rank pods by how far their own processing time
moved from normal.

Per (pod, operation) the median own processing time in the abnormal window is compared with the operation's
normal median/MAD (:func:`faultwise.rcl.profile.normal.robust_z`); a pod scores its worst operation. Client-side
waiting is not own processing (:func:`faultwise.rcl.profile.graph.add_timings`), so this signal sees cpu-like faults,
not network delay.
"""

from __future__ import annotations

from dataclasses import dataclass

from faultwise.rcl.compare.base import candidates_from_pod_scores, split_periods
from faultwise.rcl.compare.spans import timed_spans
from faultwise.rcl.profile import robust_z
from faultwise.rcl.records import Ranking
from faultwise.rcl.telemetry.schema import Telemetry


@dataclass(frozen=True)
class SelfTimeDeviation:
    name: str = "self-time"

    def find_root_causes(
        self, incident: Telemetry, normal: Telemetry | None = None, start_us: int | None = None
    ) -> Ranking:
        periods = split_periods(incident, normal, start_us)
        timed = timed_spans(incident, normal, periods)
        w = timed.window
        w = w[w["known"] & w["self_us"].notna()]
        scores: dict[str, float] = {}
        if len(w) and len(timed.normal):
            stats = timed.op_stats
            med = w.groupby(["pod", "service", "operation"], sort=False)["self_us"].median().reset_index()
            st = stats.reindex(list(zip(med["service"], med["operation"], strict=True)))
            z = robust_z(
                med["self_us"].to_numpy(dtype=float),
                st["self_med"].to_numpy(dtype=float),
                st["self_mad"].to_numpy(dtype=float),
            )
            med["z"] = z
            scores = {str(k): float(v) for k, v in med.groupby("pod")["z"].max().items()}
        for pod in periods.pod_service:
            scores.setdefault(pod, 0.0)
        return Ranking(candidates=candidates_from_pod_scores(scores, periods, self.name, "cpu"))
