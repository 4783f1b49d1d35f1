"""The parts of ``agentos serve`` on their own: the mapping of an answer onto HTTP, the token,
the secret file, and a server whose answerer fails (it still blocks)."""

from __future__ import annotations

import json
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentos.errors import StateIntegrityError
from agentos.faults import recording_fs
from agentos.hooks.protocols import Answer, allow, deny, fail_closed, no_decision
from agentos.serve.answers import blocking_body, event_name, refusal, reply_for
from agentos.serve.server import HookServer, ServeConfig
from agentos.serve.token import authorized, ensure_token, token_path
from agentos.statefs import read_bytes, write_secret
from agentos.workspace import Workspace

# -- the mapping ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [allow("claude", "fine"), deny("codex", "no"), allow("gemini", "ok"), no_decision()],
)
def test_an_answer_that_exits_0_is_its_stdout(answer: Answer) -> None:
    reply = reply_for("claude", answer, "PreToolUse")
    assert (reply.status, reply.body, reply.exit_code) == (200, answer.stdout.encode(), 0)


@pytest.mark.parametrize(
    ("agent", "event", "expected"),
    [
        ("claude", "PreToolUse", "permission"),
        ("codex", "PreToolUse", "permission"),
        ("claude", "PostToolUse", "block"),
        ("claude", "UserPromptSubmit", "block"),
        ("claude", "Stop", "block"),
        ("codex", "Stop", "block"),
        ("claude", None, "block"),
        ("gemini", "BeforeTool", "deny"),
        ("gemini", "AfterAgent", "deny"),
        ("gemini", None, "deny"),
    ],
)
def test_exit_2_becomes_the_agents_json_block_with_the_same_reason(
    agent: str, event: str | None, expected: str
) -> None:
    failed = fail_closed("claude", "the policy is invalid; the tool call was blocked")
    reply = reply_for(agent, failed, event)
    assert (reply.status, reply.exit_code) == (200, 2)
    doc = json.loads(reply.body)
    reason = failed.stderr.rstrip("\n")
    if expected == "permission":
        assert doc == {
            "hookSpecificOutput": {
                "hookEventName": "PreToolUse",
                "permissionDecision": "deny",
                "permissionDecisionReason": reason,
            }
        }
    else:
        assert doc == {"decision": expected, "reason": reason}
    # Replaying it: the reason plus a newline is the command hook's stderr, byte for byte.
    assert reason + "\n" == failed.stderr


def test_a_refusal_carries_its_status_and_blocks() -> None:
    reply = refusal("gemini", 413, "too big", headers=(("X-A", "b"),))
    assert (reply.status, reply.exit_code, reply.headers) == (413, 2, (("X-A", "b"),))
    assert json.loads(reply.body) == {"decision": "deny", "reason": "agentos serve: too big"}
    assert blocking_body(None, None, "r") == b'{"decision": "block", "reason": "r"}\n'


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b'{"hook_event_name": "Stop"}', "Stop"),
        (b'{"hook_event_name": ""}', None),
        (b'{"hook_event_name": 3}', None),
        (b"[1]", None),
        (b"\xff", None),
        (b"", None),
    ],
)
def test_the_event_name_of_a_body(data: bytes, name: str | None) -> None:
    assert event_name(data) == name


# -- the token -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "ok"),
    [
        ("Bearer abc-DEF_123-abcdefghijklmnopqrstuvwxyz0", True),
        ("bearer abc-DEF_123-abcdefghijklmnopqrstuvwxyz0", True),
        ("  Bearer   abc-DEF_123-abcdefghijklmnopqrstuvwxyz0  ", True),
        ("Bearer abc-DEF_123-abcdefghijklmnopqrstuvwxyz", False),
        ("Basic abc-DEF_123-abcdefghijklmnopqrstuvwxyz0", False),
        ("abc-DEF_123-abcdefghijklmnopqrstuvwxyz0", False),
        ("Bearer \xe9", False),
        ("", False),
        (None, False),
    ],
)
def test_authorized(header: str | None, ok: bool) -> None:
    assert authorized(header, "abc-DEF_123-abcdefghijklmnopqrstuvwxyz0") is ok


def test_a_token_is_made_once_and_kept(workspace: Path) -> None:
    ws = Workspace.open(workspace)
    made = ensure_token(ws)
    assert made.created and len(made.value) == 43
    assert made.path == token_path(ws)
    kept = ensure_token(ws)
    assert (kept.value, kept.created) == (made.value, False)
    fresh = ensure_token(ws, new=True)
    assert fresh.value != made.value
    assert ensure_token(ws).value == fresh.value


def test_a_token_file_that_holds_no_token_is_refused(workspace: Path) -> None:
    ws = Workspace.open(workspace)
    path = ensure_token(ws).path
    path.write_text("short\n")
    with pytest.raises(StateIntegrityError, match="does not hold a token"):
        ensure_token(ws)


def test_a_secret_is_never_readable_by_others_even_while_written(tmp_path: Path) -> None:
    created: list[int] = []

    def record(kind: str, args: tuple[object, ...]) -> None:
        if kind == "create":
            created.append(int(args[2]))  # type: ignore[call-overload]

    path = tmp_path / "state" / "secret"
    with recording_fs(record):
        write_secret(path, b"s3cret\n", replace=False)
        with pytest.raises(FileExistsError):
            write_secret(path, b"other\n", replace=False)
        write_secret(path, b"new\n", replace=True)
    assert created and all(mode == 0o600 for mode in created)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert read_bytes(path, private=True) == b"new\n"
    path.chmod(0o640)
    with pytest.raises(StateIntegrityError, match="readable or writable by other users"):
        read_bytes(path, private=True)


# -- a server whose answerer fails ---------------------------------------------------------------


@pytest.fixture
def broken_server(workspace: Path) -> Iterator[HookServer]:
    """A server in this process whose answerer raises, or returns nonsense (answer() never
    does: this is the last line of defence)."""

    def answerer(agent: str, body: bytes) -> Any:
        if body == b"raise":
            raise RuntimeError("boom")
        if body == b"nonsense":
            return None
        return no_decision()

    config = ServeConfig(Workspace.open(workspace), "t" * 43, port=0)
    server = HookServer(config, answerer)
    server.bind()
    thread = threading.Thread(target=server.serve)
    thread.start()
    yield server
    server.stop()
    thread.join(timeout=30)
    assert not thread.is_alive()


@pytest.mark.parametrize("body", [b"raise", b"nonsense"])
def test_a_failing_answerer_still_blocks_with_200_and_exit_2(
    broken_server: HookServer, body: bytes
) -> None:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", broken_server.port or 0, timeout=30)
    try:
        headers = {"Authorization": "Bearer " + "t" * 43}
        conn.request("POST", "/hook/claude", body=body, headers=headers)
        reply = conn.getresponse()
        data = reply.read()
        assert (reply.status, reply.getheader("X-Agentos-Exit-Code")) == (200, "2")
        doc = json.loads(data)
        assert doc["decision"] == "block"
        assert "agentos serve failed" in doc["reason"]
        conn.close()
        conn = http.client.HTTPConnection("127.0.0.1", broken_server.port or 0, timeout=30)
        conn.request("POST", "/hook/claude", body=b"{}", headers=headers)
        after = conn.getresponse()
        assert (after.status, after.read()) == (200, b"")  # and it goes on
    finally:
        conn.close()
