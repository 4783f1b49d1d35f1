"""The PostgreSQL store's schema, as numbered migrations (``agentos store migrate``).

``schema_migrations`` lists the migrations applied. ``migrate`` applies the missing ones in
order, each in its own transaction together with its row there, under an advisory lock (two
runners migrating at once apply each migration once): running it again is a no-op. A
database whose schema is newer than this agentos knows is refused, never touched.

Tables live in the connection's current schema (the first of its ``search_path``): give a
team's store a database, or a schema, of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agentos.errors import StoreSchemaError

if TYPE_CHECKING:
    import psycopg

# pg_advisory_xact_lock key of a migration ("agentos" in ASCII, as a number).
MIGRATE_LOCK = 0x6167656E746F73


@dataclass(frozen=True)
class Migration:
    """One step of the schema; ``check`` (given the connection and the store's display
    address) refuses it, raising ``StoreSchemaError``, when the data present does not fit it."""

    version: int
    name: str
    sql: str
    check: Callable[[psycopg.Connection[tuple[Any, ...]], str], None] | None = None


V1 = """
CREATE TABLE approvals (
    plan_id      text NOT NULL,
    checksum     text NOT NULL,
    approver     text NOT NULL,
    approved_at  text NOT NULL,
    body         jsonb NOT NULL,
    source       text NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (plan_id, checksum, approver)
);

