"""An agent's turn played with real processes: the installed ``agentos hook claude`` answers
each event as Claude Code would send it, the "agent" writes files itself, a shell command
writes one behind agentos's back, and ``agentos rollback --last`` undoes the agent's edit."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from helpers import (
    AGENTOS,
    REPO_ROOT,
    agentos,
    environment,
    needs_agentos,
    needs_git,
    read_tree,
    run_git,
    trail,
    write_tree,
)

pytestmark = [needs_agentos, needs_git, pytest.mark.git]
FIXTURES = REPO_ROOT / "tests" / "data" / "hooks" / "claude"
APP = b'def greet():\n    return "hello"\n'
EDITED = b'def greet():\n    return "hello, world"\n'


def hook(ws: Path, name: str, **changes: Any) -> subprocess.CompletedProcess[bytes]:
    """Send the Claude Code fixture ``name`` (for ``ws``) to ``agentos hook claude``, from
    the workspace, as Claude Code runs a command hook."""
    doc = json.loads((FIXTURES / f"{name}.json").read_text().replace("__WORKSPACE__", str(ws)))
    doc.update(changes)
    return subprocess.run(
        [str(AGENTOS), "hook", "claude"],
        input=json.dumps(doc).encode(),
        cwd=ws,
        env=environment(),
        capture_output=True,
        check=False,
        timeout=120,
    )


def decision(proc: subprocess.CompletedProcess[bytes]) -> str:
    assert proc.returncode == 0, proc.stderr
    return str(json.loads(proc.stdout)["hookSpecificOutput"]["permissionDecision"])


def test_an_agent_turn_end_to_end(workspace: Path) -> None:
    ws = workspace
    write_tree(ws, {"src/app.py": APP, "README.md": "read me\n"})
    run_git(ws, "init", "-q")
    run_git(ws, "add", "-A")
    run_git(ws, "commit", "-qm", "base")
    before = read_tree(ws)

    assert hook(ws, "user_prompt_submit").stdout == b""

    # An Edit is allowed, the agent writes it, the post-write event records it.
    assert decision(hook(ws, "pre_edit")) == "allow"
    (ws / "src/app.py").write_bytes(EDITED)
    post = hook(ws, "post_edit")
    assert (post.returncode, post.stdout) == (0, b"")

    # A Write to .env is denied, and nothing changes.
    secret = {"file_path": str(ws / ".env"), "content": "TOKEN=1\n"}
    denied = hook(ws, "pre_write", tool_input=secret)
    assert decision(denied) == "deny"
    assert "[forbidden-path] .env" in denied.stdout.decode()
    assert not (ws / ".env").exists()

    # A shell command writes behind agentos's back: the end of the turn reports it.
    subprocess.run("echo x > src/y.py", shell=True, cwd=ws, check=True)  # noqa: S602
    stop = hook(ws, "stop")
    assert stop.returncode == 0
    message = json.loads(stop.stdout)["systemMessage"]
    assert "src/y.py (created)" in message
    assert "src/app.py" not in message  # the agent's edit went through agentos
    swept = agentos("sweep", cwd=ws)
    assert swept.code == 0
    assert swept.result["changed"] == [{"path": "src/y.py", "change": "created"}]

    # The agent's edit is undone through the pipeline, byte for byte.
    undone = agentos("rollback", "--last", cwd=ws)
    assert undone.code == 0, undone.err
    assert undone.result["status"] == "committed"
    (ws / "src/y.py").unlink()
    assert read_tree(ws) == before

    # A tool that writes something other than what was allowed is recorded as diverged.
    assert decision(hook(ws, "pre_edit", tool_use_id="toolu_second")) == "allow"
    (ws / "src/app.py").write_bytes(b"def greet():\n    return 42\n")
    told = hook(ws, "post_edit", tool_use_id="toolu_second")
    context = json.loads(told.stdout)["hookSpecificOutput"]["additionalContext"]
    assert "diverged" in context
    [diverged] = [
        e
        for e in trail(ws)
        if e["event"] == "apply.committed" and e["data"].get("diverged") == ["src/app.py"]
    ]
    assert diverged["data"]["kind"] == "agent"
    history = agentos("history", cwd=ws).result["executions"]
    assert [(v["kind"], v["status"]) for v in history][:3] == [
        ("agent", "committed"),
        ("rollback", "committed"),
        ("agent", "reverted"),
    ]
