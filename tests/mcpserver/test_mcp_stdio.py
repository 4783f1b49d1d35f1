"""``agentos mcp`` as a client meets it: a real server process driven through the MCP SDK's
stdio client (which also checks every successful result against the tool's output schema)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml
from mcpclient import AGENTOS, Called, call, connected

from helpers import REPO_ROOT, read_tree, trail, write_tree

# The tool list as published (make schemas writes it from the catalog).
TOOLS_FILE = REPO_ROOT / "docs" / "schemas" / "mcp-tools.json"
APP = "def main():\n    return 1\n"


def set_policy(ws: Path, **sections: Any) -> None:
    """A policy of the workspace's own: agentos may write src/ and docs/; ``sections`` added."""
    policy: dict[str, Any] = {"executor": {"allowed_paths": ["src/**", "docs/**"]}}
    for name, value in sections.items():
        policy.setdefault(name, {}).update(value)
    path = ws / "agent" / "policies" / "default.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(policy))


@pytest.fixture
def ws(workspace: Path) -> Path:
    write_tree(workspace, {"src/app.py": APP, "docs/notes.md": "notes\n", ".env": "TOKEN=x\n"})
    set_policy(workspace)
    return workspace


def run(coro: Any) -> Any:
    return anyio.run(lambda: coro)


def tools_listing() -> list[dict[str, Any]]:
    async def listed() -> list[dict[str, Any]]:
        async with connected(Path.cwd()) as client:
            tools = await client.list_tools()
            return [
                t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in tools.tools
            ]

    return run(listed())


