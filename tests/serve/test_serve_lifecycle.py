"""``agentos serve`` starting and stopping: SIGTERM and SIGINT let the event in flight finish
and exit 0; a server killed in the middle of a hook leaves a workspace the next command
handles; the unix socket; the token kept across restarts; where it never listens."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from helpers import agentos_subprocess, read_tree, wait_for
from serving import Response, Served, fixture_event

EDITED = b'def greet():\n    return "hello, world"\n'


def in_thread(call: Callable[[], Response]) -> tuple[threading.Thread, list[object]]:
    """Run ``call`` in a thread; its result (or exception) lands in the returned list."""
    out: list[object] = []

    def run() -> None:
        try:
            out.append(call())
        except Exception as exc:  # the connection of a killed server breaks
            out.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, out


def decision(reply: Response) -> str:
    return str(json.loads(reply.body)["hookSpecificOutput"]["permissionDecision"])


# -- stopping ----------------------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_lets_the_event_in_flight_finish_then_exits_0(
    ws: Path, serve: Callable[..., Served], tmp_path: Path, sig: int
) -> None:
    faults = tmp_path / "faults"
    faults.mkdir()
    env = {"AGENTOS_FAULTS": "plan.before_write=pause@1", "AGENTOS_FAULTS_DIR": str(faults)}
    served = serve(ws, env=env)
    thread, out = in_thread(lambda: served.post("claude", fixture_event("claude", "pre_edit", ws)))
    wait_for(faults / "plan.before_write.paused", served.proc)
    served.proc.send_signal(sig)
    # It stops listening while the event in flight is still being answered.
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", served.port), timeout=5).close()
        except (ConnectionRefusedError, ConnectionResetError):
            # Refused once the socket is closed; reset when a connection caught in the
            # listening socket's backlog is dropped as it closes.
            break
        assert time.monotonic() < deadline, "still listening after the signal"
        time.sleep(0.05)
    assert served.proc.poll() is None
    (faults / "plan.before_write.resume").write_text("")
    thread.join(timeout=60)
    [reply] = out
    assert isinstance(reply, Response), reply
    assert (reply.status, reply.exit_code) == (200, 0)
    assert decision(reply) == "allow"
    assert served.proc.wait(timeout=30) == 0
    assert "stopped" in served.stderr
    assert "Traceback" not in served.stderr


def test_an_idle_keep_alive_connection_does_not_hold_the_stop(served: Served) -> None:
    conn = served.connection()
    try:
        assert served.request("GET", "/health", conn=conn).status == 200
        assert served.stop(timeout=10) == 0
    finally:
        conn.close()


# -- killed in the middle of a hook ------------------------------------------------------------


def check_consistent_after(ws: Path, serve: Callable[..., Served]) -> None:
    """What a killed server left is handled by the next commands: a retried write waits for
    the one in flight, the turn's end settles it, the trail verifies, nothing is
    interrupted, and the next write is allowed, recorded and undone."""
    before = read_tree(ws)
    served = serve(ws)
    retry = served.post("claude", fixture_event("claude", "pre_edit", ws))
    assert retry.status == 200
    assert decision(retry) in ("allow", "deny")
    if decision(retry) == "deny":
        assert "retry in a moment" in retry.body.decode()
    # The end of the turn settles whatever is pending (the tool never wrote).
    assert served.post("claude", fixture_event("claude", "stop", ws)).exit_code == 0
    assert list((ws / ".agentos" / "journal" / "agent").glob("*.json")) == []
    code, doc = agentos_subprocess(ws, "audit", "verify")
    assert code == 0, doc
    code, doc = agentos_subprocess(ws, "status")
    assert (code, doc["result"]["interrupted"]) == (0, [])
    assert read_tree(ws) == before  # agentos wrote nothing of the workspace's files
    # Business as usual: allowed, written by the agent, recorded, undone.
    again = served.post("claude", fixture_event("claude", "pre_edit", ws, tool_use_id="again"))
    assert decision(again) == "allow"
    (ws / "src/app.py").write_bytes(EDITED)
    post = served.post("claude", fixture_event("claude", "post_edit", ws, tool_use_id="again"))
    assert (post.status, post.body) == (200, b"")
    code, doc = agentos_subprocess(ws, "rollback", "--last")
    assert code == 0, doc
    assert read_tree(ws) == before


@pytest.mark.parametrize(
    "point",
    [
        "plan.before_write@1",  # nothing written yet
        "backup.fsync.after@1",  # pre-images backed up, no pending journal
        "audit.append.before@3",  # pending journal written, agent.staged not recorded
        "audit.append.after@3",  # agent.staged appended, HEAD not moved yet
    ],
)
def test_a_server_crashing_mid_hook_is_handled_by_the_next_command(
    ws: Path, serve: Callable[..., Served], point: str
) -> None:
    served = serve(ws, env={"AGENTOS_FAULTS": f"{point.replace('@', '=crash@')}"})
    with pytest.raises((ConnectionError, http.client.HTTPException)):
        served.post("claude", fixture_event("claude", "pre_edit", ws))
    assert served.proc.wait(timeout=30) == 137
    check_consistent_after(ws, serve)


@pytest.mark.parametrize("point", ["backup.fsync.after", "audit.append.before@3"])
def test_a_sigkill_mid_hook_is_handled_by_the_next_command(
    ws: Path, serve: Callable[..., Served], tmp_path: Path, point: str
) -> None:
    name, _, hit = point.partition("@")
    faults = tmp_path / "faults"
    faults.mkdir()
    env = {"AGENTOS_FAULTS": f"{name}=pause@{hit or 1}", "AGENTOS_FAULTS_DIR": str(faults)}
    served = serve(ws, env=env)
    thread, out = in_thread(lambda: served.post("claude", fixture_event("claude", "pre_edit", ws)))
    wait_for(faults / f"{name}.paused", served.proc)
    os.kill(served.proc.pid, signal.SIGKILL)
    thread.join(timeout=60)
    assert served.proc.wait(timeout=30) == -signal.SIGKILL
    [failed] = out
    assert isinstance(failed, ConnectionError | http.client.HTTPException), failed
    check_consistent_after(ws, serve)


# -- where it listens --------------------------------------------------------------------------


def test_it_listens_on_loopback_only(served: Served) -> None:
    assert served.result["url"] == f"http://127.0.0.1:{served.port}"
    table = Path("/proc/net/tcp")
    if not table.exists():
        pytest.skip("no /proc/net/tcp to read the listening address from")
    listening = [
        line.split()[1]
        for line in table.read_text().splitlines()[1:]
        if line.split()[3] == "0A" and int(line.split()[1].split(":")[1], 16) == served.port
    ]
    assert listening == [f"0100007F:{served.port:04X}"]


def test_a_unix_socket_is_private_and_serves_the_same(
    ws: Path, serve: Callable[..., Served], tmp_path: Path
) -> None:
    path = tmp_path / "agentos.sock"
    served = serve(ws, "--socket", path)
    assert served.result["socket"] == str(path)
    assert served.result["port"] is None
    assert stat.S_ISSOCK(path.lstat().st_mode)
    assert stat.S_IMODE(path.lstat().st_mode) == 0o600
    reply = served.post("claude", fixture_event("claude", "pre_write", ws))
    assert (reply.status, reply.exit_code, decision(reply)) == (200, 0, "allow")
    assert served.post("claude", b"{}", token=None).status == 401
    assert served.stop() == 0
    assert not path.exists()  # removed on the way out


def test_a_stale_socket_is_replaced_and_a_live_one_or_a_file_refused(
    ws: Path, serve: Callable[..., Served], tmp_path: Path
) -> None:
    stale = tmp_path / "stale.sock"
    left = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    left.bind(str(stale))
    left.close()  # a socket file nobody listens on, as a killed server leaves it
    served = serve(ws, "--socket", stale)
    assert served.request("GET", "/health").status == 200
    code, doc = agentos_subprocess(ws, "serve", "--socket", str(stale))
    assert code == 2
    assert "another server listens there" in doc["error"]["message"]
    plain = tmp_path / "plain"
    plain.write_text("not a socket")
    code, doc = agentos_subprocess(ws, "serve", "--socket", str(plain))
    assert code == 2
    assert "is not a socket" in doc["error"]["message"]
    assert plain.read_text() == "not a socket"


# -- the token ---------------------------------------------------------------------------------


def test_the_token_is_0600_kept_across_restarts_and_replaced_on_demand(
    ws: Path, serve: Callable[..., Served]
) -> None:
    first = serve(ws)
    token_file = Path(first.result["token_file"])
    assert token_file == ws / ".agentos" / "serve" / "token"
    assert first.result["token_created"] is True
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(token_file.parent.stat().st_mode) == 0o700
    assert first.stop() == 0
    second = serve(ws)
    assert (second.result["token_created"], second.token) == (False, first.token)
    assert second.stop() == 0
    third = serve(ws, "--new-token")
    assert third.result["token_created"] is True
    assert third.token != first.token
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert third.post("claude", b"{}", token=first.token).status == 401


def test_a_token_file_others_can_read_is_refused(ws: Path) -> None:
    token_file = ws / ".agentos" / "serve" / "token"
    token_file.parent.mkdir(parents=True)
    token_file.write_text("A" * 43 + "\n")
    token_file.chmod(0o644)
    code, doc = agentos_subprocess(ws, "serve", "--port", "0")
    assert code == 6
    assert "readable or writable by other users" in doc["error"]["message"]
