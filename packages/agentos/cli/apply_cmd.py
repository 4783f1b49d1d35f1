"""``agentos apply``, ``rollback``, ``recover`` and ``abort``: the executor's commands."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from agentos.cli.context import GlobalOptions, command
from agentos.cli.render import Outcome

if TYPE_CHECKING:
    from agentos.model import ChangePlan
    from agentos.pipeline.context import Context
    from agentos.pipeline.gitcommit import GitRequest
    from agentos.pipeline.results import Applied

LockTimeout = Annotated[
    float | None,
    typer.Option(
        "--lock-timeout",
        metavar="SECONDS",
        min=0,
        help="Seconds to wait for the workspace lock (default: executor.concurrency.lock_timeout).",
        show_default=False,
    ),
]
DryRun = Annotated[
    bool, typer.Option("--dry-run", help="Stop after the drift check; write nothing.")
]
Commit = Annotated[
    bool,
    typer.Option(
        "--commit",
        help="Commit each plan applied in git (its paths only; the intent as message, "
        "Agentos-* trailers); refused before anything is written if git's index holds "
        "staged changes.",
    ),
]
Index = Annotated[
    bool, typer.Option("--index", help="Stage each plan's paths in git's index; no commit.")
]


def git_request(commit: bool, index: bool) -> GitRequest | None:
    """What ``--commit`` / ``--index`` ask of git (one of them at most)."""
    from agentos.errors import UsageError

    if commit and index:
        raise UsageError("--commit and --index: pass one of them (--commit also stages)")
    if not (commit or index):
        return None
    from agentos.pipeline.gitcommit import GitRequest

    return GitRequest("commit" if commit else "index")


ApprovalFiles = Annotated[
    list[Path] | None,
    typer.Option(
        "--approval",
        metavar="FILE",
        help="An approval file made elsewhere (one approval or several); may be repeated.",
        show_default=False,
    ),
]
Markdown = Annotated[
    bool,
    typer.Option(
        "--markdown", help="Print a Markdown report (a PR comment, $GITHUB_STEP_SUMMARY)."
    ),
]


@command("apply")
def apply(
    opts: GlobalOptions,
    refs: Annotated[
        list[str],
        typer.Argument(
            metavar="PLAN", help="Plan files or plan ids (or unique prefixes of them), in order."
        ),
    ],
    *,
    dry_run: DryRun = False,
    lock_timeout: LockTimeout = None,
    approval: ApprovalFiles = None,
    commit: Commit = False,
    index: Index = False,
    markdown: Markdown = False,
) -> Outcome:
    """Apply plans through the whole pipeline; each is its own transaction."""
    from dataclasses import replace

    from agentos.cli.progress import apply_progress
    from agentos.cli.views.executions import applied_outcome
    from agentos.cli.views.markdown import check_markdown_flag
    from agentos.pipeline.context import load_plan_ref
    from agentos.pipeline.execution import apply as apply_plans

    check_markdown_flag(opts.json, markdown)
    git = git_request(commit, index)
    ctx = opts.context()
    # Every plan is verified before the first one is applied.
    plans = [load_plan_ref(ctx, ref)[1] for ref in refs]
    with apply_progress(opts, max(len(p.changeset.changes) for p in plans)) as shown:
        applied = apply_plans(
            replace(ctx, progress=shown.files, on_check=shown.checks),
            plans,
            dry_run=dry_run,
            lock_timeout=lock_timeout,
            approval_files=tuple(approval or ()),
            git=git,
        )
    if markdown:
        from agentos.cli.views.markdown_reports import markdown_applied

        return markdown_applied(applied, {p.plan_id: p for p in plans}, ctx.workspace.root)
    return applied_outcome(applied)


@command("rollback")
def rollback(
    opts: GlobalOptions,
    execution_id: Annotated[
        str | None,
        typer.Argument(
            metavar="EXECUTION_ID",
            help="A committed execution's id, or a unique prefix of it (at least 4 "
            "characters after 'exec-').",
        ),
    ] = None,
    *,
    last: Annotated[
        bool,
        typer.Option(
            "--last",
            help="The newest committed execution not rolled back yet (an agent's edit, an apply).",
        ),
    ] = False,
    attempt: Annotated[
        int | None,
        typer.Option(
            "--attempt",
            min=1,
            help="The attempt of EXECUTION_ID meant (see 'agentos history'); it must be the "
            "latest applied one (default: that one).",
            show_default=False,
        ),
    ] = None,
    dry_run: DryRun = False,
    lock_timeout: LockTimeout = None,
    commit: Commit = False,
    index: Index = False,
    approval: ApprovalFiles = None,
    markdown: Markdown = False,
) -> Outcome:
    """Undo a committed execution with its inverse changeset, through the same pipeline."""
    from dataclasses import replace

    from agentos.cli.progress import apply_progress
    from agentos.cli.views.executions import applied_outcome
    from agentos.cli.views.markdown import check_markdown_flag
    from agentos.errors import UsageError
    from agentos.pipeline.execution import rollback as roll_back
    from agentos.pipeline.queries import last_undoable

    check_markdown_flag(opts.json, markdown)
    if (execution_id is None) == (not last):
        raise UsageError("pass an EXECUTION_ID or --last (one of them)")
    if attempt is not None and last:
        raise UsageError("--attempt names an attempt of an EXECUTION_ID; drop --last")
    git = git_request(commit, index)
    ctx = opts.context()
    target = execution_id if execution_id is not None else last_undoable(ctx)
    with apply_progress(opts) as shown:
        applied = roll_back(
            replace(ctx, on_check=shown.checks),
            target,
            attempt=attempt,
            dry_run=dry_run,
            lock_timeout=lock_timeout,
            git=git,
            approval_files=tuple(approval or ()),
        )
    if markdown:
        from agentos.cli.views.markdown_reports import markdown_applied

        return markdown_applied(applied, _stored_plans(ctx, applied), ctx.workspace.root)
    return applied_outcome(applied)


def _stored_plans(ctx: Context, applied: Applied) -> dict[str, ChangePlan]:
    """The plans of ``applied`` stored under ``.agentos/plans/`` that load (a rollback's
    inverse plan), by plan id: the Markdown report counts their lines."""
    from agentos.errors import AgentosError
    from agentos.pipeline.context import load_plan_ref

    found = {}
    for result in applied.results:
        if (ctx.workspace.plans_dir / f"{result.plan_id}.json").is_file():
            with contextlib.suppress(AgentosError, OSError):
                found[result.plan_id] = load_plan_ref(ctx, result.plan_id)[1]
    return found


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
    reason: Annotated[
        str, typer.Option("--reason", metavar="WHY", help="Why (kept in the audit trail).")
    ] = "",
) -> Outcome:
    """Hard-stop the execution running in this workspace: it rolls back and exits 130."""
    from agentos.cli.views.executions import abort_outcome
    from agentos.pipeline.execution import abort as request_abort

    return abort_outcome(request_abort(opts.context(), reason=reason))
