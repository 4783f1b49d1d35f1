"""Claude Code's ``http`` hook handlers pointing at ``agentos serve`` (pure, over JSON).

``agentos integrate claude --http`` installs, on each event agentos needs, instead of the
command handler::

    {"type": "http", "url": "http://127.0.0.1:7345/hook/claude",
     "headers": {"Authorization": "Bearer $AGENTOS_SERVE_TOKEN"},
     "allowedEnvVars": ["AGENTOS_SERVE_TOKEN"], "timeout": 30, "onFailure": "block"}

Claude Code POSTs the event as the body, fills ``$VAR`` in header values only from the
variables ``allowedEnvVars`` lists (others become empty), and treats a connection failure,
a timeout and a non-2xx status as a non-blocking error — the write goes ahead — unless
``onFailure`` is ``"block"`` (sources in ``docs/agents-protocols.md``). Codex and Gemini CLI
run command hooks only. agentos recognises its own http handler by its URL: a loopback
host and the path ``/hook/<agent>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from agentos.errors import UsageError
from agentos.serve import DEFAULT_PORT, LOOPBACK, hook_path
from agentos.serve.token import TOKEN_ENV

DEFAULT_URL = f"http://{LOOPBACK}:{DEFAULT_PORT}"
# The agents whose settings take an http handler.
HTTP_AGENTS = frozenset({"claude"})
# Handlers at these hosts on /hook/AGENT count as agentos's (to replace or remove them).
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def check_base_url(url: str) -> str:
    """``url`` as ``http://127.0.0.1:PORT`` (the port 7345 when it names none), or a
    ``UsageError``: the token goes wherever it points, and ``agentos serve`` listens on
    127.0.0.1 only, so any other address would leave every hook unanswered."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UsageError(f"--url {url!r} is not a URL ({exc})") from None
    if parts.scheme != "http":
        raise UsageError(
            f"--url {url!r}: agentos serve speaks plain HTTP on loopback; use "
            f"http://127.0.0.1:PORT (default {DEFAULT_URL})"
        )
    if parts.hostname != LOOPBACK:
        raise UsageError(
            f"--url {url!r}: agentos serve listens on {LOOPBACK} only (not localhost, "
            f"not [::1]); use http://{LOOPBACK}:PORT"
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise UsageError(
            f"--url {url!r}: give the server's address only, e.g. {DEFAULT_URL} "
            "('/hook/claude' is added)"
        )
    return f"http://{LOOPBACK}:{DEFAULT_PORT if port is None else port}"


def hook_url(base: str, agent: str) -> str:
    """The endpoint of ``agent`` on the server at ``base``."""
    return base.rstrip("/") + hook_path(agent)


def http_handler(base: str, agent: str, *, timeout: int) -> dict[str, Any]:
    """The http handler agentos installs for ``agent`` (the token from ``TOKEN_ENV``)."""
    return {
        "type": "http",
        "url": hook_url(base, agent),
        "headers": {"Authorization": f"Bearer ${TOKEN_ENV}"},
        "allowedEnvVars": [TOKEN_ENV],
        "timeout": timeout,
        "onFailure": "block",
    }


def is_agentos_http_handler(handler: Mapping[str, Any], agent: str) -> bool:
    """True when ``handler`` is an http handler posting to ``agent``'s endpoint of a server
    on a loopback address (``agentos serve``)."""
    url = handler.get("url")
    if handler.get("type") != "http" or not isinstance(url, str):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.hostname in LOOPBACK_HOSTS and parts.path == hook_path(agent)
