"""A real ``agentos serve`` in a subprocess, and a small HTTP client for it.

``start_server`` runs ``python -m agentos serve --json`` on 127.0.0.1 port 0 (or a unix
socket), reads the envelope it prints as it starts, and returns a ``Served``; tests stop it
with ``stop`` (a signal), and every fixture that starts one kills it in its finalizer, so no
server outlives its test. The server's stderr goes to a file (``Served.stderr``).
"""

from __future__ import annotations

import http.client
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpers import REPO_ROOT, environment

FIXTURES = REPO_ROOT / "tests" / "data" / "hooks"
START_SECONDS = 30.0
# The token to send by default: the server's own (a sentinel, since None means "no header").
OWN = "\0own"


@dataclass(frozen=True)
class Response:
    """One HTTP response: status, headers (lower-case names), body."""

    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def exit_code(self) -> int | None:
        value = self.headers.get("x-agentos-exit-code")
        return None if value is None else int(value)

    def json(self) -> Any:
        return json.loads(self.body)


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(str(self.socket_path))
        self.sock = sock


@dataclass
class Served:
    """A running server: its process, the envelope it announced, its token."""

    proc: subprocess.Popen[bytes]
    envelope: dict[str, Any]
    workspace: Path
    stderr_path: Path
    token: str = field(init=False)

    def __post_init__(self) -> None:
        self.token = Path(self.result["token_file"]).read_text().strip()

    @property
    def result(self) -> dict[str, Any]:
        return dict(self.envelope["result"])

    @property
    def port(self) -> int:
        return int(self.result["port"])

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def connection(self, timeout: float = 60.0) -> http.client.HTTPConnection:
        """A new connection to the server (TCP or its unix socket)."""
        if self.result["socket"] is not None:
            return _UnixConnection(Path(self.result["socket"]), timeout)
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        *,
        token: str | None = OWN,
        headers: dict[str, str] | None = None,
        conn: http.client.HTTPConnection | None = None,
    ) -> Response:
        """Send one request (on ``conn`` when given, else on a connection of its own)."""
        own = conn is None
        conn = conn or self.connection()
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {self.token if token == OWN else token}"
        try:
            conn.request(method, path, body=body, headers=sent)
            reply = conn.getresponse()
            data = reply.read()
            found = {k.lower(): v for k, v in reply.getheaders()}
            return Response(reply.status, found, data)
        finally:
            if own:
                conn.close()

    def post(self, agent: str, body: bytes, **kwargs: Any) -> Response:
        """``POST /hook/AGENT`` with ``body``."""
        return self.request("POST", f"/hook/{agent}", body, **kwargs)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Signal the server and wait for its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        """Make sure the server is gone (finalizers)."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def start_server(
    ws: Path, *args: str | Path, log_dir: Path, env: dict[str, str] | None = None
) -> Served:
    """``agentos serve -C ws --json ARGS`` (port 0 unless ARGS say otherwise), once it has
    announced where it listens."""
    argv = [sys.executable, "-m", "agentos", "serve", "-C", str(ws), "--json"]
    if "--port" not in args and "--socket" not in args:
        argv += ["--port", "0"]
    argv += [str(a) for a in args]
    log_dir.mkdir(parents=True, exist_ok=True)
    stderr_path = log_dir / f"serve-{time.monotonic_ns()}.err"
    with stderr_path.open("wb") as err:
        proc = subprocess.Popen(  # the finalizer of every caller kills it
            argv, stdout=subprocess.PIPE, stderr=err, env=environment(**(env or {}))
        )
    line = _first_line(proc)
    if not line:
        proc.kill()
        proc.wait(timeout=30)
        raise AssertionError(f"agentos serve did not start: {stderr_path.read_text()}")
    envelope = json.loads(line)
    assert envelope["ok"] is True, envelope
    return Served(proc, envelope, ws, stderr_path)


def _first_line(proc: subprocess.Popen[bytes]) -> bytes:
    """The first line of ``proc``'s stdout, or b"" if it ends or stays silent too long."""
    assert proc.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + START_SECONDS
    line = b""
    try:
        while not line.endswith(b"\n") and time.monotonic() < deadline:
            if not selector.select(timeout=0.1):
                if proc.poll() is not None:
                    break
                continue
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            line += chunk
    finally:
        selector.close()
    return line


def fixture_event(agent: str, name: str, ws: Path, **changes: Any) -> bytes:
    """The fixture event ``tests/data/hooks/AGENT/NAME.json`` for ``ws`` (``changes`` replace
    top-level keys)."""
    text = (FIXTURES / agent / f"{name}.json").read_text().replace("__WORKSPACE__", str(ws))
    doc = json.loads(text)
    doc.update(changes)
    return json.dumps(doc).encode()


def fixture_names() -> list[tuple[str, str]]:
    """Every (agent, fixture) under ``tests/data/hooks/``."""
    return sorted(
        (agent.name, path.stem)
        for agent in FIXTURES.iterdir()
        if agent.is_dir()
        for path in agent.glob("*.json")
    )
