"""Each agent's settings file and agentos's hook entries in it, as pure functions over JSON.

The three agents share one settings shape (sources in ``docs/agents-setup.md``): a top-level
``hooks`` object maps an event name to a list of matcher groups, each group
``{"matcher": ..., "hooks": [handler, ...]}``, each handler ``{"type": "command", "command":
..., "timeout": ...}``. agentos installs one handler per event it needs — pre-write,
post-write, turn start and turn end — and recognises its own handlers by their command
(``agentos hook AGENT``, however agentos is spelled: a bare name, an absolute path,
``python -m agentos``). Everything else in the file is left exactly as it was.

Nothing here reads or writes a file: ``agentos.hooks.install`` does, with these functions.
"""

from __future__ import annotations

import copy
import json
import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

AGENTS = ("claude", "codex", "gemini")
SCOPES = ("project", "user")
Settings = dict[str, Any]
# How agentos's own executable may be named in a hook command.
_PROGRAM_NAMES = frozenset({"agentos", "agentos.exe"})
_INDENT = re.compile(r"^([ \t]+)\S", re.MULTILINE)
DEFAULT_INDENT = 2


class SettingsError(ValueError):
    """A settings document agentos cannot edit safely (not JSON, or ``hooks`` of another
    shape than the agent's); the message names the key, the caller names the file."""


@dataclass(frozen=True)
class AgentSpec:
    """What agentos installs for one agent, and how that agent reads it."""

    name: str
    title: str
    settings: str  # the file, relative to the workspace (project scope) or home (user scope)
    pre_write: str  # the event that gates a write before it happens
    post_write: str  # the event after a write (records it)
    turn_start: str  # the event at the start of a turn (sweep)
    turn_end: str  # the event at the end of a turn (sweep)
    matcher: str  # the tool matcher agentos installs on the pre- and post-write events
    write_tools: tuple[str, ...]  # tool names the pre-write matcher must cover
    timeout: int  # the timeout agentos installs, in the agent's unit
    unit_seconds: float  # seconds per unit of ``timeout``
    default_timeout: float  # what the agent waits when a handler sets no timeout, its unit
    unit: str  # how the unit is written ("s", "ms")
    extra: tuple[tuple[str, str], ...] = ()  # further handler keys, first in the handler

    @property
    def events(self) -> tuple[str, ...]:
        """Every event agentos installs a handler for, in the order it installs them."""
        return (self.pre_write, self.post_write, self.turn_start, self.turn_end)

    def matcher_for(self, event: str) -> str | None:
        """The matcher agentos installs on ``event`` (None: the event takes no matcher)."""
        return self.matcher if event in (self.pre_write, self.post_write) else None


SPECS: Mapping[str, AgentSpec] = {
    "claude": AgentSpec(
        name="claude",
        title="Claude Code",
        settings=".claude/settings.json",
        pre_write="PreToolUse",
        post_write="PostToolUse",
        turn_start="UserPromptSubmit",
        turn_end="Stop",
        # Every MCP tool reaches the hook: one agentos cannot plan and does not know as a
        # read is refused (fail closed), unless the policy lets it through.
        matcher="^(Write|Edit|MultiEdit|NotebookEdit|mcp__.+)$",
        write_tools=("Write", "Edit", "MultiEdit"),
        timeout=30,
        unit_seconds=1.0,
        default_timeout=600,
        unit="s",
    ),
    "codex": AgentSpec(
        name="codex",
        title="Codex",
        settings=".codex/hooks.json",
        pre_write="PreToolUse",
        post_write="PostToolUse",
        turn_start="UserPromptSubmit",
        turn_end="Stop",
        # Codex sends an apply_patch written as a heredoc as a shell call (Bash); agentos
        # plans it as the write it is, and lets every other shell call through.
        matcher="^(apply_patch|Bash|mcp__.+)$",
        write_tools=("apply_patch", "Bash"),
        timeout=30,
        unit_seconds=1.0,
        default_timeout=600,
        unit="s",
    ),
    "gemini": AgentSpec(
        name="gemini",
        title="Gemini CLI",
        settings=".gemini/settings.json",
        pre_write="BeforeTool",
        post_write="AfterTool",
        turn_start="BeforeAgent",
        turn_end="AfterAgent",
        # Gemini CLI tests the matcher as an unanchored regular expression: anchored, so
        # that no other tool whose name merely contains "replace" runs the hook. MCP tools
        # are named mcp_<server>_<tool> there.
        matcher="^(write_file|replace|mcp_.+)$",
        write_tools=("write_file", "replace"),
        timeout=30000,
        unit_seconds=0.001,
        default_timeout=60000,
        unit="ms",
        extra=(("name", "agentos"),),
    ),
}


