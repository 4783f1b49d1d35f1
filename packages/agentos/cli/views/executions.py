"""Executions: ``apply``, ``rollback``, ``recover``, ``abort``, ``status``, ``history`` and
``show EXECUTION_ID``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agentos.cli.render import Outcome
from agentos.cli.views.table import render_executions
from agentos.cli.visible import visible
from agentos.pipeline.results import SUCCESS

if TYPE_CHECKING:
    from rich.console import Console

    from agentos.audit.folds import ExecutionView
    from agentos.pipeline.results import AbortRequest, Applied, Recovered, WorkspaceStatus
    from agentos.planner.preview import DiffLine

# The exit code of each apply status (SPEC §3).
STATUS_EXIT = {
    "committed": 0,
    "already_applied": 0,
    "dry_run": 0,
    "rolled_back": 1,
    "denied": 3,
    "needs_approval": 4,
    "stale": 5,
    "aborted": 130,
    "busy": 75,
}
FILES_SHOWN = 20


def applied_outcome(applied: Applied) -> Outcome:
    """``apply`` / ``rollback``: the last transaction decides the exit code; 1 when its
    files are written but git could not record them (``--commit`` / ``--index``)."""
    from agentos.pipeline.documents import applied_error, applied_result

    return Outcome(
        result=applied_result(applied),
        exit_code=1 if applied.git_error else STATUS_EXIT[applied.last.status],
        human=lambda out: render_applied(out, applied),
        warnings=[w for r in applied.results for w in r.warnings]
        + [w for g in applied.git for w in g.warnings],
        error=applied_error(applied),
    )


def render_applied(out: Console, applied: Applied) -> None:
    """Each transaction: status, files, drift, checks, git's commit, how to undo it."""
    from rich.text import Text

    from agentos.cli.views.undo import undo_hint

    for index, result in enumerate(applied.results):
        style = "green" if result.status in SUCCESS else "bold red"
        line = Text(f"{result.kind} {result.plan_id}: ")
        line.append(result.status, style=style)
        line.append(f"  (execution {result.execution_id}")
        line.append(f", attempt {result.attempt})" if result.attempt else ")")
        out.print(line)
        if result.status in SUCCESS:
            out.print(f"  {visible(result.message)}")
        listed = result.files if result.status == "committed" else ()
        for change in listed[:FILES_SHOWN]:
            name = f"{change.from_path} -> {change.path}" if change.from_path else change.path
            out.print(f"  {change.op:<7} {visible(name)}")
        if len(listed) > FILES_SHOWN:
            out.print(f"  ... and {len(listed) - FILES_SHOWN} more (--json lists them all)")
        for drifted in result.drifted:
            out.print(f"  drifted: {visible(drifted)}")
        for label, checks in (("check", result.checks), ("after rollback", result.post_rollback)):
            for check in checks:
                tries = f", {check.attempts} attempt(s)" if check.attempts != 1 else ""
                out.print(
                    f"  {label} {check.name}: {check.status} ({check.duration:.2f}s{tries}) "
                    f"{visible(check.message)}"
                )
                if check.status != "passed" and check.output:
                    for output_line in check.output.splitlines()[-3:]:
                        out.print(f"    | {visible(output_line)}")
        git = applied.git_of(index)
        if git is not None and git.commit is not None:
            how = "made by an earlier run" if git.found else f"{len(git.staged)} path(s)"
            out.print(f"  git commit {git.commit} ({how})")
        elif git is not None and git.staged:
            out.print(f"  git: staged {len(git.staged)} path(s), not committed (--index)")
        if result.status == "committed" and result.kind == "apply":
            hint = undo_hint(result.execution_id, git)
            if hint:
                out.print(hint, markup=False, highlight=False)


