"""``faultwise rcl bench replay``: fault-free stretches of a Nezha-layout folder (never a fault's window), a
seeded plan of targets, every method scored through the one runner."""

from __future__ import annotations

import json

import numpy as np
import pytest
from rcl_support.files import write_nezha_folder
from rcl_support.incidents import small_incident

from faultwise.rcl.bench.replay import (
    FAULT_EFFECT_S,
    eligible_services,
    nezha_sources,
    replay_cases,
    replay_plan,
)
from faultwise.rcl.telemetry import read_nezha_cases


@pytest.fixture(scope="module")
def nezha_root(tmp_path_factory):
    """Two generated days in the Nezha layout: each has a fault case and a fault-free minute."""
    return write_nezha_folder(
        tmp_path_factory.mktemp("nezha"), [small_incident("cpu", 0), small_incident("exception", 1)]
    )


def test_sources_are_the_fault_free_minutes_only(nezha_root):
    sources = nezha_sources(nezha_root)
    assert [s.name.split("/")[0] for s in sources] == ["construct_data", "construct_data"]
    faults = [c.inject_unix_utc * 1_000_000 for c in read_nezha_cases(nezha_root)]
    for s in sources:
        spans = s.telemetry.spans
        start = spans["start_us"].to_numpy()
        end = start + spans["duration_us"].to_numpy()
        for t in faults:
            assert ((end < t) | (start >= t + FAULT_EFFECT_S * 1_000_000)).all()
        assert s.statuses == "none" and s.telemetry.logs is not None and len(s.telemetry.logs)
        assert s.system == "synthetic"


def test_the_plan_is_seeded_and_draws_eligible_targets(nezha_root):
    sources = nezha_sources(nezha_root)
    plan = replay_plan(sources, ["network_delay", "exception"], ["easy", "hard"], targets=3, seeds=2)
    assert plan == replay_plan(sources, ["network_delay", "exception"], ["easy", "hard"], targets=3, seeds=2)
    assert len(plan) == 2 * 3 * 2 * 2 and len({p.case_id for p in plan}) == len(plan)
    for p in plan:
        assert p.target in eligible_services(sources[p.source], 5)
    by_seed = [{p.target for p in plan if p.case_id.endswith(f"s{s}")} for s in (0, 1)]
    assert all(len(t) == 3 for t in by_seed)
    few = replay_plan(sources, ["network_delay"], ["easy"], targets=99, seeds=1)
    eligible = set().union(*(eligible_services(s, 5) for s in sources))
    assert {p.target for p in few} == eligible  # every eligible service once, no more


def test_entry_services_fill_the_targets_and_network_and_pod_faults_skip_them(nezha_root):
    sources = nezha_sources(nezha_root)
    called = set().union(*(eligible_services(s, 5) for s in sources))
    entered = set().union(*(eligible_services(s, 5, "entries") for s in sources))
    assert called < entered  # the entry service: requests begin there, no traced pod calls it
    every = replay_plan(sources, ["network_delay", "pod_failure", "cpu_hog"], ["easy"], targets=99, seeds=1)
    assert {p.target for p in every if p.fault == "cpu_hog"} == entered
    assert {p.target for p in every if p.fault == "network_delay"} == called
    # a failed entry service leaves nothing traced (its only caller is untraced): never a pod-failure target
    assert {p.target for p in every if p.fault == "pod_failure"} == called
    enough = replay_plan(sources, ["cpu_hog"], ["easy"], targets=len(called), seeds=2)
    assert {p.target for p in enough} == called  # called services first: entry ones only to fill up


def test_the_log_only_preset_is_planned_for_the_code_faults_only(nezha_root):
    sources = nezha_sources(nezha_root)
    plan = replay_plan(sources, ["network_delay", "exception"], ["easy", "logs"], targets=2, seeds=1)
    assert {(p.fault, p.strength) for p in plan} == {
        ("network_delay", "easy"),
        ("exception", "easy"),
        ("exception", "logs"),
    }


