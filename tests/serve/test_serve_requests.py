"""``agentos serve`` over real HTTP: the token, the limits, malformed requests — each refused
with its status and a block in the agent's protocol — and a server that keeps answering."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from serving import Served, fixture_event

CLAUDE_ALLOW = '"permissionDecision": "allow"'


def raw_exchange(served: Served, data: bytes, *, pause: float = 0.0) -> bytes:
    """Send ``data`` on a plain socket (after ``pause`` seconds of silence when asked) and
    read until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", served.port), timeout=30) as sock:
        if pause:
            time.sleep(pause)
        if data:
            sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def blocks(agent: str, body: bytes) -> str:
    """The reason of a blocking body in ``agent``'s protocol (fails if it does not block)."""
    doc = json.loads(body)
    if agent == "gemini":
        assert doc["decision"] == "deny", doc
        return str(doc["reason"])
    if "hookSpecificOutput" in doc:
        assert doc["hookSpecificOutput"]["permissionDecision"] == "deny", doc
        return str(doc["hookSpecificOutput"]["permissionDecisionReason"])
    assert doc["decision"] == "block", doc
    return str(doc["reason"])


# -- the token ---------------------------------------------------------------------------------


@pytest.mark.parametrize("agent", ["claude", "codex", "gemini"])
def test_an_event_without_the_token_is_401_and_its_body_blocks(
    served: Served, ws: Path, agent: str
) -> None:
    name = {"claude": "pre_write", "codex": "pre_apply_patch", "gemini": "before_write_file"}
    reply = served.post(agent, fixture_event(agent, name[agent], ws), token=None)
    assert reply.status == 401
    assert reply.exit_code == 2
    assert reply.headers["www-authenticate"].startswith("Bearer")
    assert "no bearer token" in blocks(agent, reply.body)
    assert reply.body.count(b"\n") == 1  # one line
    assert not (ws / ".agentos" / "plans").exists()  # nothing was planned
    assert "refused POST '/hook/" in served.stderr


@pytest.mark.parametrize(
    "authorization",
    ["Bearer wrong-token-of-the-right-length-00000000000", "Basic dXNlcjpwYXNz", "Bearer", ""],
)
def test_a_wrong_token_is_refused(served: Served, ws: Path, authorization: str) -> None:
    event = fixture_event("claude", "pre_write", ws)
    reply = served.post("claude", event, token=None, headers={"Authorization": authorization})
    assert reply.status == 401
    blocks("claude", reply.body)
    assert not (ws / "src/new.py").exists()


def test_the_scheme_is_case_insensitive_and_the_token_exact(served: Served, ws: Path) -> None:
    event = fixture_event("claude", "pre_write", ws)
    ok = served.post(
        "claude", event, token=None, headers={"Authorization": f"bearer {served.token}"}
    )
    assert (ok.status, ok.exit_code) == (200, 0)
    assert CLAUDE_ALLOW in ok.body.decode()
    longer = served.post("claude", event, token=served.token + "x")
    assert longer.status == 401
    shorter = served.post("claude", event, token=served.token[:-1])
    assert shorter.status == 401


def test_health_says_alive_to_anyone_and_more_with_the_token(served: Served, ws: Path) -> None:
    anonymous = served.request("GET", "/health", token=None)
    assert (anonymous.status, anonymous.json()) == (200, {"authenticated": False, "ok": True})
    known = served.request("GET", "/health")
    doc = known.json()
    assert doc["authenticated"] is True
    assert doc["workspace"] == str(ws)
    assert doc["pid"] == served.proc.pid
    assert doc["agents"] == ["claude", "codex", "gemini"]
    wrong = served.request("GET", "/health", token="not-it")  # noqa: S106 - a wrong one
    assert wrong.status == 401


# -- limits and malformed requests -------------------------------------------------------------


def test_an_oversized_body_is_413_without_being_read(
    ws: Path, serve: Callable[..., Served]
) -> None:
    served = serve(ws, "--max-bytes", "4096")
    # Only the headers are sent: the refusal comes before the body is read.
    head = (
        f"POST /hook/claude HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {served.token}\r\n"
        "Content-Length: 5000000\r\n\r\n"
    ).encode()
    raw = raw_exchange(served, head)
    status_line, _, rest = raw.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 413 Request Entity Too Large"
    assert b"X-Agentos-Exit-Code: 2" in rest
    assert "more than --max-bytes (4096)" in blocks("claude", rest.split(b"\r\n\r\n", 1)[1])
    # A client that sends the whole body anyway gets the same answer (the server reads what
    # follows and throws it away, so the connection is not reset under the client).
    for size in (8_000, 12_000_000):
        big = fixture_event("claude", "pre_write", ws, padding="x" * size)
        reply = served.post("claude", big)
        assert reply.status == 413
        blocks("claude", reply.body)
    # And the server goes on.
    assert (
        CLAUDE_ALLOW
        in served.post("claude", fixture_event("claude", "pre_write", ws)).body.decode()
    )


def test_garbage_is_blocked_and_the_next_event_is_answered(served: Served, ws: Path) -> None:
    for garbage in (b"not json", b"[1, 2]", b"{}", b"\xff\xfe", b""):
        reply = served.post("claude", garbage)
        assert (reply.status, reply.exit_code) == (200, 2), garbage
        assert "the tool call was blocked" in blocks("claude", reply.body)
    gemini = served.post("gemini", b"{")
    assert (gemini.status, gemini.exit_code) == (200, 2)
    blocks("gemini", gemini.body)
    reply = served.post("claude", fixture_event("claude", "pre_write", ws))
    assert (reply.status, reply.exit_code) == (200, 0)
    assert CLAUDE_ALLOW in reply.body.decode()


