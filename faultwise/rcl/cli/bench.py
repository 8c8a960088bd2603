"""``faultwise rcl bench ...``: score the methods on labelled incidents of each dataset layout."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from faultwise.errors import InputError
from faultwise.rcl.cli.bench_run import (
    BenchJsonOpt,
    BenchSettings,
    MethodsOpt,
    run_methods,
    with_reasoner_options,
)
from faultwise.rcl.cli.options import at_least_one, checked_config

bench_app = typer.Typer(help="Score the method on labelled incidents.", no_args_is_help=True)


@bench_app.command("nezha")
@with_reasoner_options
def bench_nezha(
    root: Annotated[Path, typer.Argument(help="Folder with cases.csv beside rca_data/ and construct_data/.")],
    json_out: BenchJsonOpt = False,
    limit: Annotated[int | None, typer.Option("--limit", help="Run only the first N cases.")] = None,
    cases: Annotated[
        str | None, typer.Option("--cases", help="Comma-separated case ids to run (cases.csv order).")
    ] = None,
    methods: MethodsOpt = None,
    settings: BenchSettings | None = None,
) -> None:
    """Diagnose every case of a Nezha-layout folder; score AC@1/3/5, Avg@5 and MRR at service level."""
    from faultwise.rcl.bench.nezha import nezha_cases, select_cases

    settings = settings or BenchSettings()
    ids = [c.strip() for c in cases.split(",") if c.strip()] if cases else None
    chosen = select_cases(root, ids, limit)
    run_methods(nezha_cases(root, chosen), len(chosen), methods, settings, "nezha cases", "service", json_out)


@bench_app.command("synthetic")
@with_reasoner_options
def bench_synthetic(
    seeds: Annotated[int, typer.Option("--seeds", help="Incidents per fault type (seeds 0..N-1).")] = 3,
    json_out: BenchJsonOpt = False,
    fault_types: Annotated[
        str | None, typer.Option("--fault-types", help="Comma-separated subset of the injectable faults.")
    ] = None,
    requests_per_s: Annotated[
        float | None, typer.Option("--requests-per-s", help="Traffic of the generated system (default 20).")
    ] = None,
    realism: Annotated[
        str,
        typer.Option(
            "--realism",
            help="none (clean incidents) or realistic: onset error, a drifting query tail, handler spans "
            "beside client calls, a briefly vanished callee (docs/rcl-synthetic.md).",
        ),
    ] = "none",
    methods: MethodsOpt = None,
    settings: BenchSettings | None = None,
) -> None:
    """Generate incidents of every injectable fault type and score the method at the truth's level."""
    from faultwise.rcl.bench.synthetic import synthetic_cases, synthetic_plan
    from faultwise.rcl.simulate import INJECTABLE_FAULTS, REALISM_PRESETS, SynthConfig

    at_least_one("--seeds", seeds)
    settings = settings or BenchSettings()
    types = [t.strip() for t in fault_types.split(",") if t.strip()] if fault_types else None
    unknown = [t for t in types or [] if t not in INJECTABLE_FAULTS]
    if unknown:
        raise InputError("--fault-types", f"unknown {', '.join(unknown)}; use {', '.join(INJECTABLE_FAULTS)}")
    if realism not in REALISM_PRESETS:
        raise InputError("--realism", f"unknown preset {realism!r}; use {' or '.join(REALISM_PRESETS)}")
    traffic = {} if requests_per_s is None else {"requests_per_s": requests_per_s}
    base = checked_config(
        SynthConfig, {"requests_per_s": "--requests-per-s"}, realism=REALISM_PRESETS[realism], **traffic
    )
    plan = synthetic_plan(seeds, types, base)
    run_methods(
        synthetic_cases(plan), len(plan), methods, settings, "synthetic incidents", "truth's", json_out
    )


