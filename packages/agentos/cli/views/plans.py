"""Plans: what ``plan`` and ``show PLAN`` print."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from agentos.cli.views.gate import render_decision
from agentos.cli.visible import visible
from agentos.pipeline.documents import change_rows

if TYPE_CHECKING:
    from collections.abc import Sequence

    from rich.console import Console

    from agentos.model import ChangePlan
    from agentos.pipeline.results import Planned, Shown
    from agentos.planner.preview import DiffLine

OpStyle = Literal["green", "yellow", "red", "cyan"]
OP_STYLES: dict[str, OpStyle] = {
    "create": "green",
    "modify": "yellow",
    "delete": "red",
    "rename": "cyan",
}
DIFF_STYLES = {
    "header": "bold",
    "hunk": "cyan",
    "add": "green",
    "del": "red",
    "context": "",
    "note": "yellow",
}


def render_changes(out: Console, plan: ChangePlan) -> None:
    """The op / path / + / - table of a plan."""
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, show_header=True, header_style="bold", pad_edge=False)
    table.add_column("op")
    table.add_column("path", overflow="fold")
    table.add_column("+", justify="right", style="green")
    table.add_column("-", justify="right", style="red")
    for row in change_rows(plan):
        name = f"{row['from']} -> {row['path']}" if row["from"] else row["path"]
        table.add_row(
            Text(row["op"], style=OP_STYLES[row["op"]]),
            Text(visible(name)),
            str(row["added"]) if row["added"] else "",
            str(row["removed"]) if row["removed"] else "",
        )
    out.print(table)


def render_planned(out: Console, planned: Planned) -> None:
    """``plan``: the summary, the changes, the risk and the decision."""
    plan, plan_file = planned.plan, planned.plan_file
    stats = plan.stats
    out.print(
        f"Planned {plan.plan_id}: {stats.files} file(s), +{stats.added_lines} "
        f"-{stats.removed_lines}, risk {plan.risk.level}"
    )
    render_changes(out, plan)
    for reason in plan.risk.reasons:
        out.print(f"  risk {reason.level}: {visible(reason.reason)}")
    out.print(f"Plan file: {plan_file}")
    out.print(f"Checksum:  {plan.changeset.checksum}")
    out.print(f"Review it: agentos show {plan_file} --diff")
    render_decision(out, planned.decision)


def render_shown(out: Console, shown: Shown, plan_file: Path) -> None:
    """``show PLAN``: what the plan is, its risk, changes, decision and diff."""
    from rich.text import Text

    plan = shown.plan
    stats = plan.stats
    out.print(Text(f"Plan {plan.plan_id}", style="bold"))
    out.print(f"  file:     {plan_file}")
    out.print(f"  intent:   {visible(plan.intent) if plan.intent else '(none)'}")
    out.print(f"  author:   {visible(plan.author)}   created {visible(plan.created_at)}")
    out.print(f"  checksum: {plan.changeset.checksum}")
    if plan.base.commit:
        out.print(f"  base:     commit {plan.base.commit} (pre-images from git)")
    elif plan.base.git_head:
        out.print(f"  base:     git {plan.base.git_head}")
    out.print(
        f"  size:     {stats.files} file(s), +{stats.added_lines} -{stats.removed_lines}, "
        f"{stats.bytes} bytes of new content"
    )
    out.print(f"  risk:     {plan.risk.level}")
    for reason in plan.risk.reasons:
        listed = ", ".join(visible(path) for path in reason.paths[:5])
        paths = f" ({listed}{', ...' if len(reason.paths) > 5 else ''})"
        out.print(f"            {reason.level}: {reason.reason}{paths if reason.paths else ''}")
    out.print()
    render_changes(out, plan)
    out.print()
    render_decision(out, shown.decision)
    if shown.diff:
        out.print()
        render_diff(out, shown.diff)


def render_diff(out: Console, lines: Sequence[DiffLine]) -> None:
    """A unified diff, coloured as git colours it (its control characters shown)."""
    from rich.text import Text

    for line in lines:
        out.print(Text(visible(line.text), style=DIFF_STYLES[line.kind]))
