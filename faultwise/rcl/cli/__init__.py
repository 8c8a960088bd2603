"""``faultwise rcl ...`` commands and ``faultwise demo``, one module per command (group).

Every problem with the user's input is an :class:`~faultwise.errors.InputError` (the root ``main`` prints it as
one line); machine-readable output (``--json``) is the only thing on stdout then, progress goes to stderr, and
files are written atomically.
"""

from __future__ import annotations

import typer

from faultwise.rcl.cli.bench import bench_app
from faultwise.rcl.cli.demo import demo
from faultwise.rcl.cli.diagnose import diagnose
from faultwise.rcl.cli.inject import inject_command
from faultwise.rcl.cli.inputs import parse_start_us

app = typer.Typer(
    help="Root cause localization for microservice incidents.", no_args_is_help=True, add_completion=False
)
app.command("diagnose")(diagnose)
app.command("inject")(inject_command)
app.add_typer(bench_app, name="bench")

__all__ = ["app", "demo", "parse_start_us"]
