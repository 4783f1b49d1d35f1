"""``agentos hook`` as the console script runs it: its command line, and the installed script
answering through a pipe."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path

import pytest
from test_hook_answers import APP, event

from agentos.cli.hookentry import run_hook
from helpers import AGENTOS, environment, write_tree


def hook(args: list[str], data: bytes) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_hook(args, stdin=io.BytesIO(data), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def ws(workspace: Path) -> Path:
    write_tree(workspace, {"src/app.py": APP})
    return workspace


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        ([], "name the agent: claude, codex or gemini"),
        (["cursor"], "unknown agent 'cursor'; use one of claude, codex, gemini"),
        (["claude", "--policy", "lax.yaml"], "the hook runs under the workspace's own policy"),
        (["claude", "-C"], "-C needs a directory"),
        (["claude", "extra"], "unexpected argument 'extra'"),
    ],
)
def test_a_command_line_it_cannot_read_blocks(args: list[str], reason: str) -> None:
    code, out, err = hook(args, b"{}")
    assert (code, out) == (2, "")
    assert err.startswith(f"agentos: agentos hook: {reason}")
    assert err.endswith("the tool call was blocked\n")


def test_json_and_quiet_change_nothing(ws: Path) -> None:
    data = event("claude", "pre_edit", ws)
    code, out, _ = hook(["claude", "--json", "-q"], data)
    assert code == 0
    assert json.loads(out)["hookSpecificOutput"]["permissionDecision"] == "allow"


def test_minus_c_names_the_workspace_whatever_the_cwd(ws: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    data = event("claude", "pre_edit", ws, cwd=str(elsewhere))
    code, out, _ = hook(["claude", "-C", str(ws)], data)
    assert code == 0
    assert json.loads(out)["hookSpecificOutput"]["permissionDecision"] == "allow"
    assert (ws / ".agentos" / "plans").is_dir()


def test_the_workspace_is_found_up_from_the_events_cwd(ws: Path) -> None:
    (ws / ".agentos").mkdir()
    (ws / "src" / "deep").mkdir()
    data = event("claude", "pre_edit", ws, cwd=str(ws / "src" / "deep"))
    code, out, _ = hook(["claude"], data)
    assert code == 0
    assert json.loads(out)["hookSpecificOutput"]["permissionDecision"] == "allow"


def test_the_installed_script_answers_a_deny_through_a_pipe(ws: Path) -> None:
    data = event(
        "gemini",
        "before_write_file",
        ws,
        tool_input={"file_path": str(ws / ".env"), "content": "K=1\n"},
    )
    proc = subprocess.run(
        [str(AGENTOS), "hook", "gemini"],
        input=data,
        capture_output=True,
        env=environment(),
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["decision"] == "deny"
    assert proc.stderr == b""
