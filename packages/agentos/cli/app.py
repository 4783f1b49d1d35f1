"""The typer application: command registration and the top-level run loop.

Usage errors from the argument parser are rendered here (exit 2, and the JSON envelope with
``--json``); everything a command raises is handled by ``agentos.cli.context.execute``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from agentos import __version__
from agentos.cli.context import EXIT_ABORTED
from agentos.cli.render import envelope, print_error, print_json

EXIT_USAGE = 2

app = typer.Typer(
    name="agentos",
    help="agentos: the governed changeset executor. Plan, check, approve and apply file "
    "changes atomically, with an audit trail.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"agentos {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", "-V", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """agentos: the governed changeset executor."""


def _register() -> None:
    # Importing a command module registers its commands on ``app``.
    from agentos.cli import (  # noqa: F401
        apply_cmd,
        audit_cmd,
        gate_cmd,
        init_cmd,
        plan_cmd,
        policy_cmd,
        show_cmd,
        status_cmd,
    )


GROUPS = ("audit", "policy")


def _command_name(argv: list[str]) -> str:
    """``apply`` or ``policy test``: the command words of ``argv``, not its arguments."""
    words = [a for a in argv if not a.startswith("-")]
    if not words:
        return "agentos"
    return " ".join(words[:2]) if words[0] in GROUPS and len(words) > 1 else words[0]


def _workspace_of(argv: list[str]) -> Path:
    """The ``-C`` / ``--workspace`` directory of ``argv`` (for logs written before parsing)."""
    for index, arg in enumerate(argv):
        if arg in ("-C", "--workspace") and index + 1 < len(argv):
            return Path(argv[index + 1])
        if arg.startswith("--workspace="):
            return Path(arg.split("=", 1)[1])
    return Path()


def run(argv: list[str]) -> int:
    """Parse ``argv``, run the command, and return its exit code (never raises)."""
    from typer._click.exceptions import ClickException
    from typer.exceptions import Abort

    try:
        _register()
        command = typer.main.get_command(app)
        result = command.main(args=argv, prog_name="agentos", standalone_mode=False)
    except ClickException as exc:
        message = exc.format_message()
        name = _command_name(argv)
        print_error(
            f"{message} (see 'agentos {name} --help')".replace("agentos agentos", "agentos")
        )
        if "--json" in argv:
            print_json(
                envelope(
                    name,
                    exit_code=EXIT_USAGE,
                    result=None,
                    error={"type": "usage_error", "message": message, "details": {}},
                )
            )
        return EXIT_USAGE
    except Abort:
        return EXIT_ABORTED
    except Exception as exc:  # outside any command's boundary (start-up): still no traceback
        from agentos.cli.context import EXIT_INTERNAL, save_traceback

        log = save_traceback(_workspace_of(argv), exc)
        message = (
            f"internal error (a bug in agentos): {type(exc).__name__}: {exc}; "
            f"traceback saved to {log} — please report it"
        )
        print_error(message)
        if "--json" in argv:
            print_json(
                envelope(
                    _command_name(argv),
                    exit_code=EXIT_INTERNAL,
                    result=None,
                    error={"type": "internal_error", "message": message, "details": {}},
                )
            )
        return EXIT_INTERNAL
    return result if isinstance(result, int) else 0
