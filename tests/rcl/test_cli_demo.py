"""``faultwise demo`` works without the RL extra: torch, transformers and sklearn are made unimportable."""

from __future__ import annotations

import json
import subprocess
import sys

BLOCK_AND_RUN = """
import sys
for name in ("torch", "transformers", "trl", "sklearn"):
    sys.modules[name] = None  # any import of them now fails
from faultwise.cli import main
sys.exit(main(["demo", "--out", sys.argv[1]]))
"""


def test_demo_without_torch(tmp_path):
    out = tmp_path / "demo"
    proc = subprocess.run(
        [sys.executable, "-c", BLOCK_AND_RUN, str(out)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    truth = json.loads((out / "truth.json").read_text())
    assert "ground truth" in proc.stdout and truth["component"] in proc.stdout
    assert "Ranked root-cause candidates" in proc.stdout
    for name in ("traces.otlp.jsonl", "logs.otlp.jsonl", "metrics.otlp.jsonl", "baseline-traces.otlp.jsonl"):
        assert (out / name).stat().st_size > 0
        first = json.loads((out / name).read_text().splitlines()[0])  # OTLP JSON lines, as a collector writes
        assert set(first) & {"resourceSpans", "resourceLogs", "resourceMetrics"}
    report = (out / "report.html").read_text(encoding="utf-8")
    assert report.startswith("<!DOCTYPE html>") and "Ground truth" in report
    assert "https://" not in report and "http://" not in report
