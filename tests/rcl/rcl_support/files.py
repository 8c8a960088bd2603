"""Generated incidents written as a Nezha-layout benchmark folder, and the CLI run in-process.

Everything here is produced by our own generator and writers (no third-party data).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd

from faultwise.cli import main
from faultwise.rcl.simulate import SynthIncident


def run_cli(capsys, args: list[str]) -> tuple[int, str, str]:
    rc = main([str(a) for a in args])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


# --- a Nezha-layout folder written from generated incidents ---------------------------------------------


def _nezha_spans(spans: pd.DataFrame) -> pd.DataFrame:
    start_ns = spans["start_us"].astype("int64") * 1000
    return pd.DataFrame(
        {
            "TraceID": spans["trace_id"],
            "SpanID": spans["span_id"],
            "ParentID": spans["parent_id"].mask(spans["parent_id"] == "", "root"),
            "PodName": spans["pod"],
            "OperationName": spans["operation"],
            "StartTimeUnixNano": start_ns,
            "EndTimeUnixNano": start_ns + spans["duration_us"].astype("int64") * 1000,
            "Duration": spans["duration_us"],
        }
    )


def _nezha_logs(logs: pd.DataFrame) -> pd.DataFrame:
    text = logs["level"].astype(str) + " " + logs["message"].astype(str)
    return pd.DataFrame(
        {
            "Timestamp": pd.to_datetime(logs["ts_us"], unit="us", utc=True).astype(str),
            "TimeUnixNano": logs["ts_us"].astype("int64") * 1000,
            "Node": logs["node"],
            "PodName": logs["pod"],
            "Container": logs["service"],
            "TraceID": logs["trace_id"],
            "SpanID": logs["span_id"],
            "Log": [json.dumps({"log": t + "\n", "stream": "stdout"}) for t in text],
        }
    )


def _nezha_metric_files(inc: SynthIncident, folder: Path) -> None:
    """One wide ``<pod>_metric.csv`` per pod: the pod's KPIs and its node's (``Node*``), both windows."""
    folder.mkdir(parents=True, exist_ok=True)
    metrics = pd.concat([inc.normal.metrics, inc.incident.metrics], ignore_index=True)
    metrics = metrics.assign(ts=metrics["ts_s"].round().astype("int64"))
    wide = metrics.pivot_table(index=["entity", "ts"], columns="metric", values="value", aggfunc="mean")
    pod_nodes = inc.topology.pod_node
    kinds = dict(zip(metrics["entity"], metrics["entity_kind"], strict=True))
    for pod in [e for e, k in kinds.items() if k == "pod"]:
        own = wide.loc[pod].dropna(axis=1, how="all")
        node = pod_nodes.get(pod, "")
        table = own
        if node and node in wide.index.get_level_values(0):
            node_kpis = wide.loc[node].dropna(axis=1, how="all").add_prefix("Node")
            table = own.join(node_kpis, how="left")
        table = table.reset_index().rename(columns={"ts": "TimeStamp"})
        table.insert(1, "PodName", pod)
        table.to_csv(folder / f"{pod}_metric.csv", index=False)


def write_nezha_folder(root: Path, incidents: list[SynthIncident]) -> Path:
    """A Nezha-layout benchmark folder (``cases.csv``, ``rca_data/``, ``construct_data/``) with one case
    per incident; labels come from the generator's truth."""
    rows = []
    for i, inc in enumerate(incidents, start=1):
        day = f"2030-01-{i:02d}"
        rca = root / "rca_data" / day
        normal = root / "construct_data" / day
        for sub in (rca / "trace", rca / "log", normal / "trace", normal / "log"):
            sub.mkdir(parents=True, exist_ok=True)
        spans = _nezha_spans(inc.incident.spans)
        half = len(spans) // 2
        spans.iloc[:half].to_csv(rca / "trace" / "00_00_trace.csv", index=False)
        spans.iloc[half:].to_csv(rca / "trace" / "00_01_trace.csv", index=False)
        _nezha_logs(inc.incident.logs).to_csv(rca / "log" / "00_00_log.csv", index=False)
        _nezha_metric_files(inc, rca / "metric")
        _nezha_spans(inc.normal.spans).to_csv(normal / "trace" / "23_00_trace.csv", index=False)
        _nezha_logs(inc.normal.logs).to_csv(normal / "log" / "23_00_log.csv", index=False)
        t = inc.truth
        rows.append(
            {
                "case_id": f"synth-{i:02d}",
                "system": "synthetic",
                "date": day,
                "inject_time_utc": "",
                "inject_unix_utc": int(t.inject_ts_s),
                "root_cause_pod": t.component,
                "root_cause_service": t.service,
                "fault_type": t.fault_type,
                "inner_service_label": "",
                "trace_files": f"rca_data/{day}/trace/00_00_trace.csv;rca_data/{day}/trace/00_01_trace.csv",
                "log_files": f"rca_data/{day}/log/00_00_log.csv",
                "traceid_files": "",
                "metric_dir": f"rca_data/{day}/metric/",
                "normal_trace_file": f"construct_data/{day}/trace/23_00_trace.csv",
            }
        )
    with open(root / "cases.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return root
