"""One tool call, run through ``agentos.pipeline``: the arguments checked against the tool's
model, the use case run, and the reply — structured content (the ``--json`` result of the same
command), a short text, and whether it is an error.

A reply is an error exactly when the command line would exit non-zero: a DENY, a plan that
still needs approval, a failed or refused apply, bad arguments, a busy lock, a bug. Nothing
here raises: every failure becomes an error reply that says what happened and what to do.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from agentos.errors import AgentosError, DeniedError, UsageError
from agentos.mcpserver import catalog, filetools
from agentos.mcpserver.replies import (
    Reply,
    ToolSession,
    applied_reply,
    approval_hint,
    approve_command,
    error,
    findings_text,
    internal,
    lock_timeout,
    pending,
    plan_ref,
    planned_line,
)
from agentos.pipeline import documents

if TYPE_CHECKING:
    from agentos.pipeline.context import Context


def call_tool(session: ToolSession, name: str, arguments: dict[str, Any] | None) -> Reply:
    """Run tool ``name`` with ``arguments``; never raises."""
    spec = catalog.BY_NAME.get(name)
    if spec is None:
        known = ", ".join(t.name for t in catalog.TOOLS)
        return error("usage_error", f"no tool {name!r}; the tools are: {known}")
    try:
        args = spec.args.model_validate(arguments or {})
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in e['loc']) or '(arguments)'}: {e['msg']}"
            for e in exc.errors()
        ]
        return error(
            "usage_error",
            f"{name}: invalid arguments: {'; '.join(problems)}",
            {"problems": problems},
        )
    try:
        return _HANDLERS[name](session.context(), args)
    except AgentosError as exc:
        return error(exc.kind, exc.message, exc.details)
    except Exception as exc:  # a bug: one line to the client, the traceback kept
        return internal(session, name, exc)


def approve_pending(session: ToolSession, plan_id: str, checksum: str, approver: str) -> str:
    """Record ``approver``'s approval of the plan the client's user was shown (the plan as it
    is stored now must be that very plan); the line that says so."""
    from agentos.errors import ConflictError
    from agentos.pipeline import approve

    ctx = session.context()
    setting = ctx.policy.policy.agents.mcp_approvals
    if setting == "never":
        raise DeniedError(
            f"approvals through agentos mcp are off (agents.mcp_approvals: {setting}); "
            f"nothing approved: {approve_command(ctx, plan_id)}"
        )
    _, plan = plan_ref(ctx, plan_id)
    if plan.changeset.checksum != checksum:
        raise ConflictError(f"plan {plan_id} changed since it was shown; nothing approved")
    approved = approve(ctx, plan, approver=approver, comment="approved through MCP elicitation")
    return f"{approver} approved {plan_id} ({approved.gate.verdict})"


# --- the pipeline --------------------------------------------------------------------------


def _plan(ctx: Context, args: catalog.PlanArgs) -> Reply:
    from agentos.pipeline import PlanRequest, plan
    from agentos.planner.inputs import PlanInput

    if (args.input is None) == (args.calls is None):
        raise UsageError("plan: pass input (the change as text) or calls (a list), one of them")
    if args.calls is not None:
        fmt = "claude" if args.format == "auto" else args.format
        inputs = (PlanInput("calls", json.dumps(args.calls).encode("utf-8"), fmt),)
    else:
        inputs = (PlanInput("input", (args.input or "").encode("utf-8"), args.format),)
    planned = plan(ctx, PlanRequest(inputs=inputs, intent=args.intent, plan_id=args.plan_id))
    decision = planned.decision.decision
    result = documents.plan_result(planned.plan, planned.plan_file, planned.decision)
    text = f"{planned_line(planned.plan)}; decision {decision}{findings_text(result)}"
    if decision == "ALLOW":
        text += f"\nNext: apply {{plan: {planned.plan.plan_id}}}"
    elif decision == "NEED_APPROVAL":
        text += "\n" + approval_hint(ctx, planned.plan.plan_id)
    return Reply(result, text, is_error=decision != "ALLOW")


def _check(ctx: Context, args: catalog.CheckArgs) -> Reply:
    from agentos.pipeline import check

    plan_file, plan = plan_ref(ctx, args.plan)
    checked = check(ctx, plan, explain=args.explain)
    result = documents.check_result(checked, plan_file)
    verdict = checked.gate.verdict
    text = f"{plan.plan_id}: {verdict}{findings_text(result)}"
    if checked.drifted and verdict != "DENY":
        text += f"\nstale: {'; '.join(checked.drifted)}; plan again against the current files"
    elif verdict == "NEED_APPROVAL":
        text += "\n" + approval_hint(ctx, plan.plan_id)
    ok = verdict in ("ALLOW", "APPROVED") and not checked.drifted
    return Reply(result, text, is_error=not ok)


def _approve(ctx: Context, args: catalog.ApproveArgs) -> Reply:
    from agentos.pipeline import approve

    setting = ctx.policy.policy.agents.mcp_approvals
    if setting != "tool":
        raise DeniedError(
            f"approvals through agentos mcp are off (agents.mcp_approvals: {setting}); a "
            f"person approves in a terminal: {approve_command(ctx, args.plan)}",
            details={"setting": setting},
        )
    plan_file, plan = plan_ref(ctx, args.plan)
    approved = approve(ctx, plan, approver=args.by, comment=args.comment)
    result = documents.approve_result(approved, plan_file)
    return Reply(result, f"{args.by} approved {plan.plan_id}: {approved.gate.verdict}", False)


def _apply(ctx: Context, args: catalog.ApplyArgs) -> Reply:
    from agentos.pipeline import apply

    _, plan = plan_ref(ctx, args.plan)
    applied = apply(ctx, [plan], dry_run=args.dry_run, lock_timeout=lock_timeout(ctx))
    reply = applied_reply(ctx, applied)
    decision = applied.last.decision
    if applied.last.status != "needs_approval" or args.dry_run or decision is None:
        return reply  # a dry run only reports: nobody is asked to approve a preview
    from agentos.pipeline.gating import approvals_counted

    waiting = pending(ctx, plan, approvals_counted(ctx, plan, decision))
    return dataclasses.replace(reply, pending=waiting)


def _rollback(ctx: Context, args: catalog.RollbackArgs) -> Reply:
    from agentos.pipeline import rollback
    from agentos.pipeline.queries import last_undoable

    if (args.execution_id is None) == (not args.last):
        raise UsageError("rollback: pass execution_id or last: true (one of them)")
    target = args.execution_id if args.execution_id is not None else last_undoable(ctx)
    applied = rollback(ctx, target, dry_run=args.dry_run, lock_timeout=lock_timeout(ctx))
    return applied_reply(ctx, applied)


def _status(ctx: Context, args: catalog.StatusArgs) -> Reply:
    from agentos.pipeline import status

    found = status(ctx)
    result, _, _ = documents.status_document(ctx, found)
    lock = "held" if found.lock_held else "free"
    text = (
        f"lock {lock}; {len(found.interrupted)} interrupted; "
        f"{len(found.executions)} recent execution(s)"
    )
    for view in found.executions:
        text += f"\n  {view.execution_id} {view.kind} {view.status} (plan {view.plan_id})"
    return Reply(result, text, False)


def _history(ctx: Context, args: catalog.HistoryArgs) -> Reply:
    from agentos.pipeline import history

    found = history(ctx, limit=args.limit)
    lines = [f"{len(found.executions)} of {found.total} attempt(s) of executions, newest first"]
    lines += [
        f"  {v.execution_id} attempt {v.attempt} {v.kind} {v.status} (plan {v.plan_id})"
        for v in found.executions
    ]
    return Reply(documents.history_result(found), "\n".join(lines), False)


def _show(ctx: Context, args: catalog.ShowArgs) -> Reply:
    from agentos.pipeline import show
    from agentos.pipeline.queries import execution

    if args.ref.startswith("exec-"):
        from agentos.pipeline.diffs import execution_diff

        view = execution(ctx, args.ref)
        result = documents.timeline_result(view, execution_diff(ctx, view) if args.diff else None)
        text = f"{view.execution_id} ({view.kind} of plan {view.plan_id}): {view.status}"
        text += "".join(f"\n  {e['seq']} {e['ts']} {e['event']}" for e in result["timeline"])
        if result["diff"]:
            text += "\n" + result["diff"]
        return Reply(result, text, False)
    plan_file, plan = plan_ref(ctx, args.ref)
    shown = show(ctx, plan, diff=args.diff)
    result = documents.show_result(shown, plan_file)
    text = f"{planned_line(plan)}; decision {shown.decision.decision}"
    if result["diff"]:
        text += "\n" + result["diff"]
    return Reply(result, text, False)


_HANDLERS: dict[str, Callable[[Context, Any], Reply]] = {
    "plan": _plan,
    "check": _check,
    "approve": _approve,
    "apply": _apply,
    "rollback": _rollback,
    "status": _status,
    "history": _history,
    "show": _show,
    **filetools.HANDLERS,
}
