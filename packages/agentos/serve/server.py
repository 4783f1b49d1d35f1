"""The HTTP/1.1 server of ``agentos serve``: loopback TCP or a unix socket, threads, a token.

Each event is answered by the answerer it is given — ``agentos.hooks.run.answer`` for the
server's workspace, exactly as ``agentos hook AGENT -C WORKSPACE`` answers it — and mapped
onto HTTP by ``answers``; the requests themselves are read by ``handler``. It binds
127.0.0.1 and nothing else (or a unix socket made ``0600``).

Connections are served by threads (at most ``MAX_CONNECTIONS``), each decision through the
same pipeline functions as the command hook (they take the workspace lock where they write).
``stop`` stops accepting, lets the requests in flight finish, and refuses (503, a block) any
request that starts after.
"""

from __future__ import annotations

import contextlib
import os
import socket
import socketserver
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import HTTPServer
from pathlib import Path
from typing import Any

from agentos.errors import UsageError
from agentos.hooks.protocols import AGENTS, Answer, fail_closed
from agentos.serve import LOOPBACK
from agentos.serve.answers import EXIT_HEADER, JSON_TYPE, Reply, event_name, refusal, reply_for
from agentos.serve.handler import handler_class
from agentos.workspace import Workspace

# More connections than this at once are refused at once (503): the threads stay bounded.
MAX_CONNECTIONS = 64
# answer(agent, body) -> the command hook's answer.
Answerer = Callable[[str, bytes], Answer]
Notice = Callable[[str], None]


@dataclass(frozen=True)
class ServeConfig:
    """What the server serves, where, and its limits."""

    workspace: Workspace
    token: str
    port: int = 0  # with ``socket_path`` unset: the loopback port (0: any free one)
    socket_path: Path | None = None
    max_bytes: int = 8 << 20
    read_timeout: float = 10.0


class HookServer:
    """One server over one workspace: ``bind``, then ``serve`` until ``stop``."""

    def __init__(
        self, config: ServeConfig, answerer: Answerer, *, notice: Notice | None = None
    ) -> None:
        self.config = config
        self.answerer = answerer
        self.notice = notice or (lambda _message: None)
        self._server: socketserver.BaseServer | None = None
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._connections: dict[socket.socket, bool] = {}  # connection -> busy
        self._stopping = False
        self._forced = False
        self._socket_inode: int | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def bind(self) -> None:
        """Listen (``UsageError`` naming the port or socket when that is impossible)."""
        tcp = self.config.socket_path is None
        handler = handler_class(self, read_timeout=self.config.read_timeout, tcp=tcp)
        if self.config.socket_path is not None:
            self._server = _bind_unix(self.config.socket_path, handler, self)
            self._socket_inode = self.config.socket_path.stat().st_ino
            return
        try:
            self._server = _TCPServer((LOOPBACK, self.config.port), handler, self)
        except OSError as exc:
            raise UsageError(
                f"cannot listen on {LOOPBACK}:{self.config.port} ({exc.strerror or exc}); "
                "pick another port with --port (0: any free port)"
            ) from None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (TCP), or ``http+unix://`` and the socket's path."""
        if self.config.socket_path is not None:
            return f"http+unix://{self.config.socket_path}"
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def port(self) -> int | None:
        """The port listened on (None on a unix socket)."""
        if self._server is None or self.config.socket_path is not None:
            return None
        return int(self._server.server_address[1])  # type: ignore[index]

    def serve(self) -> None:
        """Serve until ``stop``; then wait for the requests in flight and close."""
        server = self._require()
        try:
            server.serve_forever(poll_interval=0.2)
        finally:
            # Stop listening at once (new connections are refused), then let the requests
            # in flight finish.
            server.server_close()
            self._remove_socket()
            self._drain()

    def stop(self, *, force: bool = False) -> None:
        """Stop accepting; ``serve`` returns once the requests in flight are answered (at
        once with ``force``). Safe from a signal handler: the work is done by a thread, as
        the signal may have interrupted this very thread while it held the lock."""
        threading.Thread(target=self._stop, args=(force,), daemon=True).start()

    def _stop(self, force: bool) -> None:
        with self._idle:
            self._stopping = True
            self._forced = self._forced or force
            idle = [c for c, busy in self._connections.items() if not busy]
            self._idle.notify_all()
        for connection in idle:  # wake the threads waiting for a next request
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        if self._server is not None:
            self._server.shutdown()

    def _require(self) -> socketserver.BaseServer:
        if self._server is None:
            raise RuntimeError("bind() first")
        return self._server

    def _drain(self) -> None:
        with self._idle:
            self._stopping = True
            while any(self._connections.values()) and not self._forced:
                self._idle.wait(0.2)

    def _remove_socket(self) -> None:
        path = self.config.socket_path
        if path is None or self._socket_inode is None:
            return
        with contextlib.suppress(OSError):
            if os.lstat(path).st_ino == self._socket_inode:  # still ours
                path.unlink()

    # -- bookkeeping of connections (called by the handler) ---------------------------------

    def admit(self, connection: socket.socket) -> bool:
        """Count a new connection in; False when there are too many or the server stops."""
        with self._lock:
            if self._stopping or len(self._connections) >= MAX_CONNECTIONS:
                return False
            self._connections[connection] = False
            return True

    def mark(self, connection: socket.socket, *, busy: bool) -> bool:
        """A request started (``busy``) or ended on ``connection``; False when a request
        starts after ``stop`` (it is refused)."""
        with self._idle:
            if connection in self._connections:
                self._connections[connection] = busy and not self._stopping
            if not busy:
                self._idle.notify_all()
            return not self._stopping

    def release(self, connection: socket.socket) -> None:
        """The connection closed."""
        with self._idle:
            self._connections.pop(connection, None)
            self._idle.notify_all()

    @property
    def stopping(self) -> bool:
        """True once ``stop`` was called."""
        return self._stopping

    @property
    def token(self) -> str:
        """The bearer token requests must carry."""
        return self.config.token

    @property
    def max_bytes(self) -> int:
        """The largest event body read."""
        return self.config.max_bytes

    # -- answering (called by the handler) --------------------------------------------------

    def answer(self, agent: str, body: bytes) -> Reply:
        """The reply to one event: the command hook's answer, mapped onto HTTP."""
        try:
            answered = self.answerer(agent, body)
        except Exception as exc:  # answer() never raises; if it did, the write still blocks
            answered = fail_closed("claude", f"agentos serve failed ({exc!r}); blocked")
        return reply_for(agent, answered, event_name(body) if answered.exit_code else None)

    def health(self, *, authenticated: bool) -> dict[str, Any]:
        """``GET /health``: alive; with the token, what it serves too."""
        from agentos import __version__

        document: dict[str, Any] = {"ok": True, "authenticated": authenticated}
        if authenticated:
            document.update(
                service="agentos serve",
                version=__version__,
                pid=os.getpid(),
                workspace=str(self.config.workspace.root),
                agents=list(AGENTS),
                max_bytes=self.config.max_bytes,
            )
        return document


