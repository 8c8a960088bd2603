"""``faultwise rft ...`` commands: the failure manager (``fit``, ``evaluate``, ``watch``, ``report``) and the
benchmark (``bench generate|stats|remediate``).

Every problem with the user's input is an :class:`InputError` (the root ``main`` prints it as one line);
machine-readable output (``--json``) is the only thing on stdout then, progress goes to stderr, and files are
written atomically. Heavy imports (torch, TRL, scikit-learn) happen inside the commands, never at import.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from faultwise.errors import InputError

app = typer.Typer(
    help="Failure management for reinforcement fine-tuning runs.", no_args_is_help=True, add_completion=False
)
bench_app = typer.Typer(
    help="RFT-FaultBench: generate and inspect fault-injected RL runs.", no_args_is_help=True
)
app.add_typer(bench_app, name="bench")

SPLITS = ("all", "fit", "eval")


# --- shared pieces ---------------------------------------------------------------------------------------


def _print_json(doc: dict[str, Any]) -> None:
    typer.echo(json.dumps(doc, indent=2, sort_keys=False))


def _at_least_one(option: str, value: int) -> None:
    """Range checks here rather than in typer, so a bad value is one line like every other input error."""
    if value < 1:
        raise InputError(option, f"must be at least 1, got {value}")


def _check_split(split: str) -> str:
    if split not in SPLITS:
        raise InputError("--split", f"must be one of {', '.join(SPLITS)}, not {split!r}")
    return split


def _check_scale(scale: str) -> str:
    from faultwise.rft.faultbench.scales import SCALES

    if scale not in SCALES:
        raise InputError("--scale", f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    return scale


def _check_seed(seed: int) -> int:
    from faultwise.rft.faultbench.scales import check_base_seed

    return check_base_seed(seed, "--seed")


def _check_distinct(paths: list[Path]) -> None:
    """Refuse a bench or log given twice (its runs would count double), however its path is spelled."""
    for i, path in enumerate(paths):
        if any(path.resolve() == p.resolve() for p in paths[:i]):
            raise InputError(path, "given twice: its runs would count double")


def _check_variant(variant: str) -> str:
    from faultwise.rft.faultbench.scales import get_variant

    return get_variant(variant, "--variant").name


ModelOpt = Annotated[
    Path | None,
    typer.Option(
        "--model",
        help="Fitted model (from `faultwise rft fit`); without it the run's warm-up is its profile.",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document, nothing else.")]
BenchArg = Annotated[Path, typer.Argument(help="Bench directory (registry.csv + runs/).")]


# --- faultwise rft fit | evaluate ------------------------------------------------------------------------


@app.command()
def fit(
    bench_dirs: Annotated[
        list[Path],
        typer.Argument(
            help="Bench directories (registry.csv + runs/). Several benches of other seeds give the diagnoser "
            "more windows of each fault and the profile more healthy runs.",
            show_default=False,
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Where to write the fitted model (JSON).")],
    false_alarm_rate: Annotated[
        float,
        typer.Option(
            "--false-alarm-rate",
            help="Target run-level false-alarm rate on normal runs: the share of healthy runs you accept to "
            "see alarmed.",
        ),
    ] = 0.02,  # detect.profile.FALSE_ALARM_BUDGET, not imported here (heavy modules load in the commands)
    split: Annotated[
        str, typer.Option("--split", help="all, or fit: only the fit part of the held-out-seed split.")
    ] = "all",
    use_accuracy: Annotated[
        bool, typer.Option("--use-accuracy", help="Fit with true task accuracy as an input (optional input).")
    ] = False,
) -> None:
    """Fit the normal profile on the benches' healthy runs and the diagnoser on their faulty runs."""
    from faultwise.rft.faultbench.load import load_bench, split_runs
    from faultwise.rft.fm.evaluation import fit_model
    from faultwise.rft.fm.model import save_model

    if not 0 < false_alarm_rate < 1:
        raise InputError("--false-alarm-rate", f"must be between 0 and 1, got {false_alarm_rate}")
    _check_split(split)
    _check_distinct(bench_dirs)
    runs = []
    for bench_dir in bench_dirs:
        runs.extend(split_runs(load_bench(bench_dir).runs, split))
    fitted_on = ",".join(str(b) for b in bench_dirs)
    model = fit_model(runs, false_alarm_rate, fitted_on=fitted_on, use_accuracy=use_accuracy)
    save_model(model, out)
    n_norm = sum(not r.is_faulty for r in runs)
    typer.echo(
        f"fitted on {n_norm} normal + {len(runs) - n_norm} faulty runs; {_thresholds(model.profile)}; "
        f"diagnoser classes {len(model.diagnoser.classes) if model.diagnoser else 0}; wrote {out}"
    )
    if model.domain is not None and model.domain.ranges:  # the setups outside which the model stays out
        typer.echo("judges runs within the fitted setups: " + _ranges(model.domain.ranges))


