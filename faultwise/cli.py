"""The ``faultwise`` command: ``faultwise demo``, ``faultwise rcl ...``, ``faultwise rft ...``.

Every user-facing error is a :class:`faultwise.errors.FaultwiseError`; ``main`` prints it as one line on
stderr and exits non-zero, without a traceback.
"""

from __future__ import annotations

import sys

import typer

from faultwise.errors import FaultwiseError
from faultwise.rcl.cli import app as rcl_app
from faultwise.rcl.cli import demo
from faultwise.rft.cli import app as rft_app

app = typer.Typer(
    name="faultwise",
    help="Automatic failure management: root cause localization (rcl) and RL fine-tuning failures (rft).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(rcl_app, name="rcl")
app.add_typer(rft_app, name="rft")
app.command("demo")(demo)


def _usage_errors() -> tuple[type[BaseException], ...]:
    """Click's usage errors; typer may bundle its own copy of click, so match both."""
    import click

    kinds: list[type[BaseException]] = [click.exceptions.ClickException]
    try:
        from typer._click.exceptions import ClickException as TyperClickException  # type: ignore

        kinds.append(TyperClickException)
    except ImportError:
        pass
    return tuple(kinds)


def main(argv: list[str] | None = None) -> int:
    """Console entry point."""
    try:
        rc = app(args=argv, standalone_mode=False)
    except FaultwiseError as exc:
        print(f"faultwise: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("faultwise: interrupted", file=sys.stderr)
        return 130
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        print("faultwise: aborted", file=sys.stderr)
        return 1
    except Exception as exc:  # usage errors (bad option values, unknown options)
        if isinstance(exc, _usage_errors()):
            exc.show()
            return exc.exit_code
        raise
    return rc if isinstance(rc, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