def spec_for(agent: str) -> AgentSpec:
    """The spec of ``agent`` (``KeyError`` for an agent agentos does not know)."""
    return SPECS[agent]


def settings_path(spec: AgentSpec, scope: str, *, root: Path, home: Path) -> Path:
    """The settings file ``scope`` names: under the workspace ``root`` or the user's ``home``."""
    return (root if scope == "project" else home) / spec.settings


# -- the command ---------------------------------------------------------------------------


def hook_command(prefix: str, agent: str) -> str:
    """The command an agent runs: ``PREFIX hook AGENT`` (``prefix`` is a shell word or words)."""
    return f"{prefix} hook {agent}"


def command_prefix(running: Path | None, *, on_path: bool, python: str) -> str:
    """How a hook should run agentos: ``agentos`` when the ``agentos`` found on PATH is the
    running script (``on_path``), else the running script's absolute path, else
    ``PYTHON -m agentos`` when agentos does not run from its script."""
    if running is not None and on_path:
        return "agentos"
    if running is not None:
        return shlex.quote(str(running))
    return f"{shlex.quote(python)} -m agentos"


def command_words(handler: Mapping[str, Any]) -> list[str] | None:
    """A command handler's words: its ``command`` split as a shell would, then its ``args``
    (Claude Code's exec form); None when it is not a command handler or cannot be split."""
    command = handler.get("command")
    if handler.get("type", "command") != "command" or not isinstance(command, str):
        return None
    args = handler.get("args")
    if isinstance(args, list) and all(isinstance(a, str) for a in args):
        return [command, *args]
    try:
        return shlex.split(command)
    except ValueError:
        return None


def is_agentos_handler(handler: object, agent: str) -> bool:
    """True when ``handler`` runs ``agentos hook AGENT`` (however agentos is spelled), or
    posts to ``agentos serve``'s endpoint for AGENT (an http handler)."""
    from agentos.hooks.httphooks import is_agentos_http_handler

    if not isinstance(handler, Mapping):
        return False
    if is_agentos_http_handler(handler, agent):
        return True
    words = command_words(handler)
    if not words:
        return False
    return any(
        PurePath(words[i]).name in _PROGRAM_NAMES
        and words[i + 1] == "hook"
        and words[i + 2] == agent
        for i in range(len(words) - 2)
    )


# -- agentos's entries ---------------------------------------------------------------------


@dataclass(frozen=True)
class Installed:
    """One of agentos's handlers in a settings document: its event and its group's matcher."""

    event: str
    matcher: object  # as written (None when the group has no matcher)
    handler: Mapping[str, Any]


# What agentos installs: a command (``handler_for`` makes its handler), or a whole handler.
Installing = str | Mapping[str, Any]


def handler_for(spec: AgentSpec, command: Installing) -> dict[str, Any]:
    """The handler agentos installs on every event of ``spec``: the command handler of
    ``command``, or ``command`` itself when it is a handler (an http one)."""
    if not isinstance(command, str):
        return copy.deepcopy(dict(command))
    return {
        **dict(spec.extra),
        "type": "command",
        "command": command,
        "timeout": spec.timeout,
    }


def group_for(spec: AgentSpec, event: str, command: Installing) -> dict[str, Any]:
    """The matcher group agentos installs on ``event``."""
    matcher = spec.matcher_for(event)
    hooks = [handler_for(spec, command)]
    return {"hooks": hooks} if matcher is None else {"matcher": matcher, "hooks": hooks}


def installed(settings: Mapping[str, Any], spec: AgentSpec) -> list[Installed]:
    """agentos's handlers for ``spec``'s agent, wherever they are in ``settings``."""
    table = settings.get("hooks")
    if not isinstance(table, Mapping):
        return []
    return [
        Installed(event, group.get("matcher"), handler)
        for event, group, handler in _handlers(table)
        if is_agentos_handler(handler, spec.name)
    ]


def _handlers(table: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any], Any]]:
    for event, groups in table.items():
        if not isinstance(groups, list):
            continue
        for group in groups:
            if isinstance(group, Mapping) and isinstance(group.get("hooks"), list):
                for handler in group["hooks"]:
                    yield event, group, handler


