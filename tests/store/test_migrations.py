"""``agentos store migrate``: versioned migrations, each applied once, a newer schema refused."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from agentos.errors import StoreSchemaError
from agentos.store.migrations import LATEST, MIGRATIONS
from agentos.store.postgres import PostgresStore
from helpers import CliResult
from pg import Cluster

TABLES = {
    "schema_migrations",
    "approvals",
    "idempotency",
    "executions",
    "breakers",
    "audit_events",
    "jobs",
}


def _tables(store: PostgresStore) -> set[str]:
    with store.session(checked=False) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        ).fetchall()
    return {row[0] for row in rows}


def test_migrate_creates_every_table_once_and_again_is_a_no_op(
    cli: Callable[..., CliResult], tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTOS_STORE", pg_url)
    first = cli("store", "migrate", "-C", tmp_path, "--json")
    assert first.code == 0, first.err
    assert first.json()["result"] == {
        "store": pg_url,
        "applied": [m.version for m in MIGRATIONS],
        "version": LATEST,
        "latest": LATEST,
    }
    store = PostgresStore(pg_url, source="test")
    assert _tables(store) == TABLES
    again = cli("store", "migrate", "-C", tmp_path, "--json")
    assert again.code == 0, again.err
    assert again.json()["result"]["applied"] == []
    assert again.json()["result"]["version"] == LATEST
    with store.session() as conn:
        rows = conn.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
    assert [r[0] for r in rows] == [m.version for m in MIGRATIONS]
    human = cli("store", "migrate", "-C", tmp_path)
    assert human.code == 0
    assert "up to date" in human.out


def test_two_migrations_at_once_apply_each_migration_once(pg_url: str) -> None:
    stores = [PostgresStore(pg_url, source=f"runner-{n}") for n in range(4)]
    barrier = threading.Barrier(len(stores))
    applied: list[tuple[int, ...]] = []

    def run(store: PostgresStore) -> None:
        barrier.wait()
        applied.append(store.migrate().applied)

    threads = [threading.Thread(target=run, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(applied) == [(), (), (), tuple(m.version for m in MIGRATIONS)]


def test_a_newer_schema_is_refused_and_left_alone(
    cli: Callable[..., CliResult], tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = PostgresStore(pg_url, source="test")
    store.migrate()
    with store.session() as conn:
        conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, 'future')", (99,))
    monkeypatch.setenv("AGENTOS_STORE", pg_url)
    res = cli("store", "migrate", "-C", tmp_path, "--json")
    assert res.code == 2
    error = res.json()["error"]
    assert error["type"] == "store_schema"
    assert "schema version 99, newer than this agentos knows" in error["message"]
    assert "upgrade agentos" in error["message"]
    assert "Traceback" not in res.err
    with pytest.raises(StoreSchemaError, match="newer"):
        PostgresStore(pg_url, source="other").breakers()


def test_a_store_without_the_schema_says_to_migrate(pg_url: str) -> None:
    with pytest.raises(StoreSchemaError, match="run 'agentos store migrate'"):
        PostgresStore(pg_url, source="test").idempotency("p")


def test_migrate_needs_the_postgresql_store(
    cli: Callable[..., CliResult], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AGENTOS_STORE", raising=False)
    res = cli("store", "migrate", "-C", tmp_path, "--json")
    assert res.code == 2
    assert "needs the PostgreSQL store" in res.json()["error"]["message"]
    assert "AGENTOS_STORE=postgresql://" in res.json()["error"]["message"]


def test_a_postgresql_url_with_a_socket_directory_works_too(
    pg_cluster: Cluster, pg_url: str
) -> None:
    url = pg_cluster.url(pg_url.rsplit("dbname=", 1)[1])
    assert url.startswith("postgresql://postgres@/")
    store = PostgresStore(url, source="test")
    assert store.migrate().version == LATEST
    assert store.version() == LATEST
    assert store.display == url