CREATE TABLE idempotency (
    plan_id       text PRIMARY KEY,
    checksum      text NOT NULL,
    execution_id  text NOT NULL,
    status        text NOT NULL
                  CHECK (status IN ('committed', 'failed', 'rolled_back', 'reverted')),
    attempts      integer NOT NULL CHECK (attempts >= 0),
    updated_at    text NOT NULL,
    committed_at  text,
    source        text NOT NULL,
    recorded_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE executions (
    execution_id  text PRIMARY KEY,
    plan_id       text NOT NULL,
    checksum      text NOT NULL,
    kind          text NOT NULL,
    committed_at  text NOT NULL,
    body          jsonb NOT NULL,
    source        text NOT NULL,
    recorded_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX executions_by_plan ON executions (plan_id);

CREATE TABLE breakers (
    name        text PRIMARY KEY,
    state       text NOT NULL CHECK (state IN ('closed', 'open', 'half_open')),
    failures    integer NOT NULL,
    successes   integer NOT NULL,
    opened_at   double precision,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- A copy of every runner's audit events, on a chain of the database's own:
-- hash = sha256(prev || source || '\\n' || event), event = the event's canonical JSON line.
CREATE TABLE audit_events (
    seq         bigint PRIMARY KEY CHECK (seq >= 1),
    source      text NOT NULL,
    source_seq  bigint NOT NULL,
    event_hash  text NOT NULL,
    event       text NOT NULL,
    prev        text NOT NULL,
    hash        text NOT NULL,
    copied_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (source, event_hash)
);
CREATE INDEX audit_events_by_source ON audit_events (source, seq);

-- The changeset queue (SPEC §14): one job per plan_id + checksum.
CREATE TABLE jobs (
    id                  bigserial PRIMARY KEY,
    plan_id             text NOT NULL,
    checksum            text NOT NULL,
    plan                bytea NOT NULL,
    approvals           jsonb NOT NULL DEFAULT '[]'::jsonb,
    branch              text,
    status              text NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'running', 'done', 'stale', 'dead',
                                          'aborted')),
    attempts            integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts        integer NOT NULL DEFAULT 5 CHECK (max_attempts >= 1),
    not_before          timestamptz NOT NULL DEFAULT now(),
    lease_owner         text,
    lease_expires_at    timestamptz,
    heartbeat_at        timestamptz,
    last_error          text,
    abort_requested_at  timestamptz,
    abort_reason        text,
    result              jsonb,
    submitted_by        text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (plan_id, checksum)
);
CREATE INDEX jobs_claimable ON jobs (not_before, id) WHERE status = 'pending';
CREATE INDEX jobs_leases ON jobs (lease_expires_at) WHERE status = 'running';
"""

# The queue's own outcomes: ``failed`` (refused for a reason no retry changes: denied, needs
# approval, integrity, a check that failed), the commit that landed, the kind of the last
# error (its type: ``stale``, ``busy``, ``push_rejected``, ...) and when the job ended.
V2 = """
ALTER TABLE jobs DROP CONSTRAINT jobs_status_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_status_check
    CHECK (status IN ('pending', 'running', 'done', 'stale', 'failed', 'dead', 'aborted'));
ALTER TABLE jobs ADD COLUMN commit_sha text;
ALTER TABLE jobs ADD COLUMN error_kind text;
ALTER TABLE jobs ADD COLUMN finished_at timestamptz;
CREATE INDEX jobs_by_status ON jobs (status, id);
"""

# One changeset per plan id (SPEC §8): at most one pending, running or done job of a plan id,
# so that two checksums under one plan id can never both be queued, whatever the race.
V3 = """
CREATE UNIQUE INDEX IF NOT EXISTS jobs_one_per_plan_id ON jobs (plan_id)
    WHERE status IN ('pending', 'running', 'done');
"""
# The index's name: a unique violation on it is a plan id taken by another changeset.
ONE_PER_PLAN_ID = "jobs_one_per_plan_id"
SHOWN_CONFLICTS = 5


def _refuse_plan_ids_taken_twice(conn: psycopg.Connection[tuple[Any, ...]], where: str) -> None:
    """``StoreSchemaError`` naming the jobs when a plan id has two live or done jobs (queued
    before version 3): the index cannot be built until a person decides which one stands.
    The table is locked against writes first, so that no job queued meanwhile slips past."""
    conn.execute("LOCK TABLE jobs IN SHARE MODE")
    rows = conn.execute(
        "SELECT plan_id, array_agg(id ORDER BY id), array_agg(status ORDER BY id) FROM jobs"
        " WHERE status IN ('pending', 'running', 'done') GROUP BY plan_id"
        " HAVING count(*) > 1 ORDER BY plan_id"
    ).fetchall()
    if not rows:
        return
    taken = [(str(plan_id), list(zip(ids, states, strict=True))) for plan_id, ids, states in rows]
    named = "; ".join(
        f"plan {plan_id}: " + ", ".join(f"job {i} ({s})" for i, s in jobs)
        for plan_id, jobs in taken[:SHOWN_CONFLICTS]
    )
    if len(taken) > SHOWN_CONFLICTS:
        named += f" (and {len(taken) - SHOWN_CONFLICTS} more plan ids)"
    raise StoreSchemaError(
        f"cannot apply schema version 3 (one pending, running or done job per plan id) to the "
        f"store at {where}: {named}; keep one job of each plan id, set the status of the "
        "others to 'aborted' (in psql, on the jobs table), then run 'agentos store migrate' "
        "again (version 3 was not applied)",
        details={
            "store": where,
            "version": 3,
            "conflicts": [
                {"plan_id": plan_id, "jobs": [{"id": int(i), "status": str(s)} for i, s in jobs]}
                for plan_id, jobs in taken
            ],
        },
    )


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "control plane and queue", V1),
    Migration(2, "queue outcomes", V2),
    Migration(3, "one job per plan id", V3, _refuse_plan_ids_taken_twice),
)
LATEST = MIGRATIONS[-1].version

_TRACKING = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer PRIMARY KEY,
    name        text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True)
class Migrated:
    """What ``migrate`` did: the versions it applied now, and the version the schema is at."""

    applied: tuple[int, ...]
    version: int


def current_version(conn: psycopg.Connection[tuple[Any, ...]]) -> int | None:
    """The schema's version (None: no agentos schema here)."""
    row = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
    if row is None or not row[0]:
        return None
    found = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()
    return int(found[0]) if found is not None and found[0] is not None else 0


def refuse_newer(version: int | None, where: str) -> None:
    """``StoreSchemaError`` for a schema newer than this agentos knows."""
    if version is not None and version > LATEST:
        raise StoreSchemaError(
            f"the store at {where} has schema version {version}, newer than this agentos "
            f"knows ({LATEST}); upgrade agentos on this runner (nothing was changed)",
            details={"store": where, "version": version, "known": LATEST},
        )


def migrate(conn: psycopg.Connection[tuple[Any, ...]], where: str) -> Migrated:
    """Apply every missing migration, each once, in its own transaction (``conn`` is in
    autocommit mode)."""
    applied: list[int] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATE_LOCK,))
        refuse_newer(current_version(conn), where)
        conn.execute(_TRACKING)
    for migration in MIGRATIONS:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATE_LOCK,))
            version = current_version(conn) or 0
            refuse_newer(version, where)
            done = conn.execute(
                "SELECT 1 FROM schema_migrations WHERE version = %s", (migration.version,)
            ).fetchone()
            if done is not None:
                continue
            if migration.check is not None:
                migration.check(conn, where)
            conn.execute(migration.sql.encode("utf-8"))
            conn.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                (migration.version, migration.name),
            )
            applied.append(migration.version)
    return Migrated(tuple(applied), current_version(conn) or 0)


def check_version(conn: psycopg.Connection[tuple[Any, ...]], where: str) -> None:
    """``StoreSchemaError`` unless the schema is exactly the one this agentos knows."""
    version = current_version(conn)
    refuse_newer(version, where)
    if version is None or version < LATEST:
        have = "no agentos schema" if version is None else f"schema version {version}"
        raise StoreSchemaError(
            f"the store at {where} has {have}; this agentos needs version {LATEST}: run "
            "'agentos store migrate' once, then retry",
            details={"store": where, "version": version, "needed": LATEST},
        )
