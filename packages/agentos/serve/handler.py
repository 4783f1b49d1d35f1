"""The request handler of ``agentos serve``: one connection, its requests one after another.

Routes: ``POST /hook/<agent>`` (``claude``, ``codex``, ``gemini``) with one hook event as the
body; ``GET /health``. Every request but an anonymous ``/health`` needs ``Authorization:
Bearer <token>``. Before a body is read, the route, the token and its ``Content-Length`` are
checked, so a refused request costs no more than its headers; a refusal is its HTTP status
with a block in the agent's protocol as body (``answers.refusal``), and closes the
connection. Whatever fails once a body is read is answered as a block (status 200, exit-code
header 2), never a 500, and the server goes on.
"""

from __future__ import annotations

import contextlib
import json
from http.server import BaseHTTPRequestHandler
from typing import Any, ClassVar, Protocol
from urllib.parse import urlsplit

from agentos.hooks.protocols import AGENTS
from agentos.serve import HOOK_PREFIX
from agentos.serve.answers import EXIT_HEADER, JSON_TYPE, Reply, refusal
from agentos.serve.token import authorized

# The most a refused body is read (and thrown away) so that its client sees the refusal.
DISCARD_LIMIT = 64 << 20
DISCARD_PAUSE_SECONDS = 1.0


class Owner(Protocol):
    """What a handler needs from its server (``agentos.serve.server.HookServer``)."""

    @property
    def token(self) -> str: ...
    @property
    def max_bytes(self) -> int: ...
    @property
    def stopping(self) -> bool: ...
    def notice(self, message: str) -> None: ...
    def mark(self, connection: Any, *, busy: bool) -> bool: ...
    def release(self, connection: Any) -> None: ...
    def answer(self, agent: str, body: bytes) -> Reply: ...
    def health(self, *, authenticated: bool) -> dict[str, Any]: ...


def handler_class(owner: Owner, *, read_timeout: float, tcp: bool) -> type[BaseHTTPRequestHandler]:
    """The request handler bound to ``owner`` (its limits, token and answers)."""

    class Handler(_Handler):
        server_owner: ClassVar[Owner] = owner
        timeout = read_timeout
        # Headers and body are two writes: without this, Nagle's algorithm holds the body
        # back until the client's delayed ACK of the headers (~40 ms a request).
        disable_nagle_algorithm = tcp

    return Handler


