"""No silent all-clear: a file with a thin baseline or nothing deviating says so, and its failed spans count."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from faultwise.rcl.method.thin import error_span_candidates
from faultwise.rcl.telemetry.schema import SPAN_COLUMNS

EXPORTS = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "real-exports"


def _span(sid: str, parent: str, pod: str, failed: bool) -> dict:
    return {
        "trace_id": "t1",
        "span_id": sid,
        "parent_id": parent,
        "service": pod.split("-")[0],
        "pod": pod,
        "node": "",
        "operation": f"op-{sid}",
        "kind": "",
        "start_us": 0,
        "duration_us": 10,
        "is_error": failed,
        "status_code": "",
    }


def test_failed_spans_rank_the_pod_where_the_failure_starts():
    spans = pd.DataFrame(
        [
            _span("a", "", "gateway-1", True),  # failed because its call failed
            _span("b", "a", "orders-1", True),  # failed because its call failed
            _span("c", "b", "stock-1", True),  # the failure starts here
            _span("d", "a", "users-1", False),
        ]
    ).astype(SPAN_COLUMNS)
    ranked = error_span_candidates(spans)
    assert [c.component for c in ranked] == ["stock-1"] and ranked[0].service == "stock"
    assert error_span_candidates(spans.assign(is_error=False)) == []


@pytest.mark.realdata
def test_real_single_trace_exports_are_never_a_silent_all_clear(cli):
    files = sorted(p for p in EXPORTS.glob("*/*") if p.suffix in (".json", ".jsonl"))
    if not files:
        pytest.skip("shared real exports not present")
    answered = 0
    for f in files:
        rc, out, err = cli(["rcl", "diagnose", "--traces", f, "--json"])
        assert "Traceback" not in err, f
        if rc != 0:  # a file the loaders refuse: one line naming it
            assert len(err.strip().splitlines()) == 1 and f.name in err, (f, err)
            continue
        answered += 1
        d = json.loads(out)
        assert d["traces_analyzed"] or d["warnings"], f
    assert answered >= len(files) // 2
    # an exported trace with a failed span names the failing service even without a baseline
    rc, out, _ = cli(["rcl", "diagnose", "--traces", EXPORTS / "zipkin" / "messaging-kafka.json", "--json"])
    d = json.loads(out)
    assert rc == 0 and d["candidates"] and any("failed span" in w for w in d["warnings"])
    assert any("baseline" in w and "too few" in w for w in d["warnings"])