@pytest.mark.parametrize(
    ("headers", "status", "reason"),
    [
        ("", 411, "no Content-Length"),
        ("Content-Length: ten\r\n", 400, "is not a number"),
        ("Content-Length: -1\r\n", 400, "is not a number"),
        ("Content-Length: 2\r\nContent-Length: 2\r\n", 400, "more than one Content-Length"),
        ("Transfer-Encoding: chunked\r\n", 411, "chunked bodies are not read"),
    ],
)
def test_a_missing_or_invalid_length_is_refused(
    served: Served, headers: str, status: int, reason: str
) -> None:
    head = (
        f"POST /hook/claude HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {served.token}\r\n"
        f"{headers}\r\n"
    ).encode()
    raw = raw_exchange(served, head + b"{}")
    assert raw.startswith(f"HTTP/1.1 {status} ".encode()), raw
    assert reason in blocks("claude", raw.split(b"\r\n\r\n", 1)[1])


def test_a_slow_client_gets_408_and_the_server_goes_on(
    ws: Path, serve: Callable[..., Served]
) -> None:
    served = serve(ws, "--read-timeout", "0.5")
    head = (
        f"POST /hook/claude HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {served.token}\r\n"
        'Content-Length: 100\r\n\r\n{"hook_event_name":'
    ).encode()
    raw = raw_exchange(served, head)  # the rest of the body never comes
    assert raw.startswith(b"HTTP/1.1 408 "), raw
    assert "did not arrive in time" in blocks("claude", raw.split(b"\r\n\r\n", 1)[1])
    # A client that connects and says nothing is dropped without an answer.
    assert raw_exchange(served, b"", pause=1.0) == b""
    reply = served.post("claude", fixture_event("claude", "pre_write", ws))
    assert CLAUDE_ALLOW in reply.body.decode()


def test_a_body_cut_short_is_refused(served: Served) -> None:
    head = (
        f"POST /hook/claude HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {served.token}\r\n"
        "Content-Length: 100\r\n\r\n{}"
    ).encode()
    with socket.create_connection(("127.0.0.1", served.port), timeout=30) as sock:
        sock.sendall(head)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    raw = b"".join(chunks)
    assert raw.startswith(b"HTTP/1.1 400 "), raw
    assert b"before the whole body arrived" in raw


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("POST", "/hook/cursor", 404),
        ("POST", "/hooks/claude", 404),
        ("GET", "/hook/claude", 404),
        ("PUT", "/hook/claude", 501),
        ("DELETE", "/health", 501),
    ],
)
def test_other_routes_and_methods_are_refused_with_a_block(
    served: Served, method: str, path: str, status: int
) -> None:
    reply = served.request(method, path, b"{}")
    assert (reply.status, reply.exit_code) == (status, 2)
    blocks("claude", reply.body)


def test_a_bad_request_line_is_answered_without_a_traceback(served: Served) -> None:
    raw = raw_exchange(served, b"GARBAGE\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 400 "), raw
    assert b"Traceback" not in raw
    assert "Traceback" not in served.stderr
    assert served.request("GET", "/health").status == 200


def test_expect_100_continue_is_refused_before_the_body(served: Served) -> None:
    head = (
        b"POST /hook/claude HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
        b"Content-Length: 10\r\n\r\n"
    )
    raw = raw_exchange(served, head)  # no token: refused instead of "100 Continue"
    assert raw.startswith(b"HTTP/1.1 401 "), raw
    assert b"100 Continue" not in raw


# -- connections -------------------------------------------------------------------------------


def test_one_connection_carries_many_events(served: Served, ws: Path) -> None:
    conn = served.connection()
    try:
        for index in range(5):
            content = {"file_path": str(ws / f"src/n{index}.py"), "content": "x = 1\n"}
            event = fixture_event("claude", "pre_write", ws, tool_input=content)
            reply = served.post("claude", event, conn=conn)
            assert (reply.status, reply.exit_code) == (200, 0)
            assert CLAUDE_ALLOW in reply.body.decode()
            assert "connection" not in reply.headers
    finally:
        conn.close()


def test_concurrent_events_are_all_answered_and_the_trail_stays_linear(
    served: Served, ws: Path
) -> None:
    from agentos.audit.trail import AuditTrail

    replies: dict[int, int | None] = {}

    def send(index: int) -> None:
        content = {"file_path": str(ws / f"src/c{index}.py"), "content": f"n = {index}\n"}
        event = fixture_event(
            "claude", "pre_write", ws, tool_input=content, tool_use_id=f"t{index}"
        )
        reply = served.post("claude", event)
        replies[index] = reply.exit_code if CLAUDE_ALLOW in reply.body.decode() else None

    threads = [threading.Thread(target=send, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert replies == dict.fromkeys(range(8), 0)
    staged = sorted((ws / ".agentos" / "journal" / "agent").glob("*.json"))
    assert len(staged) == 8
    report = AuditTrail(ws / ".agentos" / "audit").verify()
    assert report.events >= 16  # a gate.evaluated and an agent.staged each


def test_a_kept_alive_connection_reset_between_requests_is_no_failure(
    served: Served, ws: Path
) -> None:
    # A client that answered its event and then drops the connection hard (a reset, not a
    # close) is no failed request: nothing said on stderr, nothing answered, server still up.
    with socket.create_connection(("127.0.0.1", served.port), timeout=30) as sock:
        body = fixture_event("claude", "pre_write", ws)
        head = (
            f"POST /hook/claude HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {served.token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        sock.sendall(head + body)
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
            reply += sock.recv(65536)
        assert reply.startswith(b"HTTP/1.1 200 "), reply
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    assert served.request("GET", "/health").status == 200
    assert "request failed" not in served.stderr
