"""``faultwise rft bench generate|stats`` (owned by the bench generator). Heavy imports stay inside commands."""

from __future__ import annotations

import json
from pathlib import Path

import typer

bench_app = typer.Typer(
    help="RFT-FaultBench: generate and inspect fault-injected RL runs.", no_args_is_help=True
)


@bench_app.command("generate")
def generate_cmd(
    out: Path = typer.Argument(..., help="bench directory (created; an existing one is continued)"),
    scale: str = typer.Option("smoke", "--scale", help="smoke | small | paper"),
    seed: int = typer.Option(0, "--seed", help="base seed of the bench"),
    workers: int = typer.Option(1, "--workers", help="parallel runs (one CPU thread each)"),
    cache_dir: Path | None = typer.Option(None, "--cache-dir", help="warm-start cache (default: user cache)"),
) -> None:
    """Generate (or resume) a bench of real GRPO runs with injected faults."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from faultwise.rft.bench.generate import generate

    with Progress(
        TextColumn("[bold]runs"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
    ) as progress:
        task = progress.add_task("", total=None)

        def on_progress(done: int, planned: int, run_id: str) -> None:
            progress.update(task, completed=done, total=planned, description=run_id)

        summary = generate(
            out, scale=scale, seed=seed, workers=workers, cache_dir=cache_dir, on_progress=on_progress
        )
    per_run = sum(summary.run_wall_s) / len(summary.run_wall_s) if summary.run_wall_s else 0.0
    typer.echo(
        f"{out}: {summary.already_done + summary.generated}/{summary.planned} runs complete "
        f"({summary.generated} new in {summary.wall_time_s:.0f} s, {per_run:.1f} s per run, "
        f"peak memory {summary.peak_rss_mb:.0f} MB per process)"
    )


@bench_app.command("stats")
def stats_cmd(
    out: Path = typer.Argument(..., help="bench directory"),
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of tables"),
) -> None:
    """Counts by family/type/strength and the fingerprint table (effect of each fault on each signal)."""
    from faultwise.rft.bench.load import load_bench
    from faultwise.rft.bench.stats import bench_stats, moved_signals

    stats = bench_stats(load_bench(out, trajectories=True, validate=False))
    if as_json:
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
