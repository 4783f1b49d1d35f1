"""Applying one write tool call of an agent to an ``Overlay``: the tools' own rules.

Each tool takes exactly its keys (a missing or unknown key is refused, naming the tool and what
it takes), every string is checked to be text a file can hold and counted against the input's
budget before it is used, and paths may be absolute inside the workspace. The rules for what
an edit must find are the edit list's (``textedits``), the MCP server's (``mcpfs``) and
Codex's (``codexshell``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from agentos.errors import InputTooLargeError, PatchConflictError, PatchParseError
from agentos.planner.abspaths import workspace_path
from agentos.planner.codexshell import apply_patch_call, argv_call, text_call
from agentos.planner.manifest import MAX_EDITS
from agentos.planner.mcpfs import apply_edit_file
from agentos.planner.textedits import Names, Replace, rename_file, replace_text, write_text
from agentos.planner.tree import Overlay

AgentFormat = Literal["claude", "mcp", "codex"]

GEMINI_EXTRAS = frozenset({"instruction", "modified_by_user", "ai_proposed_content"})
# Per tool (Gemini's write_file apart from the MCP one): required keys, then optional ones.
_KEYS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "Write": (frozenset({"file_path", "content"}), frozenset()),
    "Edit": (frozenset({"file_path", "old_string", "new_string"}), frozenset({"replace_all"})),
    "MultiEdit": (frozenset({"file_path", "edits"}), frozenset()),
    "replace": (
        frozenset({"file_path", "old_string", "new_string"}),
        frozenset({"expected_replacements", "allow_multiple"}) | GEMINI_EXTRAS,
    ),
    "gemini write_file": (frozenset({"file_path", "content"}), GEMINI_EXTRAS),
    "write_file": (frozenset({"path", "content"}), frozenset()),
    "edit_file": (frozenset({"path", "edits"}), frozenset({"dryRun"})),
    "move_file": (frozenset({"source", "destination"}), frozenset()),
}
_REPLACE_NAMES = Names(every="set expected_replacements to the number of occurrences")


@dataclass(frozen=True)
class ToolCall:
    """One tool call: the unprefixed tool name, its input, and how messages name it."""

    tool: str
    args: Any
    label: str
    where: str


@dataclass
class Budget:
    """What the strings of one input may add up to, and how many operations it may hold."""

    source: str
    limit: int
    used: int = 0
    operations: int = 0

    def take(self, text: str) -> None:
        """Count ``text``; ``InputTooLargeError`` once the strings outgrow the limit."""
        self.used += len(text)
        if self.used > self.limit:
            raise InputTooLargeError(
                f"{self.source}: the tool inputs' strings add up to more than {self.limit} "
                "characters (YAML aliases expanded), more than "
                "writegate.content.max_input_bytes; nothing was planned",
                details={"input": self.source, "limit": self.limit},
            )

    def count(self, more: int) -> None:
        """Count ``more`` calls or edits; ``InputTooLargeError`` past ``MAX_EDITS``."""
        self.operations += more
        if self.operations > MAX_EDITS:
            raise InputTooLargeError(
                f"{self.source}: more than {MAX_EDITS} tool calls and edits in one input; "
                "nothing was planned — split the change",
                details={"input": self.source, "edits": self.operations},
            )


def family(call: ToolCall) -> AgentFormat | None:
    """The format a call belongs to (``write_file`` is Gemini's with ``file_path``, the MCP
    server's otherwise); None for a tool agentos does not plan."""
    if call.tool in ("Write", "Edit", "MultiEdit", "replace"):
        return "claude"
    if call.tool == "write_file":
        return "claude" if isinstance(call.args, dict) and "file_path" in call.args else "mcp"
    if call.tool in ("edit_file", "move_file"):
        return "mcp"
    return "codex" if call.tool == "apply_patch" else None


def _args(call: ToolCall, key_set: str) -> dict[str, Any]:
    """The call's input, checked against the keys its tool takes."""
    args = call.args
    if not isinstance(args, dict):
        raise PatchParseError(
            f"{call.label}: the input of {call.tool} must be a mapping, got {type(args).__name__}",
            details={"input": call.label},
        )
    required, optional = _KEYS[key_set]
    missing = sorted(required - set(args))
    unknown = sorted(str(key) for key in set(args) - required - optional)
    if missing or unknown:
        wrong = f"needs {', '.join(missing)}" if missing else f"takes no {', '.join(unknown)}"
        raise PatchParseError(
            f"{call.label}: {call.tool} {wrong} (it takes "
            f"{', '.join(sorted(required) + sorted(o + '?' for o in optional))})",
            details={"input": call.label},
        )
    return args


def _string(args: dict[str, Any], key: str, call: ToolCall, budget: Budget) -> str:
    value = args[key]
    if not isinstance(value, str):
        raise PatchParseError(
            f"{call.label}: {call.tool}.{key} must be a string, got {type(value).__name__}",
            details={"input": call.label},
        )
    budget.take(value)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise PatchParseError(
            f"{call.label}: {call.tool}.{key} is not valid Unicode (a lone surrogate)",
            details={"input": call.label},
        ) from None
    return value


def _flag(args: dict[str, Any], key: str, call: ToolCall) -> bool:
    value = args.get(key, False)
    if not isinstance(value, bool):
        raise PatchParseError(
            f"{call.label}: {call.tool}.{key} must be true or false", details={"input": call.label}
        )
    return value


def _path(args: dict[str, Any], key: str, call: ToolCall, overlay: Overlay, budget: Budget) -> str:
    raw = _string(args, key, call, budget)
    return workspace_path(raw, overlay.baseline.root, source=f"{call.label}: {call.where}")


def _list(args: dict[str, Any], key: str, call: ToolCall, budget: Budget) -> list[Any]:
    value = args[key]
    if not isinstance(value, list):
        raise PatchParseError(
            f"{call.label}: {call.tool}.{key} must be a list", details={"input": call.label}
        )
    budget.count(len(value))
    return value


def _write(call: ToolCall, overlay: Overlay, budget: Budget) -> None:
    gemini = call.tool == "write_file" and family(call) == "claude"
    args = _args(call, "gemini write_file" if gemini else call.tool)
    key = "path" if call.tool == "write_file" and not gemini else "file_path"
    path = _path(args, key, call, overlay, budget)
    content = _string(args, "content", call, budget)
    write_text(overlay, path, content, source=call.label, where=call.where)


def _edit(call: ToolCall, overlay: Overlay, budget: Budget) -> None:
    args = _args(call, call.tool)
    path = _path(args, "file_path", call, overlay, budget)
    old = _string(args, "old_string", call, budget)
    new = _string(args, "new_string", call, budget)
    if call.tool == "Edit":
        edit = Replace(path, old, new, replace_all=_flag(args, "replace_all", call))
        replace_text(overlay, edit, source=call.label, where=call.where)
        return
    if _flag(args, "allow_multiple", call):
        # Current Gemini CLI: every occurrence (at least one) is replaced.
        edit = Replace(path, old, new, replace_all=True)
        replace_text(overlay, edit, source=call.label, where=call.where)
        return
    expected = args.get("expected_replacements", 1)
    if isinstance(expected, bool) or not isinstance(expected, int) or expected < 1:
        raise PatchParseError(
            f"{call.label}: replace.expected_replacements must be a whole number of at least 1",
            details={"input": call.label},
        )
    edit = Replace(path, old, new, expected=expected)
    replace_text(overlay, edit, source=call.label, where=call.where, names=_REPLACE_NAMES)


def _multi_edit(call: ToolCall, overlay: Overlay, budget: Budget) -> None:
    args = _args(call, "MultiEdit")
    path = _path(args, "file_path", call, overlay, budget)
    edits = _list(args, "edits", call, budget)
    if not edits:
        raise PatchParseError(
            f"{call.label}: MultiEdit of {path} has no edits; give at least one",
            details={"input": call.label, "path": path},
        )
    for index, item in enumerate(edits):
        one = ToolCall("Edit", item, call.label, f"{call.where} edits[{index}]")
        fields = _edit_args(one)
        edit = Replace(
            path,
            _string(fields, "old_string", one, budget),
            _string(fields, "new_string", one, budget),
            replace_all=_flag(fields, "replace_all", one),
        )
        replace_text(overlay, edit, source=call.label, where=one.where)


def _edit_args(call: ToolCall) -> dict[str, Any]:
    """One MultiEdit edit: ``{old_string, new_string, replace_all?}``."""
    args = call.args
    required = {"old_string", "new_string"}
    if not (isinstance(args, dict) and required <= set(args) <= required | {"replace_all"}):
        raise PatchParseError(
            f"{call.label}: {call.where} must be {{old_string, new_string, replace_all?}}",
            details={"input": call.label},
        )
    return args


def _edit_file(call: ToolCall, overlay: Overlay, budget: Budget) -> None:
    args = _args(call, "edit_file")
    path = _path(args, "path", call, overlay, budget)
    _flag(args, "dryRun", call)  # planning never writes: a dry run is planned the same way
    edits: list[tuple[str, str]] = []
    for index, item in enumerate(_list(args, "edits", call, budget)):
        one = ToolCall("edit_file", item, call.label, f"{call.where} edits[{index}]")
        if not isinstance(item, dict) or set(item) != {"oldText", "newText"}:
            raise PatchParseError(
                f"{call.label}: {one.where} must be {{oldText, newText}}",
                details={"input": call.label},
            )
        edits.append((_string(item, "oldText", one, budget), _string(item, "newText", one, budget)))
    if not edits:
        raise PatchParseError(
            f"{call.label}: edit_file of {path} has no edits; give at least one",
            details={"input": call.label, "path": path},
        )
    apply_edit_file(overlay, path, edits, source=call.label, where=call.where)


def _move_file(call: ToolCall, overlay: Overlay, budget: Budget) -> None:
    args = _args(call, "move_file")
    origin = _path(args, "source", call, overlay, budget)
    target = _path(args, "destination", call, overlay, budget)
    label = f"{call.label}: {call.where}"
    if overlay.get(origin) is None and overlay.is_dir(origin):
        raise PatchConflictError(
            f"{label}: cannot move {origin}: it is a directory; agentos moves files, so move "
            "each file in it",
            details={"path": origin},
        )
    rename_file(overlay, origin, target, label=label)


def _apply_patch(call: ToolCall, overlay: Overlay, budget: Budget) -> None:
    args = call.args
    label = f"{call.label}: {call.where}"
    if isinstance(args, dict):
        keys = set(args)
        if len(keys) != 1 or not keys <= {"command", "input"}:
            raise PatchParseError(
                f"{label}: the input of apply_patch takes one key, command or input; got "
                f"{sorted(str(k) for k in keys)}",
                details={"input": call.label},
            )
        args = args[keys.pop()]
    if isinstance(args, str):
        budget.take(args)
        patch = text_call(args, source=label)
    elif isinstance(args, list) and all(isinstance(arg, str) for arg in args):
        for arg in args:
            budget.take(arg)
        patch = argv_call(args, source=label)
    else:
        raise PatchParseError(
            f"{label}: the input of apply_patch must be a patch, a script or an argv list",
            details={"input": call.label},
        )
    apply_patch_call(patch, overlay, source=label)


APPLY: dict[str, Callable[[ToolCall, Overlay, Budget], None]] = {
    "Write": _write,
    "write_file": _write,
    "Edit": _edit,
    "replace": _edit,
    "MultiEdit": _multi_edit,
    "edit_file": _edit_file,
    "move_file": _move_file,
    "apply_patch": _apply_patch,
}


def apply_call(call: ToolCall, overlay: Overlay, budget: Budget) -> None:
    """Apply one call of a tool in ``APPLY``."""
    APPLY[call.tool](call, overlay, budget)
