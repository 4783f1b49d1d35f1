"""``agentos serve`` as a command: the envelope it announces as it starts (keys pinned), the
line on stderr, ``-q``, its usage errors in one line, and its help."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from helpers import CliResult, environment
from serving import Served, start_server

Cli = Callable[..., CliResult]
STARTED_KEYS = {
    "url",
    "port",
    "socket",
    "endpoints",
    "health",
    "token_file",
    "token_created",
    "workspace",
    "max_bytes",
    "pid",
}


@pytest.fixture
def started(workspace: Path, tmp_path: Path) -> Iterator[Served]:
    served = start_server(workspace, "--max-bytes", "65536", log_dir=tmp_path / "logs")
    yield served
    served.kill()


def test_the_envelope_announces_where_it_listens(started: Served, workspace: Path) -> None:
    doc = started.envelope
    assert set(doc) == {"agentos", "command", "ok", "exit_code", "result", "error"}
    assert (doc["command"], doc["ok"], doc["exit_code"], doc["error"]) == ("serve", True, 0, None)
    result = started.result
    assert set(result) == STARTED_KEYS
    port = result["port"]
    assert isinstance(port, int) and port > 0
    assert result["url"] == f"http://127.0.0.1:{port}"
    assert result["endpoints"] == {
        agent: f"http://127.0.0.1:{port}/hook/{agent}" for agent in ("claude", "codex", "gemini")
    }
    assert result["health"] == f"http://127.0.0.1:{port}/health"
    assert result["token_file"] == str(workspace.resolve() / ".agentos" / "serve" / "token")
    assert (result["workspace"], result["max_bytes"], result["pid"]) == (
        str(workspace.resolve()),
        65536,
        started.proc.pid,
    )
    assert result["socket"] is None
    # stdout holds that one document: nothing more when it stops.
    assert started.stop() == 0
    assert started.proc.stdout is not None
    assert started.proc.stdout.read() == b""
    assert "agentos: stopped" in started.stderr


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_healthy(port: int, proc: subprocess.Popen[bytes]) -> None:
    """Until the server answers ``GET /health`` (it serves, its signal handlers are set)."""
    deadline = time.monotonic() + 30
    while True:
        assert proc.poll() is None, "the server ended"
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                return
        except (OSError, http.client.HTTPException):
            pass
        finally:
            conn.close()
        assert time.monotonic() < deadline, "the server did not answer"
        time.sleep(0.05)


@pytest.mark.parametrize("quiet", [False, True])
def test_without_json_it_says_where_on_stderr_and_quiet_says_nothing(
    workspace: Path, quiet: bool
) -> None:
    port = free_port()
    argv = [sys.executable, "-m", "agentos", "serve", "-C", str(workspace), "--port", str(port)]
    proc = subprocess.Popen(
        [*argv, *(["-q"] if quiet else [])],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environment(),
    )
    try:
        wait_healthy(port, proc)
        os.kill(proc.pid, signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    assert proc.returncode == 0
    assert out == b""
    if quiet:
        assert err == b""
    else:
        first, last = err.decode().splitlines()
        assert first.startswith(f"agentos: serving hook events for {workspace.resolve()} on ")
        assert f"http://127.0.0.1:{port}" in first
        assert ".agentos/serve/token" in first
        assert last == "agentos: stopped"


def test_policy_is_refused(cli: Cli, workspace: Path) -> None:
    result = cli("serve", "-C", workspace, "--policy", workspace / "p.yaml", "--port", "0")
    assert result.code == 2
    assert "drop --policy" in result.err
    assert result.err.count("\n") == 1


def test_a_port_in_use_is_one_line_exit_2(cli: Cli, workspace: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = cli("serve", "-C", workspace, "--port", str(port), "--json")
    assert result.code == 2
    assert result.json()["error"]["message"].startswith(f"cannot listen on 127.0.0.1:{port}")
    assert "pick another port with --port" in result.err
    assert result.err.count("\n") == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "70000"], "--port"),
        (["--max-bytes", "10"], "--max-bytes"),
        (["--read-timeout", "0"], "--read-timeout"),
        (["--host", "0.0.0.0"], "--host"),  # noqa: S104 - refused: there is no --host
    ],
)
def test_usage_errors(cli: Cli, workspace: Path, args: list[str], message: str) -> None:
    result = cli("serve", "-C", workspace, *args)
    assert result.code == 2
    assert message in result.err


def test_a_missing_workspace_is_a_usage_error(cli: Cli, tmp_path: Path) -> None:
    result = cli("serve", "-C", tmp_path / "nowhere", "--port", "0")
    assert result.code == 2
    assert "is not a directory" in result.err


def test_help_lists_serve_and_its_options(cli: Cli) -> None:
    assert "serve" in cli("--help").out
    text = cli("serve", "--help").out
    for option in ("--port", "--socket", "--max-bytes", "--read-timeout", "--new-token"):
        assert option in text
