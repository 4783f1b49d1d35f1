"""The hard cases of agent writes: Codex's shell forms, an agent working in a subdirectory,
calls repeated without an id, two writes to one file in flight, and shell writes hidden
behind an agent's edit."""

from __future__ import annotations

import json
import shlex
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from test_hook_answers import APP, EDITED, agents_policy, event

from agentos.errors import ConflictError
from agentos.hooks.protocols import Answer
from agentos.hooks.run import answer
from agentos.pipeline.agents import ToolCall, pre_write
from agentos.pipeline.context import Context, open_context
from helpers import Cli, trail, write_tree

PATCH = (
    "*** Begin Patch\n*** Update File: src/app.py\n@@\n def greet():\n"
    '-    return "hello"\n+    return "hello, world"\n*** End Patch\n'
)

PATCH_IN_SRC = PATCH.replace("src/app.py", "app.py")


@pytest.fixture
def ws(workspace: Path) -> Path:
    write_tree(workspace, {"src/app.py": APP, "README.md": "read me\n"})
    (workspace / ".agentos").mkdir()
    return workspace


def staged(ws: Path) -> int:
    if not (ws / ".agentos" / "audit" / "audit.jsonl").exists():
        return 0
    return [e["event"] for e in trail(ws)].count("agent.staged")


def committed(ws: Path) -> list[dict[str, Any]]:
    return [e for e in trail(ws) if e["event"] == "apply.committed"]


def bash(ws: Path, command: str, **changes: Any) -> bytes:
    return event("codex", "pre_bash", ws, tool_input={"command": command}, **changes)


# -- Codex's apply_patch, in every shell form it applies ---------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        f"apply_patch <<'EOF'\n{PATCH}EOF\n",
        f"cd src && apply_patch <<'EOF'\n{PATCH_IN_SRC}EOF\n",
        f"cd \"src\" && apply_patch <<'EOF'\n{PATCH_IN_SRC}EOF\n",
        shlex.join(["bash", "-lc", f"apply_patch <<'EOF'\n{PATCH}EOF\n"]),
    ],
    ids=["heredoc", "cd", "quoted-cd", "bash-lc"],
)
def test_every_shell_form_of_apply_patch_is_planned(ws: Path, command: str) -> None:
    assert answer("codex", bash(ws, command)) == Answer()
    assert staged(ws) == 1


def test_a_patch_in_a_shell_form_agentos_cannot_read_is_blocked(ws: Path) -> None:
    command = f"apply_patch <<'EOF'\n{PATCH}EOF\necho done\n"
    reply = answer("codex", bash(ws, command))
    assert reply.exit_code == 2
    assert "blocked" in reply.stderr
    assert staged(ws) == 0


def test_other_shell_commands_get_no_answer(ws: Path) -> None:
    assert answer("codex", bash(ws, "rg apply_patch docs/")) == Answer()


# -- an agent working in a subdirectory ----------------------------------------------------------


def test_codex_patch_paths_are_relative_to_its_working_directory(ws: Path) -> None:
    (ws / "src" / "pkg").mkdir()
    patch = "*** Begin Patch\n*** Add File: new.py\n+x = 1\n*** End Patch\n"
    data = event(
        "codex", "pre_apply_patch", ws, cwd=str(ws / "src" / "pkg"), tool_input={"command": patch}
    )
    assert answer("codex", data) == Answer()
    [plan] = (ws / ".agentos" / "plans").glob("*.json")
    changes = json.loads(plan.read_text())["changeset"]["changes"]
    assert [c["path"] for c in changes] == ["src/pkg/new.py"]


def test_gemini_relative_file_paths_are_relative_to_its_working_directory(ws: Path) -> None:
    (ws / "src" / "pkg").mkdir()
    data = event(
        "gemini",
        "before_write_file",
        ws,
        cwd=str(ws / "src" / "pkg"),
        tool_input={"file_path": "new.py", "content": "x = 1\n"},
    )
    assert json.loads(answer("gemini", data).stdout)["decision"] == "allow"
    [plan] = (ws / ".agentos" / "plans").glob("*.json")
    changes = json.loads(plan.read_text())["changeset"]["changes"]
    assert [c["path"] for c in changes] == ["src/pkg/new.py"]


