"""``faultwise rcl ...`` commands and ``faultwise demo``."""

from __future__ import annotations

import typer

app = typer.Typer(help="Root cause localization for microservice incidents.", no_args_is_help=True)


def demo() -> None:
    """Generate a realistic synthetic incident, diagnose it, print the ranked causes, write the HTML report."""
    raise typer.Exit(1)
