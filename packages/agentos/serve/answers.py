"""A command hook's answer as an HTTP response, and the endpoint's refusals (pure).

``agentos hook AGENT`` answers with stdout, stderr and an exit code; an HTTP hook has only a
status and a body, and no agent reads an exit code from it. The mapping (documented in
``docs/agents-protocols.md``):

- exit 0: the body is the hook's stdout, byte for byte (empty: no decision), status 200;
- any other exit (agentos failed and blocks: exit 2, the reason on stderr): the agent's own
  JSON block for the event, carrying the stderr line as its reason, status 200 — Claude
  Code's ``permissionDecision: "deny"`` for a ``PreToolUse`` (Codex reads the same),
  ``{"decision": "block"}`` for its other events and for an event that could not be read,
  Gemini CLI's ``{"decision": "deny"}``;
- the header ``X-Agentos-Exit-Code`` carries the command hook's exit code either way, so a
  client can replay the command hook exactly (exit 2: write ``reason + "\\n"`` to stderr).

A request the endpoint refuses before any hook runs (no token, too large, unreadable) gets
its HTTP status and, as body, the same kind of block with the refusal as reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import cast

from agentos.hooks.protocols import EXIT_BLOCK, AgentName, Answer, deny, json_line

EXIT_HEADER = "X-Agentos-Exit-Code"
JSON_TYPE = "application/json; charset=utf-8"
# The events whose block is a permission decision (the others read ``decision: block``).
_PERMISSION_EVENTS = frozenset({"PreToolUse"})


@dataclass(frozen=True)
class Reply:
    """An HTTP response: status, body, and the command hook's exit code it stands for."""

    status: int
    body: bytes
    exit_code: int
    headers: tuple[tuple[str, str], ...] = ()


def reply_for(agent: str, answer: Answer, event: str | None) -> Reply:
    """The response that stands for the command hook's ``answer`` to an ``event`` (its
    ``hook_event_name``, None when the request did not carry one)."""
    if answer.exit_code == 0:
        return Reply(200, answer.stdout.encode("utf-8"), 0)
    reason = answer.stderr.rstrip("\n") or f"agentos failed (exit {answer.exit_code})"
    return Reply(200, blocking_body(agent, event, reason), answer.exit_code)


def refusal(
    agent: str | None,
    status: int,
    reason: str,
    *,
    headers: tuple[tuple[str, str], ...] = (),
) -> Reply:
    """A request refused before any hook ran: ``status``, and a block naming ``reason``."""
    return Reply(
        status, blocking_body(agent, None, f"agentos serve: {reason}"), EXIT_BLOCK, headers
    )


def blocking_body(agent: str | None, event: str | None, reason: str) -> bytes:
    """The JSON that blocks ``event`` in ``agent``'s protocol, with ``reason``."""
    if agent == "gemini" or event in _PERMISSION_EVENTS:
        return deny(cast("AgentName", agent or "claude"), reason).stdout.encode("utf-8")
    # Claude Code and Codex: their other events block with decision "block", and a
    # PreToolUse still reads it (as the deprecated form of deny).
    return json_line({"decision": "block", "reason": reason}).encode("utf-8")


def event_name(data: bytes) -> str | None:
    """The ``hook_event_name`` of an event body (None when it is not an event object)."""
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None
    name = value.get("hook_event_name") if isinstance(value, dict) else None
    return name if isinstance(name, str) and name else None
