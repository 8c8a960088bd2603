"""The traces' ceiling check (``benchmarks/rcl_trace_signal.py``): its novelty scorer finds a fault that cuts
a minority of calls short, which moves neither the operation's median nor its mean call mix much."""

import importlib.util
from pathlib import Path

import pandas as pd

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "rcl_trace_signal.py"


def _script():
    spec = importlib.util.spec_from_file_location("rcl_trace_signal", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _spans(cut_after: int) -> pd.DataFrame:
    """80 traces, 40 before t=40 s and 40 after; ``front`` calls ``cart`` and ``stock`` on every call, except
    ``cut_after`` calls after the split, which return before calling ``stock``."""
    rows = []
    for t in range(80):
        start = t * 1_000_000
        tid = f"t{t}"
        rows.append((tid, f"{tid}a", None, "front", "GET /", start, 5_000))
        rows.append((tid, f"{tid}b", f"{tid}a", "cart", "get", start + 100, 1_000))
        if not (t >= 40 and t - 40 < cut_after):
            rows.append((tid, f"{tid}c", f"{tid}a", "stock", "get", start + 1_200, 1_000))
    cols = ["trace_id", "span_id", "parent_id", "service", "operation", "start_us", "duration_us"]
    return pd.DataFrame(rows, columns=cols)


def test_novelty_finds_calls_cut_short_and_nothing_without_a_cut():
    mod = _script()
    _, _, novelty = mod.service_scores(_spans(cut_after=8), 40 * 1_000_000, min_spans=3)
    assert novelty["front"] > 3 and mod.rank_of(novelty, "front") == 1
    assert novelty.drop("front").max() <= 0
    _, _, calm = mod.service_scores(_spans(cut_after=0), 40 * 1_000_000, min_spans=3)
    assert calm.max() <= 0 and mod.rank_of(calm, "front") == len(calm)  # a tie at zero is not a find