def recovered_outcome(recovered: Recovered) -> Outcome:
    """``recover``: what was done to each interrupted execution."""
    outcomes = recovered.outcomes
    rows = [
        {
            "execution_id": o.execution_id,
            "plan_id": o.plan_id,
            "action": o.action,
            "restored": list(o.restored),
            "removed": list(o.removed),
            "warnings": list(o.warnings),
        }
        for o in outcomes
    ]

    def human(out: Console) -> None:
        if not outcomes:
            out.print("Nothing to recover: no interrupted execution.")
        for o in outcomes:
            out.print(f"{o.execution_id} (plan {o.plan_id}): {o.action.replace('_', ' ')}")

    return Outcome(
        result={"recovered": rows, "policy": recovered.policy},
        human=human,
        warnings=[w for o in outcomes for w in o.warnings],
    )


def abort_outcome(request: AbortRequest) -> Outcome:
    """``abort``: whether a running execution was asked to stop."""
    result = {
        "execution_id": request.execution_id,
        "plan_id": request.plan_id,
        "requested": request.requested,
    }

    def human(out: Console) -> None:
        if not request.requested:
            out.print("Nothing to abort: no execution is running here.")
            return
        out.print(
            f"Asked execution {request.execution_id} (pid {request.pid}) to stop; it rolls "
            "back and exits 130."
        )

    return Outcome(result=result, human=human)


def render_status(out: Console, status: WorkspaceStatus) -> None:
    """``status``: the lock, interrupted executions, breakers, the last executions."""
    from agentos.executor.lock import describe_holder

    held = status.lock_held
    out.print(f"Lock: {'held by ' + describe_holder(status.holder) if held else 'free'}")
    if status.interrupted:
        out.print("Interrupted (recovered at the next apply, or run 'agentos recover'):")
        for journal in status.interrupted:
            out.print(f"  {journal.execution_id}  plan {journal.plan_id}  {journal.state}")
    else:
        out.print("Interrupted: none")
    opened = [(name, b) for name, b in status.breakers if b.state != "closed"]
    if opened:
        out.print("Circuit breakers not closed:")
        for name, breaker in opened:
            out.print(f"  {name}: {breaker.state} since {breaker.since()}")
    else:
        out.print("Circuit breakers: all closed")
    swept = status.sweep
    if swept is not None and swept.changed:
        out.print(f"Changed outside agentos (sweep at {swept.swept_at}):")
        for bypass in swept.changed:
            out.print(f"  {visible(bypass.path)}  {bypass.change}")
    elif swept is not None:
        out.print(f"Changed outside agentos: nothing (sweep at {swept.swept_at})")
    if status.repaired is not None:
        note = status.repaired
        out.print(
            f"Audit trail: repaired at {note.ts} by {note.actor} (earlier events are kept in "
            f"{note.archive or 'no archive'}; 'agentos audit verify' checks it)",
            markup=False,
            highlight=False,
        )
    render_executions(out, status.executions, "Last executions")


def render_timeline(out: Console, view: ExecutionView, timeline: list[dict[str, Any]]) -> None:
    """``show EXECUTION_ID``: the execution, then each attempt with its own events."""
    out.print(
        f"Execution {view.execution_id} (plan {view.plan_id}, {view.kind}): {view.status}"
        f" (attempt {view.attempt} of {view.attempts})"
    )
    if view.parent:
        out.print(f"  undoes {view.parent}")
    runs = {run.attempt: run for run in view.attempts_list}
    shown: int | None = None
    for item in timeline:
        if item["attempt"] != shown and item["attempt"] in runs:
            shown = item["attempt"]
            run = runs[item["attempt"]]
            ended = f", finished {run.finished_at}" if run.finished_at else ""
            out.print(f"  attempt {run.attempt}: {run.status} (started {run.started_at}{ended})")
        out.print(f"  {item['seq']:>6}  {item['ts']}  {item['event']}")


def timeline_outcome(view: ExecutionView, diff: tuple[DiffLine, ...] | None = None) -> Outcome:
    """``show EXECUTION_ID``: the execution, its attempts and events, folded from the audit
    trail; with ``diff``, what it changed."""
    from agentos.pipeline.documents import timeline_result

    result = timeline_result(view, diff)

    def human(out: Console) -> None:
        from agentos.cli.views.plans import render_diff

        render_timeline(out, view, result["timeline"])
        if diff:
            out.print()
            render_diff(out, diff)

    return Outcome(result=result, human=human)
