"""The bearer token of ``agentos serve``: made once per workspace, kept across restarts.

It lives in ``<workspace>/.agentos/serve/token`` (``.agentos`` is git-ignored, ``serve/`` is
``0700``, the file ``0600``), written only through ``statefs.write_secret``, which never lets
another user read it, not even while it is written. A token file that others can read is
refused: its token may be known. ``--new-token`` replaces it (clients need the new one).
"""

from __future__ import annotations

import hmac
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from agentos.errors import StateIntegrityError
from agentos.workspace import Workspace

TOKEN_DIR = "serve"  # noqa: S105 - a folder's name, not a secret
TOKEN_NAME = "token"  # noqa: S105 - a file's name, not a secret
# secrets.token_urlsafe(32): 43 characters of the URL-safe base64 alphabet.
TOKEN_BYTES = 32
# The variable an agent's HTTP hook reads the token from (``integrate claude --http``).
TOKEN_ENV = "AGENTOS_SERVE_TOKEN"  # noqa: S105 - a variable's name, not a secret
# At most this many bytes of a token file are read (a token is 43 characters).
TOKEN_FILE_LIMIT = 65536
_TOKEN = re.compile(r"[A-Za-z0-9_-]{32,256}")


@dataclass(frozen=True)
class Token:
    """The token, the file it is kept in, and whether this call made it."""

    value: str
    path: Path
    created: bool


def token_path(workspace: Workspace) -> Path:
    """Where the workspace's token is kept."""
    return workspace.state_dir / TOKEN_DIR / TOKEN_NAME


def ensure_token(workspace: Workspace, *, new: bool = False) -> Token:
    """The workspace's token, made (``0600``) when there is none or when ``new``."""
    from agentos.statefs import read_bytes, write_secret
    from agentos.workspace import ensure_state_dir

    ensure_state_dir(workspace)
    path = token_path(workspace)

    def made(*, replace: bool) -> Token:
        value = secrets.token_urlsafe(TOKEN_BYTES)
        write_secret(path, f"{value}\n".encode("ascii"), replace=replace)
        return Token(value, path, created=True)

    if new:
        return made(replace=True)
    try:
        data = read_bytes(path, limit=TOKEN_FILE_LIMIT, private=True)
    except FileNotFoundError:
        try:
            return made(replace=False)
        except FileExistsError:  # another server made it first: use that one
            data = read_bytes(path, limit=TOKEN_FILE_LIMIT, private=True)
    text = data.decode("ascii", "replace").strip()
    if not _TOKEN.fullmatch(text):
        raise StateIntegrityError(
            f"{path} does not hold a token agentos made; remove it, or run "
            "'agentos serve --new-token' to replace it",
            details={"path": str(path)},
        )
    return Token(text, path, created=False)


def authorized(header: str | None, token: str) -> bool:
    """Whether an ``Authorization`` header value is ``Bearer <token>`` (compared in constant
    time, so the time a refusal takes tells nothing about the token)."""
    if not header:
        return False
    scheme, _, given = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    # Header values arrive decoded as ISO-8859-1: that encoding gives the bytes back.
    presented = given.strip().encode("latin-1", "replace")
    return hmac.compare_digest(presented, token.encode("ascii"))
