"""``agentos integrate claude --http`` through the CLI: JSON keys, the settings written,
idempotence, ``--remove``, what to do next, and its usage errors in one line."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from helpers import CliResult

Cli = Callable[..., CliResult]


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    root = tmp_path / "ws"
    root.mkdir()
    return root


def test_integrate_http_writes_http_handlers_once_and_removes_them(cli: Cli, ws: Path) -> None:
    settings = ws / ".claude" / "settings.json"
    settings.parent.mkdir()
    settings.write_text('{"model": "m"}\n')
    first = cli("integrate", "claude", "-C", ws, "--http", "--json")
    assert first.code == 0, first.err
    result = first.json()["result"]
    assert result["action"] == "installed"
    assert result["command"] is None
    assert result["url"] == "http://127.0.0.1:7345/hook/claude"
    assert result["events"] == ["PreToolUse", "PostToolUse", "UserPromptSubmit", "Stop"]
    doc = json.loads(settings.read_text())
    assert doc["model"] == "m"
    pre = doc["hooks"]["PreToolUse"][0]["hooks"][0]
    assert pre["type"] == "http"
    assert pre["headers"] == {"Authorization": "Bearer $AGENTOS_SERVE_TOKEN"}
    assert pre["allowedEnvVars"] == ["AGENTOS_SERVE_TOKEN"]
    assert pre["onFailure"] == "block"
    before = settings.read_bytes()
    again = cli("integrate", "claude", "-C", ws, "--http", "--json")
    assert again.json()["result"]["action"] == "unchanged"
    assert settings.read_bytes() == before
    moved = cli("integrate", "claude", "-C", ws, "--http", "--url", "http://127.0.0.1:9000")
    assert moved.code == 0
    assert "updated" in moved.out
    assert "http://127.0.0.1:9000/hook/claude" in settings.read_text()
    removed = cli("integrate", "claude", "-C", ws, "--remove", "--json")
    assert removed.json()["result"]["action"] == "removed"
    assert json.loads(settings.read_text()) == {"model": "m"}


def test_the_human_output_says_what_to_do_next(cli: Cli, ws: Path) -> None:
    result = cli("integrate", "claude", "-C", ws, "--http")
    assert result.code == 0
    assert "-> http://127.0.0.1:7345/hook/claude" in result.out
    assert "agentos serve" in result.out
    assert 'AGENTOS_SERVE_TOKEN="$(cat .agentos/serve/token)"' in result.out
    assert "agentos doctor" in result.out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["codex", "--http"], "Codex runs command hooks only"),
        (["gemini", "--http"], "Gemini CLI runs command hooks only"),
        (["claude", "--url", "http://127.0.0.1:1"], "--url goes with --http"),
        (["claude", "--http", "--command", "agentos"], "--command is for command hooks"),
        (["claude", "--http", "--url", "http://10.0.0.1:7345"], "listens on 127.0.0.1 only"),
    ],
)
def test_usage_errors_are_one_line_exit_2(
    cli: Cli, ws: Path, args: list[str], message: str
) -> None:
    result = cli("integrate", *args, "-C", ws)
    assert result.code == 2
    assert message in result.err
    assert result.err.count("\n") == 1
    assert not any(ws.iterdir())
