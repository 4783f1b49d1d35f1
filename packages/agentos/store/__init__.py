"""Where agentos keeps its shared control state (SPEC §14): the selection of a store, and how
its address is shown.

``AGENTOS_STORE`` wins; else the policy's ``store.url``; else the files under ``.agentos/``
(the embedded default). A store address is a ``postgresql://`` (or ``postgres://``) URL or a
libpq ``key=value`` connection string; ``AGENTOS_STORE=files`` selects the file store even
when the policy names a database. This module imports nothing heavy: psycopg is loaded only
by ``agentos.store.postgres``, when a database is really used.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from agentos.store.address import (
    FILES,
    STORE_ENV,
    checked,
    redact,
    selected_url,
    source_name,
)

if TYPE_CHECKING:
    from agentos.store.base import Store

__all__ = ["FILES", "STORE_ENV", "checked", "open_store", "redact", "selected_url", "source_name"]


def open_store(root: Path, address: str | None) -> Store:
    """The store at ``address`` (None: the files under ``root/.agentos``)."""
    if address is None:
        from agentos.store.files import FileStore

        return FileStore(root)
    from agentos.store.postgres import PostgresStore

    return PostgresStore(address, source=source_name(root))
