"""Global options, command registration, and the one error boundary of the CLI.

Every command accepts ``-C/--workspace``, ``--policy``, ``--json`` and ``-q/--quiet`` after its
name. ``command()`` registers ``fn(opts, ...) -> Outcome``; ``execute`` runs it, renders its
``Outcome`` and turns every exception into an exit code — the only place that does (errors
carry their codes; a bug becomes 70 with its traceback saved to a log).
"""

from __future__ import annotations

import errno
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentos.cli.options import GLOBAL_PARAMETERS
from agentos.cli.render import (
    Outcome,
    console,
    envelope,
    print_error,
    print_info,
    print_json,
    print_warning,
)
from agentos.errors import AgentosError, bug_message

if TYPE_CHECKING:
    from agentos.pipeline.context import Context

EXIT_INTERNAL = 70
EXIT_ABORTED = 130
# An I/O failure of agentos's own files (a full disk, a read-only or failing one) is not a
# bug: it exits 1 with what happened and where; other OSErrors are bugs (70).
EXIT_IO = 1
IO_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOMEM}
)
CommandFn = Callable[..., Outcome]
# Commands that run on the working directory when no workspace is found above it: those that
# make it one, and ``store migrate`` (which needs only the store's address).
CREATES_WORKSPACE = frozenset({"init", "integrate", "store migrate"})


@dataclass(frozen=True)
class GlobalOptions:
    """The options every command takes, plus the command's name for the JSON envelope.

    ``workspace_arg`` is ``-C DIR`` as given (None without it); ``workspace_dir`` is the
    workspace the command runs on: that directory, else the one found up from the working
    directory (``agentos.workspace.locate``)."""

    command: str
    workspace_arg: Path | None
    policy: Path | None
    json: bool
    quiet: bool

    @cached_property
    def workspace_dir(self) -> Path:
        """The workspace: ``-C DIR``, else found up from the working directory (none found
        is a usage error, except for ``init``, which makes the working directory one)."""
        from agentos.workspace import locate

        return locate(self.workspace_arg, or_here=self.command in CREATES_WORKSPACE)

    def log_dir(self) -> Path:
        """Where a bug's traceback is saved: the workspace if one is known, else here."""
        from agentos.errors import UsageError

        try:
            return self.workspace_dir
        except UsageError:
            return Path()

    def context(self) -> Context:
        """The pipeline's context for the workspace ``-C`` names (it must exist); notes about
        waiting for the lock go to stderr unless ``-q`` (``--json`` keeps them)."""
        from agentos.pipeline.context import open_context

        waiting = print_info if not self.quiet or self.json else None
        return open_context(self.workspace_dir, policy=self.policy, on_wait=waiting)


@dataclass(frozen=True)
class Registered:
    """A command waiting to be added to the typer application."""

    group: str | None
    name: str
    fn: CommandFn


# Filled as the command modules are imported; ``agentos.cli.app`` adds them to typer.
REGISTRY: list[Registered] = []


def command(name: str, *, group: str | None = None) -> Callable[[CommandFn], CommandFn]:
    """Register ``fn(opts, ...) -> Outcome`` as ``agentos [group] name``."""

    def decorate(fn: CommandFn) -> CommandFn:
        REGISTRY.append(Registered(group, name, fn))
        return fn

    return decorate


def typer_command(entry: Registered) -> Callable[..., int]:
    """``entry``'s function with the global options added to its signature, for typer."""
    fn = entry.fn
    full_name = f"{entry.group} {entry.name}" if entry.group else entry.name
    signature = inspect.signature(fn, eval_str=True)
    own = list(signature.parameters.values())[1:]

    def wrapper(**kwargs: Any) -> int:
        opts = GlobalOptions(
            command=full_name,
            workspace_arg=_as_path(kwargs.pop("workspace_dir")),
            policy=kwargs.pop("policy"),
            json=kwargs.pop("json_output"),
            quiet=kwargs.pop("quiet"),
        )
        return execute(opts, lambda: fn(opts, **kwargs))

    parameters = own + GLOBAL_PARAMETERS
    wrapper.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=parameters, return_annotation=int
    )
    wrapper.__annotations__ = {p.name: p.annotation for p in parameters}
    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


def _as_path(value: str | None) -> Path | None:
    return None if value is None else Path(value)


def execute(opts: GlobalOptions, run: Callable[[], Outcome]) -> int:
    """Run a command, render its outcome or error, and return the exit code."""
    try:
        outcome = run()
    except BaseException as exc:  # the boundary: whatever happens, no traceback
        return report_exception(opts.command, opts.json, opts.log_dir(), exc)
    for warning in outcome.warnings:
        print_warning(warning)
    if opts.json:
        if not outcome.streamed:  # a streamed result was printed as it happened
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


def report_exception(name: str, as_json: bool, workspace_dir: Path, exc: BaseException) -> int:
    """The exit code of ``exc``, after its one-line error (and envelope with ``--json``)."""
    if isinstance(exc, AgentosError):
        return report_error(
            name,
            as_json,
            code=exc.exit_code,
            kind=exc.kind,
            message=exc.message,
            details=exc.details,
        )
    if isinstance(exc, KeyboardInterrupt):
        return report_error(name, as_json, code=EXIT_ABORTED, kind="aborted", message="interrupted")
    if isinstance(exc, OSError) and exc.errno in IO_ERRNOS:
        where = f" ({exc.filename})" if exc.filename else ""
        message = (
            f"{exc.strerror}{where}: the command could not finish; free space or fix the "
            "permissions, then run it again"
        )
        details = {"errno": exc.errno, "path": exc.filename}
        return report_error(
            name, as_json, code=EXIT_IO, kind="io_error", message=message, details=details
        )
    if not isinstance(exc, Exception):
        raise exc  # SystemExit and the like are not errors of a command
    # A bug: one line, exit 70, the traceback saved under .agentos/logs/.
    from agentos.clock import system_clock
    from agentos.statefs import save_traceback

    header = f"agentos {' '.join(sys.argv[1:])}"
    log = save_traceback(workspace_dir, exc, at=system_clock(), header=header)
    message = bug_message(exc, log)
    return report_error(
        name,
        as_json,
        code=EXIT_INTERNAL,
        kind="internal_error",
        message=message,
        details={"log": str(log)},
    )


def report_error(
    name: str,
    as_json: bool,
    *,
    code: int,
    kind: str,
    message: str,
    details: dict[str, Any] | None = None,
    hint: str = "",
) -> int:
    """Print the one-line error (``hint`` added to it), and the envelope with ``--json``;
    return ``code``."""
    print_error(message + hint)
    if as_json:
        error = {"type": kind, "message": message, "details": details or {}}
        print_json(envelope(name, exit_code=code, result=None, error=error))
    return code
