"""Which tool calls write, which agentos lets through, and which it cannot judge.

A write tool's call is planned and gated. A tool that only reads — or a shell, whose writes
agentos cannot plan in advance and finds afterwards with the sweep — is let through without
an opinion. Any other tool is unknown, and an unknown tool that reaches the hook is denied
(fail closed) unless the policy names it in ``agents.passthrough_tools``.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Literal

from agentos.hooks.protocols import AgentName

# Tools whose inputs the planner reads, by the name it knows them by.
WRITE_TOOLS: dict[AgentName, frozenset[str]] = {
    "claude": frozenset({"Write", "Edit", "MultiEdit"}),
    "codex": frozenset({"apply_patch"}),
    "gemini": frozenset({"write_file", "replace"}),
}
# The MCP filesystem server's write tools, under any server name.
MCP_WRITE_TOOLS = frozenset({"write_file", "edit_file", "move_file"})
# Tools that only read, talk or plan, and shells (their writes are found by the sweep).
# fmt: off
PASSTHROUGH: dict[AgentName, frozenset[str]] = {
    "claude": frozenset(
        {
            "Read", "Glob", "Grep", "LS", "WebFetch", "WebSearch", "TodoWrite", "TodoRead",
            "Task", "Agent", "Bash", "BashOutput", "KillShell", "KillBash", "NotebookRead",
            "ExitPlanMode", "SlashCommand", "Skill", "AskUserQuestion",
            "ListMcpResourcesTool", "ReadMcpResourceTool",
        }
    ),
    "codex": frozenset(
        {
            "Bash", "shell", "local_shell", "exec_command", "write_stdin", "unified_exec",
            "update_plan", "view_image", "web_search", "read_file", "list_dir", "grep_files",
        }
    ),
    "gemini": frozenset(
        {
            "read_file", "read_many_files", "list_directory", "glob", "search_file_content",
            "grep", "web_fetch", "google_web_search", "run_shell_command", "save_memory",
            "write_todos",
        }
    ),
}
# fmt: on
_MCP_READS = ("read_", "list_", "search_", "get_", "directory_tree")
# The filesystem server's read tools, whole (to split Gemini CLI's ``mcp_server_tool``).
_MCP_READ_NAMES = (
    "read_text_file", "read_media_file", "read_multiple_files", "read_file", "list_directory",
    "list_directory_with_sizes", "directory_tree", "search_files", "get_file_info",
    "list_allowed_directories",
)  # fmt: skip
# A shell command that names apply_patch and carries a patch: planned even when agentos
# cannot read its form (then the planner refuses it, and the call is blocked).
_NAMES_APPLY_PATCH = re.compile(r"(?<![\w-])(?:apply_patch|applypatch)(?![\w-])")
_SHELL_TOOLS = frozenset({"Bash", "shell", "local_shell", "exec_command"})
# Write tools agentos knows but cannot plan: always refused, whatever passthrough_tools says.
UNPLANNABLE = frozenset({"NotebookEdit"})
# Keys of agents' tool inputs that name a file or directory.
_PATH_KEYS = ("file_path", "path", "source", "destination")


@dataclass(frozen=True)
class Classified:
    """What the hook does with one tool call: plan it (as ``tool`` with ``tool_input``),
    let it pass, or refuse it as unknown."""

    action: Literal["write", "pass", "unknown", "unplannable"]
    tool: str
    tool_input: Mapping[str, Any]


def mcp_parts(agent: AgentName, tool: str) -> tuple[str, str] | None:
    """``(server, tool)`` of an MCP tool's name, else None: ``mcp__server__tool`` (Claude
    Code, Codex), or Gemini CLI's ``mcp_server_tool``, whose tool part is recognised by the
    names agentos knows (the server's name may hold underscores too)."""
    if tool.startswith("mcp__"):
        server, _, name = tool[len("mcp__") :].rpartition("__")
        return (server, name) if server and name else None
    if agent == "gemini" and tool.startswith("mcp_"):
        rest = tool[len("mcp_") :]
        for name in (*MCP_WRITE_TOOLS, *_MCP_READ_NAMES):
            if rest.endswith("_" + name) and len(rest) > len(name) + 1:
                return rest[: -len(name) - 1], name
        server, _, name = rest.partition("_")
        return (server, name) if server and name else None
    return None


def classify(
    agent: AgentName,
    tool: str,
    tool_input: Mapping[str, Any],
    *,
    passthrough: Sequence[str] = (),
) -> Classified:
    """How the hook treats ``tool`` called with ``tool_input``."""
    if tool in WRITE_TOOLS[agent]:
        return Classified("write", tool, tool_input)
    if tool in UNPLANNABLE:
        return Classified("unplannable", tool, tool_input)
    mcp = mcp_parts(agent, tool)
    if mcp is not None:
        if mcp[1] in MCP_WRITE_TOOLS:
            # Named as the planner reads MCP tools, whichever agent sent it.
            return Classified("write", f"mcp__{mcp[0]}__{mcp[1]}", tool_input)
        if mcp[1].startswith(_MCP_READS):
            return Classified("pass", tool, tool_input)
    if agent == "codex" and tool in _SHELL_TOOLS and _is_apply_patch(tool_input.get("command")):
        # The model sent apply_patch as a shell command: it is a write, planned as one.
        return Classified("write", "apply_patch", tool_input)
    if tool in PASSTHROUGH[agent] or any(fnmatch.fnmatchcase(tool, p) for p in passthrough):
        return Classified("pass", tool, tool_input)
    return Classified("unknown", tool, tool_input)


def _is_apply_patch(command: object) -> bool:
    """An ``apply_patch`` shell invocation: a heredoc script (after ``cd DIR &&`` too), an
    argv, a ``bash -lc '...'`` line, or any command naming apply_patch with a patch in it."""
    from agentos.planner.codexshell import is_patch_argv, looks_like_patch_command

    if isinstance(command, list) and all(isinstance(a, str) for a in command):
        return is_patch_argv(command) or any(_is_apply_patch(a) for a in command)
    if not isinstance(command, str):
        return False
    if looks_like_patch_command(command) or is_patch_argv(_split(command)):
        return True
    return bool(_NAMES_APPLY_PATCH.search(command)) and "*** Begin Patch" in command


def _split(command: str) -> list[str] | None:
    try:
        return shlex.split(command)
    except ValueError:
        return None


def anchored(tool: str, tool_input: Mapping[str, Any], cwd: str | None) -> dict[str, Any]:
    """``tool_input`` with the paths the agent gave relative to its working directory made
    absolute (the planner maps them into the workspace, or refuses them as outside it): a
    file's key, and the directory an ``apply_patch`` runs in. A Codex command is put in the
    one form the planner reads whole: ``cd DIR && apply_patch <<'EOF' ... EOF``."""
    result = dict(tool_input)
    base = PurePosixPath(cwd) if cwd and cwd.startswith("/") else None
    if base is None:
        return result
    for key in _PATH_KEYS:
        value = result.get(key)
        if isinstance(value, str) and value and not value.startswith("/"):
            result[key] = str(base / value)
    if tool == "apply_patch":
        for key in ("command", "input"):
            if key in result:
                result[key] = _anchored_patch(result[key], base)
    return result


def _anchored_patch(value: object, base: PurePosixPath) -> object:
    """An apply_patch call as a heredoc script that ``cd``s to its absolute directory (the
    value as it is when it cannot be read: the planner then says why)."""
    from agentos.errors import PatchParseError
    from agentos.planner.codexshell import PatchCall, argv_call, text_call

    call: PatchCall | None = None
    try:
        if isinstance(value, str):
            argv = _split(value)
            is_argv = argv is not None and len(argv) == 3 and argv[1] in ("-lc", "-c")
            call = argv_call(argv, source="-") if is_argv and argv else text_call(value, source="-")
        elif isinstance(value, list) and all(isinstance(a, str) for a in value):
            call = argv_call(value, source="-")
    except PatchParseError:
        return value
    if call is None:
        return value
    workdir = call.workdir or ""
    target = workdir if workdir.startswith("/") else str(base / workdir)
    if "'" in target or "\n" in target:
        return value
    delimiter = "AGENTOS_PATCH"
    while delimiter in call.patch:
        delimiter += "_"
    body = call.patch if call.patch.endswith("\n") else call.patch + "\n"
    return f"cd '{target}' && apply_patch <<'{delimiter}'\n{body}{delimiter}\n"
