"""A store's address: which one is selected (``AGENTOS_STORE``, else the policy's
``store.url``), how it is shown (never with its password), and how a runner names itself."""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

from agentos.errors import UsageError

STORE_ENV = "AGENTOS_STORE"
FILES = "files"
URL_SCHEMES = ("postgresql://", "postgres://")
HIDDEN = "***"
_PASSWORD_PAIR = re.compile(r"(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)


def selected_url(policy_url: str | None = None) -> tuple[str | None, str]:
    """The database address in force and where it was set (``AGENTOS_STORE`` or
    ``store.url``); None for the file store. A value that is neither is a ``UsageError``."""
    env = os.environ.get(STORE_ENV, "").strip()
    if env:
        if env == FILES:
            return None, STORE_ENV
        return checked(env, STORE_ENV), STORE_ENV
    if policy_url:
        return checked(policy_url.strip(), "store.url"), "store.url"
    return None, "default"


def checked(address: str, where: str) -> str:
    """``address`` when it is a PostgreSQL URL or libpq ``key=value`` string."""
    if address.startswith(URL_SCHEMES) or "=" in address:
        return address
    raise UsageError(
        f"{where}: {redact(address)!r} is not a PostgreSQL address: give a postgresql:// URL "
        f"or a libpq 'key=value' string (or {STORE_ENV}=files for the files under .agentos/)"
    )


def redact(address: str) -> str:
    """``address`` with any password replaced by ``***``, fit to print."""
    if address.startswith(URL_SCHEMES):
        try:
            parts = urlsplit(address)
        except ValueError:
            return address.split("://", 1)[0] + "://" + HIDDEN
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, host = netloc.rsplit("@", 1)
            if ":" in userinfo:
                netloc = f"{userinfo.split(':', 1)[0]}:{HIDDEN}@{host}"
        query = parts.query
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            if any(key.lower() == "password" for key, _ in pairs):
                hidden = [(k, HIDDEN if k.lower() == "password" else v) for k, v in pairs]
                query = urlencode(hidden, safe="/*")
        shown = f"{parts.scheme}://{netloc}{parts.path}"
        shown += f"?{query}" if query else ""
        return shown + (f"#{parts.fragment}" if parts.fragment else "")
    return _PASSWORD_PAIR.sub(lambda m: m.group(1) + HIDDEN, address)


def source_name(root: Path) -> str:
    """This workspace as the store names the origin of its events: ``host:/path``."""
    import socket

    return f"{socket.gethostname()}:{root}"
