"""An apply in flight when ``agentos mcp`` is stopped: by SIGTERM, or by its client going away.
Either way the apply rolls back as it would on the command line, and the server exits.

The server is driven here with raw JSON-RPC lines (the handshake, then one ``tools/call``), so
the test holds its process; the apply is paused inside its first file write by a fault point.
"""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path
from typing import IO, Any

import pytest

from helpers import environment, read_tree, wait_for, write_tree

pytest.importorskip("mcp", reason="agentos[mcp] is not installed")

from mcpclient import AGENTOS
from test_mcp_stdio import APP, set_policy

PAUSE_AT = "fsops.write.before"


def send(stream: IO[bytes], message: dict[str, Any]) -> None:
    stream.write(json.dumps({"jsonrpc": "2.0", **message}).encode() + b"\n")
    stream.flush()


def start(ws: Path, faults: Path) -> subprocess.Popen[bytes]:
    """``agentos mcp`` with its first workspace write paused, a write_file call in flight."""
    env = environment(AGENTOS_FAULTS=f"{PAUSE_AT}=pause", AGENTOS_FAULTS_DIR=str(faults))
    proc = subprocess.Popen(
        [AGENTOS, "mcp", "-C", str(ws)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        assert proc.stdin is not None and proc.stdout is not None
        send(
            proc.stdin,
            {
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-06-18",
                    "capabilities": {},
                    "clientInfo": {"name": "test", "version": "1"},
                },
            },
        )
        assert json.loads(proc.stdout.readline())["id"] == 1
        send(proc.stdin, {"method": "notifications/initialized"})
        send(
            proc.stdin,
            {
                "id": 2,
                "method": "tools/call",
                "params": {
                    "name": "write_file",
                    "arguments": {"path": "src/app.py", "content": "def main():\n    return 2\n"},
                },
            },
        )
        wait_for(faults / f"{PAUSE_AT}.paused", proc)
    except BaseException:
        proc.kill()
        proc.communicate()
        raise
    return proc


@pytest.fixture
def ws(workspace: Path) -> Path:
    write_tree(workspace, {"src/app.py": APP})
    set_policy(workspace)
    return workspace


def last_execution(ws: Path) -> dict[str, Any]:
    done = subprocess.run(
        [AGENTOS, "history", "--json", "-C", str(ws)], capture_output=True, check=True
    )
    executions: list[dict[str, Any]] = json.loads(done.stdout)["result"]["executions"]
    return executions[0]


def interrupted(ws: Path) -> list[Any]:
    done = subprocess.run(
        [AGENTOS, "status", "--json", "-C", str(ws)], capture_output=True, check=True
    )
    found: list[Any] = json.loads(done.stdout)["result"]["interrupted"]
    return found


def test_sigterm_mid_apply_rolls_it_back_and_stops_the_server(ws: Path, tmp_path: Path) -> None:
    before = read_tree(ws)
    with start(ws, tmp_path) as proc:
        proc.send_signal(signal.SIGTERM)
        (tmp_path / f"{PAUSE_AT}.resume").write_text("")
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert read_tree(ws) == before
    assert last_execution(ws)["status"] == "aborted"
    assert interrupted(ws) == []


def test_a_client_that_goes_away_mid_apply_gets_it_rolled_back(ws: Path, tmp_path: Path) -> None:
    before = read_tree(ws)
    with start(ws, tmp_path) as proc:
        assert proc.stdin is not None and proc.stderr is not None
        proc.stdin.close()
        (tmp_path / f"{PAUSE_AT}.resume").write_text("")
        assert proc.wait(timeout=60) == 0, proc.stderr.read()
    assert read_tree(ws) == before
    assert last_execution(ws)["status"] == "aborted"
    assert interrupted(ws) == []


def test_a_sigkill_mid_apply_is_recovered_by_the_next_command(ws: Path, tmp_path: Path) -> None:
    before = read_tree(ws)
    with start(ws, tmp_path) as proc:
        proc.kill()
        proc.communicate(timeout=60)
    assert len(interrupted(ws)) == 1
    recovered = subprocess.run(
        [AGENTOS, "recover", "--json", "-C", str(ws)], capture_output=True, check=False
    )
    assert recovered.returncode == 0, recovered.stderr
    assert read_tree(ws) == before
    assert interrupted(ws) == []
