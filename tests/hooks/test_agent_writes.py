"""Agent writes recorded as executions (undo with ``rollback``), and the sweep for writes that
bypassed agentos."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_hook_answers import APP, EDITED, agents_policy, event

from agentos.hooks.protocols import Answer
from agentos.hooks.run import answer
from helpers import Cli, read_tree, trail, write_tree

README_CHANGE = {"op": "modify", "path": "README.md", "content": "new\n"}
SWEEP_KEYS = {
    "swept_at",
    "changed",
    "files",
    "baseline_at",
    "baseline_taken",
    "accepted",
    "recorded",
}


@pytest.fixture
def ws(workspace: Path) -> Path:
    write_tree(workspace, {"src/app.py": APP, "README.md": "read me\n"})
    (workspace / ".agentos").mkdir()  # a workspace agentos already keeps state in
    return workspace


def edit_turn(ws: Path, written: bytes = EDITED) -> None:
    """A Claude Code turn that edits src/app.py (the "tool" writes ``written``)."""
    assert answer("claude", event("claude", "user_prompt_submit", ws)) == Answer()
    allowed = json.loads(answer("claude", event("claude", "pre_edit", ws)).stdout)
    assert allowed["hookSpecificOutput"]["permissionDecision"] == "allow"
    (ws / "src/app.py").write_bytes(written)
    answer("claude", event("claude", "post_edit", ws))


def committed(ws: Path) -> list[dict[str, Any]]:
    return [e for e in trail(ws) if e["event"] == "apply.committed"]


def test_rollback_last_undoes_an_agent_edit_byte_for_byte(ws: Path, cli: Cli) -> None:
    (ws / "src/app.py").chmod(0o640)
    before = read_tree(ws)
    edit_turn(ws)
    res = cli("rollback", "--last", "-C", ws, "--json")
    assert res.code == 0, res.out + res.err
    doc = res.json()["result"]
    assert doc["status"] == "committed"
    assert read_tree(ws) == before
    assert (ws / "src/app.py").stat().st_mode & 0o777 == 0o640
    [agent, rollback] = committed(ws)
    assert agent["data"]["kind"] == "agent"
    assert rollback["data"] == {
        **rollback["data"],
        "kind": "rollback",
        "parent": agent["execution_id"],
    }
    # The undone edit is no longer the last: nothing else is left to undo.
    again = cli("rollback", "--last", "-C", ws, "--json")
    assert again.code == 2
    assert "no committed execution to roll back" in again.json()["error"]["message"]


def test_a_diverged_write_is_recorded_and_still_undone(ws: Path, cli: Cli) -> None:
    edit_turn(ws, written=b"the tool wrote this instead\n")
    [record] = committed(ws)
    assert record["data"]["diverged"] == ["src/app.py"]
    execution_id = record["execution_id"]
    stored = json.loads((ws / ".agentos" / "executions" / f"{execution_id}.json").read_text())
    assert stored["diverged"] == ["src/app.py"]
    assert stored["kind"] == "agent"
    res = cli("rollback", execution_id, "-C", ws, "--json")
    assert res.code == 0, res.out + res.err
    assert (ws / "src/app.py").read_bytes() == APP


def test_a_tool_that_wrote_nothing_leaves_nothing_recorded(ws: Path) -> None:
    answer("claude", event("claude", "pre_edit", ws))
    assert answer("claude", event("claude", "post_edit", ws)) == Answer()
    names = [e["event"] for e in trail(ws)]
    assert "agent.discarded" in names
    assert not committed(ws)
    assert not list((ws / ".agentos" / "backups").glob("*/*"))


def test_the_end_of_the_turn_records_a_write_whose_post_event_never_came(ws: Path) -> None:
    answer("claude", event("claude", "user_prompt_submit", ws))
    answer("claude", event("claude", "pre_edit", ws))
    (ws / "src/app.py").write_bytes(EDITED)
    assert answer("claude", event("claude", "stop", ws)) == Answer()  # recorded, not a bypass
    [record] = committed(ws)
    assert record["data"]["kind"] == "agent"


def test_a_created_file_in_a_new_folder_is_undone_with_its_folder(ws: Path, cli: Cli) -> None:
    data = event(
        "claude",
        "pre_write",
        ws,
        tool_input={"file_path": str(ws / "src/pkg/new.py"), "content": "x = 1\n"},
    )
    answer("claude", data)
    (ws / "src/pkg").mkdir()
    (ws / "src/pkg/new.py").write_bytes(b"x = 1\n")
    answer("claude", data.replace(b'"PreToolUse"', b'"PostToolUse"'))
    res = cli("rollback", "--last", "-C", ws, "--json")
    assert res.code == 0, res.out + res.err
    assert not (ws / "src/pkg").exists()


def test_a_pending_agent_write_is_not_an_interrupted_execution(ws: Path, cli: Cli) -> None:
    answer("claude", event("claude", "pre_edit", ws))
    status = cli("status", "-C", ws, "--json").json()["result"]
    assert status["interrupted"] == []
    manifest = ws.parent / "m.json"
    manifest.write_text(
        json.dumps({"changes": [{"op": "modify", "path": "README.md", "content": "new\n"}]})
    )
    planned = cli("plan", manifest, "-C", ws, "--json")
    assert planned.code == 0, planned.out + planned.err
    applied = cli("apply", planned.json()["result"]["plan_file"], "-C", ws, "--json")
    assert applied.code == 0, applied.out + applied.err
    assert (ws / "src/app.py").read_bytes() == APP  # recovery did not touch the agent's file


def test_a_forged_pending_journal_is_never_recorded(ws: Path) -> None:
    answer("claude", event("claude", "pre_edit", ws))
    [pending] = (ws / ".agentos" / "journal" / "agent").glob("*.json")
    doc = json.loads(pending.read_text())
    doc["plan_id"] = "forged"
    pending.write_text(json.dumps(doc))
    (ws / "src/app.py").write_bytes(EDITED)
    reply = answer("claude", event("claude", "post_edit", ws))
    assert reply.exit_code == 2
    assert "not sealed" in reply.stderr
    assert not committed(ws)


# -- sweep ------------------------------------------------------------------------------------


def test_sweep_takes_a_baseline_then_reports_changes_outside(ws: Path, cli: Cli) -> None:
    first = cli("sweep", "-C", ws, "--json")
    assert first.code == 0
    result = first.json()["result"]
    assert set(result) == SWEEP_KEYS
    assert result["baseline_taken"] is True
    assert result["changed"] == []
    (ws / "src/app.py").write_bytes(b"edited by hand\n")
    (ws / "README.md").unlink()
    (ws / "notes.txt").write_text("new\n")
    second = cli("sweep", "-C", ws, "--json").json()["result"]
    assert second["changed"] == [
        {"path": "README.md", "change": "deleted"},
        {"path": "notes.txt", "change": "created"},
        {"path": "src/app.py", "change": "modified"},
    ]
    found = [e for e in trail(ws) if e["event"] == "sweep.found"]
    assert len(found) == 1
    status = cli("status", "-C", ws, "--json").json()["result"]
    assert status["sweep"]["changed"] == second["changed"]
    human = cli("status", "-C", ws)
    assert "Changed outside agentos" in human.out
    assert "notes.txt  created" in human.out
    accepted = cli("sweep", "--accept", "-C", ws, "--json").json()["result"]
    assert accepted["accepted"] is True
    assert cli("sweep", "-C", ws, "--json").json()["result"]["changed"] == []


def test_what_agentos_applies_is_not_a_bypass(ws: Path, cli: Cli) -> None:
    cli("sweep", "-C", ws, "--json")
    manifest = ws.parent / "m.json"
    manifest.write_text(
        json.dumps({"changes": [{"op": "modify", "path": "README.md", "content": "new\n"}]})
    )
    planned = cli("plan", manifest, "-C", ws, "--json")
    applied = cli("apply", planned.json()["result"]["plan_file"], "-C", ws, "--json")
    assert applied.code == 0, applied.out + applied.err
    edit_turn(ws)
    assert cli("sweep", "-C", ws, "--json").json()["result"]["changed"] == []


def test_sweep_in_block_mode_exits_3_until_accepted(ws: Path, cli: Cli) -> None:
    agents_policy(ws, {"bypass": "block"})
    cli("sweep", "-C", ws, "--json")
    (ws / "src/app.py").write_bytes(b"edited by hand\n")
    assert cli("sweep", "-C", ws, "--json").code == 3
    assert cli("sweep", "--accept", "-C", ws, "--json").code == 0
    assert cli("sweep", "-C", ws, "--json").code == 0


def test_sweep_in_a_git_work_tree_ignores_what_git_ignores(ws: Path, cli: Cli) -> None:
    from helpers import git_available, run_git

    if not git_available():
        pytest.skip("git is not installed")
    (ws / ".gitignore").write_text("build/\n")
    run_git(ws, "init", "-q")
    run_git(ws, "add", "-A")
    run_git(ws, "commit", "-qm", "base")
    cli("sweep", "-C", ws, "--json")
    (ws / "build").mkdir()
    (ws / "build" / "out.o").write_bytes(b"\0")
    (ws / "untracked.py").write_text("x\n")
    changed = cli("sweep", "-C", ws, "--json").json()["result"]["changed"]
    assert changed == [{"path": "untracked.py", "change": "created"}]


def test_rollback_needs_an_id_or_last_not_both(ws: Path, cli: Cli) -> None:
    neither = cli("rollback", "-C", ws, "--json")
    both = cli("rollback", "exec-x", "--last", "-C", ws, "--json")
    for res in (neither, both):
        assert res.code == 2
        assert res.json()["error"]["message"] == "pass an EXECUTION_ID or --last (one of them)"