def test_the_tool_list_and_every_schema_are_pinned(
    ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agentos.mcpserver.catalog import tool_list

    monkeypatch.chdir(ws)
    listed = tools_listing()
    published = json.loads(TOOLS_FILE.read_text("utf-8"))
    assert published == tool_list(), "run 'make schemas' to publish the changed tool list"
    assert listed == published
    names = [t["name"] for t in listed]
    assert names[:8] == [
        "plan",
        "check",
        "approve",
        "apply",
        "rollback",
        "status",
        "history",
        "show",
    ]
    assert {"edit_file", "write_file", "move_file", "apply_patch"} <= set(names)
    assert {"read_text_file", "list_directory", "search_files"} <= set(names)
    for tool in listed:
        assert set(tool["annotations"]) >= {"readOnlyHint", "destructiveHint", "idempotentHint"}
        assert tool["inputSchema"]["type"] == "object"
        assert tool["outputSchema"]["type"] == "object"


def test_output_schemas_are_valid_json_schema() -> None:
    from jsonschema import Draft202012Validator

    from agentos.mcpserver.catalog import TOOLS

    for spec in TOOLS:
        Draft202012Validator.check_schema(spec.output)
        Draft202012Validator.check_schema(spec.input_schema())


def test_a_dry_run_writes_nothing_and_returns_the_diff(ws: Path) -> None:
    before = read_tree(ws)
    edit = {"path": "src/app.py", "edits": [{"oldText": "return 1", "newText": "return 2"}]}

    async def scenario() -> Called:
        async with connected(ws) as client:
            return await call(client, "edit_file", {**edit, "dryRun": True})

    got = run(scenario())
    assert not got.is_error
    assert got.structured["dry_run"] is True
    assert got.structured["apply"] is None
    assert got.structured["verdict"] == "ALLOW"
    assert "-    return 1\n+    return 2\n" in got.structured["diff"]
    assert "+    return 2" in got.text
    assert read_tree(ws) == before


def test_an_allowed_edit_is_applied_recorded_and_undone(ws: Path) -> None:
    edit = {"path": str(ws / "src" / "app.py"), "edits": [{"oldText": "1", "newText": "2"}]}

    async def scenario() -> tuple[Called, Called, Called]:
        async with connected(ws) as client:
            applied = await call(client, "edit_file", edit)
            history = await call(client, "history", {"limit": 5})
            undone = await call(client, "rollback", {"last": True})
            return applied, history, undone

    applied, history, undone = run(scenario())
    assert not applied.is_error, applied.text
    execution = applied.structured["apply"]
    assert execution["status"] == "committed"
    assert [f["path"] for f in execution["files"]] == ["src/app.py"]
    assert history.structured["executions"][0]["execution_id"] == execution["execution_id"]
    assert undone.structured["status"] == "committed"
    assert undone.structured["parent"] == execution["execution_id"]
    assert (ws / "src" / "app.py").read_text() == APP
    events = [e["event"] for e in trail(ws)]
    assert "apply.committed" in events
    assert next(e["actor"] for e in trail(ws) if e["event"] == "plan.created") == "mcp-client"


def test_a_forbidden_write_is_an_error_result_with_the_finding(ws: Path) -> None:
    async def scenario() -> tuple[Called, Called]:
        async with connected(ws) as client:
            refused = await call(client, "write_file", {"path": ".env", "content": "TOKEN=y\n"})
            after = await call(client, "status", {})
            return refused, after

    refused, after = run(scenario())
    assert refused.is_error
    assert refused.structured["apply"]["status"] == "denied"
    rules = {f["rule"] for f in refused.structured["plan"]["findings"]}
    assert "forbidden-path" in rules
    assert "forbidden-path" in refused.text
    assert (ws / ".env").read_text() == "TOKEN=x\n"
    assert not after.is_error  # the server lives on


def test_a_plan_that_needs_approval_is_applied_after_agentos_approve(ws: Path) -> None:
    change = {"path": "src/security/guard.py", "content": "ALLOWED = ()\n"}

    async def propose() -> Called:
        async with connected(ws) as client:
            return await call(client, "write_file", change)

    waiting = run(propose())
    assert waiting.is_error
    plan_id = waiting.structured["plan"]["plan_id"]
    assert waiting.structured["apply"]["status"] == "needs_approval"
    assert f"approve {plan_id} --by NAME" in waiting.text
    assert not (ws / "src" / "security").exists()
    approved = subprocess.run(
        [AGENTOS, "approve", plan_id, "--by", "alice", "-C", str(ws)],
        capture_output=True,
        check=False,
    )
    assert approved.returncode == 0, approved.stderr

    async def finish() -> tuple[Called, Called]:
        async with connected(ws) as client:
            applied = await call(client, "apply", {"plan": plan_id})
            undone = await call(
                client, "rollback", {"execution_id": applied.structured["execution_id"]}
            )
            return applied, undone

    applied, undone = run(finish())
    assert applied.structured["status"] == "committed", applied.text
    assert not undone.is_error
    assert not (ws / "src" / "security" / "guard.py").exists()


def test_malformed_arguments_are_a_tool_error_not_a_dead_server(ws: Path) -> None:
    async def scenario() -> list[Called]:
        async with connected(ws) as client:
            return [
                await call(client, "edit_file", {"path": "src/app.py"}),
                await call(client, "edit_file", {"path": 3, "edits": []}),
                await call(client, "write_file", {"path": "src/x.py", "content": "", "bogus": 1}),
                await call(client, "nope", {}),
                await call(client, "apply", {"plan": "no-such-plan"}),
                await call(client, "status", {}),
            ]

    *errors, status = run(scenario())
    assert all(e.is_error for e in errors)
    assert "edits: Field required" in errors[0].text
    assert errors[0].structured["error"]["type"] == "usage_error"
    assert "no tool 'nope'" in errors[3].text
    assert not status.is_error


def test_eight_concurrent_calls_end_as_some_serial_order(ws: Path) -> None:
    write_tree(ws, {"src/log.txt": "start\n"})
    patches = [
        f"*** Begin Patch\n*** Update File: src/log.txt\n@@\n start\n+line {i}\n*** End Patch\n"
        for i in range(8)
    ]

    async def scenario() -> list[Called]:
        results: list[Called] = []
        async with connected(ws) as client:

            async def one(patch: str) -> None:
                results.append(await call(client, "apply_patch", {"patch": patch}))

            async with anyio.create_task_group() as group:
                for patch in patches:
                    group.start_soon(one, patch)
        return results

    results = run(scenario())
    assert [r.is_error for r in results] == [False] * 8, [r.text for r in results]
    committed = [r.structured["apply"]["plan_id"] for r in results]
    lines = (ws / "src" / "log.txt").read_text().splitlines()
    assert lines[0] == "start" and sorted(lines[1:]) == [f"line {i}" for i in range(8)]
    # Each patch inserts right after "start": the file lists them in reverse serial order,
    # and the audit trail's order of commits is that serial order.
    order = [e["plan_id"] for e in trail(ws) if e["event"] == "apply.committed"]
    assert sorted(order) == sorted(committed)
    line_of = {
        r.structured["plan"]["plan_id"]: next(
            added[1:] for added in r.structured["diff"].splitlines() if added.startswith("+line")
        )
        for r in results
    }
    assert [line_of[p] for p in reversed(order)] == lines[1:]
    verified = subprocess.run(
        [AGENTOS, "audit", "verify", "-C", str(ws)], capture_output=True, check=False
    )
    assert verified.returncode == 0, verified.stderr


def test_a_policy_edit_is_honoured_by_the_next_call(ws: Path) -> None:
    async def scenario() -> tuple[Called, Called]:
        async with connected(ws) as client:
            first = await call(client, "write_file", {"path": "docs/a.md", "content": "a\n"})
            set_policy(ws, writegate={"forbidden_paths": ["docs/**"]})
            second = await call(client, "write_file", {"path": "docs/b.md", "content": "b\n"})
            return first, second

    first, second = run(scenario())
    assert not first.is_error
    assert second.is_error
    assert "forbidden-path" in {f["rule"] for f in second.structured["plan"]["findings"]}
    from agentos.governance.policyfile import load_policy
    from agentos.workspace import Workspace

    now = load_policy(None, Workspace.open(ws)).digest
    assert second.structured["apply"]["policy"]["digest"] == now
    assert first.structured["apply"]["policy"]["digest"] != now


def test_reads_are_bounded_by_the_policy(ws: Path) -> None:
    (ws / "src" / "link.txt").symlink_to(ws / ".env")

    async def scenario() -> list[Called]:
        async with connected(ws) as client:
            return [
                await call(client, "read_text_file", {"path": ".env"}),
                await call(client, "read_text_file", {"path": "src/link.txt"}),
                await call(client, "read_text_file", {"path": "../outside"}),
                await call(client, "read_text_file", {"path": "src/app.py", "head": 1}),
                await call(client, "list_directory", {"path": "."}),
                await call(client, "search_files", {"path": ".", "pattern": "*.py"}),
            ]

    env, link, outside, head, listing, found = run(scenario())
    assert env.is_error and "forbidden path" in env.text and "TOKEN" not in env.text
    assert link.is_error and "symbolic link" in link.text
    assert outside.is_error
    assert head.structured["content"] == "def main():\n"
    names = {e["name"] for e in listing.structured["entries"]}
    assert ".env" not in names and {"src", "docs"} <= names
    assert found.structured["matches"] == ["src/app.py"]
    refused = [e["data"]["path"] for e in trail(ws) if e["event"] == "read.refused"]
    assert ".env" in refused


@pytest.mark.parametrize("mode", ["auto", "legacy"])
def test_need_approval_asks_the_user_through_elicitation_where_the_policy_allows(
    ws: Path, mode: str
) -> None:
    import mcp_types as types

    set_policy(ws, agents={"mcp_approvals": "elicit"})
    asked: list[str] = []

    async def elicit(_ctx: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"approve": True, "approver": "alice"})

    async def scenario() -> Called:
        async with connected(ws, elicit=elicit, mode=mode) as client:
            return await call(
                client, "write_file", {"path": "src/security/g.py", "content": "X = 1\n"}
            )

    got = run(scenario())
    assert len(asked) == 1 and "needs 1 approval" in asked[0]
    assert not got.is_error, got.text
    assert got.structured["apply"]["status"] == "committed"
    assert "alice approved" in got.text
    approvals = [e for e in trail(ws) if e["event"] == "approval.recorded"]
    assert [a["actor"] for a in approvals] == ["alice"]


