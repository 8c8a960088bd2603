"""``faultwise rft bench generate|stats`` (owned by the bench generator)."""

from __future__ import annotations

import typer

bench_app = typer.Typer(help="RFT-FaultBench: generate and inspect fault-injected RL runs.", no_args_is_help=True)
