"""``agentos status`` and ``agentos history``: folds over the audit trail and the state."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from agentos.cli.context import GlobalOptions, command
from agentos.cli.render import Outcome

if TYPE_CHECKING:
    from rich.console import Console

    from agentos.pipeline.queue import QueueSummary


@command("status")
def status(opts: GlobalOptions) -> Outcome:
    """Lock holder, interrupted executions and the last executions."""
    from agentos.cli.views.executions import render_status
    from agentos.pipeline.documents import status_document
    from agentos.pipeline.queries import status as workspace_status

    ctx = opts.context()
    found = workspace_status(ctx)
    result, queue, warnings = status_document(ctx, found)

    def human(out: Console) -> None:
        out.print(f"Workspace: {ctx.workspace.root}", markup=False, highlight=False)
        render_status(out, found)
        if queue is not None:
            render_queue(out, queue)

    return Outcome(result=result, human=human, warnings=warnings)


def render_queue(out: Console, queue: QueueSummary) -> None:
    """The queue's lines of ``status``."""
    counts = ", ".join(f"{n} {s}" for s, n in queue.counts.items() if n)
    out.print(f"Queue: {counts or 'empty'}")
    for job in queue.running:
        age = f"{job.heartbeat_age:.0f}s" if job.heartbeat_age is not None else "?"
        out.print(
            f"  running job {job.id} ({job.plan_id}) by {job.lease_owner}, heartbeat {age} ago"
        )
    for job in queue.stuck:
        out.print(f"  stuck job {job.id} ({job.plan_id}): lease of {job.lease_owner} expired")
    for job in queue.dead:
        out.print(f"  dead job {job.id} ({job.plan_id}): {job.last_error}")


@command("history")
def history(
    opts: GlobalOptions,
    *,
    limit: Annotated[
        int,
        typer.Option("--limit", "-n", metavar="N", min=0, help="How many (newest first; 0 = all)."),
    ] = 20,
) -> Outcome:
    """Executions folded from the audit trail, newest first."""
    from agentos.cli.views.table import render_executions
    from agentos.pipeline.documents import history_result
    from agentos.pipeline.queries import history as fold_history

    found = fold_history(opts.context(), limit=limit)
    return Outcome(
        result=history_result(found),
        human=lambda out: render_executions(out, found.executions, "Executions"),
    )
