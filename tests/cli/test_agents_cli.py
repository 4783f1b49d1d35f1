"""``agentos integrate`` and ``agentos doctor`` through the CLI: pinned JSON keys, exit codes,
human output, one-line errors."""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from pathlib import Path

import pytest

from helpers import CliResult

Cli = Callable[..., CliResult]

ENVELOPE_KEYS = {"agentos", "command", "ok", "exit_code", "result", "error"}
INTEGRATE_KEYS = {
    "agent",
    "scope",
    "file",
    "action",
    "changed",
    "command",
    "url",
    "events",
    "backup",
}
DOCTOR_KEYS = {"checks", "integrations", "failures", "warnings"}
CHECK_KEYS = {"name", "status", "detail", "agent", "scope"}
INTEGRATION_KEYS = {"agent", "scope", "file", "commands"}
DENY = json.dumps(
    {
        "hookSpecificOutput": {
            "hookEventName": "PreToolUse",
            "permissionDecision": "deny",
            "permissionDecisionReason": "path-safety",
        }
    }
)


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A workspace, with HOME in the temp directory and a PATH holding a fake agentos."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    (tmp_path / "bin").mkdir()
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    root = tmp_path / "ws"
    root.mkdir()
    return root


def fake_hook(ws: Path, stdout: str, code: int = 0) -> str:
    script = ws.parent / "bin" / "agentos"
    script.write_text(
        f"#!/bin/sh\ncat >/dev/null\nprintf '%s' {shlex.quote(stdout)}\nexit {code}\n"
    )
    script.chmod(0o755)
    return str(script)


def test_integrate_json_keys_and_idempotence(cli: Cli, ws: Path) -> None:
    first = cli("integrate", "claude", "-C", ws, "--command", "/opt/agentos", "--json")
    assert first.code == 0, first.err
    doc = first.json()
    assert set(doc) == ENVELOPE_KEYS
    result = doc["result"]
    assert set(result) == INTEGRATE_KEYS
    assert result["action"] == "installed"
    assert result["changed"] is True
    assert result["command"] == "/opt/agentos hook claude"
    assert result["events"] == ["PreToolUse", "PostToolUse", "UserPromptSubmit", "Stop"]
    assert result["backup"] is None
    path = ws / ".claude" / "settings.json"
    assert result["file"] == str(path)
    written = path.read_bytes()

    again = cli("integrate", "claude", "-C", ws, "--command", "/opt/agentos")
    assert again.code == 0
    assert "already integrated" in again.out
    assert path.read_bytes() == written

    removed = cli("integrate", "claude", "-C", ws, "--remove", "--json")
    assert removed.json()["result"]["action"] == "removed"
    backup = Path(removed.json()["result"]["backup"])
    assert backup.parent == ws / ".agentos" / "settings-backups" / "claude"
    assert backup.read_bytes() == written
    assert json.loads(path.read_text()) == {}


def test_integrate_user_scope_writes_under_home(cli: Cli, ws: Path) -> None:
    result = cli("integrate", "codex", "--scope", "user", "--json", "--command", "agentos")
    assert result.code == 0, result.err
    path = Path.home() / ".codex" / "hooks.json"
    assert result.json()["result"]["file"] == str(path)
    assert "agentos hook codex" in path.read_text()
    human = cli("integrate", "codex", "--scope", "user", "--remove")
    assert "removed agentos's hooks" in human.out
    assert "previous file kept in" in human.out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["integrate", "cursor"], "unknown agent 'cursor'"),
        (["integrate", "claude", "--scope", "everywhere"], "--scope 'everywhere'"),
        (["integrate", "claude", "--command", " "], "--command is empty"),
    ],
)
def test_integrate_usage_errors(cli: Cli, ws: Path, args: list[str], message: str) -> None:
    result = cli(*args, "-C", ws, "--json")
    assert result.code == 2
    assert result.json()["error"]["type"] == "usage_error"
    assert message in result.json()["error"]["message"]
    assert "Traceback" not in result.err


def test_integrate_refuses_invalid_json_in_one_line(cli: Cli, ws: Path) -> None:
    path = ws / ".gemini" / "settings.json"
    path.parent.mkdir()
    path.write_text("{ // a comment\n}")
    result = cli("integrate", "gemini", "-C", ws)
    assert result.code == 2
    lines = result.err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"agentos: error: {path} is not valid JSON")
    assert path.read_text() == "{ // a comment\n}"


def test_doctor_passes_and_its_json_keys_are_pinned(cli: Cli, ws: Path) -> None:
    fake_hook(ws, DENY)
    assert cli("integrate", "claude", "-C", ws, "--command", "agentos").code == 0
    result = cli("doctor", "-C", ws, "--json")
    assert result.code == 0, result.out
    doc = result.json()
    assert set(doc) == ENVELOPE_KEYS
    assert doc["command"] == "doctor"
    found = doc["result"]
    assert set(found) == DOCTOR_KEYS
    assert all(set(row) == CHECK_KEYS for row in found["checks"])
    assert all(set(row) == INTEGRATION_KEYS for row in found["integrations"])
    assert found["failures"] == 0
    assert found["integrations"] == [
        {
            "agent": "claude",
            "scope": "project",
            "file": str(ws / ".claude" / "settings.json"),
            "commands": ["agentos hook claude"],
        }
    ]
    canary = next(c for c in found["checks"] if c["name"] == "claude (project): canary")
    assert canary["status"] == "ok"
    assert (canary["agent"], canary["scope"]) == ("claude", "project")


def test_doctor_fails_with_exit_1_and_says_why(cli: Cli, ws: Path) -> None:
    fake_hook(ws, json.dumps({"decision": "allow"}))
    assert cli("integrate", "gemini", "-C", ws, "--command", "agentos").code == 0
    human = cli("doctor", "-C", ws)
    assert human.code == 1
    assert "Traceback" not in human.err
    line = next(x for x in human.out.splitlines() if "gemini (project): canary" in x)
    assert line.startswith("fail")
    assert "answers 'allow': Gemini CLI lets the write through" in line
    assert human.out.strip().splitlines()[-1].endswith("1 failed")
    doc = cli("doctor", "-C", ws, "--json").json()
    assert doc["exit_code"] == 1
    assert doc["ok"] is False
    assert doc["error"] is None
    assert doc["result"]["failures"] == 1


def test_doctor_without_integrations_warns_but_passes(cli: Cli, ws: Path) -> None:
    result = cli("doctor", "-C", ws)
    assert result.code == 0
    assert "warn  agent hooks" in result.out
    assert "agentos integrate claude|codex|gemini" in result.out
