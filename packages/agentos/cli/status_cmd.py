"""``agentos status`` and ``agentos history``: folds over the audit trail and the state dir."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from agentos.cli.app import app
from agentos.cli.context import GlobalOptions, command
from agentos.cli.render import Outcome

if TYPE_CHECKING:
    from rich.console import Console

    from agentos.audit.folds import ExecutionView

STATUS_LIMIT = 5


def _executions(opts: GlobalOptions) -> list[ExecutionView]:
    from agentos.audit.folds import fold_executions
    from agentos.audit.trail import AuditTrail

    return fold_executions(AuditTrail(opts.workspace().audit_dir).events())


@command(app, "status")
def status(opts: GlobalOptions) -> Outcome:
    """Lock holder, interrupted executions and the last executions."""
    from agentos.executor.journal import load_journals
    from agentos.executor.lock import lock_is_held, read_holder
    from agentos.verify.breaker import load_breakers

    workspace = opts.workspace()
    held = lock_is_held(workspace)
    holder = read_holder(workspace) if held else None
    interrupted = [
        {"execution_id": j.execution_id, "plan_id": j.plan_id, "state": j.state, "kind": j.kind}
        for j in load_journals(workspace.state_dir)
    ]
    last = _executions(opts)[:STATUS_LIMIT]
    breakers: list[dict[str, Any]] = [
        {"check": name, "state": b.state, "failures": b.failures, "since": b.since()}
        for name, b in sorted(load_breakers(workspace.state_dir).items())
    ]
    result: dict[str, Any] = {
        "lock": {"held": held, "holder": holder},
        "interrupted": interrupted,
        "breakers": breakers,
        "executions": [view.row() for view in last],
    }

    def human(out: Console) -> None:
        from agentos.executor.lock import describe_holder

        out.print(f"Lock: {'held by ' + describe_holder(holder) if held else 'free'}")
        if interrupted:
            out.print("Interrupted (recovered at the next apply, or run 'agentos recover'):")
            for item in interrupted:
                out.print(f"  {item['execution_id']}  plan {item['plan_id']}  {item['state']}")
        else:
            out.print("Interrupted: none")
        opened = [b for b in breakers if b["state"] != "closed"]
        if opened:
            out.print("Circuit breakers not closed:")
            for breaker in opened:
                out.print(f"  {breaker['check']}: {breaker['state']} since {breaker['since']}")
        else:
            out.print("Circuit breakers: all closed")
        _table(out, last, "Last executions")

    return Outcome(result=result, human=human)


@command(app, "history")
def history(
    opts: GlobalOptions,
    *,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=0, help="How many (newest first; 0 = all).")
    ] = 20,
) -> Outcome:
    """Executions folded from the audit trail, newest first."""
    views = _executions(opts)
    shown = views[:limit] if limit else views
    return Outcome(
        result={"executions": [v.row() for v in shown], "total": len(views)},
        human=lambda out: _table(out, shown, "Executions"),
    )


def _table(out: Console, views: list[ExecutionView], title: str) -> None:
    from rich.table import Table

    if not views:
        out.print(f"{title}: none")
        return
    table = Table(title=title, box=None, header_style="bold", title_justify="left")
    for column in ("execution", "plan", "kind", "status", "finished", "attempts"):
        table.add_column(column)
    for view in views:
        table.add_row(
            view.execution_id,
            view.plan_id or "",
            view.kind,
            view.status,
            view.finished_at or view.started_at or "",
            str(view.attempts),
        )
    out.print(table)
