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


def _at_version_2(pg_url: str, jobs: list[tuple[str, str, str]]) -> None:
    """A database as agentos with schema version 2 left it, holding ``jobs`` (plan id,
    checksum, status)."""
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        for migration in MIGRATIONS[:2]:
            conn.execute(migration.sql.encode("utf-8"))
            conn.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                (migration.version, migration.name),
            )
        for plan_id, checksum, status in jobs:
            conn.execute(
                "INSERT INTO jobs (plan_id, checksum, plan, status) VALUES (%s, %s, '', %s)",
                (plan_id, checksum, status),
            )


def _one_per_plan_id_index(store: PostgresStore) -> bool:
    with store.session(checked=False) as conn:
        row = conn.execute("SELECT to_regclass('jobs_one_per_plan_id') IS NOT NULL").fetchone()
    return bool(row and row[0])


def test_version_3_on_a_version_2_store_keeps_its_jobs_and_holds_a_plan_id_once(
    cli: Callable[..., CliResult], tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg

    # Ended jobs do not hold a plan id: a stale one and a live one of p-a may stand together.
    _at_version_2(pg_url, [("p-a", "c1", "stale"), ("p-a", "c2", "pending"), ("p-b", "c1", "done")])
    monkeypatch.setenv("AGENTOS_STORE", pg_url)
    res = cli("store", "migrate", "-C", tmp_path, "--json")
    assert res.code == 0, res.err
    assert res.json()["result"]["applied"] == [3]
    store = PostgresStore(pg_url, source="test")
    assert store.version() == LATEST == 3
    with store.session() as conn:
        rows = conn.execute("SELECT plan_id, checksum, status FROM jobs ORDER BY id").fetchall()
        assert rows == [("p-a", "c1", "stale"), ("p-a", "c2", "pending"), ("p-b", "c1", "done")]
    with pytest.raises(psycopg.errors.UniqueViolation), store.session() as conn:
        conn.execute("INSERT INTO jobs (plan_id, checksum, plan) VALUES ('p-b', 'c2', '')")
    # The step itself may run again (an index made by hand first, say).
    with store.session() as conn:
        conn.execute(MIGRATIONS[2].sql.encode("utf-8"))
    assert cli("store", "migrate", "-C", tmp_path, "--json").json()["result"]["applied"] == []


def test_version_3_is_refused_while_a_plan_id_has_two_live_or_done_jobs(
    cli: Callable[..., CliResult], tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg

    _at_version_2(
        pg_url,
        [
            ("p-twice", "c1", "done"),
            ("p-ok", "c1", "failed"),
            ("p-twice", "c2", "pending"),
            ("p-ok", "c2", "running"),
        ],
    )
    monkeypatch.setenv("AGENTOS_STORE", pg_url)
    res = cli("store", "migrate", "-C", tmp_path, "--json")
    assert res.code == 2, res.out
    error = res.json()["error"]
    assert error["type"] == "store_schema"
    message = error["message"]
    assert "cannot apply schema version 3" in message
    assert "plan p-twice: job 1 (done), job 3 (pending)" in message
    assert "p-ok" not in message
    assert "'agentos store migrate' again" in message
    assert error["details"]["conflicts"] == [
        {
            "plan_id": "p-twice",
            "jobs": [{"id": 1, "status": "done"}, {"id": 3, "status": "pending"}],
        }
    ]
    assert "Traceback" not in res.err
    store = PostgresStore(pg_url, source="test")
    assert store.version() == 2
    assert not _one_per_plan_id_index(store)
    # Resolved as the message says: the migration goes through.
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE jobs SET status = 'aborted' WHERE id = 3")
    again = cli("store", "migrate", "-C", tmp_path, "--json")
    assert again.code == 0, again.out
    assert again.json()["result"]["applied"] == [3]
    assert _one_per_plan_id_index(store)
