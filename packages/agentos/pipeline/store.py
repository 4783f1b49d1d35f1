"""The shared store's own use cases (SPEC §14): creating and migrating its schema, and
verifying its copy of the audit events.

The store is the context's (``Context.store``: ``AGENTOS_STORE``, else the policy's
``store.url``); both use cases need a PostgreSQL store, and say how to select one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from agentos.errors import UsageError
from agentos.pipeline.context import Context

if TYPE_CHECKING:
    from agentos.store.base import StoreAuditReport
    from agentos.store.migrations import Migrated
    from agentos.store.postgres import PostgresStore


@dataclass(frozen=True)
class StoreMigrated:
    """What ``migrate_store`` did, and to which store (its address without a password)."""

    store: str
    migrated: Migrated
    latest: int


def postgres_store(ctx: Context, doing: str) -> PostgresStore:
    """The context's store when it is a PostgreSQL database, else a ``UsageError``."""
    from agentos.store.postgres import PostgresStore

    store = ctx.store
    if not isinstance(store, PostgresStore):
        raise UsageError(
            f"{doing} needs the PostgreSQL store, and this workspace uses the files under "
            ".agentos/: set AGENTOS_STORE=postgresql://... (or the policy's store.url) "
            "(docs/scale.md)"
        )
    return store


def migrate_store(ctx: Context) -> StoreMigrated:
    """Create the store's schema, or bring it to the version this agentos knows."""
    from agentos.store.migrations import LATEST

    store = postgres_store(ctx, "'agentos store migrate'")
    return StoreMigrated(store.display, store.migrate(), LATEST)


def verify_store_audit(ctx: Context) -> tuple[str, StoreAuditReport]:
    """The store's address and what verifying its copy of the audit events found
    (``AuditChainError`` at the first bad row)."""
    store = postgres_store(ctx, "'agentos audit verify --store'")
    return store.display, store.verify_audit(ctx.audit)
