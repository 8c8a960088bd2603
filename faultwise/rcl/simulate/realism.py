"""What real incidents carry besides their fault, each at a strength with a physical meaning.

A generated incident is clean: the baseline is taken just before the fault, the alarm time is the onset, every
span is own work or a call, nothing else goes wrong. Real incidents are not (issue 11's list), and a method
that only ever saw clean incidents learns to rely on that. These knobs add, one by one:

- **onset error**: the declared start (the alarm, the label) is off the true onset by some seconds, so the
  minutes just before the declared start may already hold the fault;
- **tail drift**: one unrelated database-like service's queries get a fatter tail between the baseline and the
  incident (tables grow over a day): their p90 moves by a factor while their median holds;
- **handler spans**: in some calling services the framework records a handler span *beside* each client call
  (same parent, no children) lasting the whole call, e.g. a gateway's filter chain: its length is waiting;
- **a briefly vanished callee**: an unrelated service answers no call for some seconds (Chaos Mesh
  ``pod-failure`` on all its pods, through :mod:`faultwise.rcl.inject`): its callers' calls fail and their
  error lines name it, not themselves.

All are off by default, so a config without them generates exactly what it did before; :data:`REALISTIC` turns
all on at moderate strengths (the ``--realism realistic`` of ``faultwise rcl bench synthetic``).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from faultwise.rcl.telemetry.schema import SPAN_COLUMNS, Telemetry, conform

#: z of the 90th percentile of a normal distribution: a log-normal's p90 is its median * exp(Z90 * sigma).
Z90 = 1.2815515655446004
#: A handler span starts this long (microseconds) before the call beside it and ends as long after (drawn
#: uniformly), within its parent.
HANDLER_MARGIN_US = (5, 60)
#: The operation name the generated handler spans carry (the method must not rely on it: names vary).
HANDLER_OPERATION = "HandlerChain.handle"
US_PER_S = 1_000_000


class Realism(BaseModel):
    """Which of the real-incident mechanisms a generated incident carries, and how strongly (all off)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    onset_error_s: float = Field(
        0.0,
        ge=-30.0,
        le=30.0,
        description="declared start minus true onset, seconds: > 0 the alarm came late (the fault is in the "
        "seconds before the declared start), < 0 it came early",
    )
    tail_drift: float = Field(
        1.0,
        ge=1.0,
        le=10.0,
        description="factor on the p90 of one unrelated db-like service's operations in the incident window "
        "against the baseline, median unchanged (1: none)",
    )
    handler_share: float = Field(
        0.0,
        ge=0.0,
        le=1.0,
        description="share of calling services whose framework records a handler span beside each client call",
    )
    vanished_s: float = Field(
        0.0,
        ge=0.0,
        le=60.0,
        description="seconds an unrelated service answers no call, inside the incident window (0: none)",
    )

    @property
    def drift_sigma(self) -> float:
        """Added log-normal sigma of the drifting operations: the p90 moves by ``tail_drift``, the median not."""
        return math.log(self.tail_drift) / Z90


#: Every mechanism on, at strengths real incidents show: an alarm 10 s late, a doubled query tail, handler
#: spans in half of the calling services, a callee gone for 15 s.
REALISTIC = Realism(onset_error_s=10.0, tail_drift=2.0, handler_share=0.5, vanished_s=15.0)
PRESETS: dict[str, Realism] = {"none": Realism(), "realistic": REALISTIC}


def pick_services(candidates: list[str], share: float, rng: np.random.Generator) -> list[str]:
    """``share`` of ``candidates`` (at least one when ``share`` > 0), drawn without replacement."""
    if share <= 0 or not candidates:
        return []
    k = max(1, round(share * len(candidates)))
    return sorted(rng.choice(candidates, size=k, replace=False).tolist())


def add_handler_spans(spans: pd.DataFrame, services: list[str], rng: np.random.Generator) -> pd.DataFrame:
    """A childless sibling beside every client span of ``services``: same parent, pod and node, starting a
    moment before the call and ending a moment after it, never outside the parent."""
    from faultwise.rcl.simulate.spans import hex_ids  # (spans -> traffic -> faults -> config -> here)

    if not services or not len(spans):
        return spans
    calls = spans[(spans["kind"] == "client") & spans["service"].isin(services) & (spans["parent_id"] != "")]
    if not len(calls):
        return spans
    parents = spans.set_index(["trace_id", "span_id"])[["start_us", "duration_us"]]
    keys = pd.MultiIndex.from_arrays([calls["trace_id"], calls["parent_id"]])
    par = parents.reindex(keys)
    ok = par["start_us"].notna().to_numpy()
    calls, par = calls[ok], par[ok]
    p_start = par["start_us"].to_numpy(dtype=np.int64)
    p_end = p_start + par["duration_us"].to_numpy(dtype=np.int64)
    c_start = calls["start_us"].to_numpy(dtype=np.int64)
    c_end = c_start + calls["duration_us"].to_numpy(dtype=np.int64)
    lo, hi = HANDLER_MARGIN_US
    start = np.maximum(p_start, c_start - rng.integers(lo, hi + 1, len(calls)))
    end = np.minimum(p_end, c_end + rng.integers(lo, hi + 1, len(calls)))
    ids = rng.integers(1, 2**63 - 1, len(calls), dtype=np.int64)
    handlers = pd.DataFrame(
        {
            "trace_id": calls["trace_id"].to_numpy(),
            "span_id": hex_ids(ids, 16),
            "parent_id": calls["parent_id"].to_numpy(),
            "service": calls["service"].to_numpy(),
            "pod": calls["pod"].to_numpy(),
            "node": calls["node"].to_numpy(),
            "operation": HANDLER_OPERATION,
            "kind": "internal",
            "start_us": start,
            "duration_us": np.maximum(end - start, 1),
            "is_error": False,
            "status_code": "",
        }
    )
    out = pd.concat([spans, conform(handlers, SPAN_COLUMNS, "synthetic", "spans")], ignore_index=True)
    return out.sort_values(["start_us", "trace_id"], kind="stable").reset_index(drop=True)


def vanish_service(
    incident: Telemetry, service: str, seconds: float, rng: np.random.Generator
) -> tuple[Telemetry, float]:
    """``service`` down for ``seconds`` from a time drawn inside the incident window (pod failure on all its
    pods, no replica to take over); returns the telemetry and the time it vanished (unix seconds)."""
    from faultwise.rcl.inject import InjectConfig, inject

    lo, hi = incident.time_range_us()
    span_us = hi - lo
    down_us = int(seconds * US_PER_S)
    latest = max(lo, hi - down_us - span_us // 10)
    at_us = int(rng.integers(lo + span_us // 10, max(lo + span_us // 10, latest) + 1))
    config = InjectConfig(
        fault="pod_failure",
        target=service,
        start_us=at_us,
        seed=int(rng.integers(2**31)),
        params={"down_s": seconds, "replica_share": 0.0},
    )
    return inject(incident, config).incident, at_us / US_PER_S
