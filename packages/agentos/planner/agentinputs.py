"""Agents' native write tools: Claude Code, Gemini CLI, the MCP filesystem server, Codex.

An input is one tool call, a tool's bare input, or a JSON/YAML list of either, applied in
order as one changeset. A call is ``{"tool_name": NAME, "tool_input": {...}}`` (a hook event:
its other keys are ignored) or ``{"name": NAME, "input" | "arguments": {...}}``; a bare input
is recognised by its keys. NAME may carry an MCP server prefix (``mcp__filesystem__edit_file``).

- ``claude``: ``Write {file_path, content}``, ``Edit {file_path, old_string, new_string,
  replace_all?}``, ``MultiEdit {file_path, edits: [...]}``, and Gemini CLI's ``write_file
  {file_path, content}`` and ``replace {file_path, old_string, new_string, allow_multiple?}``
  (older Gemini CLI: ``expected_replacements?``).
- ``mcp``: ``write_file {path, content}``, ``edit_file {path, edits: [{oldText, newText}],
  dryRun?}``, ``move_file {source, destination}``.
- ``codex``: ``apply_patch``, its input a patch, a heredoc script or an argv (see
  ``codexshell``), bare or as ``{"command": ...}`` / ``{"input": ...}``; also a bare argv list.

Paths may be absolute inside the workspace. One input holds the tools of one family; every
string it holds is counted (YAML aliases expanded) against ``max_input_bytes`` before use.
"""

from __future__ import annotations

import json
from typing import Any

from agentos.errors import PatchParseError
from agentos.planner.agenttools import (
    APPLY,
    GEMINI_EXTRAS,
    AgentFormat,
    Budget,
    ToolCall,
    apply_call,
    family,
)
from agentos.planner.codexshell import is_patch_argv
from agentos.planner.manifest import MAX_EDITS
from agentos.planner.tree import Overlay

__all__ = [
    "WRITE_TOOLS",
    "AgentFormat",
    "apply_agent_input",
    "input_format",
    "is_tool_input",
    "tool_base_name",
]

WRITE_TOOLS: frozenset[str] = frozenset(APPLY)
_FAMILY_NAMES = {"claude": "Claude Code / Gemini CLI", "mcp": "MCP filesystem", "codex": "Codex"}


def tool_base_name(name: str) -> str:
    """``name`` without its MCP server prefix: ``mcp__filesystem__edit_file`` is
    ``edit_file``; other names are returned as they are."""
    if name.startswith("mcp__"):
        base = name.rpartition("__")[2]
        return base or name
    return name


def _is_call(item: Any) -> bool:
    return isinstance(item, dict) and (
        "tool_name" in item
        or "tool_input" in item
        or ("name" in item and ("input" in item or "arguments" in item))
    )


def _bare_tool(item: dict[Any, Any]) -> str | None:
    """The tool a bare input is for, judged by its keys."""
    keys = set(item)
    if "op" in keys:
        return None  # a manifest entry
    if "file_path" in keys:
        gemini = bool(keys & GEMINI_EXTRAS)
        if "edits" in keys:
            return "MultiEdit"
        if "old_string" in keys:
            gemini = gemini or bool(keys & {"expected_replacements", "allow_multiple"})
            return "replace" if gemini else "Edit"
        if "content" in keys:
            return "write_file" if gemini else "Write"
        return None
    if "path" in keys and ("edits" in keys or "content" in keys):
        return "edit_file" if "edits" in keys else "write_file"
    if {"source", "destination"} <= keys:
        return "move_file"
    return None


def _agentish(item: Any) -> bool:
    if is_patch_argv(item):
        return True
    return isinstance(item, dict) and (
        _is_call(item) or _bare_tool(item) is not None or "file_path" in item
    )


def _items(doc: Any) -> list[Any] | None:
    """The calls and bare inputs of ``doc``, or None when it is none of them."""
    if _agentish(doc):
        return [doc]
    if not (isinstance(doc, list) and doc):
        return None
    # A list longer than any input may hold is judged by its first item: the budget then
    # refuses it, before anything walks the rest (YAML aliases make long lists cheap).
    sample = doc if len(doc) <= MAX_EDITS else doc[:1]
    return list(doc) if all(_agentish(item) for item in sample) else None


