"""``agentos integrate claude --http``: Claude Code's http handlers pointing at ``agentos
serve`` — merged, recognised, replaced by and replacing the command hooks, removed — and
``agentos doctor`` proving them with a canary sent to the running server."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agentos.errors import UsageError
from agentos.hooks.httpcanary import endpoint_check, headers_sent
from agentos.hooks.httphooks import check_base_url, http_handler, is_agentos_http_handler
from agentos.hooks.install import integrate
from agentos.hooks.integrate import SPECS, installed, merge_hooks, remove_hooks
from helpers import CliResult
from serving import Served

STAMP = "20240102T030405Z"
URL = "http://127.0.0.1:7345"
Cli = Callable[..., CliResult]


def user_settings() -> dict[str, Any]:
    return {
        "permissions": {"deny": ["Read(.env)"]},
        "hooks": {
            "PreToolUse": [
                {"matcher": "Bash", "hooks": [{"type": "http", "url": "https://audit.example/x"}]}
            ],
            "SessionStart": [{"hooks": [{"type": "command", "command": "hello.sh"}]}],
        },
    }


def test_the_http_handler_carries_the_token_variable_and_blocks_on_failure() -> None:
    assert http_handler(URL, "claude", timeout=30) == {
        "type": "http",
        "url": "http://127.0.0.1:7345/hook/claude",
        "headers": {"Authorization": "Bearer $AGENTOS_SERVE_TOKEN"},
        "allowedEnvVars": ["AGENTOS_SERVE_TOKEN"],
        "timeout": 30,
        "onFailure": "block",
    }


@pytest.mark.parametrize(
    ("handler", "ours"),
    [
        ({"type": "http", "url": "http://127.0.0.1:7345/hook/claude"}, True),
        ({"type": "http", "url": "http://localhost:9/hook/claude"}, True),
        ({"type": "http", "url": "http://[::1]:9/hook/claude"}, True),
        ({"type": "http", "url": "http://127.0.0.1:7345/hook/codex"}, False),
        ({"type": "http", "url": "http://example.com/hook/claude"}, False),
        ({"type": "http", "url": "http://127.0.0.1:7345/hooks/claude"}, False),
        ({"type": "command", "url": "http://127.0.0.1:7345/hook/claude"}, False),
        ({"type": "http", "url": "http://[bad"}, False),
        ({"type": "http"}, False),
    ],
)
def test_agentos_http_handlers_are_recognised_by_their_url(
    handler: dict[str, Any], ours: bool
) -> None:
    assert is_agentos_http_handler(handler, "claude") is ours


def test_merging_http_handlers_is_idempotent_and_replaces_the_command_ones() -> None:
    spec = SPECS["claude"]
    commands = merge_hooks(user_settings(), spec, "agentos hook claude")
    handler = http_handler(URL, "claude", timeout=spec.timeout)
    served = merge_hooks(commands, spec, handler)
    assert merge_hooks(served, spec, handler) == served
    mine = installed(served, spec)
    assert sorted(i.event for i in mine) == sorted(spec.events)
    assert all(i.handler["type"] == "http" for i in mine)
    assert [i.matcher for i in mine if i.event == "PreToolUse"] == [spec.matcher]
    # The user's own http hook (not loopback, not /hook/claude) is kept as it was.
    assert served["hooks"]["PreToolUse"][0] == user_settings()["hooks"]["PreToolUse"][0]
    # And back: command hooks replace the http ones; removing leaves the user's settings.
    assert merge_hooks(served, spec, "agentos hook claude") == commands
    assert remove_hooks(served, spec) == user_settings()


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://127.0.0.1:7345", "http://127.0.0.1:7345"),
        ("http://127.0.0.1:8000/", "http://127.0.0.1:8000"),
        ("http://127.0.0.1:1", "http://127.0.0.1:1"),
        ("http://127.0.0.1", "http://127.0.0.1:7345"),  # serve's port, not HTTP's 80
    ],
)
def test_loopback_urls_are_accepted(url: str, shown: str) -> None:
    assert check_base_url(url) == shown


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://127.0.0.1:7345", "plain HTTP on loopback"),
        ("http://192.168.1.2:7345", "listens on 127.0.0.1 only"),
        ("http://example.com", "listens on 127.0.0.1 only"),
        ("http://localhost:7345", "listens on 127.0.0.1 only"),
        ("http://[::1]:7345", "listens on 127.0.0.1 only"),
        ("http://127.0.0.1:7345/hook/claude", "the server's address only"),
        ("http://user@127.0.0.1:7345", "the server's address only"),
        ("http://127.0.0.1:99999", "is not a URL"),
        ("127.0.0.1:7345", "plain HTTP on loopback"),
    ],
)
def test_other_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        check_base_url(url)


def test_integrate_http_on_disk_twice_then_remove(workspace: Path, tmp_path: Path) -> None:
    path = workspace / ".claude" / "settings.json"
    path.parent.mkdir()
    path.write_text(json.dumps(user_settings(), indent=4))
    first = integrate(workspace, tmp_path, "claude", url=URL, stamp=STAMP)
    assert (first.action, first.command, first.url) == (
        "installed",
        None,
        "http://127.0.0.1:7345/hook/claude",
    )
    written = path.read_bytes()
    assert b'    "hooks"' in written  # its indentation kept
    again = integrate(workspace, tmp_path, "claude", url=URL, stamp=STAMP)
    assert (again.action, again.changed, path.read_bytes()) == ("unchanged", False, written)
    commands = integrate(workspace, tmp_path, "claude", prefix="agentos", stamp=STAMP)
    assert commands.action == "updated"
    assert all(
        i.handler["type"] == "command"
        for i in installed(json.loads(path.read_text()), SPECS["claude"])
    )
    integrate(workspace, tmp_path, "claude", url=URL, stamp=STAMP)
    removed = integrate(workspace, tmp_path, "claude", remove=True, stamp=STAMP)
    assert removed.action == "removed"
    assert json.loads(path.read_text()) == user_settings()


@pytest.mark.parametrize("agent", ["codex", "gemini"])
def test_http_for_codex_and_gemini_is_a_usage_error(
    workspace: Path, tmp_path: Path, agent: str
) -> None:
    with pytest.raises(UsageError, match="runs command hooks only"):
        integrate(workspace, tmp_path, agent, url=URL, stamp=STAMP)
    assert not (workspace / f".{agent}").exists()


# -- doctor ------------------------------------------------------------------------------------


def test_headers_are_filled_as_claude_code_fills_them() -> None:
    handler = {
        "headers": {"Authorization": "Bearer $TOKEN", "X-Other": "${OTHER}-$TOKEN"},
        "allowedEnvVars": ["TOKEN"],
    }
    env = {"TOKEN": "t", "OTHER": "o"}
    assert headers_sent(handler, env) == {"Authorization": "Bearer t", "X-Other": "-t"}


@pytest.mark.parametrize(
    ("changes", "env", "status", "detail"),
    [
        ({}, {"AGENTOS_SERVE_TOKEN": "t"}, "ok", "onFailure block"),
        ({}, {}, "warn", "$AGENTOS_SERVE_TOKEN is not set here"),
        ({"onFailure": None}, {"AGENTOS_SERVE_TOKEN": "t"}, "warn", "without onFailure"),
        ({"allowedEnvVars": []}, {"AGENTOS_SERVE_TOKEN": "t"}, "fail", "does not list"),
        ({"headers": {}}, {"AGENTOS_SERVE_TOKEN": "t"}, "fail", "no 'Authorization: Bearer"),
    ],
)
def test_the_endpoint_check(
    changes: dict[str, Any], env: dict[str, str], status: str, detail: str
) -> None:
    handler = {**http_handler(URL, "claude", timeout=30), **changes}
    found = endpoint_check(handler, env)
    assert found[0] == status
    assert detail in found[1]


def doctor_checks(cli: Cli, ws: Path) -> dict[str, tuple[str, str]]:
    result = cli("doctor", "-C", ws, "--json")
    checks = result.json()["result"]["checks"]
    return {c["name"]: (c["status"], c["detail"]) for c in checks if c["agent"] == "claude"}


def test_doctor_proves_the_http_integration_with_a_canary(
    cli: Cli,
    ws: Path,
    serve: Callable[..., Served],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    served = serve(ws)
    base = f"http://127.0.0.1:{served.port}"
    assert cli("integrate", "claude", "-C", ws, "--http", "--url", base).code == 0
    monkeypatch.setenv("AGENTOS_SERVE_TOKEN", served.token)
    checks = doctor_checks(cli, ws)
    assert checks["claude (project): endpoint"][0] == "ok"
    status, detail = checks["claude (project): canary"]
    assert (status, detail.split(" in ")[0]) == ("ok", "blocks (permissionDecision 'deny')")
    assert not (ws / ".git" / "agentos-doctor-canary").exists()
    # A wrong token: refused with 401, which blocks every write (onFailure block).
    monkeypatch.setenv("AGENTOS_SERVE_TOKEN", "wrong")
    status, detail = doctor_checks(cli, ws)["claude (project): canary"]
    assert status == "fail"
    assert "HTTP 401" in detail
    assert "blocks every write" in detail
    # The server down.
    monkeypatch.setenv("AGENTOS_SERVE_TOKEN", served.token)
    assert served.stop() == 0
    status, detail = doctor_checks(cli, ws)["claude (project): canary"]
    assert status == "fail"
    assert "cannot connect" in detail


def test_doctor_fails_a_server_of_another_workspace(
    cli: Cli,
    ws: Path,
    serve: Callable[..., Served],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    other = tmp_path / "other"
    other.mkdir()
    served = serve(other)
    cli("integrate", "claude", "-C", ws, "--http", "--url", f"http://127.0.0.1:{served.port}")
    monkeypatch.setenv("AGENTOS_SERVE_TOKEN", served.token)
    status, detail = doctor_checks(cli, ws)["claude (project): canary"]
    assert status == "fail"
    assert f"serves {other.resolve()}, not this workspace" in detail
