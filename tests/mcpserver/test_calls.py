"""One tool call, in process (``agentos.mcpserver.calls``): the same results as the command
line's ``--json``, errors that say what to do, and every success matching its output schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from agentos.mcpserver.calls import call_tool
from agentos.mcpserver.catalog import BY_NAME
from agentos.mcpserver.replies import Reply, ToolSession
from helpers import Cli, read_tree, write_tree

jsonschema = pytest.importorskip("jsonschema")

APP = "def main():\n    return 1\n"
PATCH = (
    "*** Begin Patch\n*** Update File: src/app.py\n@@\n-    return 1\n+    return 2\n"
    "*** End Patch\n"
)


def set_policy(ws: Path, **sections: Any) -> None:
    policy: dict[str, Any] = {"executor": {"allowed_paths": ["src/**"]}, **sections}
    path = ws / "agent" / "policies" / "default.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(policy))


@pytest.fixture
def ws(workspace: Path) -> Path:
    write_tree(workspace, {"src/app.py": APP})
    set_policy(workspace)
    return workspace


@pytest.fixture
def session(ws: Path) -> ToolSession:
    return ToolSession(ws)


def ok(session: ToolSession, name: str, arguments: dict[str, Any]) -> Reply:
    """A call that must succeed, checked against its tool's output schema."""
    reply = call_tool(session, name, arguments)
    assert not reply.is_error, reply.text
    jsonschema.validate(reply.structured, BY_NAME[name].output)
    return reply


def cli_result(cli: Cli, *args: str | Path) -> dict[str, Any]:
    result: dict[str, Any] = cli(*args, "--json").json()["result"]
    return result


def test_the_pipeline_tools_return_what_the_command_line_prints(
    session: ToolSession, ws: Path, cli: Cli
) -> None:
    planned = ok(session, "plan", {"input": PATCH, "intent": "two"})
    plan_id = planned.structured["plan_id"]
    (ws.parent / "change.patch").write_text(PATCH)
    by_cli = cli_result(cli, "plan", ws.parent / "change.patch", "--intent", "two", "-C", ws)
    assert set(planned.structured) == set(by_cli)
    assert planned.structured["checksum"] == by_cli["checksum"]
    assert planned.structured["author"] == "mcp-client"
    assert ok(session, "check", {"plan": plan_id}).structured == cli_result(
        cli, "check", plan_id, "-C", ws
    )
    shown = ok(session, "show", {"ref": plan_id, "diff": True}).structured
    assert shown == cli_result(cli, "show", plan_id, "--diff", "-C", ws)
    applied = ok(session, "apply", {"plan": plan_id}).structured
    execution_id = applied["execution_id"]
    assert applied["status"] == "committed"
    again = ok(session, "apply", {"plan": plan_id}).structured
    assert again["status"] == "already_applied"
    assert ok(session, "status", {}).structured == cli_result(cli, "status", "-C", ws)
    assert ok(session, "history", {"limit": 0}).structured == cli_result(
        cli, "history", "--limit", "0", "-C", ws
    )
    timeline = ok(session, "show", {"ref": execution_id}).structured
    assert timeline == cli_result(cli, "show", execution_id, "-C", ws)
    undone = ok(session, "rollback", {"execution_id": execution_id}).structured
    assert undone["parent"] == execution_id
    assert (ws / "src" / "app.py").read_text() == APP


def test_plan_takes_claude_style_calls(session: ToolSession, ws: Path) -> None:
    calls = [
        {
            "tool_name": "Edit",
            "tool_input": {
                "file_path": str(ws / "src" / "app.py"),
                "old_string": "return 1",
                "new_string": "return 3",
            },
        },
        {"tool_name": "Write", "tool_input": {"file_path": "src/new.py", "content": "N = 1\n"}},
    ]
    planned = ok(session, "plan", {"calls": calls})
    assert [c["path"] for c in planned.structured["changes"]] == ["src/app.py", "src/new.py"]
    both = call_tool(session, "plan", {"calls": calls, "input": PATCH})
    neither = call_tool(session, "plan", {})
    assert both.is_error and neither.is_error
    assert "one of them" in both.text


