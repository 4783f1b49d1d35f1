"""``agentos hook AGENT``: every documented event shape gets the right decision in the right
protocol, byte for byte; whatever agentos cannot judge is blocked (fail closed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from agentos.hooks.protocols import AgentName, Answer
from agentos.hooks.run import answer
from helpers import REPO_ROOT, trail, write_tree

FIXTURES = REPO_ROOT / "tests" / "data" / "hooks"
APP = b'def greet():\n    return "hello"\n'
EDITED = b'def greet():\n    return "hello, world"\n'


def event(agent: str, name: str, ws: Path, **changes: Any) -> bytes:
    """A fixture event for ``ws`` (``tool_input`` keys in ``changes`` replace the fixture's)."""
    text = (FIXTURES / agent / f"{name}.json").read_text().replace("__WORKSPACE__", str(ws))
    doc = json.loads(text)
    for key, value in changes.items():
        if key == "tool_input":
            doc["tool_input"] = value
        else:
            doc[key] = value
    return json.dumps(doc).encode()


@pytest.fixture
def ws(workspace: Path) -> Path:
    """A workspace agentos already keeps state in (``.agentos/`` exists), with one file."""
    write_tree(workspace, {"src/app.py": APP})
    (workspace / ".agentos").mkdir()
    return workspace


def agents_policy(ws: Path, agents: dict[str, Any]) -> None:
    """Give ``ws`` a policy of its own whose ``agents`` section is ``agents``."""
    policy = ws / "agent" / "policies" / "default.yaml"
    policy.parent.mkdir(parents=True, exist_ok=True)
    policy.write_text(yaml.safe_dump({"agents": agents}))


def only_plan_id(ws: Path) -> str:
    [plan] = (ws / ".agentos" / "plans").glob("*.json")
    return plan.stem


def permission(decision: str, reason: str) -> str:
    body = {
        "hookSpecificOutput": {
            "hookEventName": "PreToolUse",
            "permissionDecision": decision,
            "permissionDecisionReason": reason,
        }
    }
    return json.dumps(body, sort_keys=True) + "\n"


# -- allowed writes --------------------------------------------------------------------------


def test_claude_edit_is_allowed_in_claude_json(ws: Path) -> None:
    reply = answer("claude", event("claude", "pre_edit", ws))
    reason = f"agentos allowed this write (plan {only_plan_id(ws)}, risk LOW)"
    assert reply == Answer(stdout=permission("allow", reason))
    assert (ws / "src/app.py").read_bytes() == APP  # the agent writes, not the hook


def test_codex_apply_patch_allowed_is_no_objection(ws: Path) -> None:
    # Codex reads a bare allow as "no decision": the allow is no output at all.
    assert answer("codex", event("codex", "pre_apply_patch", ws)) == Answer()
    assert "gate.evaluated" in [e["event"] for e in trail(ws)]


def test_codex_heredoc_in_a_shell_call_is_planned_as_a_write(ws: Path) -> None:
    assert answer("codex", event("codex", "pre_apply_patch_heredoc", ws)) == Answer()
    names = [e["event"] for e in trail(ws)]
    assert names.count("agent.staged") == 1


def test_gemini_replace_is_allowed_in_gemini_json(ws: Path) -> None:
    reply = answer("gemini", event("gemini", "before_replace", ws))
    reason = f"agentos allowed this write (plan {only_plan_id(ws)}, risk LOW)"
    body = json.dumps({"decision": "allow", "reason": reason}, sort_keys=True) + "\n"
    assert reply == Answer(stdout=body)


@pytest.mark.parametrize(
    ("agent", "name"),
    [
        ("claude", "pre_write"),
        ("claude", "pre_multiedit"),
        ("claude", "pre_mcp_write_file"),
        ("claude", "pre_mcp_edit_file"),
        ("gemini", "before_write_file"),
    ],
)
def test_every_write_shape_is_planned_and_allowed(ws: Path, agent: AgentName, name: str) -> None:
    reply = answer(agent, event(agent, name, ws))
    assert reply.exit_code == 0
    assert json.loads(reply.stdout).get("decision", "allow") == "allow" or (
        json.loads(reply.stdout)["hookSpecificOutput"]["permissionDecision"] == "allow"
    )
    assert [e["event"] for e in trail(ws)].count("agent.staged") == 1


# -- refused writes ----------------------------------------------------------------------------


def test_claude_write_to_dotenv_is_denied(ws: Path) -> None:
    data = event(
        "claude",
        "pre_write",
        ws,
        tool_input={"file_path": str(ws / ".env"), "content": "TOKEN=x\n"},
    )
    reply = answer("claude", data)
    assert reply.exit_code == 0
    output = json.loads(reply.stdout)["hookSpecificOutput"]
    assert output["permissionDecision"] == "deny"
    assert output["permissionDecisionReason"].startswith(
        "agentos denied this write: [forbidden-path] .env:"
    )
    assert not (ws / ".env").exists()
    assert not (ws / ".agentos" / "backups").exists()  # nothing staged


def test_codex_deny_is_the_json_deny(ws: Path) -> None:
    patch = "*** Begin Patch\n*** Add File: .env\n+TOKEN=x\n*** End Patch\n"
    reply = answer("codex", event("codex", "pre_apply_patch", ws, tool_input={"command": patch}))
    output = json.loads(reply.stdout)["hookSpecificOutput"]
    assert (output["hookEventName"], output["permissionDecision"]) == ("PreToolUse", "deny")
    assert "[forbidden-path] .env" in output["permissionDecisionReason"]


def test_gemini_deny_is_a_decision(ws: Path) -> None:
    data = event(
        "gemini",
        "before_write_file",
        ws,
        tool_input={"file_path": str(ws / ".env"), "content": "TOKEN=x\n"},
    )
    reply = answer("gemini", data)
    body = json.loads(reply.stdout)
    assert body["decision"] == "deny"
    assert body["reason"].startswith("agentos denied this write: [forbidden-path] .env:")


def test_a_path_outside_the_workspace_is_denied_naming_it(ws: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.py"
    data = event(
        "claude", "pre_write", ws, tool_input={"file_path": str(outside), "content": "x\n"}
    )
    reply = answer("claude", data)
    reason = json.loads(reply.stdout)["hookSpecificOutput"]["permissionDecisionReason"]
    assert json.loads(reply.stdout)["hookSpecificOutput"]["permissionDecision"] == "deny"
    assert str(outside) in reason
    assert not outside.exists()


def test_an_edit_whose_text_is_missing_is_denied(ws: Path) -> None:
    data = event(
        "claude",
        "pre_edit",
        ws,
        tool_input={"file_path": str(ws / "src/app.py"), "old_string": "nope", "new_string": "x"},
    )
    reply = answer("claude", data)
    output = json.loads(reply.stdout)["hookSpecificOutput"]
    assert output["permissionDecision"] == "deny"
    assert "src/app.py" in output["permissionDecisionReason"]


MIGRATION = {"file_path": "", "content": "create table t (x int);\n"}
MIGRATION_PATCH = (
    "*** Begin Patch\n*** Add File: src/migrations/001.sql\n+create table t;\n*** End Patch\n"
)


@pytest.mark.parametrize(
    ("agent", "fixture", "expected"),
    [("claude", "pre_write", "ask"), ("gemini", "before_write_file", "ask")],
)
def test_need_approval_asks_where_the_agent_can(
    ws: Path, agent: AgentName, fixture: str, expected: str
) -> None:
    tool_input = {**MIGRATION, "file_path": str(ws / "src/migrations/001.sql")}
    reply = answer(agent, event(agent, fixture, ws, tool_input=tool_input))
    body = json.loads(reply.stdout)
    decision = body.get("decision") or body["hookSpecificOutput"]["permissionDecision"]
    assert decision == expected
    # The user may say yes in the agent: the write is staged, so it can be recorded and undone.
    assert [e["event"] for e in trail(ws)].count("agent.staged") == 1


def test_need_approval_is_a_deny_naming_the_command_for_codex(ws: Path) -> None:
    patch = (
        "*** Begin Patch\n*** Add File: src/migrations/001.sql\n+create table t;\n*** End Patch\n"
    )
    reply = answer("codex", event("codex", "pre_apply_patch", ws, tool_input={"command": patch}))
    output = json.loads(reply.stdout)["hookSpecificOutput"]
    assert output["permissionDecision"] == "deny"
    plan_id = only_plan_id(ws)
    assert f"agentos approve {plan_id} --by <name>" in output["permissionDecisionReason"]


def test_approved_plan_is_then_allowed(ws: Path, cli: Any) -> None:
    patch = (
        "*** Begin Patch\n*** Add File: src/migrations/001.sql\n+create table t;\n*** End Patch\n"
    )
    data = event("codex", "pre_apply_patch", ws, tool_input={"command": patch})
    answer("codex", data)
    res = cli("approve", only_plan_id(ws), "--by", "alice", "-C", ws, "--json")
    assert res.code == 0, res.out + res.err
    assert answer("codex", data) == Answer()


# -- failing closed ---------------------------------------------------------------------------


@pytest.mark.parametrize("agent", ["claude", "codex", "gemini"])
@pytest.mark.parametrize(
    "data", [b"not json", b"[]", b'{"cwd": "/"}', b'{"hook_event_name": "PreToolUse"}']
)
def test_an_unreadable_event_is_blocked_with_exit_2(agent: AgentName, data: bytes) -> None:
    if agent == "gemini" and b"PreToolUse" in data:
        data = data.replace(b"PreToolUse", b"BeforeTool")
    reply = answer(agent, data)
    assert reply.exit_code == 2
    assert reply.stdout == ""
    assert reply.stderr.startswith("agentos: ")
    assert reply.stderr.count("\n") == 1
    assert "blocked" in reply.stderr


def test_an_unknown_tool_is_denied(ws: Path) -> None:
    data = event(
        "claude", "pre_write", ws, tool_name="mcp__github__create_file", tool_input={"x": 1}
    )
    output = json.loads(answer("claude", data).stdout)["hookSpecificOutput"]
    assert output["permissionDecision"] == "deny"
    assert "agents.passthrough_tools" in output["permissionDecisionReason"]


def test_a_write_tool_agentos_cannot_plan_is_always_denied(ws: Path) -> None:
    agents_policy(ws, {"passthrough_tools": ["Notebook*"]})
    data = event(
        "claude", "pre_write", ws, tool_name="NotebookEdit", tool_input={"notebook_path": "x"}
    )
    output = json.loads(answer("claude", data).stdout)["hookSpecificOutput"]
    assert output["permissionDecision"] == "deny"
    assert "cannot plan what NotebookEdit writes" in output["permissionDecisionReason"]


def test_passthrough_tools_from_the_policy_get_no_opinion(ws: Path) -> None:
    agents_policy(ws, {"passthrough_tools": ["mcp__github__*"]})
    data = event(
        "claude", "pre_write", ws, tool_name="mcp__github__create_issue", tool_input={"x": 1}
    )
    assert answer("claude", data) == Answer()


def test_turn_events_in_a_directory_nothing_set_up_get_no_answer(tmp_path: Path) -> None:
    plain = tmp_path / "home"
    plain.mkdir()
    for name in ("user_prompt_submit", "stop"):
        assert answer("claude", event("claude", name, plain)) == Answer()
    assert not (plain / ".agentos").exists()


@pytest.mark.parametrize(
    ("agent", "name"),
    [("claude", "pre_bash"), ("codex", "pre_bash"), ("gemini", "before_run_shell_command")],
)
def test_shell_calls_get_no_opinion(ws: Path, agent: AgentName, name: str) -> None:
    assert answer(agent, event(agent, name, ws)) == Answer()


def test_an_invalid_policy_blocks_every_write(ws: Path) -> None:
    policy = ws / "agent" / "policies" / "default.yaml"
    policy.parent.mkdir(parents=True)
    policy.write_text("writegate: [not, a, mapping]\n")
    reply = answer("claude", event("claude", "pre_edit", ws))
    assert reply.exit_code == 2
    assert "default.yaml" in reply.stderr
    assert reply.stderr.endswith("the tool call was blocked (fail closed)\n")


def _hold_lock(ws: Path) -> Any:
    from filelock import FileLock

    (ws / ".agentos").mkdir(exist_ok=True)
    lock = FileLock(str(ws / ".agentos" / "lock"))
    lock.acquire()
    return lock


def test_a_busy_lock_blocks_the_write(ws: Path) -> None:
    agents_policy(ws, {"lock_timeout": 0})
    lock = _hold_lock(ws)
    try:
        reply = answer("claude", event("claude", "pre_edit", ws))
    finally:
        lock.release()
    assert reply.exit_code == 2
    assert "locked" in reply.stderr


def test_failing_open_is_explicit_and_audited(ws: Path) -> None:
    agents_policy(ws, {"lock_timeout": 0, "on_error": "allow"})
    lock = _hold_lock(ws)
    try:
        reply = answer("claude", event("claude", "pre_edit", ws))
    finally:
        lock.release()
    output = json.loads(reply.stdout)["hookSpecificOutput"]
    assert output["permissionDecision"] == "allow"
    assert "agents.on_error: allow" in output["permissionDecisionReason"]
    [failed] = [e for e in trail(ws) if e["event"] == "hook.failed_open"]
    assert failed["data"]["agent"] == "claude"
    assert "locked" in failed["data"]["error"]


def test_a_bug_is_blocked_and_its_traceback_saved(
    ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agentos.pipeline import agents

    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(agents, "pre_write", broken)
    reply = answer("claude", event("claude", "pre_edit", ws))
    assert reply.exit_code == 2
    assert "internal error: RuntimeError: boom" in reply.stderr
    assert list((ws / ".agentos" / "logs").glob("agentos-internal-*.log"))


# -- after the tool ran, and at the end of the turn ---------------------------------------------


def test_post_write_records_the_edit_silently(ws: Path) -> None:
    answer("claude", event("claude", "pre_edit", ws))
    (ws / "src/app.py").write_bytes(EDITED)
    assert answer("claude", event("claude", "post_edit", ws)) == Answer()
    [committed] = [e for e in trail(ws) if e["event"] == "apply.committed"]
    assert committed["data"]["kind"] == "agent"
    assert committed["data"]["diverged"] == []


def test_post_write_tells_claude_when_the_tool_wrote_something_else(ws: Path) -> None:
    answer("claude", event("claude", "pre_edit", ws))
    (ws / "src/app.py").write_bytes(b"something else\n")
    reply = answer("claude", event("claude", "post_edit", ws))
    output = json.loads(reply.stdout)["hookSpecificOutput"]
    assert output["hookEventName"] == "PostToolUse"
    assert "src/app.py" in output["additionalContext"]
    assert "diverged" in output["additionalContext"]


def test_stop_reports_a_shell_write_to_the_user(ws: Path) -> None:
    assert answer("claude", event("claude", "user_prompt_submit", ws)) == Answer()
    (ws / "src" / "y.py").write_bytes(b"x\n")
    reply = answer("claude", event("claude", "stop", ws))
    body = json.loads(reply.stdout)
    assert body == {
        "systemMessage": "agentos: 1 file changed outside agentos: src/y.py (created) "
        "(see 'agentos sweep')"
    }


def test_stop_in_block_mode_stops_the_agent_and_blocks_later_writes(ws: Path) -> None:
    agents_policy(ws, {"bypass": "block"})
    answer("gemini", event("gemini", "before_agent", ws))
    (ws / "src" / "y.py").write_bytes(b"x\n")
    body = json.loads(answer("gemini", event("gemini", "after_agent", ws)).stdout)
    assert body["continue"] is False
    assert "src/y.py (created)" in body["stopReason"]
    # A new turn does not forget it, and writes stay blocked until someone accepts.
    answer("gemini", event("gemini", "before_agent", ws))
    denied = json.loads(answer("gemini", event("gemini", "before_replace", ws)).stdout)
    assert denied["decision"] == "deny"
    assert "agentos sweep --accept" in denied["reason"]


def test_turn_events_without_changes_answer_nothing(ws: Path) -> None:
    for agent, start, end in [
        ("claude", "user_prompt_submit", "stop"),
        ("codex", "user_prompt_submit", "stop"),
        ("gemini", "before_agent", "after_agent"),
    ]:
        assert answer(agent, event(agent, start, ws)) == Answer()  # type: ignore[arg-type]
        assert answer(agent, event(agent, end, ws)) == Answer()  # type: ignore[arg-type]
