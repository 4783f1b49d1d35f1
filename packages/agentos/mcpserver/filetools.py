"""The drop-in write tools (the MCP filesystem server's ``edit_file``, ``write_file``,
``move_file``, and ``apply_patch``), each plan -> gate -> apply in one call, and the read tools
bounded by the policy."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from agentos.mcpserver import catalog
from agentos.mcpserver.replies import (
    Reply,
    approval_hint,
    findings_text,
    lock_timeout,
    pending,
    planned_line,
)
from agentos.pipeline import documents, reads

if TYPE_CHECKING:
    from agentos.pipeline.context import Context
    from agentos.pipeline.results import Proposed
    from agentos.planner.inputs import PlanInput


def edit_file(ctx: Context, args: catalog.EditFileArgs) -> Reply:
    edits = [{"oldText": e.oldText, "newText": e.newText} for e in args.edits]
    return _propose(ctx, "edit_file", _tool_input("edit_file", path=args.path, edits=edits), args)


def write_file(ctx: Context, args: catalog.WriteFileArgs) -> Reply:
    call = _tool_input("write_file", path=args.path, content=args.content)
    return _propose(ctx, "write_file", call, args)


def move_file(ctx: Context, args: catalog.MoveFileArgs) -> Reply:
    call = _tool_input("move_file", source=args.source, destination=args.destination)
    return _propose(ctx, "move_file", call, args)


def apply_patch(ctx: Context, args: catalog.ApplyPatchArgs) -> Reply:
    from agentos.planner.inputs import PlanInput

    return _propose(ctx, "apply_patch", PlanInput("patch", args.patch.encode("utf-8")), args)


def _tool_input(tool: str, **tool_input: Any) -> PlanInput:
    from agentos.planner.inputs import PlanInput

    data = json.dumps({"tool_name": tool, "tool_input": tool_input}).encode("utf-8")
    return PlanInput(f"{tool} arguments", data, "mcp")


def _propose(ctx: Context, tool: str, given: PlanInput, args: catalog.DryRun) -> Reply:
    from agentos.pipeline.execution import propose

    proposed = propose(
        ctx,
        (given,),
        command=f"mcp {tool}",
        intent=tool,
        dry_run=args.dryRun,
        lock_timeout=lock_timeout(ctx),
    )
    return _proposed_reply(ctx, proposed)


def _proposed_reply(ctx: Context, proposed: Proposed) -> Reply:
    planned, gate = proposed.planned, proposed.gate
    plan = planned.plan
    diff = documents.diff_text(proposed.diff)
    result: dict[str, Any] = {
        "dry_run": proposed.applied is None,
        "plan": documents.plan_result(plan, planned.plan_file, planned.decision),
        "verdict": gate.verdict,
        "approvals": documents.approvals_row(gate.approvals),
        "diff": diff,
        "apply": None if proposed.applied is None else documents.applied_result(proposed.applied),
    }
    findings = findings_text(result["plan"])
    waiting = pending(ctx, plan, gate) if gate.verdict == "NEED_APPROVAL" else None
    if proposed.applied is None:
        text = f"dry run: {planned_line(plan)}; {gate.verdict}{findings}\n{diff}".rstrip()
        if waiting is not None:
            text += "\n" + approval_hint(ctx, plan.plan_id)
        # A dry run only reports: nobody is asked to approve a preview.
        return Reply(result, text, gate.verdict in ("NEED_APPROVAL", "DENY"))
    last = proposed.applied.last
    if last.status in ("committed", "already_applied"):
        text = (
            f"{last.status}: {planned_line(plan)} as {last.execution_id}; undo with "
            f"rollback {{execution_id: {last.execution_id}}}\n{diff}"
        ).rstrip()
        return Reply(result, text, False)
    text = f"not written ({last.status}): {last.message}{findings}"
    if last.status == "needs_approval":
        text += "\n" + approval_hint(ctx, plan.plan_id)
    return Reply(result, text, True, waiting if last.status == "needs_approval" else None)


def read_text_file(ctx: Context, args: catalog.ReadTextFileArgs) -> Reply:
    found = reads.read_text(ctx, args.path, head=args.head, tail=args.tail)
    result = {"path": found.path, "content": found.text, "size": found.size}
    return Reply(result, found.text, False)


def list_directory(ctx: Context, args: catalog.ListDirectoryArgs) -> Reply:
    found = reads.list_directory(ctx, args.path)
    entries = [{"name": e.name, "type": e.kind} for e in found.entries]
    labels = {"directory": "[DIR]", "file": "[FILE]", "symlink": "[LINK]", "other": "[OTHER]"}
    lines = [f"{labels[e.kind]} {e.name}" for e in found.entries]
    if found.hidden:
        lines.append(f"({found.hidden} name(s) the policy forbids are not listed)")
    result = {"path": found.path, "entries": entries, "hidden": found.hidden}
    return Reply(result, "\n".join(lines) or "(empty)", False)


def search_files(ctx: Context, args: catalog.SearchFilesArgs) -> Reply:
    found = reads.search_files(ctx, args.path, args.pattern, exclude=tuple(args.excludePatterns))
    result = {
        "path": found.path,
        "pattern": found.pattern,
        "matches": list(found.matches),
        "truncated": found.truncated,
    }
    text = "\n".join(found.matches) or "No matches found"
    if found.truncated:
        text += f"\n(only the first {len(found.matches)} matches)"
    return Reply(result, text, False)


HANDLERS: dict[str, Callable[[Context, Any], Reply]] = {
    "edit_file": edit_file,
    "write_file": write_file,
    "move_file": move_file,
    "apply_patch": apply_patch,
    "read_text_file": read_text_file,
    "list_directory": list_directory,
    "search_files": search_files,
}