def _unwrap(item: Any, *, source: str, index: int | None) -> ToolCall:
    """The call ``item`` is, or ``PatchParseError`` naming it and its keys."""
    label = source if index is None else f"{source}: [{index}]"
    if isinstance(item, list):
        return ToolCall("apply_patch", item, label, _where(index, "apply_patch"))
    if not _is_call(item):
        tool = _bare_tool(item)
        if tool is None:
            raise PatchParseError(
                f"{label}: keys {sorted(str(k) for k in item)} fit no write tool input agentos "
                "can plan (Write, Edit, MultiEdit, write_file, replace, edit_file, move_file)",
                details={"input": source},
            )
        return ToolCall(tool, item, label, _where(index, tool))
    name = item.get("tool_name", item.get("name"))
    args = item.get("tool_input", item.get("input", item.get("arguments")))
    if not isinstance(name, str):
        raise PatchParseError(
            f"{label}: the tool call's name must be a string", details={"input": source}
        )
    tool = tool_base_name(name)
    if tool not in WRITE_TOOLS:
        raise PatchParseError(
            f"{label}: tool {name!r} is not a write tool agentos can plan "
            f"(it plans {', '.join(sorted(WRITE_TOOLS))})",
            details={"input": source, "tool": name},
        )
    if isinstance(args, str) and args.lstrip().startswith("{"):
        # Function-calling APIs send the arguments as a JSON text.
        try:
            args = json.loads(args)
        except (ValueError, RecursionError):
            raise PatchParseError(
                f"{label}: the arguments of {name!r} are not valid JSON", details={"input": source}
            ) from None
    return ToolCall(tool, args, label, _where(index, tool))


def is_tool_input(doc: Any) -> bool:
    """True when ``doc`` is a tool call, a tool's bare input, an argv, or a list of them."""
    return _items(doc) is not None


def _where(index: int | None, tool: str) -> str:
    return tool if index is None else f"[{index}] {tool}"


def input_format(doc: Any, *, source: str) -> AgentFormat | None:
    """The family of the tool calls ``doc`` holds; None when it holds none.
    ``PatchParseError`` when it looks like tool calls but names an unknown tool, has keys
    that fit no tool, or mixes families."""
    items = _items(doc)
    if items is None:
        return None
    single = len(items) == 1 and items[0] is doc
    families: list[AgentFormat] = []
    # Past MAX_EDITS the input is refused as too large when applied: judge only that many.
    for index, item in enumerate(items[: MAX_EDITS + 1]):
        call = _unwrap(item, source=source, index=None if single else index)
        kind = family(call)
        if kind is not None and kind not in families:
            families.append(kind)
    if len(families) > 1:
        raise PatchParseError(
            f"{source}: mixes {' and '.join(_FAMILY_NAMES[f] for f in families)} tool calls; "
            "give each family as a separate input",
            details={"input": source},
        )
    return families[0] if families else None


def apply_agent_input(doc: Any, overlay: Overlay, *, source: str, fmt: AgentFormat) -> None:
    """Apply every tool call of ``doc`` in order; every call must be of family ``fmt``."""
    items = _items(doc)
    if items is None:
        raise PatchParseError(
            f"{source}: is not a {_FAMILY_NAMES[fmt]} tool call, tool input or list of them",
            details={"input": source},
        )
    single = len(items) == 1 and items[0] is doc
    budget = Budget(source, overlay.limits.max_input_bytes)
    budget.count(len(items))
    calls = [
        _unwrap(item, source=source, index=None if single else i) for i, item in enumerate(items)
    ]
    for call in calls:
        kind = family(call)
        if kind is not None and kind != fmt:
            raise PatchParseError(
                f"{call.label}: {call.tool} is a {_FAMILY_NAMES[kind]} tool; plan it with "
                f"--format {kind}",
                details={"input": source},
            )
        apply_call(call, overlay, budget)
