"""Random ranking: the floor every method must clear. Seeded by the method's seed and the incident start, so
a bench run is reproducible and cases do not share one permutation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from faultwise.rcl.compare.base import candidates_from_pod_scores, split_periods
from faultwise.rcl.records import Ranking
from faultwise.rcl.telemetry.schema import Telemetry


@dataclass(frozen=True)
class RandomRanking:
    name: str = "random"
    seed: int = 0

    def find_root_causes(
        self, incident: Telemetry, normal: Telemetry | None = None, start_us: int | None = None
    ) -> Ranking:
        periods = split_periods(incident, normal, start_us)
        pods = sorted(periods.pod_service)  # pods of the baseline too: a vanished pod is a candidate
        rng = np.random.default_rng([self.seed, periods.window_us[0] % (1 << 62)])
        scores = {p: float(s) for p, s in zip(pods, rng.random(len(pods)), strict=True)}
        # services and nodes get their own draws, so they are not just the order of their best pod
        services = sorted({periods.pod_service.get(p, p) for p in pods})
        nodes = sorted({periods.pod_node[p] for p in pods if periods.pod_node.get(p)})
        svc = {s: float(v) for s, v in zip(services, rng.random(len(services)), strict=True)}
        nd = {n: float(v) for n, v in zip(nodes, rng.random(len(nodes)), strict=True)}
        cands = candidates_from_pod_scores(scores, periods, self.name, "unknown")
        for c in cands:
            if c.level == "service":
                c.score = svc.get(c.component, c.score)
            elif c.level == "node":
                c.score = nd.get(c.component, c.score)
        order = {"pod": 0, "service": 1, "node": 2}
        cands.sort(key=lambda c: (-c.score, order[c.level], c.component))
        return Ranking(candidates=cands)