def test_a_working_directory_outside_the_workspace_is_denied(ws: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    data = event(
        "gemini",
        "before_write_file",
        ws,
        cwd=str(outside),
        tool_input={"file_path": "new.py", "content": "x = 1\n"},
    )
    reply = answer("gemini", data, workspace=ws)
    body = json.loads(reply.stdout)
    assert body["decision"] == "deny"
    assert "outside the workspace" in body["reason"]


# -- the same call again, without an id ------------------------------------------------------------


def test_repeated_calls_without_an_id_are_separate_executions(ws: Path, cli: Cli) -> None:
    def write(content: str) -> None:
        tool_input = {"file_path": str(ws / "src/app.py"), "content": content}
        answer("gemini", event("gemini", "before_write_file", ws, tool_input=tool_input))
        (ws / "src/app.py").write_text(content)
        answer("gemini", event("gemini", "after_write_file", ws, tool_input=tool_input))

    write("v1\n")
    write("v2\n")
    write("v1\n")
    ids = [e["execution_id"] for e in committed(ws)]
    assert len(set(ids)) == 3
    for expected in ("v2\n", "v1\n", APP.decode()):
        res = cli("rollback", "--last", "-C", ws, "--json")
        assert res.code == 0, res.out + res.err
        assert (ws / "src/app.py").read_text() == expected


# -- two writes to one file in flight ------------------------------------------------------------


def at(when: datetime) -> Any:
    return lambda: when


def edit_call(ws: Path, old: str, new: str, tool_use_id: str) -> ToolCall:
    tool_input = {"file_path": str(ws / "src/app.py"), "old_string": old, "new_string": new}
    return ToolCall("claude-code", "Edit", tool_input, tool_use_id=tool_use_id)


def context(ws: Path, when: datetime) -> Context:
    return open_context(ws, actor="claude-code", clock=at(when))


def test_a_second_write_to_a_file_in_flight_is_refused_until_it_is_done(ws: Path) -> None:
    start = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    first = edit_call(ws, "def greet", "def hello", "t1")
    assert pre_write(context(ws, start), first, stage_for_approval=True).verdict == "ALLOW"
    second = edit_call(ws, '"hello"', '"hi"', "t2")
    with pytest.raises(ConflictError, match="has not been seen done yet"):
        pre_write(context(ws, start + timedelta(seconds=5)), second, stage_for_approval=True)
    # A minute later, its file untouched: the first was never written, and is dropped.
    later = start + timedelta(seconds=120)
    assert pre_write(context(ws, later), second, stage_for_approval=True).verdict == "ALLOW"
    assert "agent.discarded" in [e["event"] for e in trail(ws)]


# -- shell writes hidden behind agentos's own ------------------------------------------------


def test_a_shell_write_then_an_agent_edit_of_that_file_is_still_reported(
    ws: Path, cli: Cli
) -> None:
    answer("claude", event("claude", "user_prompt_submit", ws))
    (ws / "src/app.py").write_bytes(APP + b"# by hand\n")
    tool_input = {
        "file_path": str(ws / "src/app.py"),
        "old_string": '"hello"',
        "new_string": '"hello, world"',
    }
    answer("claude", event("claude", "pre_edit", ws, tool_input=tool_input))
    (ws / "src/app.py").write_bytes(EDITED + b"# by hand\n")
    answer("claude", event("claude", "post_edit", ws, tool_input=tool_input))
    changed = cli("sweep", "-C", ws, "--json").json()["result"]["changed"]
    assert changed == [{"path": "src/app.py", "change": "modified"}]


def test_an_allowed_write_the_tool_never_confirmed_is_not_taken_for_its_own(
    ws: Path, cli: Cli
) -> None:
    answer("claude", event("claude", "user_prompt_submit", ws))
    answer("claude", event("claude", "pre_edit", ws))
    (ws / "src/app.py").write_bytes(b"written by a shell instead\n")  # no post-write event
    reply = answer("claude", event("claude", "stop", ws))
    assert "src/app.py (modified)" in json.loads(reply.stdout)["systemMessage"]
    assert committed(ws) == []
    assert "agent.unconfirmed" in [e["event"] for e in trail(ws)]


def test_changes_between_turns_are_recorded_and_block_mode_keeps_blocking(
    ws: Path, cli: Cli
) -> None:
    agents_policy(ws, {"bypass": "block"})
    answer("claude", event("claude", "user_prompt_submit", ws))
    assert answer("claude", event("claude", "stop", ws)) == Answer()
    (ws / "README.md").write_text("edited between turns\n")
    answer("claude", event("claude", "user_prompt_submit", ws))
    assert "sweep.found" in [e["event"] for e in trail(ws)]
    (ws / ".agentos" / "sweep" / "last.json").unlink()  # the findings file is not the proof
    denied = json.loads(answer("claude", event("claude", "pre_edit", ws)).stdout)
    assert denied["hookSpecificOutput"]["permissionDecision"] == "deny"
    assert "README.md (modified)" in denied["hookSpecificOutput"]["permissionDecisionReason"]
    assert cli("sweep", "--accept", "-C", ws, "--json").code == 0
    allowed = json.loads(answer("claude", event("claude", "pre_edit", ws)).stdout)
    assert allowed["hookSpecificOutput"]["permissionDecision"] == "allow"


def test_integrating_an_agent_is_not_a_change_outside_agentos(ws: Path, cli: Cli) -> None:
    cli("sweep", "-C", ws, "--json")
    assert cli("integrate", "claude", "-C", ws, "--json").code == 0
    assert cli("sweep", "-C", ws, "--json").json()["result"]["changed"] == []


def test_a_touched_back_file_is_still_read_again(ws: Path, cli: Cli) -> None:
    import os

    cli("sweep", "-C", ws, "--json")
    path = ws / "README.md"
    before = path.stat()
    path.write_text("read ME\n")  # same size
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # touch -r
    changed = cli("sweep", "-C", ws, "--json").json()["result"]["changed"]
    assert changed == [{"path": "README.md", "change": "modified"}]


def test_gemini_replace_with_allow_multiple_replaces_every_occurrence(ws: Path) -> None:
    write_tree(ws, {"src/app.py": "a = 1\nb = 1\n"})
    tool_input = {
        "file_path": str(ws / "src/app.py"),
        "old_string": "1",
        "new_string": "2",
        "instruction": "make them 2",
        "allow_multiple": True,
    }
    data = event("gemini", "before_replace", ws, tool_input=tool_input)
    assert json.loads(answer("gemini", data).stdout)["decision"] == "allow"
    [plan] = (ws / ".agentos" / "plans").glob("*.json")
    [change] = json.loads(plan.read_text())["changeset"]["changes"]
    assert change["content"]["data"] == "a = 2\nb = 2\n"


def test_a_write_of_text_beyond_the_bmp_is_planned_not_blocked(ws: Path) -> None:
    # Claude Code sends the emoji as UTF-8; agentos's planner input once escaped it as a
    # surrogate pair that YAML read as two lone surrogates, and blocked the write.
    content = 'GREETING = "hello \U0001f600"\n'
    data = event(
        "claude",
        "pre_write",
        ws,
        tool_input={"file_path": str(ws / "src/new.py"), "content": content},
    )
    reply = answer("claude", json.dumps(json.loads(data), ensure_ascii=False).encode())
    assert reply.exit_code == 0, reply.stderr
    assert json.loads(reply.stdout)["hookSpecificOutput"]["permissionDecision"] == "allow"
    [plan] = (ws / ".agentos" / "plans").glob("*.json")
    [change] = json.loads(plan.read_text())["changeset"]["changes"]
    assert change["content"] == {"encoding": "utf-8", "data": content}
