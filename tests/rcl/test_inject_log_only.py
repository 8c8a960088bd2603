"""The log-only code faults (the ``logs`` preset of ``exception`` and ``error_return``): the faulty statement
sits after the operation's last traced call, so every span keeps its time and only the logs change, as in
the real Nezha TrainTicket code faults."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
import pytest
from test_inject import normal, statusless, target_service

from faultwise.errors import InputError
from faultwise.rcl.inject import FAULT_MODELS, InjectConfig, Injection, inject
from faultwise.rcl.telemetry.schema import Telemetry


@lru_cache(maxsize=8)
def log_only(fault: str, shape: str = "full") -> Injection:
    tel = normal() if shape == "full" else statusless()
    return inject(tel, InjectConfig(fault=fault, target=target_service(tel), strength="logs", seed=2))


def _keys(df: pd.DataFrame) -> pd.Series:
    return df["ts_us"].astype(str) + "|" + df["pod"].astype(str) + "|" + df["message"].astype(str)


@pytest.mark.parametrize("fault", ["exception", "error_return"])
@pytest.mark.parametrize("shape", ["full", "statusless"])
def test_every_span_keeps_its_time(fault, shape):
    tel = normal() if shape == "full" else statusless()
    inj = log_only(fault, shape)
    old, new = tel.spans.reset_index(drop=True), inj.incident.spans.reset_index(drop=True)
    cols = ["trace_id", "span_id", "parent_id", "service", "pod", "start_us", "duration_us"]
    assert new[cols].equals(old[cols])
    assert inj.label.effect["spans_moved"] == inj.label.effect["spans_removed"] == 0
    assert inj.label.parameters["log_only"] is True


@pytest.mark.parametrize("fault", ["exception", "error_return"])
def test_only_the_targets_later_lines_change(fault):
    tel: Telemetry = normal()
    inj = log_only(fault)
    assert tel.logs is not None and inj.incident.logs is not None
    old, new = tel.logs, inj.incident.logs
    dropped = old[~_keys(old).isin(set(_keys(new)))]
    added = new[~_keys(new).isin(set(_keys(old)))]
    assert len(dropped) == inj.label.effect["log_lines_dropped"] > 0
    assert set(dropped["pod"]) <= set(inj.label.pods)
    assert (dropped["ts_us"] >= inj.label.onset_us).all()
    assert len(added) == inj.label.effect["log_lines_added"]
    if fault == "exception":
        assert len(added) == inj.label.effect["requests_hit"] > 5
        assert (
            set(added["pod"]) <= set(inj.label.pods)
            and added["message"].str.contains("RuntimeException").all()
        )
    else:
        assert len(added) == 0


def test_each_dropped_line_comes_after_the_requests_last_call():
    """The fault point is after the last traced call of the request: a dropped line was written after every
    call its request (the target pod's entry span above the line, and what the pod does below it) made to
    another pod had returned."""
    tel = normal()
    inj = log_only("error_return")
    pods = set(inj.label.pods)
    spans = tel.spans.assign(end_us=tel.spans["start_us"] + tel.spans["duration_us"])
    by_key = spans.set_index(spans["trace_id"] + "|" + spans["span_id"])
    in_pod = by_key["pod"].isin(pods)
    parent_key = by_key["trace_id"] + "|" + by_key["parent_id"]
    parent_in_pod = in_pod.reindex(parent_key.to_numpy()).fillna(False).to_numpy(dtype=bool)
    calls = by_key[~in_pod.to_numpy() & parent_in_pod]  # calls the target pod makes to other pods
    old, new = tel.logs, inj.incident.logs
    dropped = old[~_keys(old).isin(set(_keys(new)))]
    assert len(dropped) > 0
    for _, line in dropped.iterrows():
        k = f"{line['trace_id']}|{line['span_id']}"
        while parent_key[k] in by_key.index and in_pod[parent_key[k]]:
            k = parent_key[k]  # up to the request's entry span in the pod
        entry = by_key.loc[k]
        mine = calls[
            (calls["trace_id"] == line["trace_id"])
            & (calls["start_us"] >= entry["start_us"])
            & (calls["start_us"] <= entry["end_us"])
        ]
        assert len(mine) == 0 or line["ts_us"] > mine["end_us"].max()


def test_an_uncaught_log_only_exception_is_an_error_status_only_where_the_format_has_one():
    inj = log_only("exception")
    before = normal().spans["is_error"].to_numpy()
    after = inj.incident.spans["is_error"].to_numpy()
    assert (after & ~before).sum() > 5
    assert set(inj.incident.spans.loc[after & ~before, "status_code"]) == {"500"}
    returned = log_only("error_return")
    assert np.array_equal(returned.incident.spans["is_error"].to_numpy(), before)


def test_a_model_without_the_preset_is_refused():
    assert set(FAULT_MODELS["exception"].presets) == {"easy", "hard", "logs"}
    with pytest.raises(InputError, match="network_delay has no 'logs' preset"):
        inject(
            normal(), InjectConfig(fault="network_delay", target=target_service(normal()), strength="logs")
        )