def test_every_write_tool_plans_gates_and_applies(session: ToolSession, ws: Path) -> None:
    dry = ok(session, "apply_patch", {"patch": PATCH, "dryRun": True})
    assert dry.structured["apply"] is None and "+    return 2" in dry.structured["diff"]
    assert (ws / "src" / "app.py").read_text() == APP
    ok(session, "apply_patch", {"patch": PATCH})
    ok(session, "write_file", {"path": "src/b.py", "content": "B = 1\n"})
    ok(session, "move_file", {"source": "src/b.py", "destination": "src/c.py"})
    edit = {"path": "src/c.py", "edits": [{"oldText": "B = 1", "newText": "C = 1"}]}
    ok(session, "edit_file", edit)
    assert read_tree(ws, skip=(".git", ".agentos", "agent")) == {
        "src/app.py": (b"def main():\n    return 2\n", "100644"),
        "src/c.py": (b"C = 1\n", "100644"),
    }


def test_a_write_that_does_not_apply_says_why(session: ToolSession, ws: Path) -> None:
    edit = {"path": "src/app.py", "edits": [{"oldText": "return 9", "newText": "return 2"}]}
    reply = call_tool(session, "edit_file", edit)
    assert reply.is_error
    assert reply.structured["error"]["type"] == "patch_does_not_apply"
    assert "src/app.py" in reply.text
    assert (ws / "src" / "app.py").read_text() == APP


def test_approve_is_a_policy_decision(session: ToolSession, ws: Path) -> None:
    waiting = call_tool(session, "write_file", {"path": "src/security/a.py", "content": "A\n"})
    assert waiting.is_error and waiting.pending is not None
    plan_id = waiting.pending.plan_id
    refused = call_tool(session, "approve", {"plan": plan_id, "by": "alice"})
    assert refused.is_error and refused.structured["error"]["type"] == "denied"
    assert f"agentos approve {plan_id} --by NAME -C {ws}" in refused.text
    set_policy(ws, agents={"mcp_approvals": "tool"})
    approved = ok(session, "approve", {"plan": plan_id, "by": "alice", "comment": "fine"})
    assert approved.structured["verdict"] == "APPROVED"
    self_approval = call_tool(session, "approve", {"plan": plan_id, "by": "mcp-client"})
    assert self_approval.is_error
    applied = ok(session, "apply", {"plan": plan_id})
    assert applied.structured["status"] == "committed"


def test_bad_arguments_name_the_field(session: ToolSession) -> None:
    cases = {
        ("edit_file", json.dumps({"path": "src/app.py", "edits": []})): "edits",
        ("history", json.dumps({"limit": -1})): "limit",
        ("read_text_file", json.dumps({"path": 3})): "path",
        ("status", json.dumps({"verbose": True})): "verbose",
        ("rollback", json.dumps({})): "execution_id or last",
    }
    for (name, arguments), named in cases.items():
        reply = call_tool(session, name, json.loads(arguments))
        assert reply.is_error and named in reply.text, reply.text
        assert reply.structured["error"]["type"] == "usage_error"


def test_a_bug_is_one_line_with_the_traceback_kept(
    session: ToolSession, ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTOS_FAULTS", "plan.before_write=error")
    reply = call_tool(session, "write_file", {"path": "src/x.py", "content": "X\n"})
    assert reply.is_error
    assert reply.structured["error"]["type"] == "internal_error"
    log = Path(reply.structured["error"]["details"]["log"])
    assert log.is_file() and "Traceback" in log.read_text()
    assert "\n" not in reply.text


def test_an_invalid_policy_is_an_error_result_until_it_is_fixed(
    session: ToolSession, ws: Path
) -> None:
    (ws / "agent" / "policies" / "default.yaml").write_text("writegate: {forbidden_paths: 3}\n")
    broken = call_tool(session, "status", {})
    assert broken.is_error and "forbidden_paths" in broken.text
    set_policy(ws)
    assert not call_tool(session, "status", {}).is_error


def test_a_plan_file_is_named_relative_to_the_workspace_not_the_server(
    session: ToolSession, ws: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    planned = ok(session, "plan", {"input": PATCH})
    stored = ws / ".agentos" / "plans" / f"{planned.structured['plan_id']}.json"
    (ws / "mine.json").write_bytes(stored.read_bytes())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # where the server process happens to run
    checked = ok(session, "check", {"plan": "mine.json"}).structured
    assert checked["plan_id"] == planned.structured["plan_id"]


def test_the_plan_tool_keeps_the_marks_of_generated_ids(session: ToolSession, ws: Path) -> None:
    reply = call_tool(session, "plan", {"input": PATCH, "plan_id": "plan-3e5c"})
    assert reply.is_error and "keeps for the ids it makes" in reply.text
    assert reply.structured["error"]["type"] == "usage_error"
    assert not list((ws / ".agentos" / "plans").glob("*.json"))
    assert not ok(session, "plan", {"input": PATCH, "plan_id": "pr-3e5c"}).is_error
