"""``agentos doctor`` for Claude Code's http handlers (``integrate claude --http``).

The handler is read as Claude Code reads it: header values get ``$VAR`` / ``${VAR}`` only
for the variables ``allowedEnvVars`` lists (any other becomes empty), the event is POSTed as
the body, a 2xx body is read as a command hook's stdout on exit 0, and a connection
failure, a timeout or another status is a non-blocking error — the write goes ahead —
unless ``onFailure`` is ``"block"``. The canary is the command canary's event, sent to the
URL; then ``GET /health`` with the same headers says which workspace the server serves.
"""

from __future__ import annotations

import http.client
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from agentos.hooks.canary import Answer, classify
from agentos.hooks.integrate import AgentSpec
from agentos.pipeline.doctor import FAIL, OK, WARN

_REFERENCE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


@dataclass(frozen=True)
class Posted:
    """What the URL answered: a status and body, or why nothing came."""

    status: int | None
    body: bytes = b""
    error: str | None = None
    timed_out: bool = False


def headers_sent(handler: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, str]:
    """The handler's headers with variables filled as Claude Code fills them."""
    allowed = {v for v in handler.get("allowedEnvVars") or [] if isinstance(v, str)}
    headers = handler.get("headers")
    if not isinstance(headers, Mapping):
        return {}

    def fill(found: re.Match[str]) -> str:
        name = found.group(1) or found.group(2)
        return env.get(name, "") if name in allowed else ""

    return {str(k): _REFERENCE.sub(fill, str(v)) for k, v in headers.items()}


def endpoint_check(handler: Mapping[str, Any], env: Mapping[str, str]) -> tuple[str, str]:
    """The handler's URL, token variable and failure mode, as far as they can be read."""
    url = str(handler.get("url"))
    allowed = {v for v in handler.get("allowedEnvVars") or [] if isinstance(v, str)}
    headers = handler.get("headers")
    values = [str(v) for v in headers.values()] if isinstance(headers, Mapping) else []
    names = [m.group(1) or m.group(2) for v in values for m in _REFERENCE.finditer(v)]
    if not any(v.strip().lower().startswith("bearer ") for v in values):
        return FAIL, f"{url}: no 'Authorization: Bearer ...' header: agentos serve refuses it"
    unlisted = [n for n in names if n not in allowed]
    if unlisted:
        return FAIL, (
            f"{url}: the headers use ${unlisted[0]}, which allowedEnvVars does not list: "
            "Claude Code sends it empty and agentos serve refuses the request"
        )
    unset = [n for n in names if not env.get(n)]
    if unset:
        return WARN, (
            f"{url}: ${unset[0]} is not set here; Claude Code must have it (export "
            f'{unset[0]}="$(cat .agentos/serve/token)") or every request is refused'
        )
    if handler.get("onFailure") != "block":
        return WARN, (
            f"{url}: without onFailure 'block', Claude Code lets writes through while the "
            "server is down or refuses them; run 'agentos integrate claude --http' again"
        )
    return OK, f"{url} (token from ${', $'.join(dict.fromkeys(names))}; onFailure block)"


def post(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> Posted:
    """POST ``body`` to ``url`` (never through a proxy: the URL is loopback)."""
    return _exchange("POST", url, body, headers, timeout)


def _exchange(
    method: str, url: str, body: bytes | None, headers: Mapping[str, str], timeout: float
) -> Posted:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port or 80, timeout=timeout)
    try:
        sent = {"Content-Type": "application/json", **headers} if body is not None else headers
        conn.request(method, parts.path or "/", body=body, headers=dict(sent))
        reply = conn.getresponse()
        return Posted(reply.status, reply.read())
    except TimeoutError:
        return Posted(None, timed_out=True, error="no answer in time")
    except (OSError, http.client.HTTPException) as exc:
        return Posted(None, error=str(exc) or type(exc).__name__)
    finally:
        conn.close()


def judge(
    spec: AgentSpec, handler: Mapping[str, Any], posted: Posted, *, waited: float
) -> tuple[str, str]:
    """OK when Claude Code would block the canary because agentos said so; FAIL otherwise,
    saying whether the failure lets writes through or blocks them all."""
    blocking = handler.get("onFailure") == "block"
    if posted.status is None or not 200 <= posted.status < 300:
        what = (
            f"no answer within {waited:g}s"
            if posted.timed_out
            else f"cannot connect ({posted.error})"
            if posted.status is None
            else f"answers HTTP {posted.status}{_reason(posted.body)}"
        )
        then = (
            "with onFailure 'block' Claude Code blocks every write, allowed ones too"
            if blocking
            else "Claude Code takes that as a non-blocking error and lets the write through"
        )
        return FAIL, f"{what}: {then} — is 'agentos serve' running, with this token?"
    verdict = classify(spec, Answer(0, posted.body.decode("utf-8", "replace")), waited=waited)
    return (OK if verdict.blocks else FAIL), verdict.detail


def served_workspace(url: str, headers: Mapping[str, str], timeout: float) -> Path | None:
    """The workspace the server at ``url`` serves, from its ``/health`` (None: unknown)."""
    parts = urlsplit(url)
    health = f"{parts.scheme}://{parts.netloc}/health"
    got = _exchange("GET", health, None, headers, timeout)
    try:
        value = json.loads(got.body).get("workspace") if got.status == 200 else None
    except (ValueError, AttributeError):
        return None
    return Path(value) if isinstance(value, str) else None


def _reason(body: bytes) -> str:
    try:
        reason = json.loads(body).get("reason")
    except (ValueError, AttributeError):
        return ""
    return f" ({reason})" if isinstance(reason, str) else ""
