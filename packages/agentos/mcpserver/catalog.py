"""The tools ``agentos mcp`` offers: names, argument models (their JSON Schemas are the input
schemas), output schemas and annotations.

Three groups. The pipeline (``plan`` ... ``show``) takes the arguments of the command of the
same name and returns its ``--json`` result. The write tools keep the MCP filesystem server's
names and argument shapes (plus ``apply_patch``) and run plan -> gate -> apply in one call. The
read tools are bounded by the policy. Argument names are the CLI's (snake_case) for the
pipeline and the filesystem server's (camelCase) for the drop-ins.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agentos.mcpserver.schemas import (
    APPLIED,
    APPROVE,
    CHECK,
    FOUND,
    HISTORY,
    LISTING,
    PLAN,
    PROPOSED,
    READ,
    SHOW,
    STATUS,
)
from agentos.planner.inputs import FormatChoice


class Args(BaseModel):
    """Arguments of a tool: unknown keys are refused, types are not coerced."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class PlanArgs(Args):
    input: str | None = Field(
        default=None,
        description="The change: a unified diff, a Codex apply_patch envelope, an edits or "
        "manifest document (JSON or YAML), aider SEARCH/REPLACE blocks, or agents' tool "
        "calls as JSON.",
    )
    calls: list[dict[str, Any]] | None = Field(
        default=None,
        description="Instead of input: Claude Code-style edit calls, each {tool_name: "
        "Write|Edit|MultiEdit, tool_input: {...}}, applied in order as one changeset.",
    )
    format: FormatChoice = Field(default="auto", description="How to read input.")
    intent: str | None = Field(default=None, description="Why the change is made.")
    plan_id: str | None = Field(default=None, description="The plan's id (default: derived).")


class PlanRefArgs(Args):
    plan: str = Field(description="A plan id (or a plan file inside the workspace).")


class CheckArgs(PlanRefArgs):
    explain: bool = Field(default=False, description="Also each rule's verdict on each path.")


class ApproveArgs(PlanRefArgs):
    by: str = Field(description="Who approves (the policy's rules for approvers apply).")
    comment: str = Field(default="", description="Why it is approved.")


class ApplyArgs(PlanRefArgs):
    dry_run: bool = Field(default=False, description="Stop after the drift check.")


class RollbackArgs(Args):
    execution_id: str | None = Field(default=None, description="A committed execution's id.")
    last: bool = Field(
        default=False, description="Instead: the newest committed execution not rolled back."
    )
    dry_run: bool = Field(default=False, description="Stop after the drift check.")


class StatusArgs(Args):
    pass


class HistoryArgs(Args):
    limit: int = Field(default=20, ge=0, description="How many, newest first (0: all).")


class ShowArgs(Args):
    ref: str = Field(description="A plan id or file, or an execution id (exec-...).")
    diff: bool = Field(
        default=False, description="Also the diff: a plan's, or what an execution changed."
    )


class DryRun(Args):
    dryRun: bool = Field(
        default=False,
        description="Plan and gate only: return the plan, the decision and the diff; write "
        "nothing.",
    )


class Edit(Args):
    oldText: str = Field(description="Text to find (it must match once).")
    newText: str = Field(description="Text to put in its place.")


class EditFileArgs(DryRun):
    path: str = Field(description="The file (relative to the workspace, or absolute in it).")
    edits: list[Edit] = Field(min_length=1, description="Edits, applied in order.")


class WriteFileArgs(DryRun):
    path: str = Field(description="The file (relative to the workspace, or absolute in it).")
    content: str = Field(description="The whole new content.")


class MoveFileArgs(DryRun):
    source: str = Field(description="The file to move.")
    destination: str = Field(description="Where it goes (it must not exist).")


class ApplyPatchArgs(DryRun):
    patch: str = Field(description="A Codex apply_patch envelope or a unified diff.")


class ReadTextFileArgs(Args):
    path: str = Field(description="The file (relative to the workspace, or absolute in it).")
    head: int | None = Field(default=None, ge=0, description="Only the first N lines.")
    tail: int | None = Field(default=None, ge=0, description="Only the last N lines.")


class ListDirectoryArgs(Args):
    path: str = Field(default=".", description="The directory (default: the workspace).")


class SearchFilesArgs(Args):
    path: str = Field(default=".", description="Where to search (default: the workspace).")
    pattern: str = Field(description="A glob as policies write paths: '*.py', 'src/**/*.md'.")
    excludePatterns: list[str] = Field(
        default_factory=list, description="Globs of paths to leave out."
    )


Group = Literal["pipeline", "write", "read"]


@dataclass(frozen=True)
class ToolSpec:
    """One tool as ``tools/list`` shows it."""

    name: str
    group: Group
    description: str
    args: type[Args]
    output: dict[str, Any]
    read_only: bool
    destructive: bool
    idempotent: bool

    def input_schema(self) -> dict[str, Any]:
        """The argument model's JSON Schema, without pydantic's generated titles."""
        schema: dict[str, Any] = _untitled(self.args.model_json_schema())
        return schema

    def annotations(self) -> dict[str, bool]:
        """The MCP tool annotations (hints to the client, not guarantees)."""
        return {
            "readOnlyHint": self.read_only,
            "destructiveHint": self.destructive,
            "idempotentHint": self.idempotent,
            "openWorldHint": False,
        }


