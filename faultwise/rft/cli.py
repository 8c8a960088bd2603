"""``faultwise rft ...`` commands. Heavy imports (torch, trl) happen inside commands, never at import."""

from __future__ import annotations

import typer

from faultwise.rft.bench.cli import bench_app
from faultwise.rft.fm_cli import register_fm_commands

app = typer.Typer(help="Failure management for reinforcement fine-tuning runs.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")
register_fm_commands(app, bench_app)