def test_elicitation_is_not_offered_when_the_policy_says_never(ws: Path) -> None:
    import mcp_types as types

    asked: list[str] = []

    async def elicit(_ctx: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"approve": True, "approver": "alice"})

    async def scenario() -> tuple[Called, Called]:
        async with connected(ws, elicit=elicit) as client:
            wrote = await call(
                client, "write_file", {"path": "src/security/g.py", "content": "X\n"}
            )
            plan_id = wrote.structured["plan"]["plan_id"]
            approve = await call(client, "approve", {"plan": plan_id, "by": "alice"})
            return wrote, approve

    wrote, approve = run(scenario())
    assert asked == []
    assert wrote.is_error and approve.is_error
    assert "agents.mcp_approvals: never" in approve.text
    assert not (ws / "src" / "security").exists()


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        ({"action": "decline"}, "did not approve"),
        ({"action": "accept", "content": {"approve": False, "approver": "alice"}}, "did not"),
        (
            {"action": "accept", "content": {"approve": True, "approver": "mcp-client"}},
            "Not approved",
        ),
    ],
)
def test_an_answer_that_is_no_approval_writes_nothing(
    ws: Path, answer: dict[str, Any], said: str
) -> None:
    import mcp_types as types

    set_policy(ws, agents={"mcp_approvals": "elicit"})

    async def elicit(_ctx: Any, _params: types.ElicitRequestParams) -> types.ElicitResult:
        return types.ElicitResult.model_validate(answer)

    async def scenario() -> Called:
        async with connected(ws, elicit=elicit) as client:
            return await call(client, "write_file", {"path": "src/security/g.py", "content": "X\n"})

    got = run(scenario())
    assert got.is_error and said in got.text
    assert not (ws / "src" / "security").exists()
    assert [e for e in trail(ws) if e["event"] == "approval.recorded"] == []