def _thresholds(prof: Any) -> str:
    """A profile's alarm thresholds, one phrase (``prof``: a NormalProfile, loaded lazily)."""
    slow = f" {prof.slow_threshold:.2f} (slow)" if prof.slow_threshold is not None else ""
    adjusted = ", ".join(prof.setting_centers)
    return (
        f"thresholds {prof.threshold:.2f} (instant) {prof.trend_threshold:.2f} (trend) "
        f"{prof.joint_threshold:.2f} (joint){slow}" + (f"; level adjusted for {adjusted}" if adjusted else "")
    )


def _ranges(ranges: dict[str, tuple[float, float]]) -> str:
    return ", ".join(f"{k} {lo:g}" if lo == hi else f"{k} {lo:g}..{hi:g}" for k, (lo, hi) in ranges.items())


@app.command("rebaseline")
def rebaseline_cmd(
    model: Annotated[
        Path, typer.Argument(help="Fitted model (from `faultwise rft fit`).", show_default=False)
    ],
    healthy: Annotated[
        list[Path],
        typer.Argument(
            help="Healthy runs of your setup: bench directories (their normal runs are used) or training logs "
            "(any format `watch` reads; each one healthy run).",
            show_default=False,
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Where to write the re-baselined model (JSON).")],
) -> None:
    """Refit a model's normal profile on healthy runs of your own setup; keep its diagnosers.

    A model judges only runs of the setups it was fitted on (a larger policy or other hyperparameters move the
    signals differently). Fault-injected runs of your setup are rarely at hand, healthy ones are: the new
    profile, calibrated to the model's false-alarm budget on them, judges your runs (faults present from the
    first step included) and the diagnosers name what they learnt from the fitting bench's faults.
    """
    from faultwise.rft.faultbench.config import trainer_setup_of
    from faultwise.rft.faultbench.load import REGISTRY, load_bench
    from faultwise.rft.fm.evaluation import rebaseline_model, signals_of
    from faultwise.rft.fm.model import load_model, save_model
    from faultwise.rft.fm.monitor import logged_signals
    from faultwise.rft.fm.readers import read_log

    fm = load_model(model)
    use_accuracy = bool(fm.selfref is not None and fm.selfref.use_accuracy)  # as the model was fitted
    runs: list[list[tuple[int, dict[str, float]]]] = []
    setups: list[dict[str, float]] | None = []
    _check_distinct(healthy)
    for path in healthy:
        if (path / REGISTRY).is_file():
            normal = [r for r in load_bench(path).runs if not r.is_faulty]
            runs.extend(signals_of(r, use_accuracy) for r in normal)
            if setups is not None:
                setups.extend(trainer_setup_of(r.info.config) for r in normal)
        else:
            runs.append([(s.step, logged_signals(s)) for s in read_log(path).steps])
            setups = None  # a log declares no training setup: the new model judges runs by their first steps
    new = rebaseline_model(fm, runs, setups, baseline=",".join(str(p) for p in healthy))
    save_model(new, out)
    typer.echo(
        f"profile refitted on {len(runs)} healthy runs ({sum(len(r) for r in runs)} steps); "
        f"{_thresholds(new.profile)}; diagnosers kept; wrote {out}"
    )
    if new.domain is not None and new.domain.ranges:
        typer.echo("judges runs within the baseline's setups: " + _ranges(new.domain.ranges))


@app.command("evaluate")
def evaluate_cmd(
    bench_dirs: Annotated[
        list[Path],
        typer.Argument(
            help="Bench directories (registry.csv + runs/). Several benches are scored as one: their runs "
            "pooled (two benches give 48 normal runs to count false alarms on).",
            show_default=False,
        ),
    ],
    model: Annotated[
        Path | None,
        typer.Option(
            "--model", help="Fitted model (from `faultwise rft fit`); without: self-referenced only."
        ),
    ] = None,
    json_out: JsonOpt = False,
    use_accuracy: Annotated[
        bool | None,
        typer.Option(
            "--use-accuracy/--no-accuracy",
            help="True task accuracy as an input (default: as the model was fitted; without a model: no).",
        ),
    ] = None,
    compare: Annotated[
        bool,
        typer.Option(
            "--compare",
            help="Also score the comparison methods (Isolation Forest, LOF, KNN, SVM, ...) on the same runs.",
        ),
    ] = False,
    fit_bench: Annotated[
        Path | None,
        typer.Option(
            "--fit-bench", help="The bench the model was fitted on (the comparison methods fit on it)."
        ),
    ] = None,
    split: Annotated[
        str, typer.Option("--split", help="all, or eval: score only the held-out-seed part of the bench.")
    ] = "all",
    runs_csv: Annotated[
        Path | None,
        typer.Option(
            "--runs",
            help="Also write one CSV row per run: its bench, onset, first alarm, detection step, false alarm, "
            "emitted diagnosis, whether it is right, the monitor's onset estimate, why the model stayed out.",
        ),
    ] = None,
) -> None:
    """Score detection and diagnosis on one or more benches; optionally the comparison methods side by side.

    Score a model on seeds it was not fitted on: a bench generated with another --seed, or --split eval.
    """
    from faultwise.progress import progress_bar
    from faultwise.rft.faultbench.load import load_bench, split_runs
    from faultwise.rft.fm.evaluation import outcome_rows, score_runs, summarize
    from faultwise.rft.fm.model import load_model

    _check_split(split)
    fm = load_model(model) if model is not None else None
    _check_distinct(bench_dirs)
    runs, sources = [], []
    for bench_dir in bench_dirs:
        part = split_runs(load_bench(bench_dir).runs, split)
        runs.extend(part)
        sources.extend([str(bench_dir)] * len(part))
    with progress_bar(True, "scoring runs") as update:
        outcomes = score_runs(fm, runs, update, use_accuracy)
    doc = summarize(outcomes, fm, use_accuracy)
    others = None
    if compare:
        if fm is None:
            raise InputError("--compare", "the comparison methods need a fitted --model")
        srcs = [fit_bench] if fit_bench else [Path(p) for p in fm.fitted_on.split(",") if p]
        if not srcs:
            raise InputError(model, "the comparison methods need the fitting bench: pass --fit-bench")
        from faultwise.rft.fm.compare import compare_methods

        fit_runs = []
        for src in srcs:
            part = load_bench(src).runs
            if any(src.resolve() == b.resolve() for b in bench_dirs) and split == "eval":
                part = split_runs(part, "fit")  # same bench: the methods fit on the same part as the model
            fit_runs.extend(part)
        others = compare_methods(fm, fit_runs, runs)
    if runs_csv is not None:  # written once everything is scored: a failed --compare leaves no table behind
        _write_rows(
            runs_csv, [{"bench": b, **row} for b, row in zip(sources, outcome_rows(outcomes), strict=True)]
        )
    if json_out:
        if others is not None:
            doc["compare"] = others
        _print_json(doc)
        return
    _print_tables(doc, others)


def _write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write ``rows`` as CSV, atomically (a failed run leaves no half table); empty cells for None."""
    import csv

    from faultwise.io import atomic_open

    if not rows:
        raise InputError(path, "no runs to write")
    try:
        with atomic_open(path, "w", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
            w.writeheader()
            w.writerows(rows)
    except OSError as exc:
        raise InputError(path, f"cannot write ({exc.strerror or exc.__class__.__name__})") from None


def _print_tables(doc: dict[str, Any], others: dict[str, Any] | None) -> None:
    from rich.console import Console
    from rich.table import Table

    det, dia = doc["detection"], doc["diagnosis"]
    t = Table(title="Detection (run level)")
    for col in (
        "method",
        "F1 easy",
        "F1 hard",
        "P easy",
        "R easy",
        "P hard",
        "R hard",
        "false alarms",
        "median delay",
    ):
        t.add_column(col)

    def row(name: str, d: dict[str, Any]) -> None:
        t.add_row(
            name,
            *(
                f"{d[s][k]:.3f}"
                for s, k in (
                    ("easy", "f1"),
                    ("hard", "f1"),
                    ("easy", "precision"),
                    ("easy", "recall"),
                    ("hard", "precision"),
                    ("hard", "recall"),
                )
            ),
            f"{d['false_alarm_rate']}",
            f"{d['median_delay_steps']}",
        )

    row("RFT-FM", det)
    for name, d in (others or {}).get("detection", {}).items():
        row(name, d)
    t2 = Table(title="Diagnosis (fault type)")
    for col in ("method", "macro-F1 easy", "macro-F1 hard", "acc easy", "acc hard"):
        t2.add_column(col)
    for name, d in [("RFT-FM", dia), *(others or {}).get("diagnosis", {}).items()]:
        t2.add_row(
            name,
            f"{d['easy']['macro_f1']:.3f}",
            f"{d['hard']['macro_f1']:.3f}",
            f"{d['easy']['accuracy']:.3f}",
            f"{d['hard']['accuracy']:.3f}",
        )
    c = Console()
    c.print(t)
    c.print(t2)
    declined = doc.get("model_declined")
    if declined and declined["runs"]:
        n = sum(doc["runs"].values())
        why = sorted(declined["reasons"].items(), key=lambda kv: -kv[1])
        c.print(
            f"the model stayed out of {declined['runs']} of {n} runs (judged without it); outside its fitted "
            "range or profile: " + ", ".join(f"{k} ({v})" for k, v in why)
        )


# --- faultwise rft watch | report ------------------------------------------------------------------------


@app.command("watch")
def watch_cmd(
    log: Annotated[
        Path,
        typer.Argument(
            help="verl console/JSONL, TRL trainer_state.json or stdout, ms-swift logging.jsonl, TensorBoard "
            "events or run folder, steps.jsonl (recognised by content)."
        ),
    ],
    model: ModelOpt = None,
    once: Annotated[bool, typer.Option("--once", help="Read what is there and stop (no follow).")] = False,
    json_out: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Alarm events as JSON lines: printed when diagnosed, again when closed or changed by the "
            "end of the log (the last object per event_id is final).",
        ),
    ] = False,
    poll_s: Annotated[float, typer.Option("--poll-s", help="Seconds between polls of a growing log.")] = 1.0,
    max_response_length: Annotated[
        float | None,
        typer.Option("--max-response-length", help="The run's length limit in tokens (from its config)."),
    ] = None,
    reward_range: Annotated[
        str | None,
        typer.Option("--reward-range", help="The declared reward range, LOW,HIGH (from the config)."),
    ] = None,
    use_accuracy: Annotated[
        bool, typer.Option("--use-accuracy", help="Also watch validation/true accuracy when logged.")
    ] = False,
) -> None:
    """Follow a training log; print alarm events (opened, diagnosed, closed) as they happen.

    Without --model the run is judged against its own history and physical invariants; a log with no readable
    training step is an error (exit 2), never "0 alarms".
    """
    from faultwise.rft.fm.detect.selfref import SelfRefConfig
    from faultwise.rft.fm.model import load_model
    from faultwise.rft.fm.watcher import describe, describe_event, watch

    if not poll_s > 0:
        raise InputError("--poll-s", f"must be positive, got {poll_s}")
    if max_response_length is not None and not max_response_length > 0:
        raise InputError("--max-response-length", f"must be positive, got {max_response_length}")
    rr = None
    if reward_range is not None:
        try:
            lo, hi = (float(x) for x in reward_range.split(","))
        except ValueError:
            raise InputError("--reward-range", f"expected LOW,HIGH, got {reward_range!r}") from None
        if not lo < hi:
            raise InputError("--reward-range", f"LOW must be below HIGH, got {reward_range!r}")
        rr = (lo, hi)
    fm = load_model(model) if model else None
    base = (fm.selfref if fm is not None and fm.selfref is not None else None) or SelfRefConfig()
    cfg = base.model_copy(
        update={"max_response_length": max_response_length, "reward_range": rr, "use_accuracy": use_accuracy}
    )
    events = []
    # event id -> (closed step, excursions, lowest point's step) when printed
    printed: dict[int, tuple[int | None, int, int | None]] = {}

    def emit_json(final: bool) -> None:
        """An event is printed when diagnosed, and again, updated, when it closes or when the log ends (if
        it closed, gained excursions or reached a new low since): the last object per event id is its
        state."""
        for a in events:
            state = (a.closed_step, len(a.excursions), a.run_low.step if a.run_low else None)
            if a.diagnosis is None or printed.get(a.event_id) == state:
                continue
            if a.event_id not in printed or a.closed_step is not None or final:
                printed[a.event_id] = state
                typer.echo(a.model_dump_json())

    for ev in watch(log, fm, follow=not once, poll_s=poll_s, config=cfg):
        if ev.opened is not None:
            events.append(ev.opened)
        if json_out:
            emit_json(final=False)
        else:
            line = describe(ev)
            if line:
                typer.echo(line)
    if json_out:
        emit_json(final=True)
    else:
        for a in events:
            typer.echo(describe_event(a))
        typer.echo(f"done: {len(events)} alarm event(s)")


@app.command("report")
def report_cmd(
    path: Annotated[
        Path, typer.Argument(help="Run directory (steps.jsonl, supervision.json) or any supported log.")
    ],
    html_out: Annotated[Path, typer.Option("--html", help="Where to write the self-contained HTML page.")],
    model: ModelOpt = None,
) -> None:
    """Write an offline HTML report: curves with alarms, diagnosis and actions marked on them."""
    from faultwise.io import atomic_write_text
    from faultwise.rft.fm.model import load_model
    from faultwise.rft.fm.report import report_for_path

    if html_out.is_dir():
        raise InputError(html_out, "is a directory, expected an output file name")
    page = report_for_path(path, load_model(model) if model else None)
    atomic_write_text(html_out, page)
    typer.echo(f"wrote {html_out}")


# --- faultwise rft bench ---------------------------------------------------------------------------------


@bench_app.command("generate")
def bench_generate(
    out: Annotated[Path, typer.Argument(help="Bench directory (created; an existing one is continued).")],
    scale: Annotated[str, typer.Option("--scale", help="smoke, small or paper.")] = "smoke",
    seed: Annotated[int, typer.Option("--seed", help="Base seed of the bench (0 ... 2**32-1).")] = 0,
    workers: Annotated[int, typer.Option("--workers", help="Parallel runs (one CPU thread each).")] = 1,
    cache_dir: Annotated[
        Path | None, typer.Option("--cache-dir", help="Warm-start cache (default: user cache).")
    ] = None,
    variant: Annotated[
        str, typer.Option("--variant", help="Policy size and hyperparameter ranges: default or wide.")
    ] = "default",
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit",
            help="Only the first N runs of the plan: the normal runs, then rounds over every fault type and "
            "strength. Rerun without it to complete the bench.",
        ),
    ] = None,
) -> None:
    """Generate (or resume) a bench of real GRPO runs with injected faults."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from faultwise.rft.faultbench.generator import generate

    _check_scale(scale)
    _check_seed(seed)
    _check_variant(variant)
    _at_least_one("--workers", workers)
    if limit is not None:
        _at_least_one("--limit", limit)
    with Progress(
        TextColumn("[bold]runs"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=Console(stderr=True),
    ) as progress:
        task = progress.add_task("", total=None)

        def on_progress(done: int, planned: int, run_id: str) -> None:
            progress.update(task, completed=done, total=planned, description=run_id)

        summary = generate(
            out,
            scale=scale,
            seed=seed,
            workers=workers,
            cache_dir=cache_dir,
            on_progress=on_progress,
            variant=variant,
            first=limit,
        )
    per_run = sum(summary.run_wall_s) / len(summary.run_wall_s) if summary.run_wall_s else 0.0
    typer.echo(
        f"{out}: {summary.already_done + summary.generated}/{summary.planned} runs complete "
        f"({summary.generated} new in {summary.wall_time_s:.0f} s, {per_run:.1f} s per run, "
        f"peak memory {summary.peak_rss_mb:.0f} MB per process)"
    )


@bench_app.command("stats")
def bench_stats_cmd(
    out: BenchArg,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Counts by family/type/strength and the fingerprint table (effect of each fault on each signal)."""
    from faultwise.rft.faultbench.load import load_bench
    from faultwise.rft.faultbench.stats import bench_stats, moved_signals

    stats = bench_stats(load_bench(out))
    if json_out:
        typer.echo(json.dumps(stats, indent=1))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    c = stats["counts"]
    console.print(
        f"{c['runs']} runs ({c['faulty_runs']} faulty, {c['normal_runs']} normal), "
        f"{c['step_records']} step records, {c['trajectory_records']} trajectory records; onsets {c['by_onset']}"
    )
    console.print("by family: " + ", ".join(f"{k} {v}" for k, v in c["by_family"].items()))
    table = Table(title="Fingerprint: median effect (Glass's delta vs normal runs) of the signals that move")
    for col in ("fault type", "strength", "runs", "signals that move (|effect| >= 1)"):
        table.add_column(col)
    for ftype, by in stats["fingerprint"].items():
        for strength, eff in by.items():
            moved = moved_signals(eff, top=5)
            text = ", ".join(f"{k} {v:+.1f}" for k, v in moved) or "[red]none[/red]"
            table.add_row(ftype, strength, str(c["by_type_strength"].get(f"{ftype}/{strength}", 0)), text)
    console.print(table)
    if stats["traceless"]:
        console.print(f"[red]no trace:[/red] {', '.join(stats['traceless'])}")


@bench_app.command("remediate")
def bench_remediate(
    out: Annotated[Path, typer.Argument(help="Output directory (resumable).")],
    scale: Annotated[str, typer.Option("--scale", help="smoke, small or paper.")] = "smoke",
    seed: Annotated[
        int, typer.Option("--seed", help="Base seed of the runs (use seeds the model was not fitted on).")
    ] = 0,
    model: Annotated[
        Path | None,
        typer.Option("--model", help="Fitted model; without it, fit on the scale's normal runs."),
    ] = None,
    n_eval: Annotated[
        int, typer.Option("--n-eval", help="Held-out problems for the true task accuracy.")
    ] = 128,
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary document only.")] = False,
    limit: Annotated[
        int | None,
        typer.Option("--limit", help="Only the first N faulty runs, taken round-robin over families."),
    ] = None,
) -> None:
    """Faulty runs under three arms (no remediation, a generic rollback + half learning rate, our actions) and
    their fault-free twins; a run counts as remediated only where doing nothing was not already fine."""
    from faultwise.rft.fm.model import load_model
    from faultwise.rft.fm.remediate.bench import remediation_bench

    _check_scale(scale)
    _check_seed(seed)
    _at_least_one("--n-eval", n_eval)
    if limit is not None:
        _at_least_one("--limit", limit)
    fm = load_model(model) if model else None
    doc = remediation_bench(
        out, scale, seed, fm, n_eval, limit=limit, progress=None if json_out else typer.echo
    )
    if json_out:
        _print_json(doc)
        return
    tf, env = doc["training_faults"], doc["environment_faults"]

    def rates(d: dict[str, Any]) -> str:
        return ", ".join(f"{a} {_fmt_rate(v)}" for a, v in d.items())

    typer.echo(
        f"training faults: {tf['runs']} runs, {tf['already_fine']} already fine without remediation; "
        f"remediated of {tf['needing_remediation']}: {rates(tf['remediation_rate'])}"
    )
    typer.echo(
        f"  within tolerance of the fault-free run, all {tf['runs']}: {rates(tf['within_tolerance_rate'])}"
    )
    steps = ", ".join(f"{a} {'n/a' if v is None else v}" for a, v in tf["mean_steps_trained"].items())
    typer.echo(f"  optimizer steps trained per run (mean over all attempts): {steps}")
    for fam, d in tf["by_family"].items():
        typer.echo(
            f"  {fam}: {d['runs']} runs, {d['already_fine']} already fine; remediated of "
            f"{d['needing_remediation']}: {rates(d['remediation_rate'])}"
        )
    typer.echo(
        f"environment faults: {env['runs']} runs, stopped with the family named: "
        f"{env['stopped_with_family_named']} ({_fmt_rate(env['rate'])})"
    )


def _fmt_rate(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3f}"
