"""One attempt of a health check: a command, an HTTP request or a file test.

Every probe takes a deadline and a ``stop`` callable (asked every few tens of milliseconds):
when either fires, the probe is cut short — a command with its whole process group, an HTTP
request by shutting its socket — so neither a hung command nor a server that trickles one
byte a second can stretch an apply past its limits. Given a health stage's ``Reaper``
(``verify/reaper.py``), a command is also followed past its own group: whatever it leaves
running when it ends, a daemon that called ``setsid`` included, is killed right away.
"""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from agentos.verify.spec import FileProbe, HttpProbe
from agentos.verify.syntax import syntax_problem
from agentos.workspace import path_problems

if TYPE_CHECKING:
    from http.client import HTTPConnection

    from agentos.verify.reaper import Reaper

POLL_SECONDS = 0.05
KILL_GRACE_SECONDS = 0.5
TAIL_LINES = 20
TAIL_BYTES = 4096
MAX_BODY_BYTES = 1 << 20

Stop = Callable[[], str | None]


@dataclass(frozen=True)
class Outcome:
    """What one attempt found: ok, or the kind of failure (for ``retry_on``) and why."""

    ok: bool
    failure: str | None = None  # timeout | connection_error | nonzero_exit | unexpected_status
    message: str = ""
    output: str = ""
    stopped: str | None = None  # why the attempt was cut short by ``stop``


def _tail(data: bytes) -> str:
    text = data[-TAIL_BYTES:].decode("utf-8", "replace")
    return "\n".join(text.splitlines()[-TAIL_LINES:])


