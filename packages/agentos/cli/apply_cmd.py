"""``agentos apply``, ``rollback``, ``recover`` and ``abort``: the executor's commands."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from agentos.cli.context import GlobalOptions, command
from agentos.cli.render import Outcome

if TYPE_CHECKING:
    from agentos.pipeline.context import Progress

LockTimeout = Annotated[
    float | None,
    typer.Option(
        "--lock-timeout",
        min=0,
        help="Seconds to wait for the workspace lock (default: executor.concurrency.lock_timeout).",
        show_default=False,
    ),
]
DryRun = Annotated[
    bool, typer.Option("--dry-run", help="Stop after the drift check; write nothing.")
]
# Plans smaller than this finish before a progress bar would be worth drawing.
PROGRESS_MIN_FILES = 100


@command("apply")
def apply(
    opts: GlobalOptions,
    refs: Annotated[
        list[str], typer.Argument(metavar="PLAN...", help="Plan files or plan ids, in order.")
    ],
    *,
    dry_run: DryRun = False,
    lock_timeout: LockTimeout = None,
    approval: Annotated[
        list[Path] | None,
        typer.Option(
            "--approval",
            help="An approval file made elsewhere; may be repeated.",
            show_default=False,
        ),
    ] = None,
) -> Outcome:
    """Apply plans through the whole pipeline; each is its own transaction."""
    from dataclasses import replace

    from agentos.cli.views.executions import applied_outcome
    from agentos.pipeline.context import load_plan_ref
    from agentos.pipeline.execution import apply as apply_plans

    ctx = opts.context()
    # Every plan is verified before the first one is applied.
    plans = [load_plan_ref(ctx, ref)[1] for ref in refs]
    with progress_bar(opts, max(len(p.changeset.changes) for p in plans)) as progress:
        applied = apply_plans(
            replace(ctx, progress=progress),
            plans,
            dry_run=dry_run,
            lock_timeout=lock_timeout,
            approval_files=tuple(approval or ()),
        )
    return applied_outcome(applied)


@command("rollback")
def rollback(
    opts: GlobalOptions,
    execution_id: Annotated[
        str | None,
        typer.Argument(metavar="[EXECUTION_ID]", help="A committed execution's id."),
    ] = None,
    *,
    last: Annotated[
        bool,
        typer.Option(
            "--last",
            help="The newest committed execution not rolled back yet (an agent's edit, an apply).",
        ),
    ] = False,
    dry_run: DryRun = False,
    lock_timeout: LockTimeout = None,
) -> Outcome:
    """Undo a committed execution with its inverse changeset, through the same pipeline."""
    from agentos.cli.views.executions import applied_outcome
    from agentos.errors import UsageError
    from agentos.pipeline.execution import rollback as roll_back
    from agentos.pipeline.queries import last_undoable

    if (execution_id is None) == (not last):
        raise UsageError("pass an EXECUTION_ID or --last (one of them)")
    ctx = opts.context()
    target = execution_id if execution_id is not None else last_undoable(ctx)
    return applied_outcome(roll_back(ctx, target, dry_run=dry_run, lock_timeout=lock_timeout))


@command("recover")
def recover(
    opts: GlobalOptions,
    *,
    lock_timeout: LockTimeout = None,
    journal_rules: Annotated[
        bool,
        typer.Option(
            "--journal-rules",
            help="Restore where the interrupted execution's own (sealed) journal allows, even "
            "where the current policy now forbids it (recorded in the audit trail).",
        ),
    ] = False,
) -> Outcome:
    """Roll back interrupted executions and finish interrupted commits."""
    from agentos.cli.views.executions import recovered_outcome
    from agentos.pipeline.execution import recover as recover_workspace

    ctx = opts.context()
    recovered = recover_workspace(ctx, lock_timeout=lock_timeout, journal_rules=journal_rules)
    return recovered_outcome(recovered)


@command("abort")
def abort(
    opts: GlobalOptions,
    *,
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the audit trail).")] = "",
) -> Outcome:
    """Hard-stop the execution running in this workspace: it rolls back and exits 130."""
    from agentos.cli.views.executions import abort_outcome
    from agentos.pipeline.execution import abort as request_abort

    return abort_outcome(request_abort(opts.context(), reason=reason))


@contextlib.contextmanager
def progress_bar(opts: GlobalOptions, files: int) -> Iterator[Progress | None]:
    """A rich progress bar on stderr for big plans; none with --json, -q or no terminal."""
    if opts.json or opts.quiet or files < PROGRESS_MIN_FILES or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress

    from agentos.cli.render import console

    with Progress(
        "writing", BarColumn(), MofNCompleteColumn(), console=console(stderr=True), transient=True
    ) as bar:
        task = bar.add_task("write", total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update
