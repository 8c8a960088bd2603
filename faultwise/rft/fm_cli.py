"""``faultwise rft fit|evaluate|watch|report`` and ``faultwise rft bench remediate`` (RFT-FM)."""

from __future__ import annotations

import typer


def register_fm_commands(app: typer.Typer, bench_app: typer.Typer) -> None:
    """Attach the failure-manager commands to the ``rft`` app and its ``bench`` sub-app."""
