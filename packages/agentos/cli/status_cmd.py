"""``agentos status`` and ``agentos history``: folds over the audit trail and the state."""

from __future__ import annotations

from typing import Annotated

import typer

from agentos.cli.context import GlobalOptions, command
from agentos.cli.render import Outcome


@command("status")
def status(opts: GlobalOptions) -> Outcome:
    """Lock holder, interrupted executions and the last executions."""
    from agentos.cli.views.executions import render_status
    from agentos.pipeline.documents import status_result
    from agentos.pipeline.queries import status as workspace_status

    found = workspace_status(opts.context())
    return Outcome(result=status_result(found), human=lambda out: render_status(out, found))


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