def test_apply_of_a_plan_that_needs_approval_asks_too(ws: Path) -> None:
    import mcp_types as types

    set_policy(ws, agents={"mcp_approvals": "elicit"})
    manifest = json.dumps(
        {"changes": [{"op": "create", "path": "src/security/h.py", "content": "H\n"}]}
    )

    async def elicit(_ctx: Any, _params: types.ElicitRequestParams) -> types.ElicitResult:
        return types.ElicitResult(action="accept", content={"approve": True, "approver": "bob"})

    async def scenario() -> tuple[Called, Called]:
        async with connected(ws, elicit=elicit) as client:
            planned = await call(client, "plan", {"input": manifest})
            applied = await call(client, "apply", {"plan": planned.structured["plan_id"]})
            return planned, applied

    planned, applied = run(scenario())
    assert planned.is_error and planned.structured["decision"] == "NEED_APPROVAL"
    assert not applied.is_error, applied.text
    assert applied.structured["status"] == "committed"
    assert (ws / "src" / "security" / "h.py").read_text() == "H\n"


def test_a_declined_approval_does_not_run_the_call_again(ws: Path) -> None:
    import mcp_types as types

    set_policy(ws, agents={"mcp_approvals": "elicit"})

    async def elicit(_ctx: Any, _params: types.ElicitRequestParams) -> types.ElicitResult:
        return types.ElicitResult(action="decline")

    async def scenario() -> Called:
        async with connected(ws, elicit=elicit, mode="legacy") as client:
            return await call(client, "write_file", {"path": "src/security/g.py", "content": "X\n"})

    got = run(scenario())
    assert got.is_error and "did not approve" in got.text
    assert got.structured["verdict"] == "NEED_APPROVAL"
    # One call's gate decisions (planning, then the apply), not a second call's after "no".
    gated = [e["data"]["command"] for e in trail(ws) if e["event"] == "gate.evaluated"]
    assert gated == ["mcp write_file", "apply"]


def test_a_dry_run_never_asks_for_approval(ws: Path) -> None:
    import mcp_types as types

    set_policy(ws, agents={"mcp_approvals": "elicit"})
    asked: list[str] = []

    async def elicit(_ctx: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"approve": True, "approver": "alice"})

    manifest = json.dumps(
        {"changes": [{"op": "create", "path": "src/security/h.py", "content": "H\n"}]}
    )

    async def scenario() -> tuple[Called, Called]:
        async with connected(ws, elicit=elicit) as client:
            previewed = await call(
                client,
                "write_file",
                {"path": "src/security/g.py", "content": "X\n", "dryRun": True},
            )
            planned = await call(client, "plan", {"input": manifest})
            applied = await call(
                client, "apply", {"plan": planned.structured["plan_id"], "dry_run": True}
            )
            return previewed, applied

    previewed, applied = run(scenario())
    assert asked == []
    assert previewed.structured["verdict"] == "NEED_APPROVAL"
    assert applied.structured["status"] == "needs_approval"
    assert [e for e in trail(ws) if e["event"] == "approval.recorded"] == []
    assert not (ws / "src" / "security").exists()


def test_the_question_counts_the_approvals_a_plan_already_has(ws: Path) -> None:
    import mcp_types as types

    set_policy(ws, agents={"mcp_approvals": "elicit"}, approvals={"min_approvals": 2})
    manifest = json.dumps(
        {"changes": [{"op": "create", "path": "src/security/h.py", "content": "H\n"}]}
    )
    asked: list[str] = []

    async def elicit(_ctx: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action="decline")

    async def plan_it() -> Called:
        async with connected(ws) as client:
            return await call(client, "plan", {"input": manifest})

    plan_id = run(plan_it()).structured["plan_id"]
    approved = subprocess.run(
        [AGENTOS, "approve", plan_id, "--by", "carol", "-C", str(ws)],
        capture_output=True,
        check=False,
    )
    assert approved.returncode == 0, approved.stderr

    async def apply_it() -> Called:
        async with connected(ws, elicit=elicit) as client:
            return await call(client, "apply", {"plan": plan_id})

    applied = run(apply_it())
    assert applied.is_error and applied.structured["status"] == "needs_approval"
    assert len(asked) == 1
    assert "needs 2 approval(s), has 1: carol" in asked[0], asked[0]
