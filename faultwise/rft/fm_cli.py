"""``faultwise rft fit|evaluate|watch|report`` and ``faultwise rft bench remediate`` (RFT-FM).

Heavy imports (sklearn, torch, trl) happen inside the commands.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer


def _print_json(doc: dict) -> None:
    typer.echo(json.dumps(doc, indent=2, sort_keys=False))


def fit(
    bench_dir: Path = typer.Argument(..., help="bench directory (registry.csv + runs/)"),
    out: Path = typer.Option(..., "--out", help="where to write the fitted model (JSON)"),
    false_alarm_rate: float = typer.Option(0.01, help="target run-level false-alarm rate on normal runs"),
    split: str = typer.Option("all", help="all | fit: use only the fit part of a held-out-seed split"),
) -> None:
    """Fit the normal profile on the bench's healthy runs and the diagnoser on its faulty runs."""
    from faultwise.rft.detect.model import save_model
    from faultwise.rft.evaluate import fit_model, load_bench, split_runs

    runs = split_runs(load_bench(bench_dir), split)
    model = fit_model(runs, false_alarm_rate, fitted_on=str(bench_dir))
    save_model(model, out)
    n_norm = sum(not r.is_faulty for r in runs)
    prof = model.profile
    slow = f" {prof.slow_threshold:.2f} (slow)" if prof.slow_threshold is not None else ""
    typer.echo(
        f"fitted on {n_norm} normal + {len(runs) - n_norm} faulty runs; thresholds {prof.threshold:.2f} "
        f"(instant) {prof.trend_threshold:.2f} (trend) {prof.joint_threshold:.2f} (joint){slow}; "
        f"diagnoser classes {len(model.diagnoser.classes) if model.diagnoser else 0}; wrote {out}"
    )


def evaluate_cmd(
    bench_dir: Path = typer.Argument(..., help="bench generated with other seeds than the fitting bench"),
    model: Path = typer.Option(..., "--model", help="fitted model (from `faultwise rft fit`)"),
    as_json: bool = typer.Option(False, "--json", help="print the evaluation document only"),
    baselines: bool = typer.Option(False, "--baselines", help="also score the baselines (needs --fit-bench)"),
    fit_bench: Path | None = typer.Option(
        None, "--fit-bench", help="the bench the model was fitted on (baselines)"
    ),
    split: str = typer.Option("all", help="all | eval: score only the held-out-seed part of the bench"),
) -> None:
    """Score detection and diagnosis on a bench; optionally the baselines side by side."""
    from faultwise.errors import InputError
    from faultwise.rft.detect.model import load_model
    from faultwise.rft.evaluate import evaluate, load_bench, split_runs

    fm = load_model(model)
    runs = split_runs(load_bench(bench_dir), split)
    doc = evaluate(fm, runs)
    base = None
    if baselines:
        src = fit_bench or (Path(fm.fitted_on) if fm.fitted_on else None)
        if src is None:
            raise InputError(model, "baselines need the fitting bench: pass --fit-bench")
        from faultwise.rft.baselines import all_baselines

        fit_runs = load_bench(src)
        if src.resolve() == Path(bench_dir).resolve() and split == "eval":
            fit_runs = split_runs(fit_runs, "fit")  # same bench: baselines fit on the same part as the model
        base = all_baselines(fm, fit_runs, runs)
    if as_json:
        if base is not None:
            doc["baselines"] = base
        _print_json(doc)
        return
    _print_table(doc, base)


def _print_table(doc: dict, base: dict | None) -> None:
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

    def row(name, d):
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
    for name, d in (base or {}).get("detection", {}).items():
        row(name, d)
    t2 = Table(title="Diagnosis (fault type)")
    for col in ("method", "macro-F1 easy", "macro-F1 hard", "acc easy", "acc hard"):
        t2.add_column(col)
    for name, d in [("RFT-FM", dia), *(base or {}).get("diagnosis", {}).items()]:
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


