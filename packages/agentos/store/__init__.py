"""Where agentos keeps its shared control state (SPEC §14): the selection of a store, and how
its address is shown.

``AGENTOS_STORE`` wins; else the policy's ``store.url``; else the files under ``.agentos/``
(the embedded default). A store address is a ``postgresql://`` (or ``postgres://``) URL or a
libpq ``key=value`` connection string; ``AGENTOS_STORE=files`` selects the file store even
when the policy names a database. This module imports nothing heavy: psycopg is loaded only
by ``agentos.store.postgres``, when a database is really used.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from agentos.errors import UsageError

if TYPE_CHECKING:
    from agentos.store.base import Store

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
                shown = [(k, HIDDEN if k.lower() == "password" else v) for k, v in pairs]
                query = urlencode(shown, safe="/*")
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    return _PASSWORD_PAIR.sub(lambda m: m.group(1) + HIDDEN, address)


def source_name(root: Path) -> str:
    """This workspace as the store names the origin of its events: ``host:/path``."""
    import socket

    return f"{socket.gethostname()}:{root}"


def open_store(root: Path, address: str | None) -> Store:
    """The store at ``address`` (None: the files under ``root/.agentos``)."""
    if address is None:
        from agentos.store.files import FileStore

        return FileStore(root)
    from agentos.store.postgres import PostgresStore

    return PostgresStore(address, source=source_name(root))
