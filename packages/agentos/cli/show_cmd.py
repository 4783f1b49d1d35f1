"""``agentos show PLAN [--diff]``: a plan's summary, risk, decision preview and coloured diff."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from agentos.cli.app import app
from agentos.cli.context import GlobalOptions, command, current_user
from agentos.cli.plan_cmd import plan_result, render_changes_table
from agentos.cli.render import Outcome
from agentos.errors import UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from agentos.model import ChangePlan, Decision
    from agentos.planner.preview import DiffLine
    from agentos.workspace import Workspace

DIFF_STYLES = {
    "header": "bold",
    "hunk": "cyan",
    "add": "green",
    "del": "red",
    "context": "",
    "note": "yellow",
}


def resolve_plan_file(workspace: Workspace, ref: str) -> Path:
    """A plan file given as a path, or as a plan id stored under ``.agentos/plans/``."""
    path = Path(ref)
    if path.is_file():
        return path
    stored = workspace.plans_dir / f"{ref}.json"
    if "/" not in ref and stored.is_file():
        return stored
    raise UsageError(
        f"{ref!r} is neither a plan file nor the id of a plan in {workspace.plans_dir}; "
        "pass the file 'agentos plan' wrote"
    )


@command(app, "show")
def show(
    opts: GlobalOptions,
    ref: Annotated[
        str,
        typer.Argument(
            metavar="PLAN|EXECUTION_ID", help="A plan file, a plan id, or an execution id."
        ),
    ],
    diff: Annotated[bool, typer.Option("--diff", help="Also show the unified diff.")] = False,
) -> Outcome:
    """Show a plan (summary, risk, decision, --diff) or an execution's timeline."""
    from agentos.cli.gate_cmd import finding_row
    from agentos.governance.gate import decide_plan, record_decision
    from agentos.governance.policyfile import load_policy
    from agentos.planner.planfile import load_plan
    from agentos.planner.preview import plan_diff
    from agentos.planner.tree import Baseline

    workspace = opts.workspace()
    if ref.startswith("exec-") and not Path(ref).is_file():
        return show_execution(opts, ref)
    plan_file = resolve_plan_file(workspace, ref)
    plan = load_plan(plan_file)
    loaded = load_policy(opts.policy, workspace)
    decision = decide_plan(plan, workspace, loaded)
    record_decision(workspace, decision, actor=current_user(), command="show", policy=loaded)
    result: dict[str, Any] = plan_result(plan, plan_file)
    result["decision"] = decision.decision
    result["findings"] = [finding_row(f) for f in decision.findings]
    result["created_at"] = plan.created_at
    result["base"] = plan.base.model_dump(mode="json")
    lines = plan_diff(plan, Baseline(workspace.root)) if diff else None
    result["diff"] = "\n".join(line.text for line in lines) + "\n" if lines else None

    def human(out: Console) -> None:
        _render(out, plan, plan_file, lines, decision)

    return Outcome(result=result, human=human)


def _render(
    out: Console,
    plan: ChangePlan,
    plan_file: Path,
    lines: list[DiffLine] | None,
    decision: Decision,
) -> None:
    from rich.text import Text

    from agentos.cli.gate_cmd import render_decision

    stats = plan.stats
    out.print(Text(f"Plan {plan.plan_id}", style="bold"))
    out.print(f"  file:     {plan_file}")
    out.print(f"  intent:   {plan.intent or '(none)'}")
    out.print(f"  author:   {plan.author}   created {plan.created_at}")
    out.print(f"  checksum: {plan.changeset.checksum}")
    if plan.base.git_head:
        out.print(f"  base:     git {plan.base.git_head}")
    out.print(
        f"  size:     {stats.files} file(s), +{stats.added_lines} -{stats.removed_lines}, "
        f"{stats.bytes} bytes of new content"
    )
    out.print(f"  risk:     {plan.risk.level}")
    for reason in plan.risk.reasons:
        paths = f" ({', '.join(reason.paths[:5])}{', ...' if len(reason.paths) > 5 else ''})"
        out.print(f"            {reason.level}: {reason.reason}{paths if reason.paths else ''}")
    out.print()
    render_changes_table(out, plan)
    out.print()
    render_decision(out, decision)
    if lines:
        out.print()
        for line in lines:
            out.print(Text(line.text, style=DIFF_STYLES[line.kind]))


def show_execution(opts: GlobalOptions, execution_id: str) -> Outcome:
    """An execution's timeline, folded from the audit trail."""
    from agentos.audit.folds import fold_executions
    from agentos.audit.trail import AuditTrail

    views = fold_executions(AuditTrail(opts.workspace().audit_dir).events())
    view = next((v for v in views if v.execution_id == execution_id), None)
    if view is None:
        raise UsageError(
            f"no execution {execution_id!r} in this workspace's audit trail; see 'agentos history'"
        )
    timeline = [
        {"seq": e["seq"], "ts": e["ts"], "event": e["event"], "actor": e["actor"]}
        for e in view.events
    ]
    result = {**view.row(), "timeline": timeline}

    def human(out: Console) -> None:
        out.print(
            f"Execution {view.execution_id} (plan {view.plan_id}, {view.kind}): {view.status}"
        )
        if view.parent:
            out.print(f"  undoes {view.parent}")
        for item in timeline:
            out.print(f"  {item['seq']:>6}  {item['ts']}  {item['event']}")

    return Outcome(result=result, human=human)
