"""How each agent reads a matcher and a pre-write hook's answer (``agentos.hooks.canary``),
and the canary event it would send."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agentos.hooks.canary import Answer, canary_event, classify, matcher_covers
from agentos.hooks.integrate import SPECS


def out(document: Any) -> str:
    return json.dumps(document)


CLAUDE_DENY = {
    "hookSpecificOutput": {
        "hookEventName": "PreToolUse",
        "permissionDecision": "deny",
        "permissionDecisionReason": "path-safety",
    }
}


def decision(value: str, reason: str = "r") -> dict[str, Any]:
    return {
        "hookSpecificOutput": {
            "hookEventName": "PreToolUse",
            "permissionDecision": value,
            "permissionDecisionReason": reason,
        }
    }


@pytest.mark.parametrize(
    ("agent", "answer", "blocks", "detail"),
    [
        # Claude Code: exit 2 blocks; exit 0 with a JSON deny blocks; nothing else does.
        ("claude", Answer(2, "", "denied"), True, "blocks (exit 2)"),
        ("claude", Answer(0, out(CLAUDE_DENY)), True, "permissionDecision 'deny'"),
        ("claude", Answer(0, out({"decision": "block", "reason": "x"})), True, "deprecated"),
        ("claude", Answer(0, out(decision("allow"))), False, "answers 'allow'"),
        ("claude", Answer(0, out(decision("ask"))), False, "asks the user instead"),
        ("claude", Answer(0, ""), False, "answers nothing"),
        ("claude", Answer(0, "{nope"), False, "not JSON"),
        ("claude", Answer(1, "", "boom"), False, "exits 1: Claude Code takes that as a non-"),
        (
            "claude",
            Answer(0, out({"hookSpecificOutput": {"permissionDecision": "deny"}})),
            False,
            "answers no decision",
        ),
        # Codex: exit 2 needs a reason on stderr; ask, allow, invalid JSON fail open.
        ("codex", Answer(2, "", "denied\n"), True, "exit 2 with a reason"),
        ("codex", Answer(2, "", "  "), False, "exits 2 without a reason"),
        ("codex", Answer(0, out(decision("deny"))), True, "permissionDecision 'deny'"),
        ("codex", Answer(0, out(decision("deny", " "))), False, "without a permission"),
        ("codex", Answer(0, out(decision("ask"))), False, "answers 'ask', which Codex treats"),
        ("codex", Answer(0, out(decision("allow"))), False, "answers 'allow'"),
        ("codex", Answer(0, out({"decision": "block", "reason": "no"})), True, "decision 'block'"),
        ("codex", Answer(0, out({"decision": "deny", "reason": "no"})), False, "does not accept"),
        ("codex", Answer(0, out({**decision("deny"), "extra": 1})), False, "extra, which Codex"),
        (
            "codex",
            Answer(0, out({"hookSpecificOutput": {"permissionDecision": "deny"}})),
            False,
            "no hookEventName",
        ),
        ("codex", Answer(0, '{"decision":'), False, "not JSON"),
        ("codex", Answer(3, "", "x"), False, "exits 3"),
        # Gemini CLI: a JSON decision deny/block, or text with an exit code other than 0/1.
        ("gemini", Answer(0, out({"decision": "deny", "reason": "x"})), True, "'deny'"),
        ("gemini", Answer(0, out({"decision": "block"})), True, "'block'"),
        ("gemini", Answer(2, "", "refused"), True, "exit 2 with a reason"),
        ("gemini", Answer(2, "", ""), False, "answers nothing (exit 2)"),
        ("gemini", Answer(0, out({"decision": "allow"})), False, "answers 'allow'"),
        ("gemini", Answer(0, "garbage"), False, "not JSON (exit 0)"),
        ("gemini", Answer(1, "", "oops"), False, "not JSON (exit 1)"),
        ("gemini", Answer(0, out({"continue": False})), True, "stops the agent"),
        # Whatever the agent: a timeout or a command that cannot run lets the write through.
        ("claude", Answer(None, timed_out=True), False, "no answer within 0.5s"),
        ("gemini", Answer(None, error="sh: not found"), False, "cannot run"),
    ],
)
def test_answers_are_read_as_the_agent_reads_them(
    agent: str, answer: Answer, blocks: bool, detail: str
) -> None:
    verdict = classify(SPECS[agent], answer, waited=0.5)
    assert verdict.blocks is blocks
    assert detail in verdict.detail


@pytest.mark.parametrize(
    ("agent", "matcher", "tool", "covers"),
    [
        ("claude", SPECS["claude"].matcher, "MultiEdit", True),
        ("claude", SPECS["claude"].matcher, "mcp__fs__write_file", True),
        ("claude", SPECS["claude"].matcher, "NotebookRead", False),
        ("claude", "Write|MultiEdit", "Edit", False),  # exact names: not a substring search
        ("claude", "Edit, Write", "Write", True),
        ("claude", "Edit.*", "Edit", True),
        ("claude", "*", "Edit", True),
        ("claude", None, "Edit", True),
        ("claude", "[", "Edit", None),
        ("codex", "apply_patch", "apply_patch", True),
        ("codex", "Edit|Write", "apply_patch", True),  # Codex's matcher aliases
        ("codex", "^Bash$", "apply_patch", False),
        ("codex", "apply", "apply_patch", False),
        ("codex", "", "apply_patch", True),
        ("gemini", "write_file", "write_file", True),
        ("gemini", "^(write_file|replace)$", "replace", True),
        ("gemini", "write_file", "replace", False),
        ("gemini", "[", "[", True),  # an invalid pattern is compared as a string
        ("gemini", 3, "replace", None),
    ],
)
def test_matchers_are_read_as_the_agent_reads_them(
    agent: str, matcher: object, tool: str, covers: bool | None
) -> None:
    assert matcher_covers(SPECS[agent], matcher, tool) is covers


@pytest.mark.parametrize("agent", ["claude", "codex", "gemini"])
def test_the_canary_asks_for_a_write_inside_git(agent: str, tmp_path: Path) -> None:
    spec = SPECS[agent]
    event = canary_event(spec, tmp_path, session="s1", now="2024-01-01T00:00:00.000000Z")
    assert event["hook_event_name"] == spec.pre_write
    assert event["cwd"] == str(tmp_path)
    assert event["session_id"] == "s1"
    assert event["tool_name"] in spec.write_tools
    text = json.dumps(event["tool_input"])
    assert ".git/agentos-doctor-canary" in text
    if agent == "codex":
        assert event["tool_input"]["command"].startswith("*** Begin Patch\n*** Add File: .git/")
        assert {"turn_id", "model", "tool_use_id", "permission_mode"} <= set(event)
    else:
        assert event["tool_input"]["file_path"] == str(tmp_path / ".git/agentos-doctor-canary")