@bench_app.command("rcaeval")
@with_reasoner_options
def bench_rcaeval(
    root: Annotated[
        Path, typer.Argument(help="Folder of RCAEval RE2/RE3 cases: <system>/<service>_<fault>/<n>/.")
    ],
    json_out: BenchJsonOpt = False,
    limit: Annotated[int | None, typer.Option("--limit", help="Run only the first N cases.")] = None,
    methods: MethodsOpt = None,
    settings: BenchSettings | None = None,
) -> None:
    """Diagnose every RCAEval case folder (truth from the folder name); score at service level."""
    from faultwise.rcl.bench.rcaeval import rcaeval_cases, select_rcaeval_cases

    settings = settings or BenchSettings()
    chosen = select_rcaeval_cases(root, limit)
    run_methods(rcaeval_cases(chosen), len(chosen), methods, settings, "rcaeval cases", "service", json_out)


@bench_app.command("aiops2022")
@with_reasoner_options
def bench_aiops2022(
    root: Annotated[
        Path, typer.Argument(help="A cloudbed-day folder, or a folder of them (groundtruth.csv each).")
    ],
    json_out: BenchJsonOpt = False,
    methods: MethodsOpt = None,
    before_s: Annotated[int, typer.Option("--before-s", help="Normal period before each fault.")] = 600,
    after_s: Annotated[int, typer.Option("--after-s", help="Window after each fault.")] = 600,
    settings: BenchSettings | None = None,
) -> None:
    """Each ground-truth fault of AIOps-2022 cloudbed folders, scored at the fault's level (node|pod|service);
    printed side by side even for one method."""
    from faultwise.rcl.bench.aiops2022 import aiops2022_cases, find_beds

    at_least_one("--before-s", before_s)
    at_least_one("--after-s", after_s)
    settings = settings or BenchSettings()
    beds = find_beds(root)
    cases = list(aiops2022_cases(beds, before_s, after_s))
    if not cases:
        raise InputError(root, "no ground-truth fault has spans in its window")
    run_methods(
        cases, len(cases), methods, settings, "aiops2022 faults", "fault's", json_out, side_by_side=True
    )


@bench_app.command("replay")
@with_reasoner_options
def bench_replay(
    sources: Annotated[
        list[Path],
        typer.Argument(
            help="A Nezha-layout folder (its fault-free minutes), or fault-free trace files (or a folder of them)."
        ),
    ],
    faults: Annotated[
        str, typer.Option("--faults", help="all, or comma-separated fault models (see rcl inject --fault).")
    ] = "all",
    strengths: Annotated[
        str,
        typer.Option(
            "--strengths",
            help="Comma-separated: easy, hard, logs (logs: the code faults shown in logs only; other faults "
            "skip it).",
        ),
    ] = "easy,hard",
    targets: Annotated[int, typer.Option("--targets", help="Target services drawn per seed.")] = 10,
    seeds: Annotated[int, typer.Option("--seeds", help="Seeds 0..N-1, each drawing its own targets.")] = 1,
    min_calls: Annotated[
        int,
        typer.Option(
            "--min-calls",
            help="Calls into a service (or requests it begins, for an entry service) after the onset it "
            "needs to be a target.",
        ),
    ] = 5,
    json_out: BenchJsonOpt = False,
    methods: MethodsOpt = None,
    settings: BenchSettings | None = None,
) -> None:
    """Inject every fault model at every strength into fault-free telemetry (targets drawn from the seed) and
    score the methods per fault type and strength, at service level."""
    from faultwise.rcl.bench.replay import replay_cases, replay_plan, replay_sources
    from faultwise.rcl.inject import FAULTS, STRENGTHS

    for option, value in (("--targets", targets), ("--seeds", seeds), ("--min-calls", min_calls)):
        at_least_one(option, value)
    settings = settings or BenchSettings()
    chosen_faults = _choices("--faults", faults, FAULTS)
    chosen_strengths = _choices("--strengths", strengths, STRENGTHS)
    found = replay_sources(sources)
    plan = replay_plan(found, chosen_faults, chosen_strengths, targets, seeds, min_calls)
    run_methods(
        replay_cases(found, plan), len(plan), methods, settings, "replayed faults", "service", json_out, True
    )


def _choices(option: str, text: str, known: tuple[str, ...]) -> list[str]:
    """``all`` or comma-separated names out of ``known``; an unknown name is one line."""
    if text.strip() == "all":
        return list(known)
    names = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise InputError(
            option, f"unknown {', '.join(unknown) or 'empty list'}; use all or {', '.join(known)}"
        )
    return names
