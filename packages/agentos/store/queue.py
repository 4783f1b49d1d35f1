"""The changeset queue in the PostgreSQL store (SPEC §14): the ``jobs`` table and every
statement on it.

A job is one plan (its bytes, and the bytes of the approval files given with it) to apply on
a branch of the shared remote, unique on ``plan_id, checksum``; a plan id has at most one
pending, running or done job (SPEC §8: one plan id, one changeset; a unique index since
schema version 3 decides races). Its states::

    pending -> running -> done | stale | failed | aborted
                  |  \\-> pending (a retryable failure, after a delay) -> ... -> dead
                  \\-> (lease expired) reclaimed by another worker

A worker claims the oldest claimable job with ``SELECT ... FOR UPDATE SKIP LOCKED`` (two
workers never take the same row) and holds a lease on it that its heartbeat renews. A lease
that expired is claimable again. Every change a worker makes to its job afterwards is fenced
on ``lease_owner`` and ``attempts``: a worker whose lease was taken over changes nothing.
All times are the database's (``now()``): runners' clocks may disagree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from agentos.store.planids import changing_hands, plan_id_taken

if TYPE_CHECKING:
    from agentos.store.postgres import Connection, PostgresStore

STATES = ("pending", "running", "done", "stale", "failed", "dead", "aborted")
RETRYABLE_BY_HAND = ("stale", "failed", "dead", "aborted")
# States that hold a plan id: another checksum under it is refused while one of these stands.
HOLDS_PLAN_ID = ("pending", "running", "done")
# How often a submit or retry looks again when the job holding its plan id ended meanwhile.
TRIES = 3
DEFAULT_MAX_ATTEMPTS = 5
MAX_ERROR_CHARS = 2000

_COLUMNS = (
    "id, plan_id, checksum, branch, status, attempts, max_attempts, not_before, lease_owner,"
    " lease_expires_at, heartbeat_at, last_error, error_kind, abort_requested_at,"
    " abort_reason, commit_sha, result::text, submitted_by, created_at, updated_at,"
    " finished_at, jsonb_array_length(approvals),"
    " extract(epoch FROM now() - heartbeat_at), extract(epoch FROM lease_expires_at - now())"
)


def _stamp(value: datetime | None) -> str | None:
    """A database time as agentos writes times (``agentos.clock.rfc3339``)."""
    from agentos.clock import rfc3339

    return None if value is None else rfc3339(value)


@dataclass(frozen=True)
class Job:
    """One job as the queue holds it (without its plan's bytes)."""

    id: int
    plan_id: str
    checksum: str
    branch: str | None
    status: str
    attempts: int
    max_attempts: int
    not_before: datetime
    lease_owner: str | None
    lease_expires_at: datetime | None
    heartbeat_at: datetime | None
    last_error: str | None
    error_kind: str | None
    abort_requested_at: datetime | None
    abort_reason: str | None
    commit: str | None
    result: dict[str, Any] | None
    submitted_by: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    approvals: int
    # Seconds since the last heartbeat, and until the lease expires (negative: expired).
    heartbeat_age: float | None
    lease_left: float | None

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> Job:
        head = row[:16]
        result, submitted_by, created, updated, finished, approvals, age, left = row[16:]
        (job_id, plan_id, checksum, branch, status, attempts, max_attempts, not_before) = head[:8]
        (owner, expires, beat, error, kind, abort_at, abort_reason, commit) = head[8:]
        return cls(
            id=job_id,
            plan_id=plan_id,
            checksum=checksum,
            branch=branch,
            status=status,
            attempts=attempts,
            max_attempts=max_attempts,
            not_before=not_before,
            lease_owner=owner,
            lease_expires_at=expires,
            heartbeat_at=beat,
            last_error=error,
            error_kind=kind,
            abort_requested_at=abort_at,
            abort_reason=abort_reason,
            commit=commit,
            result=json.loads(result) if result else None,
            submitted_by=submitted_by,
            created_at=created,
            updated_at=updated,
            finished_at=finished,
            approvals=int(approvals or 0),
            heartbeat_age=None if age is None else float(age),
            lease_left=None if left is None else float(left),
        )

    @property
    def stuck(self) -> bool:
        """Running with a lease that expired: its worker stopped; another will reclaim it."""
        return self.status == "running" and self.lease_left is not None and self.lease_left < 0

    def row(self) -> dict[str, Any]:
        """As ``--json`` shows a job."""
        return {
            "id": self.id,
            "plan_id": self.plan_id,
            "checksum": self.checksum,
            "branch": self.branch,
            "status": self.status,
            "attempts": self.attempts,
            "max_attempts": self.max_attempts,
            "not_before": _stamp(self.not_before),
            "lease": None
            if self.status != "running"
            else {
                "owner": self.lease_owner,
                "expires_at": _stamp(self.lease_expires_at),
                "heartbeat_age": self.heartbeat_age,
                "expired": self.stuck,
            },
            "last_error": self.last_error,
            "error_kind": self.error_kind,
            "abort": None
            if self.abort_requested_at is None
            else {"requested_at": _stamp(self.abort_requested_at), "reason": self.abort_reason},
            "commit": self.commit,
            "approvals": self.approvals,
            "submitted_by": self.submitted_by,
            "created_at": _stamp(self.created_at),
            "updated_at": _stamp(self.updated_at),
            "finished_at": _stamp(self.finished_at),
        }


@dataclass(frozen=True)
class Payload:
    """What a worker needs to apply a job: the plan's bytes and the approval files'."""

    plan: bytes
    approvals: tuple[tuple[str, bytes], ...]


@dataclass(frozen=True)
class Heartbeat:
    """What renewing a lease found: whether it is still this worker's, and any abort asked."""

    held: bool
    abort_requested: bool = False
    abort_reason: str | None = None


def _one(conn: Connection, where: str, params: tuple[Any, ...]) -> Job | None:
    # Only fixed SQL of this module is spliced in; values are always parameters.
    query = f"SELECT {_COLUMNS} FROM jobs WHERE {where}"  # noqa: S608
    row = conn.execute(query, params).fetchone()
    return None if row is None else Job.from_row(row)


def submit(
    store: PostgresStore,
    *,
    plan_id: str,
    checksum: str,
    plan: bytes,
    approvals: list[tuple[str, bytes]],
    branch: str | None,
    max_attempts: int,
    submitted_by: str,
) -> tuple[Job, bool, int]:
    """Queue a plan, once per ``plan_id, checksum``: the job, whether it is new, and how many
    of ``approvals`` were added to it (an approval file already there is not added again).
    ``PlanIdConflictError`` when another checksum holds the plan id (nothing queued)."""
    docs = [{"name": name, "data": data.decode("utf-8")} for name, data in approvals]
    for _ in range(TRIES):
        with store.session() as conn:
            # No conflict target: a row of this plan and checksum, or the unique index on a
            # plan id's live or done job, both make the insert do nothing.
            created = conn.execute(
                "INSERT INTO jobs (plan_id, checksum, plan, approvals, branch, max_attempts,"
                " submitted_by) VALUES (%s, %s, %s, %s::jsonb, %s, %s, %s)"
                " ON CONFLICT DO NOTHING RETURNING id",
                (plan_id, checksum, plan, json.dumps(docs), branch, max_attempts, submitted_by),
            ).fetchone()
            added = len(docs) if created is not None else 0
            if created is None:
                held = conn.execute(
                    "SELECT approvals FROM jobs WHERE plan_id = %s AND checksum = %s FOR UPDATE",
                    (plan_id, checksum),
                ).fetchone()
                if held is None:
                    other = _holder(conn, plan_id, checksum)
                    if other is not None:
                        raise plan_id_taken(other, checksum)
                    continue  # the job that held the plan id ended meanwhile: insert again
                have = {d["data"] for d in held[0]}
                fresh = [d for d in docs if d["data"] not in have]
                if fresh:
                    conn.execute(
                        "UPDATE jobs SET approvals = approvals || %s::jsonb, updated_at = now()"
                        " WHERE plan_id = %s AND checksum = %s",
                        (json.dumps(fresh), plan_id, checksum),
                    )
                added = len(fresh)
            job = _one(conn, "plan_id = %s AND checksum = %s", (plan_id, checksum))
        if job is None:  # pragma: no cover - the row was just written in this transaction
            raise RuntimeError("queued job vanished")
        return job, created is not None, added
    raise changing_hands(f"plan {plan_id} was queued")


def _holder(conn: Connection, plan_id: str, checksum: str) -> Job | None:
    """The pending, running or done job of ``plan_id`` with another checksum (None: none)."""
    return _one(
        conn,
        "plan_id = %s AND checksum <> %s AND status = ANY(%s) ORDER BY id LIMIT 1",
        (plan_id, checksum, list(HOLDS_PLAN_ID)),
    )


def get(store: PostgresStore, job_id: int) -> Job | None:
    """The job ``job_id`` (None when there is none)."""
    with store.session() as conn:
        return _one(conn, "id = %s", (job_id,))


def listed(store: PostgresStore, statuses: tuple[str, ...] = (), limit: int = 0) -> list[Job]:
    """Jobs in ``statuses`` (all without), oldest first; ``limit`` 0: all of them."""
    where = "status = ANY(%s)" if statuses else "TRUE"
    params: tuple[Any, ...] = (list(statuses),) if statuses else ()
    tail = f" LIMIT {int(limit)}" if limit > 0 else ""
    with store.session() as conn:
        query = f"SELECT {_COLUMNS} FROM jobs WHERE {where} ORDER BY id{tail}"  # noqa: S608
        rows = conn.execute(query, params)
        return [Job.from_row(row) for row in rows.fetchall()]


def requeue(store: PostgresStore, job_id: int) -> Job | None:
    """Put an ended job (not ``done``) back in the queue with its attempts reset; None when
    it is not in such a state (the caller says why). ``PlanIdConflictError`` when another
    checksum holds its plan id now (nothing changed)."""
    import psycopg

    from agentos.store.migrations import ONE_PER_PLAN_ID

    for _ in range(TRIES):
        try:
            with store.session() as conn:
                row = conn.execute(
                    "UPDATE jobs SET status = 'pending', attempts = 0, not_before = now(),"
                    " lease_owner = NULL, lease_expires_at = NULL, heartbeat_at = NULL,"
                    " abort_requested_at = NULL, abort_reason = NULL, finished_at = NULL,"
                    " updated_at = now() WHERE id = %s AND status = ANY(%s) RETURNING id",
                    (job_id, list(RETRYABLE_BY_HAND)),
                ).fetchone()
                return None if row is None else _one(conn, "id = %s", (job_id,))
        except psycopg.errors.UniqueViolation as exc:
            if exc.diag.constraint_name != ONE_PER_PLAN_ID:
                raise
        with store.session() as conn:
            mine = _one(conn, "id = %s", (job_id,))
            other = None if mine is None else _holder(conn, mine.plan_id, mine.checksum)
        if mine is not None and other is not None:
            raise plan_id_taken(other, mine.checksum, retried=job_id)
    raise changing_hands(f"job {job_id} was retried")


def request_abort(store: PostgresStore, job_id: int | None, reason: str) -> list[Job]:
    """Abort ``job_id`` (None: every job not ended): a pending job ends ``aborted`` now; a
    running one is marked, and its worker stops it (rolled back) and ends it ``aborted``."""
    with store.session() as conn:
        ids = conn.execute(
            "UPDATE jobs SET abort_requested_at = coalesce(abort_requested_at, now()),"
            " abort_reason = %s, updated_at = now(),"
            " status = CASE WHEN status = 'pending' THEN 'aborted' ELSE status END,"
            " finished_at = CASE WHEN status = 'pending' THEN now() ELSE finished_at END,"
            " last_error = CASE WHEN status = 'pending' THEN %s ELSE last_error END,"
            " error_kind = CASE WHEN status = 'pending' THEN 'aborted' ELSE error_kind END"
            " WHERE (%s::bigint IS NULL OR id = %s) AND status IN ('pending', 'running')"
            " RETURNING id",
            (reason, f"aborted: {reason}" if reason else "aborted", job_id, job_id),
        ).fetchall()
        found = [i[0] for i in ids]
        return [Job.from_row(r) for r in _rows(conn, found)]


def _rows(conn: Connection, ids: list[int]) -> list[tuple[Any, ...]]:
    query = f"SELECT {_COLUMNS} FROM jobs WHERE id = ANY(%s) ORDER BY id"  # noqa: S608
    rows = conn.execute(query, (ids,))
    return rows.fetchall()


def claim(store: PostgresStore, owner: str, lease: float) -> tuple[Job, Payload] | None:
    """Take the oldest claimable job (pending and due, or running with an expired lease)
    with a lease of ``lease`` seconds, counting an attempt; None when there is none."""
    with store.session() as conn:
        row = conn.execute(
            "WITH next AS (SELECT id FROM jobs WHERE (status = 'pending' AND not_before <= now())"
            " OR (status = 'running' AND lease_expires_at < now())"
            " ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)"
            " UPDATE jobs j SET status = 'running', attempts = j.attempts + 1,"
            " lease_owner = %s, lease_expires_at = now() + make_interval(secs => %s),"
            " heartbeat_at = now(), updated_at = now() FROM next WHERE j.id = next.id"
            " RETURNING j.id, j.plan, j.approvals",
            (owner, lease),
        ).fetchone()
        if row is None:
            return None
        job = _one(conn, "id = %s", (row[0],))
    if job is None:  # pragma: no cover - claimed in this very transaction
        return None
    docs = row[2] or []
    approvals = tuple((str(d["name"]), str(d["data"]).encode("utf-8")) for d in docs)
    return job, Payload(plan=bytes(row[1]), approvals=approvals)


def renew(store: PostgresStore, job: Job, lease: float) -> Heartbeat:
    """Extend ``job``'s lease (still this worker's?) and say whether an abort was asked."""
    with store.session() as conn:
        row = conn.execute(
            "UPDATE jobs SET lease_expires_at = now() + make_interval(secs => %s),"
            " heartbeat_at = now() WHERE id = %s AND status = 'running' AND lease_owner = %s"
            " AND attempts = %s RETURNING abort_requested_at IS NOT NULL, abort_reason",
            (lease, job.id, job.lease_owner, job.attempts),
        ).fetchone()
    if row is None:
        return Heartbeat(held=False)
    return Heartbeat(held=True, abort_requested=bool(row[0]), abort_reason=row[1])


def finish(
    store: PostgresStore,
    job: Job,
    status: str,
    *,
    error: str | None = None,
    kind: str | None = None,
    commit: str | None = None,
    result: dict[str, Any] | None = None,
) -> bool:
    """End ``job`` in ``status`` (``done``, ``stale``, ``failed``, ``dead`` or
    ``aborted``); False when its lease is no longer this worker's (another worker took it
    over: nothing changed)."""
    with store.session() as conn:
        row = conn.execute(
            "UPDATE jobs SET status = %s, last_error = coalesce(%s, last_error),"
            " error_kind = %s, commit_sha = coalesce(%s, commit_sha), result = %s::jsonb,"
            " lease_owner = NULL, lease_expires_at = NULL, finished_at = now(),"
            " updated_at = now() WHERE id = %s AND status = 'running' AND lease_owner = %s"
            " AND attempts = %s RETURNING id",
            (
                status,
                _short(error),
                kind,
                commit,
                None if result is None else json.dumps(result),
                job.id,
                job.lease_owner,
                job.attempts,
            ),
        ).fetchone()
    return row is not None


def retry_later(store: PostgresStore, job: Job, delay: float, error: str, kind: str) -> str | None:
    """After a retryable failure: back to ``pending`` after ``delay`` seconds, or ``dead``
    once ``max_attempts`` are spent (with ``error`` as the last error). The state it went to;
    None when the lease is no longer this worker's."""
    with store.session() as conn:
        row = conn.execute(
            "UPDATE jobs SET status = CASE WHEN attempts >= max_attempts THEN 'dead'"
            " ELSE 'pending' END, not_before = now() + make_interval(secs => %s),"
            " last_error = %s, error_kind = %s, lease_owner = NULL, lease_expires_at = NULL,"
            " finished_at = CASE WHEN attempts >= max_attempts THEN now() END,"
            " updated_at = now() WHERE id = %s AND status = 'running' AND lease_owner = %s"
            " AND attempts = %s RETURNING status",
            (delay, _short(error), kind, job.id, job.lease_owner, job.attempts),
        ).fetchone()
    return None if row is None else str(row[0])


def release(store: PostgresStore, job: Job) -> bool:
    """Give ``job`` back untried (this worker cannot run it now): pending, the attempt not
    counted."""
    with store.session() as conn:
        row = conn.execute(
            "UPDATE jobs SET status = 'pending', attempts = greatest(attempts - 1, 0),"
            " lease_owner = NULL, lease_expires_at = NULL, updated_at = now()"
            " WHERE id = %s AND status = 'running' AND lease_owner = %s AND attempts = %s"
            " RETURNING id",
            (job.id, job.lease_owner, job.attempts),
        ).fetchone()
    return row is not None


def unfinished(store: PostgresStore) -> int:
    """How many jobs are pending or running (``worker --drain`` waits for none)."""
    with store.session() as conn:
        row = conn.execute(
            "SELECT count(*) FROM jobs WHERE status IN ('pending', 'running')"
        ).fetchone()
    return int(row[0]) if row else 0


def counts(store: PostgresStore) -> dict[str, int]:
    """How many jobs are in each state (every state named, 0 included)."""
    with store.session() as conn:
        rows = conn.execute("SELECT status, count(*) FROM jobs GROUP BY status").fetchall()
    found = {str(s): int(n) for s, n in rows}
    return {state: found.get(state, 0) for state in STATES}


def _short(text: str | None) -> str | None:
    if text is None or len(text) <= MAX_ERROR_CHARS:
        return text
    return text[: MAX_ERROR_CHARS - 3] + "..."
