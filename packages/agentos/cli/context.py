"""Global options and the error boundary every command runs inside.

Every command accepts ``-C/--workspace``, ``--policy``, ``--json`` and ``-q/--quiet`` after its
name. ``command()`` adds them to the command's signature, builds ``GlobalOptions``, runs the
command, renders its ``Outcome`` and turns every exception into an exit code — the only place
that does (errors carry their codes; a bug becomes 70 with its traceback saved to a log).
"""

from __future__ import annotations

import errno
import inspect
import os
import sys
import tempfile
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from agentos.cli.render import (
    Outcome,
    console,
    envelope,
    print_error,
    print_json,
    print_warning,
)
from agentos.errors import AgentosError, UsageError
from agentos.workspace import Workspace

EXIT_INTERNAL = 70
EXIT_ABORTED = 130
# An I/O failure of agentos's own files (a full disk, a read-only or failing one) is not a
# bug: it exits 1 with what happened and where; other OSErrors are bugs (70).
EXIT_IO = 1
IO_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOMEM}
)


@dataclass(frozen=True)
class GlobalOptions:
    """The options every command takes, plus the command's name for the JSON envelope."""

    command: str
    workspace_dir: Path
    policy: Path | None
    json: bool
    quiet: bool

    def workspace(self) -> Workspace:
        """The workspace ``-C`` names (it must exist)."""
        return Workspace.open(self.workspace_dir)


_GLOBAL_PARAMETERS = [
    inspect.Parameter(
        "workspace_dir",
        inspect.Parameter.KEYWORD_ONLY,
        default=Path(),
        annotation=Annotated[
            Path,
            typer.Option(
                "-C",
                "--workspace",
                help="Workspace directory (default: the current directory).",
                show_default=False,
                file_okay=False,
            ),
        ],
    ),
    inspect.Parameter(
        "policy",
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[
            Path | None,
            typer.Option(
                "--policy",
                help="Policy file (default: <workspace>/agent/policies/default.yaml, "
                "else the packaged default).",
                show_default=False,
            ),
        ],
    ),
    inspect.Parameter(
        "json_output",
        inspect.Parameter.KEYWORD_ONLY,
        default=False,
        annotation=Annotated[
            bool, typer.Option("--json", help="Print one JSON document on stdout.")
        ],
    ),
    inspect.Parameter(
        "quiet",
        inspect.Parameter.KEYWORD_ONLY,
        default=False,
        annotation=Annotated[bool, typer.Option("-q", "--quiet", help="Print nothing but errors.")],
    ),
]


def command(
    app: typer.Typer, name: str, *, full_name: str | None = None
) -> Callable[[Callable[..., Outcome]], Callable[..., Outcome]]:
    """Register ``fn(opts, ...) -> Outcome`` as command ``name`` with the global options."""

    def decorate(fn: Callable[..., Outcome]) -> Callable[..., Outcome]:
        signature = inspect.signature(fn, eval_str=True)
        own = list(signature.parameters.values())[1:]

        def wrapper(**kwargs: Any) -> int:
            opts = GlobalOptions(
                command=full_name or name,
                workspace_dir=kwargs.pop("workspace_dir"),
                policy=kwargs.pop("policy"),
                json=kwargs.pop("json_output"),
                quiet=kwargs.pop("quiet"),
            )
            return execute(opts, lambda: fn(opts, **kwargs))

        parameters = own + _GLOBAL_PARAMETERS
        wrapper.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=parameters, return_annotation=int
        )
        wrapper.__annotations__ = {p.name: p.annotation for p in parameters}
        wrapper.__name__ = fn.__name__
        wrapper.__doc__ = fn.__doc__
        app.command(name)(wrapper)
        return fn

    return decorate


def execute(opts: GlobalOptions, run: Callable[[], Outcome]) -> int:
    """Run a command, render its outcome or error, and return the exit code."""
    try:
        outcome = run()
    except AgentosError as exc:
        return report_error(opts, exc.exit_code, exc.kind, exc.message, exc.details)
    except KeyboardInterrupt:
        return report_error(opts, EXIT_ABORTED, "aborted", "interrupted", {})
    except OSError as exc:
        if exc.errno not in IO_ERRNOS:
            return internal_error(opts, exc)
        where = f" ({exc.filename})" if exc.filename else ""
        message = (
            f"{exc.strerror}{where}: the command could not finish; free space or fix the "
            "permissions, then run it again"
        )
        return report_error(
            opts, EXIT_IO, "io_error", message, {"errno": exc.errno, "path": exc.filename}
        )
    except Exception as exc:  # the boundary: a bug must never show the user a traceback
        return internal_error(opts, exc)

    for warning in outcome.warnings:
        print_warning(warning)
    if opts.json:
        print_json(
            envelope(
                opts.command,
                exit_code=outcome.exit_code,
                result=outcome.result,
                error=outcome.error,
            )
        )
    elif outcome.human is not None and not opts.quiet:
        outcome.human(console())
    if outcome.error is not None:
        print_error(outcome.error["message"])
    return outcome.exit_code


def internal_error(opts: GlobalOptions, exc: BaseException) -> int:
    """A bug: one line, exit 70, the traceback saved under ``.agentos/logs/``."""
    log = save_traceback(opts.workspace_dir, exc)
    message = (
        f"internal error (a bug in agentos): {type(exc).__name__}: {exc}; "
        f"traceback saved to {log} — please report it"
    )
    return report_error(opts, EXIT_INTERNAL, "internal_error", message, {"log": str(log)})


def report_error(
    opts: GlobalOptions, code: int, kind: str, message: str, details: dict[str, Any]
) -> int:
    """Print the one-line error (and the envelope with ``--json``); return ``code``."""
    print_error(message)
    if opts.json:
        print_json(
            envelope(
                opts.command,
                exit_code=code,
                result=None,
                error={"type": kind, "message": message, "details": details},
            )
        )
    return code


def save_traceback(workspace_dir: Path, exc: BaseException) -> Path:
    """Write the traceback under ``<workspace>/.agentos/logs/`` (or the temp dir) and return it."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    candidates = [Path(workspace_dir) / ".agentos" / "logs", Path(tempfile.gettempdir())]
    for directory in candidates:
        try:
            directory.mkdir(parents=True, exist_ok=True)
            path = directory / f"agentos-internal-{stamp}-{os.getpid()}.log"
            path.write_text(f"agentos {' '.join(sys.argv[1:])}\n\n{text}", encoding="utf-8")
        except OSError:
            continue
        return path
    return Path("(unsaved)")


def current_user() -> str:
    """Who runs this command: the OS user (the default author of plans, the actor of events)."""
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return os.environ.get("USER") or "unknown"


def usage(message: str) -> UsageError:
    """Shorthand for a usage error raised by a command."""
    return UsageError(message)
