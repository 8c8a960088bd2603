"""``--modalities``: every method of a bench sees only the chosen modalities of each case."""

from __future__ import annotations

import json

import pytest

from faultwise.errors import InputError
from faultwise.rcl.bench import parse_modalities, synthetic_cases, synthetic_plan, with_modalities
from faultwise.rcl.simulate import SynthConfig

PLAN_BASE = SynthConfig(requests_per_s=3.0, normal_s=30, incident_s=30)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("traces", ("traces",)),
        ("metrics,traces", ("traces", "metrics")),
        (" traces , logs ", ("traces", "logs")),
        ("all", ("traces", "logs", "metrics")),
        ("logs,metrics,traces", ("traces", "logs", "metrics")),
    ],
)
def test_modality_sets_parse(text, expected):
    assert parse_modalities(text) == expected


@pytest.mark.parametrize("text", ["logs", "metrics", "traces,bogus", ""])
def test_unknown_modality_sets_are_input_errors(text):
    with pytest.raises(InputError, match="unknown modality set"):
        parse_modalities(text, "--modalities")


def test_a_restricted_case_has_no_other_modality_in_incident_or_normal():
    case = next(iter(synthetic_cases(synthetic_plan(1, ["exception"], PLAN_BASE))))
    assert set(case.incident.modalities) == {"traces", "logs", "metrics"}
    traces = with_modalities(case, ("traces",))
    assert traces.incident.modalities == ["traces"] and traces.normal.modalities == ["traces"]
    assert set(traces.incident.sources) <= {"traces"}
    assert len(traces.incident.spans) == len(case.incident.spans)
    with_metrics = with_modalities(case, ("traces", "metrics"))
    assert with_metrics.incident.modalities == ["traces", "metrics"]
    assert with_metrics.normal.logs is None
    assert with_modalities(case, ("traces", "logs", "metrics")) is case


def test_the_bench_hides_logs_from_every_method(cli):
    """Under ``traces,metrics`` the full method ranks exactly as its no-logs ablation does with everything,
    and the log-error ranking loses the injected exception it finds from error lines."""
    args = [
        "rcl",
        "bench",
        "synthetic",
        "--seeds",
        "1",
        "--fault-types",
        "exception",
        "--requests-per-s",
        "3",
    ]
    args += ["--methods", "rcl,rcl-no-logs,log-errors", "--max-traces", "20", "--json"]
    rc, out, err = cli(args)
    assert rc == 0, err
    full = json.loads(out)
    rc, out, err = cli([*args, "--modalities", "traces,metrics"])
    assert rc == 0, err
    restricted = json.loads(out)
    assert full["modalities"] == ["traces", "logs", "metrics"]
    assert restricted["modalities"] == ["traces", "metrics"]

    def ranked(doc: dict, method: str) -> list[str]:
        return doc["results"][method][0]["ranked"]

    assert ranked(restricted, "rcl") == ranked(full, "rcl-no-logs")
    assert ranked(restricted, "rcl-no-logs") == ranked(full, "rcl-no-logs")
    assert ranked(full, "rcl") != ranked(full, "rcl-no-logs")  # logs matter on this case
    assert full["results"]["log-errors"][0]["rank"] == 1
    assert restricted["results"]["log-errors"][0]["rank"] != 1


def test_bad_modalities_fail_before_any_case_loads(cli):
    rc, out, err = cli(["rcl", "bench", "synthetic", "--seeds", "1", "--modalities", "logs", "--json"])
    assert rc == 2 and out == ""
    assert "--modalities" in err and "unknown modality set" in err