def _untitled(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {
            k: _untitled(v) for k, v in schema.items() if k != "title" or not isinstance(v, str)
        }
    if isinstance(schema, list):
        return [_untitled(v) for v in schema]
    return schema


_WRITES = (
    " The change goes through agentos: planned with every pre-image pinned, checked against "
    "the policy (ALLOW / NEED_APPROVAL / DENY, every finding explained), applied atomically "
    "and recorded in the audit trail; undo it with rollback. dryRun returns the plan, the "
    "decision and the diff and writes nothing."
)

TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        "plan",
        "pipeline",
        "Plan a change (never writes workspace files) and show the policy's decision.",
        PlanArgs,
        PLAN,
        read_only=False,
        destructive=False,
        idempotent=True,
    ),
    ToolSpec(
        "check",
        "pipeline",
        "The policy's decision on a plan, with every finding and its approvals counted.",
        CheckArgs,
        CHECK,
        read_only=True,
        destructive=False,
        idempotent=True,
    ),
    ToolSpec(
        "approve",
        "pipeline",
        "Approve a plan (only where the policy sets agents.mcp_approvals: tool).",
        ApproveArgs,
        APPROVE,
        read_only=False,
        destructive=False,
        idempotent=False,
    ),
    ToolSpec(
        "apply",
        "pipeline",
        "Apply a plan through the whole pipeline: gate, lock, journal, verify, commit or roll "
        "back. Applying it again is a no-op (already_applied).",
        ApplyArgs,
        APPLIED,
        read_only=False,
        destructive=True,
        idempotent=True,
    ),
    ToolSpec(
        "rollback",
        "pipeline",
        "Undo a committed execution (an apply, or an edit made through these tools).",
        RollbackArgs,
        APPLIED,
        read_only=False,
        destructive=True,
        idempotent=False,
    ),
    ToolSpec(
        "status",
        "pipeline",
        "The lock holder, interrupted executions, circuit breakers and last executions.",
        StatusArgs,
        STATUS,
        read_only=True,
        destructive=False,
        idempotent=True,
    ),
    ToolSpec(
        "history",
        "pipeline",
        "Executions folded from the audit trail, newest first.",
        HistoryArgs,
        HISTORY,
        read_only=True,
        destructive=False,
        idempotent=True,
    ),
    ToolSpec(
        "show",
        "pipeline",
        "A plan (summary, risk, decision, diff) or an execution's timeline.",
        ShowArgs,
        SHOW,
        read_only=True,
        destructive=False,
        idempotent=True,
    ),
    ToolSpec(
        "edit_file",
        "write",
        "Replace text in a file: each edit's oldText must match once." + _WRITES,
        EditFileArgs,
        PROPOSED,
        read_only=False,
        destructive=True,
        idempotent=False,
    ),
    ToolSpec(
        "write_file",
        "write",
        "Create a file or replace its whole content." + _WRITES,
        WriteFileArgs,
        PROPOSED,
        read_only=False,
        destructive=True,
        idempotent=True,
    ),
    ToolSpec(
        "move_file",
        "write",
        "Move or rename a file (the destination must not exist)." + _WRITES,
        MoveFileArgs,
        PROPOSED,
        read_only=False,
        destructive=False,
        idempotent=False,
    ),
    ToolSpec(
        "apply_patch",
        "write",
        "Apply a Codex apply_patch envelope or a unified diff." + _WRITES,
        ApplyPatchArgs,
        PROPOSED,
        read_only=False,
        destructive=True,
        idempotent=False,
    ),
    ToolSpec(
        "read_text_file",
        "read",
        "Read a text file of the workspace (head or tail: only the first or last N lines). "
        "Paths the policy forbids (.env, keys) and paths through symbolic links are refused.",
        ReadTextFileArgs,
        READ,
        read_only=True,
        destructive=False,
        idempotent=True,
    ),
    ToolSpec(
        "list_directory",
        "read",
        "List a directory of the workspace ([FILE] / [DIR] names); names the policy forbids "
        "are left out.",
        ListDirectoryArgs,
        LISTING,
        read_only=True,
        destructive=False,
        idempotent=True,
    ),
    ToolSpec(
        "search_files",
        "read",
        "Find files and directories whose paths match a glob, under a directory of the "
        "workspace; names the policy forbids are left out.",
        SearchFilesArgs,
        FOUND,
        read_only=True,
        destructive=False,
        idempotent=True,
    ),
)
BY_NAME: dict[str, ToolSpec] = {tool.name: tool for tool in TOOLS}


@functools.cache
def tool_list() -> list[dict[str, Any]]:
    """Every tool as ``tools/list`` shows it (and ``docs/schemas/mcp-tools.json`` records);
    made once per process (pydantic builds each input schema anew when asked)."""
    return [
        {
            "name": tool.name,
            "description": tool.description,
            "inputSchema": tool.input_schema(),
            "outputSchema": tool.output,
            "annotations": tool.annotations(),
        }
        for tool in TOOLS
    ]