def run_command(
    argv: list[str],
    *,
    cwd: Path,
    timeout: float,
    stop: Stop,
    env: dict[str, str],
    reaper: Reaper | None = None,
) -> Outcome:
    """Run ``argv`` (no shell) in its own process group; kill the group on timeout or stop.

    With a ``reaper`` the command's environment carries a mark (``AGENTOS_CHECK_MARK``), and
    once the command has ended (passed, failed, timed out or stopped) every new process that
    carries it is killed and reaped — before the output is collected, so a daemon that holds
    the pipe open costs no wait.
    """
    attempt = reaper.attempt(env) if reaper is not None else None
    try:
        proc = subprocess.Popen(  # noqa: S603 - argv comes from the policy, never a shell
            argv,
            cwd=cwd,
            env=env if attempt is None else attempt.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        return Outcome(False, "nonzero_exit", f"cannot run {argv[0]!r}: {exc.strerror}")
    if attempt is not None:
        attempt.started(proc)
    buffer: collections.deque[bytes] = collections.deque(maxlen=256)

    stream = proc.stdout

    def pump() -> None:
        if stream is None:
            return
        # A background process the check left may keep the pipe open: reading stops when
        # the stream is closed below, which is not an error.
        with contextlib.suppress(OSError, ValueError):
            while chunk := os.read(stream.fileno(), 4096):
                buffer.append(chunk)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        why, stopped = _wait(proc, timeout, stop)
    finally:
        if attempt is not None:
            attempt.finished(proc)
    reader.join(timeout=0.5)
    if stream is not None:
        stream.close()
    output = _tail(b"".join(buffer))
    if why is not None:
        return Outcome(
            False, "timeout", f"{argv[0]}: {why}; its process group was killed", output, stopped
        )
    if proc.returncode != 0:
        return Outcome(False, "nonzero_exit", f"{argv[0]} exited {proc.returncode}", output)
    return Outcome(True, message=f"{argv[0]} exited 0", output=output)


def _wait(
    proc: subprocess.Popen[bytes], timeout: float, stop: Stop
) -> tuple[str | None, str | None]:
    """Wait for ``proc``, killing its group on a timeout or stop: why it was cut, and stop's why."""
    deadline = time.monotonic() + timeout
    stopped: str | None = None
    while True:
        try:
            proc.wait(timeout=POLL_SECONDS)
        except subprocess.TimeoutExpired:
            stopped = stop()
            why: str | None = None
            if stopped is not None:
                why = f"stopped ({stopped})"
            elif time.monotonic() >= deadline:
                why = f"timed out after {timeout:g}s"
            if why is not None:
                kill_group(proc)
                return why, stopped
        else:
            return None, None


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group, then SIGKILL whatever is left after a short grace."""
    for sig, grace in ((signal.SIGTERM, KILL_GRACE_SECONDS), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            continue
        # The leader is gone; make sure no member of its group outlives it.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        return


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (never sent through a proxy)."""
    import ipaddress

    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _connection(url: str, timeout: float) -> tuple[HTTPConnection, str]:
    """A connection for ``url`` (through the environment's proxy unless it is loopback)."""
    import urllib.request
    from http.client import HTTPConnection, HTTPSConnection
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    secure = parts.scheme == "https"
    port = parts.port or (443 if secure else 80)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    proxy = None
    if not is_loopback(host) and not urllib.request.proxy_bypass(host):
        proxy = urllib.request.getproxies().get(parts.scheme)
    kind = HTTPSConnection if secure else HTTPConnection
    if proxy is None:
        return kind(host, port, timeout=timeout), target
    via = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    if secure:
        conn = HTTPSConnection(via.hostname or "", via.port or 8080, timeout=timeout)
        conn.set_tunnel(host, port)
        return conn, target
    return HTTPConnection(via.hostname or "", via.port or 8080, timeout=timeout), url


def run_http(probe: HttpProbe, *, timeout: float, stop: Stop) -> Outcome:
    """One request; the whole exchange must finish within ``timeout`` seconds."""
    try:
        conn, target = _connection(probe.url, timeout)
    except ValueError as exc:
        return Outcome(False, "connection_error", f"{probe.url}: {exc}")
    found: dict[str, object] = {}

    def exchange() -> None:
        try:
            conn.connect()
            # Kept apart: a response that closes the connection drops conn.sock, and the
            # deadline must still be able to cut a body that trickles in.
            found["sock"] = conn.sock
            conn.request(probe.method, target, headers=probe.headers)
            response = conn.getresponse()
            found["status"] = response.status
            found["body"] = response.read(MAX_BODY_BYTES)
        except Exception as exc:
            found["error"] = exc

    worker = threading.Thread(target=exchange, daemon=True)
    worker.start()
    deadline = time.monotonic() + timeout
    cut: str | None = None
    stopped: str | None = None
    while worker.is_alive():
        worker.join(POLL_SECONDS)
        if not worker.is_alive():
            break
        stopped = stop()
        if stopped is not None:
            cut = f"stopped ({stopped})"
        elif time.monotonic() >= deadline:
            cut = f"no complete answer within {timeout:g}s"
        if cut is not None:
            _shut(conn, found.get("sock"))
            worker.join(2.0)
            break
    conn.close()
    if cut is not None:
        return Outcome(False, "timeout", f"{probe.url}: {cut}", stopped=stopped)
    error = found.get("error")
    if isinstance(error, socket.timeout | TimeoutError):
        return Outcome(False, "timeout", f"{probe.url}: timed out ({error})")
    if error is not None:
        return Outcome(False, "connection_error", f"{probe.url}: {error}")
    status = found.get("status")
    if not isinstance(status, int):
        return Outcome(False, "connection_error", f"{probe.url}: no response")
    body = found.get("body")
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else ""
    expected = (
        probe.expect_status if isinstance(probe.expect_status, list) else [probe.expect_status]
    )
    if status not in expected:
        wanted = " or ".join(str(s) for s in expected)
        return Outcome(
            False,
            "unexpected_status",
            f"{probe.url}: status {status}, expected {wanted}",
            _tail(text.encode()),
        )
    if probe.body_contains is not None and probe.body_contains not in text:
        return Outcome(
            False,
            "unexpected_status",
            f"{probe.url}: status {status} but the body does not contain {probe.body_contains!r}",
            _tail(text.encode()),
        )
    return Outcome(True, message=f"{probe.url}: status {status}")


def _shut(conn: HTTPConnection, kept: object) -> None:
    """Cut the connection from outside the thread that is blocked on it."""
    for sock in (conn.sock, kept):
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def run_file(probe: FileProbe, *, root: Path) -> Outcome:
    """The file must exist (and parse, if asked) or be absent, as the probe says."""
    problems = path_problems(probe.path)
    if problems:
        return Outcome(False, "file", f"{probe.path!r}: {problems[0]}")
    path = root / probe.path
    if any((root / part).is_symlink() for part in _prefixes(probe.path)):
        return Outcome(False, "file", f"{probe.path}: a symlink is on its way; not followed")
    try:
        data: bytes | None = path.read_bytes() if path.is_file() else None
    except OSError as exc:
        return Outcome(False, "file", f"{probe.path}: cannot read it ({exc.strerror})")
    if not probe.exists:
        if path.exists() or path.is_symlink():
            return Outcome(False, "file", f"{probe.path} exists and should be absent")
        return Outcome(True, message=f"{probe.path} is absent")
    if data is None:
        return Outcome(False, "file", f"{probe.path} does not exist")
    if probe.parses:
        problem = syntax_problem(probe.path, data)
        if problem is not None:
            return Outcome(False, "file", problem)
    return Outcome(
        True, message=f"{probe.path} is present" + (" and parses" if probe.parses else "")
    )


def _prefixes(path: str) -> list[str]:
    parts = path.strip("/").split("/")
    return ["/".join(parts[:end]) for end in range(1, len(parts) + 1)]
