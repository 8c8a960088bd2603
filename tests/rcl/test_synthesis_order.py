"""Synthesis is deterministic: ties break the same way whatever the interpreter's hash seed."""

import os
import subprocess
import sys

SCRIPT = """
from faultwise.rcl.records import EvidenceGraph
from faultwise.rcl.records import SelfEvidence
from faultwise.rcl.method.synthesis import synthesize
from faultwise.rcl.simulate import generate_incident
from faultwise.rcl.profile import NormalProfile
from faultwise.rcl.tools import DataTools
inc = generate_incident(fault_type="cpu", seed=0)
tools = DataTools(inc.incident, NormalProfile.fit(inc.normal.spans))
g = EvidenceGraph(trace_id="t")
for i, pod in enumerate(["zeta-1", "alpha-1", "mid-1", "beta-1"]):
    g.nodes[str(i)] = SelfEvidence(span_id=str(i), service=pod[:-2], pod=pod, operation="op", is_abnormal=True,
        has_error=False, has_error_logs=False, has_metric_anomaly=False, log_score=0.7, score=0.7)
print(",".join(c.component for c in synthesize([g], tools)))
"""


def test_equal_scores_rank_the_same_under_any_hash_seed():
    orders = set()
    for seed in ("0", "1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True
        )
        orders.add(out.stdout.strip())
    assert len(orders) == 1
    assert orders.pop().split(",") == ["alpha-1", "beta-1", "mid-1", "zeta-1"]