class _Handler(BaseHTTPRequestHandler):
    """One connection: requests one after another (HTTP/1.1 keep-alive)."""

    protocol_version = "HTTP/1.1"
    server_version = "agentos-serve"
    sys_version = ""
    server_owner: ClassVar[Owner]
    _responded = False
    _started = False

    # -- plumbing ---------------------------------------------------------------------------

    def handle_one_request(self) -> None:
        self._responded = False
        self._started = False  # no request line read yet on this turn of the connection
        try:
            super().handle_one_request()
        except OSError as exc:
            self.close_connection = True
            if not self._started and isinstance(exc, ConnectionError | TimeoutError):
                return  # the client closed a kept-alive connection between requests: no request
            self._failed(exc)
        except Exception as exc:  # a bug: never a traceback, never down
            self.close_connection = True
            self._failed(exc)
        finally:
            self.server_owner.mark(self.connection, busy=False)

    def _failed(self, exc: BaseException) -> None:
        """A request that broke: said on stderr, and a POST not yet answered is blocked."""
        self._notice(f"request failed: {exc!r}")
        if self._started and not self._responded and self.command == "POST":
            # Nothing answered yet: the write still must not happen.
            with contextlib.suppress(Exception):
                reason = f"agentos serve failed ({exc!r}); the tool call was blocked"
                self._send(refusal(self._agent(), 200, reason))

    def parse_request(self) -> bool:
        self._started = True
        if not self.server_owner.mark(self.connection, busy=True):
            self.close_connection = True
            self.request_version = "HTTP/1.1"
            self._send(refusal(None, 503, "the server is stopping; retry"))
            return False
        return super().parse_request()

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server_owner.release(self.connection)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Errors the HTTP layer finds itself (a bad request line, an unknown method)."""
        # A request line that could not be read leaves the version at HTTP/0.9, which has
        # no status line or headers: answer as HTTP/1.1.
        self.request_version = "HTTP/1.1"
        self._refuse(code, message or "the request could not be read")

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Answered requests are not logged (refusals are, through ``_refuse``)."""

    def log_message(self, format: str, *args: Any) -> None:
        """The base class's own log lines (an idle connection timing out) are not shown."""

    def _notice(self, message: str) -> None:
        with contextlib.suppress(Exception):
            self.server_owner.notice(message)

    # -- routes -----------------------------------------------------------------------------

    def do_GET(self) -> None:
        if urlsplit(self.path).path != "/health":
            self._refuse(404, f"no such resource {self._shown_path()}; use GET /health")
            return
        header = self.headers.get("Authorization")
        ok = authorized(header, self.server_owner.token)
        if header is not None and not ok:
            self._refuse(401, "the bearer token is wrong")
            return
        body = json.dumps(self.server_owner.health(authenticated=ok), sort_keys=True) + "\n"
        self._send(Reply(200, body.encode("utf-8"), 0), exit_header=False)

    def do_POST(self) -> None:
        agent = self._agent()
        refused = self._check(agent)
        if refused is not None or agent is None:
            self._refuse(*(refused or (404, "no such resource")))
            if refused is not None and refused[0] == 413:
                self._discard_body()
            return
        length = int(self.headers["Content-Length"])
        try:
            body = self.rfile.read(length)
        except TimeoutError:
            self._refuse(408, "the request body did not arrive in time")
            return
        if len(body) != length:
            self._refuse(400, "the connection closed before the whole body arrived")
            return
        self._send(self.server_owner.answer(agent, body))

    def handle_expect_100(self) -> bool:
        """``Expect: 100-continue``: refuse before the body is sent, when it would be."""
        if self.command == "POST":
            refused = self._check(self._agent())
            if refused is not None:
                self._refuse(*refused)
                return False
        return super().handle_expect_100()

    def _check(self, agent: str | None) -> tuple[int, str] | None:
        """Why a ``POST`` is refused before its body is read (status, reason), or None."""
        if agent is None:
            return 404, (
                f"no such resource {self._shown_path()}; POST events to /hook/claude, "
                "/hook/codex or /hook/gemini"
            )
        header = self.headers.get("Authorization")
        if not authorized(header, self.server_owner.token):
            what = "no bearer token" if not header else "the bearer token is wrong"
            return 401, (
                f"{what}; send 'Authorization: Bearer <token>' with the token in the "
                "workspace's .agentos/serve/token"
            )
        if self.headers.get("Transfer-Encoding") is not None:
            return 411, "chunked bodies are not read; send the event with a Content-Length"
        lengths = self.headers.get_all("Content-Length") or []
        if not lengths:
            return 411, "the request has no Content-Length"
        if len(lengths) > 1:
            return 400, "the request has more than one Content-Length"
        raw = lengths[0]
        if not raw.strip().isdigit():
            return 400, f"Content-Length {raw.strip()[:40]!r} is not a number of bytes"
        limit = self.server_owner.max_bytes
        if int(raw) > limit:
            return 413, f"the event is {int(raw)} bytes, more than --max-bytes ({limit})"
        return None

    def _discard_body(self) -> None:
        """Read what a client sends after its refusal, up to ``DISCARD_LIMIT`` bytes and the
        read timeout: closing with unread bytes resets the connection, and a client still
        sending its body would see the reset instead of the refusal."""
        declared = self.headers.get("Content-Length", "0").strip()
        left = min(int(declared) if declared.isdigit() else 0, DISCARD_LIMIT)
        with contextlib.suppress(OSError):
            # A client that sends nothing more is not waited for long.
            self.connection.settimeout(DISCARD_PAUSE_SECONDS)
            while left > 0:
                chunk = self.rfile.read1(min(left, 1 << 16))
                if not chunk:
                    break
                left -= len(chunk)

    def _agent(self) -> str | None:
        path = urlsplit(getattr(self, "path", "") or "").path
        if not path.startswith(HOOK_PREFIX):
            return None
        name = path[len(HOOK_PREFIX) :]
        return name if name in AGENTS else None

    def _shown_path(self) -> str:
        return repr(urlsplit(getattr(self, "path", "") or "").path[:80])

    # -- responses --------------------------------------------------------------------------

    def _refuse(self, status: int, reason: str) -> None:
        """A refusal: logged, answered with a block, and the connection closed (its body,
        if any, was not read)."""
        self.close_connection = True
        command = getattr(self, "command", None) or "?"
        self._notice(f"refused {command} {self._shown_path()}: {reason} ({status})")
        headers = (("WWW-Authenticate", 'Bearer realm="agentos"'),) if status == 401 else ()
        self._send(refusal(self._agent(), status, reason, headers=headers))

    def _send(self, reply: Reply, *, exit_header: bool = True) -> None:
        self._responded = True
        if self.server_owner.stopping:
            self.close_connection = True
        self.send_response_only(reply.status)
        self.send_header("Date", self.date_time_string())
        self.send_header("Content-Type", JSON_TYPE)
        self.send_header("Content-Length", str(len(reply.body)))
        self.send_header("Cache-Control", "no-store")
        if exit_header:
            self.send_header(EXIT_HEADER, str(reply.exit_code))
        for name, value in reply.headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(reply.body)
        self.wfile.flush()
