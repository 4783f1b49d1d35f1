"""The typer application: registration of every command, and the top-level run loop.

Command modules register their functions in ``context.REGISTRY`` (they never import this
module); ``build`` adds them to typer. Usage errors from the argument parser are rendered here
(exit 2, and the JSON envelope with ``--json``); everything a command raises is handled by
``agentos.cli.context.execute``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from agentos import __version__
from agentos.cli.argv import arrange, command_words
from agentos.cli.context import (
    EXIT_ABORTED,
    REGISTRY,
    report_error,
    report_exception,
    typer_command,
)
from agentos.cli.helpfmt import HelpfulCommand

EXIT_USAGE = 2
EPILOG = (
    "Global options, before or after the command: -C, --workspace DIR; --policy FILE; "
    "--json; -q, --quiet (see 'agentos COMMAND --help'). With no command, agentos prints "
    "this help."
)
GROUPS = {
    "audit": "Verify, list and export the audit trail.",
    "policy": "Validate, test, explain and print the schema of the policy.",
    "store": "Create and migrate the shared PostgreSQL store (docs/scale.md).",
    "queue": "Submit plans to the shared changeset queue and follow them (docs/scale.md).",
}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"agentos {__version__}")
        raise typer.Exit(0)


def _root(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option(
            "--version", "-V", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """agentos: the governed changeset executor."""
    _help_without_command(ctx)


def _help_without_command(ctx: typer.Context) -> None:
    """``agentos`` or ``agentos policy`` alone: the help, and exit 0 (as ``git`` does)."""
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(0)


# The module that registers each top-level command word: a command loads only its own
# module (a test keeps this in sync with the registry); help and unknown words load them all.
COMMAND_MODULES = {
    "apply": "apply_cmd",
    "rollback": "apply_cmd",
    "recover": "apply_cmd",
    "abort": "apply_cmd",
    "audit": "audit_cmd",
    "check": "gate_cmd",
    "approve": "gate_cmd",
    "doctor": "agents_cmd",
    "integrate": "agents_cmd",
    "hook": "hook_cmd",
    "sweep": "hook_cmd",
    "init": "init_cmd",
    "mcp": "mcp_cmd",
    "plan": "plan_cmd",
    "show": "plan_cmd",
    "policy": "policy_cmd",
    "serve": "serve_cmd",
    "status": "status_cmd",
    "store": "store_cmd",
    "queue": "queue_cmd",
    "worker": "worker_cmd",
    "history": "status_cmd",
}


def build(argv: list[str] | None = None) -> typer.Typer:
    """The application with the commands ``argv`` names registered (all of them without
    ``argv``, or when its first word is not a command)."""
    import importlib

    word = argv[0] if argv else None
    if word in COMMAND_MODULES:
        importlib.import_module(f"agentos.cli.{COMMAND_MODULES[word]}")
    else:
        word = None
        for module in sorted(set(COMMAND_MODULES.values())):
            importlib.import_module(f"agentos.cli.{module}")

    app = typer.Typer(
        name="agentos",
        help="agentos: the governed changeset executor. Plan, check, approve and apply file "
        "changes atomically, with an audit trail.",
        epilog=EPILOG,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    app.callback(invoke_without_command=True)(_root)
    groups = {
        name: typer.Typer(name=name, help=text, rich_markup_mode=None)
        for name, text in GROUPS.items()
    }
    for name, group in groups.items():
        group.callback(invoke_without_command=True)(_help_without_command)
        if word in (None, name):
            app.add_typer(group, name=name)
    for entry in REGISTRY:
        if word not in (None, entry.group or entry.name):
            continue
        target = groups[entry.group] if entry.group else app
        target.command(entry.name, cls=HelpfulCommand)(typer_command(entry))
    return app


def _command_name(argv: list[str]) -> str:
    """``apply`` or ``policy test``: the command words of ``argv``, not its arguments nor the
    values of its global options (``agentos -C ws status`` is ``status``)."""
    words = command_words(argv)
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


def _usage_message(exc: Exception) -> str | None:
    """The message of an argument parser's error (typer's own exceptions carry one)."""
    formatter = getattr(exc, "format_message", None)
    if type(exc).__module__.startswith("typer.") and callable(formatter):
        return str(formatter())
    return None


def _failed_command(exc: Exception, argv: list[str]) -> str:
    """The command whose arguments the parser refused: ``agentos policy`` for an unknown
    subcommand of ``policy``, ``agentos`` for an unknown command word."""
    ctx = getattr(exc, "ctx", None)
    path = getattr(ctx, "command_path", None)
    if isinstance(path, str) and path:
        return path
    name = _command_name(argv)
    return "agentos" if name == "agentos" else f"agentos {name}"


def _usage_error(path: str, as_json: bool, message: str) -> int:
    """A parse error: one line, with the help to read (a command that exists), exit 2."""
    name = path.removeprefix("agentos ") if path != "agentos" else "agentos"
    hint = f" (see '{path} --help')"
    return report_error(
        name, as_json, code=EXIT_USAGE, kind="usage_error", message=message, hint=hint
    )


def run(argv: list[str]) -> int:
    """Parse ``argv``, run the command, and return its exit code (never raises)."""
    line = arrange(argv)
    argv = line.args
    as_json = "--json" in argv
    if line.missing_command:
        path = " ".join(("agentos", *line.words))
        import shlex

        # No period after the options: it would read as part of a value (``-C .``).
        return _usage_error(path, as_json, f"Missing command after {shlex.join(line.moved)}")
    name = _command_name(argv)
    try:
        command = typer.main.get_command(build(argv))
        result = command.main(args=argv, prog_name="agentos", standalone_mode=False)
    except typer.Abort:
        return EXIT_ABORTED
    except Exception as exc:  # parse errors, or a failure outside any command's boundary
        message = _usage_message(exc)
        if message is None:
            return report_exception(name, as_json, _workspace_of(argv), exc)
        return _usage_error(_failed_command(exc, argv), as_json, message)
    return result if isinstance(result, int) else 0