def watch_cmd(
    log: Path = typer.Argument(
        ..., help="verl JSONL/console log, trainer_state.json, TensorBoard events, steps.jsonl"
    ),
    model: Path | None = typer.Option(
        None, "--model", help="fitted model; without it the run's warm-up is its profile"
    ),
    once: bool = typer.Option(False, "--once", help="read what is there and stop (no follow)"),
    as_json: bool = typer.Option(False, "--json", help="one JSON event per line (alarms and diagnoses only)"),
    poll_s: float = typer.Option(1.0, help="seconds between polls of a growing log"),
) -> None:
    """Follow a growing training log; print alarms and diagnoses as they happen."""
    from faultwise.rft.detect.model import load_model
    from faultwise.rft.integrations.watch import describe, watch

    fm = load_model(model) if model else None
    n_alarms = 0
    for ev in watch(log, fm, follow=not once, poll_s=poll_s):
        if ev.verdict.alarm:
            n_alarms += 1
        if as_json:
            if ev.verdict.alarm or ev.diagnosis is not None:
                typer.echo(ev.model_dump_json())
        else:
            line = describe(ev)
            if line:
                typer.echo(line)
    if not as_json:
        typer.echo(f"done: {n_alarms} alarm step(s)")


def report_cmd(
    path: Path = typer.Argument(
        ..., help="run directory (steps.jsonl, supervision.json) or any supported log"
    ),
    html_out: Path = typer.Option(..., "--html", help="where to write the self-contained HTML page"),
    model: Path | None = typer.Option(
        None, "--model", help="fitted model; without it the run's warm-up is its profile"
    ),
) -> None:
    """Write an offline HTML report: curves with alarms, diagnosis and actions marked on them."""
    from faultwise.io import atomic_write_text
    from faultwise.rft.detect.model import load_model
    from faultwise.rft.report import report_for_path

    page = report_for_path(path, load_model(model) if model else None)
    atomic_write_text(html_out, page)
    typer.echo(f"wrote {html_out}")


def bench_remediate_cmd(
    out: Path = typer.Argument(..., help="output directory (resumable)"),
    scale: str = typer.Option("smoke", "--scale", help="smoke|small|paper"),
    seed: int = typer.Option(
        0, "--seed", help="base seed of the runs (use seeds the model was not fitted on)"
    ),
    model: Path | None = typer.Option(
        None, "--model", help="fitted model; without it, fit on the scale's normal runs"
    ),
    n_eval: int = typer.Option(128, help="held-out problems for the true task accuracy"),
    as_json: bool = typer.Option(False, "--json", help="print the summary document only"),
    limit: int | None = typer.Option(
        None, help="only the first N faulty runs, taken round-robin over families"
    ),
) -> None:
    """Run the scale's faulty runs with the closed loop on; score success on true task accuracy."""
    from faultwise.errors import InputError
    from faultwise.rft.bench.scales import SCALES
    from faultwise.rft.detect.model import load_model
    from faultwise.rft.remediate.bench import remediation_bench

    if scale not in SCALES:
        raise InputError(scale, f"unknown scale (choose from {', '.join(SCALES)})")
    fm = load_model(model) if model else None
    doc = remediation_bench(
        out, scale, seed, fm, n_eval, limit=limit, progress=None if as_json else typer.echo
    )
    if as_json:
        _print_json(doc)
    else:
        typer.echo(f"{doc['runs']} runs, success rate {doc['success_rate']:.3f}")
        for fam, d in doc["by_family"].items():
            typer.echo(f"  {fam}: {d['success_rate']:.3f} of {d['runs']}")


def register_fm_commands(app: typer.Typer, bench_app: typer.Typer) -> None:
    """Attach the failure-manager commands to the ``rft`` app and its ``bench`` sub-app."""
    app.command("fit")(fit)
    app.command("evaluate")(evaluate_cmd)
    app.command("watch")(watch_cmd)
    app.command("report")(report_cmd)
    bench_app.command("remediate")(bench_remediate_cmd)