def merge_hooks(settings: Mapping[str, Any], spec: AgentSpec, command: Installing) -> Settings:
    """``settings`` with agentos's handler on each of ``spec``'s events (a copy): the
    command handler of ``command``, or the handler ``command`` is.

    A handler of agentos already in a group with the right matcher is updated in place;
    agentos's handlers anywhere else on those events are removed (with the groups that held
    nothing else); a missing one is appended in a group of its own. Applying it twice gives
    what applying it once gave.
    """
    result = copy.deepcopy(dict(settings))
    table = result.setdefault("hooks", {})
    if not isinstance(table, dict):
        raise SettingsError(f"'hooks' is {_kind(table)}, not an object")
    for event in spec.events:
        groups = table.setdefault(event, [])
        if not isinstance(groups, list):
            raise SettingsError(f"'hooks.{event}' is {_kind(groups)}, not a list")
        _settle(groups, spec, event, command)
    return result


def _settle(groups: list[Any], spec: AgentSpec, event: str, command: Installing) -> None:
    """Leave exactly one agentos handler on ``event``: the wanted one, in a group with the
    wanted matcher."""
    matcher = spec.matcher_for(event)
    found = [
        (group, index)
        for group in groups
        if isinstance(group, dict) and isinstance(group.get("hooks"), list)
        for index, handler in enumerate(group["hooks"])
        if is_agentos_handler(handler, spec.name)
    ]
    keep = next(((g, i) for g, i in found if g.get("matcher") == matcher), None)
    if keep is not None:
        keep[0]["hooks"][keep[1]] = handler_for(spec, command)
    emptied: set[int] = set()
    # Last first, so that deleting a handler never moves one still to be deleted.
    for group, index in reversed(found):
        if keep is not None and group is keep[0] and index == keep[1]:
            continue
        del group["hooks"][index]
        if not group["hooks"]:
            emptied.add(id(group))
    groups[:] = [g for g in groups if id(g) not in emptied]
    if keep is None:
        groups.append(group_for(spec, event, command))


def remove_hooks(settings: Mapping[str, Any], spec: AgentSpec) -> Settings:
    """``settings`` without agentos's handlers for ``spec``'s agent (a copy): a group, an
    event's list and ``hooks`` itself are dropped when removing them emptied it."""
    result = copy.deepcopy(dict(settings))
    table = result.get("hooks")
    if not isinstance(table, dict):
        return result
    touched = False
    for event in list(table):
        groups = table[event]
        if not isinstance(groups, list):
            continue
        kept_groups = []
        removed = False
        for group in groups:
            if isinstance(group, dict) and isinstance(group.get("hooks"), list):
                handlers = [h for h in group["hooks"] if not is_agentos_handler(h, spec.name)]
                if len(handlers) != len(group["hooks"]):
                    removed = True
                    if not handlers:
                        continue
                    group["hooks"] = handlers
            kept_groups.append(group)
        if removed:
            touched = True
            if kept_groups:
                table[event] = kept_groups
            else:
                del table[event]
    if touched and not table:
        del result["hooks"]
    return result


def hooks_disabled(settings: Mapping[str, Any], spec: AgentSpec, command: str) -> str | None:
    """Why the agent would not run agentos's hooks from this file, if a key in it says so."""
    if spec.name == "claude" and settings.get("disableAllHooks") is True:
        return "'disableAllHooks' is true: Claude Code runs no hook from this file"
    config = settings.get("hooksConfig")
    if spec.name == "gemini" and isinstance(config, Mapping):
        if config.get("enabled") is False:
            return "'hooksConfig.enabled' is false: Gemini CLI runs no hook"
        disabled = config.get("disabled")
        names = {command, *(value for key, value in spec.extra if key == "name")}
        if isinstance(disabled, list) and names & {d for d in disabled if isinstance(d, str)}:
            return "'hooksConfig.disabled' lists agentos's hook: Gemini CLI skips it"
    return None


# -- the document ------------------------------------------------------------------------


def parse_settings(data: bytes) -> Settings:
    """A settings file's object (an empty file is an empty object); ``SettingsError`` when it
    is not UTF-8 JSON or not an object."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SettingsError("is not UTF-8 text") from None
    if not text.strip():
        return {}
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SettingsError(
            f"is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    if not isinstance(document, dict):
        raise SettingsError(f"holds {_kind(document)}, not a JSON object")
    return document


def detect_indent(text: str) -> int | str:
    """The indentation a JSON text uses: its first indented line's (a tab, or a number of
    spaces); ``DEFAULT_INDENT`` spaces for a text on one line."""
    found = _INDENT.search(text)
    if found is None:
        return DEFAULT_INDENT
    unit = found.group(1)
    return "\t" if "\t" in unit else len(unit)


def dump_settings(settings: Mapping[str, Any], original: str | None) -> bytes:
    """``settings`` as JSON in the original text's indentation, ending with a newline."""
    indent = detect_indent(original) if original else DEFAULT_INDENT
    return (json.dumps(settings, indent=indent, ensure_ascii=False) + "\n").encode("utf-8")


def _kind(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    return names.get(type(value), "a number")