class _Admitting(socketserver.ThreadingMixIn):
    """Threads per connection, each admitted (or refused with a 503) by the ``HookServer``."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, address: Any, handler: Any, owner: HookServer) -> None:
        self.owner = owner
        super().__init__(address, handler)  # type: ignore[call-arg]

    def process_request(self, request: Any, client_address: Any) -> None:
        if self.owner.admit(request):
            super().process_request(request, client_address)
            return
        reply = refusal(None, 503, "too many connections, or the server is stopping; retry")
        with contextlib.suppress(OSError):
            request.settimeout(1.0)
            request.sendall(_unavailable(reply))
        self.shutdown_request(request)  # type: ignore[attr-defined]


class _TCPServer(_Admitting, HTTPServer):
    """On loopback only (``HookServer`` binds it)."""


class _UnixServer(_Admitting, socketserver.UnixStreamServer):
    """On a unix socket."""


def _unavailable(reply: Reply) -> bytes:
    """A whole 503 response, written by the accepting thread without a handler."""
    head = (
        f"HTTP/1.1 503 Service Unavailable\r\nContent-Type: {JSON_TYPE}\r\n"
        f"Content-Length: {len(reply.body)}\r\n{EXIT_HEADER}: {reply.exit_code}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("ascii") + reply.body


def _bind_unix(path: Path, handler: Any, owner: HookServer) -> _UnixServer:
    """A server on the unix socket ``path``, readable and writable by this user only."""
    if not path.parent.is_dir():
        raise UsageError(f"--socket {path}: {path.parent} is not a directory")
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        pass
    else:
        if not stat.S_ISSOCK(info.st_mode):
            raise UsageError(f"--socket {path} exists and is not a socket; choose another path")
        if _answers(path):
            raise UsageError(f"--socket {path}: another server listens there; stop it first")
        path.unlink()  # a socket left by a server that died: nobody listens
    previous = os.umask(0o177)  # the socket file is made 0600: no other user can connect
    try:
        return _UnixServer(str(path), handler, owner)
    except OSError as exc:
        raise UsageError(f"cannot listen on --socket {path} ({exc.strerror or exc})") from None
    finally:
        os.umask(previous)


def _answers(path: Path) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(1.0)
        probe.connect(str(path))
    except OSError:
        return False
    else:
        return True
    finally:
        probe.close()