def test_cases_are_injected_incidents_scored_at_service_level(nezha_root):
    sources = nezha_sources(nezha_root)
    plan = replay_plan(sources, ["pod_failure"], ["easy"], targets=2, seeds=1)
    cases = list(replay_cases(sources, plan))
    assert [c.case_id for c in cases] == [p.case_id for p in plan]
    for case, spec in zip(cases, plan, strict=True):
        assert case.level == "service" and case.truth == spec.target and case.fault_type == "pod_failure/easy"
        assert case.normal is not None and len(case.normal.spans) == len(
            sources[1 - spec.source].telemetry.spans
        )
        spans = case.incident.spans
        pods = spans.loc[spans["service"] == spec.target, ["pod", "start_us"]]
        assert not (pods["start_us"] >= case.start_us).any()  # the pod failed at the onset
        assert np.array_equal(
            sources[spec.source].telemetry.spans.query("start_us + duration_us < @case.start_us")["span_id"],
            spans.query("start_us + duration_us < @case.start_us")["span_id"],
        )


def test_bench_replay_cli_scores_every_method_per_fault_and_strength(cli, nezha_root):
    rc, out, err = cli(
        [
            "rcl",
            "bench",
            "replay",
            nezha_root,
            "--faults",
            "network_delay,cpu_hog",
            "--strengths",
            "easy",
            "--targets",
            "1",
            "--methods",
            "random,self-time",
            "--modalities",
            "traces",
            "--json",
        ]
    )
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["cases"] == 2 and doc["level"] == "service" and doc["modalities"] == ["traces"]
    assert set(doc["methods"]) == {"random", "self-time"}
    assert set(doc["methods"]["random"]["by_fault_type"]) == {"network_delay/easy", "cpu_hog/easy"}


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--faults", "meteor"], "--faults: unknown meteor"),
        (["--strengths", "medium"], "--strengths: unknown medium"),
        (["--targets", "0"], "--targets: must be at least 1"),
        (["--min-calls", "100000"], "no service is called 100000 times"),
        (["--faults", "network_delay", "--strengths", "logs"], "no fault of network_delay has a logs preset"),
    ],
)
def test_bench_replay_bad_input_is_one_line(cli, nezha_root, args, needle):
    rc, out, err = cli(["rcl", "bench", "replay", nezha_root, *args])
    assert rc != 0 and needle in err and err.count("\n") == 1, err


def test_a_folder_without_traces_is_one_line(cli, tmp_path):
    (tmp_path / "notes.txt").write_text("nothing here")
    rc, _, err = cli(["rcl", "bench", "replay", tmp_path])
    assert rc != 0 and "no cases.csv and no trace files" in err and err.count("\n") == 1


def test_trace_files_are_sources_of_one_system(cli, tmp_path):
    from faultwise.rcl.bench.replay import replay_sources
    from faultwise.rcl.telemetry.writers import write_otlp_traces

    paths = []
    for seed in (0, 1):
        paths.append(tmp_path / f"normal{seed}.jsonl")
        write_otlp_traces(small_incident("cpu", seed).normal.spans, paths[-1])
    sources = replay_sources(paths)
    assert [s.name for s in sources] == ["normal0.jsonl", "normal1.jsonl"]
    assert {s.system for s in sources} == {"files"} and {s.statuses for s in sources} == {"auto"}
    assert [s.name for s in replay_sources([tmp_path])] == ["normal0.jsonl", "normal1.jsonl"]
    rc, out, err = cli(
        [
            "rcl",
            "bench",
            "replay",
            *paths,
            "--faults",
            "exception",
            "--strengths",
            "hard",
            "--targets",
            "1",
            "--methods",
            "random",
            "--json",
        ]
    )
    assert rc == 0, err
    assert json.loads(out)["cases"] == 1
