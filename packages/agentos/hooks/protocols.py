"""The hook protocols of Claude Code, Codex and Gemini CLI: events in, answers out.

Pure translation. ``parse_event`` reads one event (the JSON an agent writes to a hook's stdin)
into an ``Event``; the answer functions build the exact bytes and exit code each agent reads
back. Sources of every shape are listed in docs/agents.md. The rules that matter:

- Claude Code: ``hookSpecificOutput.permissionDecision`` allow / deny / ask on stdout with exit
  0, or exit 2 with the reason on stderr; any other exit code, and a timeout, let the tool run.
- Codex: only a deny blocks (the JSON deny, or exit 2 with a reason on stderr); ``ask``, a
  bare allow, invalid JSON and other exit codes all let the tool run — so agentos never
  answers Codex with anything but deny when the write must not happen.
- Gemini CLI: ``{"decision": "deny" | "ask" | "allow", "reason": ...}`` on stdout, or exit 2
  with stderr.

A decision is answered in the agent's JSON; a failure of agentos itself is answered with the
one form all three read as a block: exit 2 with the reason on stderr.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from agentos.errors import UsageError

AgentName = Literal["claude", "codex", "gemini"]
AGENTS: tuple[AgentName, ...] = ("claude", "codex", "gemini")
EventKind = Literal["pre", "post", "turn_start", "turn_end", "other"]
# The author agentos records for each agent's writes (never the OS user, who may approve them).
ACTORS: dict[AgentName, str] = {"claude": "claude-code", "codex": "codex", "gemini": "gemini-cli"}
# Each agent's event names, by what they mean to agentos.
EVENT_KINDS: dict[AgentName, dict[str, EventKind]] = {
    "claude": {
        "PreToolUse": "pre",
        "PostToolUse": "post",
        "UserPromptSubmit": "turn_start",
        "Stop": "turn_end",
    },
    "codex": {
        "PreToolUse": "pre",
        "PostToolUse": "post",
        "UserPromptSubmit": "turn_start",
        "Stop": "turn_end",
    },
    "gemini": {
        "BeforeTool": "pre",
        "AfterTool": "post",
        "BeforeAgent": "turn_start",
        "AfterAgent": "turn_end",
    },
}
EXIT_BLOCK = 2
MAX_EVENT_BYTES = 64 << 20


class HookInputError(UsageError):
    """The event on stdin is not one this agent sends."""


@dataclass(frozen=True)
class Event:
    """One hook event, as agentos needs it."""

    agent: AgentName
    name: str  # hook_event_name as sent
    kind: EventKind
    cwd: str | None
    tool: str | None = None
    tool_input: Mapping[str, Any] | None = None
    tool_use_id: str | None = None
    session_id: str | None = None
    # Claude's Stop: a Stop hook already made the agent go on once (never block again).
    stop_hook_active: bool = False


@dataclass(frozen=True)
class Answer:
    """What the hook process writes and how it exits."""

    stdout: str = ""
    stderr: str = ""
    exit_code: int = 0


def parse_event(agent: AgentName, data: bytes) -> Event:
    """The event in ``data``; ``HookInputError`` naming what is wrong when it is not one."""
    if len(data) > MAX_EVENT_BYTES:
        raise HookInputError(f"stdin: the hook event is larger than {MAX_EVENT_BYTES} bytes")
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise HookInputError(f"stdin: the hook event is not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise HookInputError("stdin: the hook event is not a JSON object")
    name = value.get("hook_event_name")
    if not isinstance(name, str) or not name:
        raise HookInputError("stdin: the hook event has no hook_event_name")
    kind = EVENT_KINDS[agent].get(name, "other")
    cwd = value.get("cwd")
    tool = value.get("tool_name")
    tool_input = value.get("tool_input")
    if kind in ("pre", "post"):
        if not isinstance(tool, str) or not tool:
            raise HookInputError(f"stdin: the {name} event has no tool_name")
        if not isinstance(tool_input, dict):
            raise HookInputError(f"stdin: the {name} event for {tool} has no tool_input object")
    tool_use_id = value.get("tool_use_id") or value.get("call_id")
    session_id = value.get("session_id")
    return Event(
        agent=agent,
        name=name,
        kind=kind,
        cwd=cwd if isinstance(cwd, str) and cwd else None,
        tool=tool if isinstance(tool, str) else None,
        tool_input=tool_input if isinstance(tool_input, dict) else None,
        tool_use_id=tool_use_id if isinstance(tool_use_id, str) else None,
        session_id=session_id if isinstance(session_id, str) else None,
        stop_hook_active=value.get("stop_hook_active") is True,
    )


def json_line(document: Mapping[str, Any]) -> str:
    """One JSON document on one line, as the agents read hook answers."""
    return json.dumps(document, ensure_ascii=False, sort_keys=True) + "\n"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _permission(event_name: str, decision: str, reason: str) -> str:
    return json_line(
        {
            "hookSpecificOutput": {
                "hookEventName": event_name,
                "permissionDecision": decision,
                "permissionDecisionReason": reason,
            }
        }
    )


def allow(agent: AgentName, reason: str) -> Answer:
    """Let the write happen. For Codex an allow is only "no objection" (it cannot skip the
    user's own approval rules), so it is answered as nothing at all."""
    reason = _one_line(reason)
    if agent == "claude":
        return Answer(stdout=_permission("PreToolUse", "allow", reason))
    if agent == "gemini":
        return Answer(stdout=json_line({"decision": "allow", "reason": reason}))
    return Answer()


def deny(agent: AgentName, reason: str) -> Answer:
    """Block the write, with ``reason`` for the model, in the agent's own JSON."""
    reason = _one_line(reason)
    if agent == "gemini":
        return Answer(stdout=json_line({"decision": "deny", "reason": reason}))
    return Answer(stdout=_permission("PreToolUse", "deny", reason))


def ask(agent: AgentName, reason: str) -> Answer:
    """Ask the user (Claude Code and Gemini CLI honour it); Codex treats an ask as an allow,
    so it gets a deny that says what a person can run."""
    reason = _one_line(reason)
    if agent == "claude":
        return Answer(stdout=_permission("PreToolUse", "ask", reason))
    if agent == "gemini":
        return Answer(stdout=json_line({"decision": "ask", "reason": reason}))
    return deny(agent, reason)


# Where the user can approve a write in the agent itself (so it is staged before it is asked).
ASKS: frozenset[AgentName] = frozenset({"claude", "gemini"})


def fail_closed(agent: AgentName, reason: str) -> Answer:
    """The answer when agentos itself failed: exit 2 with the reason on stderr, which every
    one of the three agents reads as a block, and nothing on stdout that could be misread."""
    del agent  # the same bytes block in every protocol
    return Answer(stderr=f"agentos: {_one_line(reason)}\n", exit_code=EXIT_BLOCK)


def no_decision() -> Answer:
    """Nothing to say: exit 0 and no output (the agent goes on as it would without agentos)."""
    return Answer()


def tell_model(agent: AgentName, event_name: str, message: str) -> Answer:
    """After a tool ran: a note the model reads (the write already happened)."""
    message = _one_line(message)
    if agent == "gemini":
        return Answer(stdout=json_line({"hookSpecificOutput": {"additionalContext": message}}))
    return Answer(
        stdout=json_line(
            {"hookSpecificOutput": {"hookEventName": event_name, "additionalContext": message}}
        )
    )


def report(agent: AgentName, message: str) -> Answer:
    """At the end of a turn: show ``message`` to the user; the agent stops as it meant to."""
    return Answer(stdout=json_line({"systemMessage": _one_line(message)}))


def stop(agent: AgentName, message: str) -> Answer:
    """At the end of a turn: stop the agent, listing why (``agents.bypass: block``)."""
    message = _one_line(message)
    document = {"continue": False, "stopReason": message, "systemMessage": message}
    return Answer(stdout=json_line(document))
