"""The table of executions ``status`` and ``history`` print: ids and times whole, the plan
column shortened (never dropped) on a narrow terminal."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

    from agentos.audit.folds import ExecutionView


def render_executions(out: Console, views: tuple[ExecutionView, ...], title: str) -> None:
    """A table of attempts of executions, one row each (``status``, ``history``)."""
    from rich.table import Table

    if not views:
        out.print(f"{title}: none")
        return
    rows = []
    for view in views:
        started, finished = _moment(view.started_at), _moment(view.finished_at)
        if started[:10] == finished[:10]:
            finished = finished[11:]  # the same day: the time says it
        rows.append(
            (
                str(view.execution_id),
                f"{view.attempt}/{view.attempts}",
                str(view.plan_id or ""),
                view.kind,
                view.status,
                started,
                finished,
            )
        )
    names = ("execution", "attempt", "plan", "kind", "status", "started", "finished")
    natural = [max(len(name), *(len(row[i]) for row in rows)) for i, name in enumerate(names)]
    room = out.width if out.is_terminal else 10_000
    widths, close = _fitted(natural, names.index("plan"), room)
    table = Table(title=title, box=None, header_style="bold", title_justify="left")
    if close:  # one space between columns, none at the edges
        table.padding, table.pad_edge = (0, 1, 0, 0), False
    for name, width in zip(names, widths, strict=True):
        # Ids and times whole (ids are what 'rollback' and 'show' take); the plan gives way.
        table.add_column(name, width=width, no_wrap=True, overflow="ellipsis")
    for row in rows:
        table.add_row(*row)
    needed = sum(widths) + (len(widths) - 1 if close else 2 * len(widths))
    out.width = max(out.width, needed)  # narrower than this, the terminal wraps the lines
    out.print(table)


# The plan column's narrowest (``…`` included) on a narrow terminal.
PLAN_MIN = 10


def _fitted(natural: list[int], plan: int, room: int) -> tuple[list[int], bool]:
    """The column widths of the executions table in ``room`` columns, and whether the
    columns are set one space apart (and none at the edges) instead of two: when the table
    is too wide, the plan column is shortened first (down to ``PLAN_MIN``), then the columns
    move closer, then the plan column gives what it still can. The others are never cut; if
    even that is too wide, the terminal wraps the lines."""
    widths = list(natural)
    over = sum(widths) + 2 * len(widths) - room
    if over <= 0:
        return widths, False
    widths[plan] -= min(over, max(widths[plan] - PLAN_MIN, 0))
    if sum(widths) + 2 * len(widths) <= room:
        return widths, False
    widths[plan] = natural[plan]
    over = sum(widths) + len(widths) - 1 - room
    widths[plan] -= min(max(over, 0), max(widths[plan] - PLAN_MIN, 0))
    return widths, True


def _moment(stamp: str | None) -> str:
    """A stored time as the table shows it: to the second, UTC (``--json`` has it whole)."""
    return stamp[:19].replace("T", " ") if stamp else ""
