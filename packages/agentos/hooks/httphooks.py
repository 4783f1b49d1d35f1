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
from agentos.serve import DEFAULT_PORT
from agentos.serve.token import TOKEN_ENV

DEFAULT_URL = f"http://127.0.0.1:{DEFAULT_PORT}"
# The agents whose settings take an http handler.
HTTP_AGENTS = frozenset({"claude"})
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
HOOK_PATH = "/hook/{agent}"


def check_base_url(url: str) -> str:
    """``url`` (``http://127.0.0.1:PORT``) without a trailing slash, or a ``UsageError``: the
    token goes wherever it points, so only a loopback address is accepted."""
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
    if parts.hostname not in LOOPBACK_HOSTS:
        raise UsageError(
            f"--url {url!r}: only a loopback address (127.0.0.1, localhost, [::1]) may "
            "receive the token; agentos serve listens on 127.0.0.1"
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise UsageError(
            f"--url {url!r}: give the server's address only, e.g. {DEFAULT_URL} "
            "('/hook/claude' is added)"
        )
    host = f"[{parts.hostname}]" if parts.hostname == "::1" else parts.hostname
    return f"http://{host}" + (f":{port}" if port is not None else "")


def hook_url(base: str, agent: str) -> str:
    """The endpoint of ``agent`` on the server at ``base``."""
    return base.rstrip("/") + HOOK_PATH.format(agent=agent)


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
    return parts.hostname in LOOPBACK_HOSTS and parts.path == HOOK_PATH.format(agent=agent)
