"""The PostgreSQL store: agentos's control state shared by every runner of a team (SPEC §14).

Each operation opens its own connection (a unix socket or TCP, as the address says), runs in
one transaction and closes it: nothing is held between operations, so a server restart costs
the operations that were running, never the process. psycopg 3 is imported here only.

Failures are one-line errors that name the store without its password: unreachable ->
``StoreUnavailableError`` (exit 75, safe to retry); no schema, or an older or newer one ->
``StoreSchemaError`` (exit 2, run ``agentos store migrate`` or upgrade agentos); psycopg not
installed -> ``UsageError`` (install ``agentos[postgres]``).

Idempotency records follow SPEC §8 across runners: a committed record stands against every
other runner's record of the same plan id (``put_idempotency`` returns False for the loser,
decided by the primary key and one ``INSERT ... ON CONFLICT``), so two runners can never both
record the same plan as applied.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from agentos.errors import StoreSchemaError, StoreUnavailableError, UsageError
from agentos.store.address import STORE_ENV, redact
from agentos.store.base import RecordedApproval, StoreAuditReport, StoreKind

if TYPE_CHECKING:
    import psycopg

    from agentos.audit.trail import AuditTrail
    from agentos.executor.executions import ExecutionRecord
    from agentos.executor.idempotency import IdempotencyRecord
    from agentos.model import Approval
    from agentos.store.migrations import Migrated
    from agentos.verify.breaker import Breaker

    Connection = psycopg.Connection[tuple[Any, ...]]

CONNECT_TIMEOUT = 5
APPLICATION_NAME = "agentos"
MAX_REASON_CHARS = 200


class PostgresStore:
    """The store in the PostgreSQL database at ``address``; ``source`` names this runner
    (``host:/workspace``) in what it records."""

    def __init__(self, address: str, *, source: str) -> None:
        self.address = address
        self.source = source
        self._schema_ok = False

    @property
    def kind(self) -> StoreKind:
        return "postgresql"

    @property
    def display(self) -> str:
        return redact(self.address)

    # -- connections ----------------------------------------------------------------------

    def connect(self, *, autocommit: bool = False) -> Connection:
        """A new connection (the caller closes it); a one-line error when there is none."""
        try:
            import psycopg
            from psycopg.conninfo import conninfo_to_dict, make_conninfo
        except ImportError:
            raise UsageError(
                f"the PostgreSQL store ({self.display}) needs psycopg: pip install "
                f"'agentos[postgres]', or unset {STORE_ENV} / the policy's store.url to keep "
                "the files under .agentos/"
            ) from None
        try:
            settings = conninfo_to_dict(self.address)
        except psycopg.ProgrammingError:
            # What libpq says quotes the address, password and all: not repeated.
            raise UsageError(
                f"store address {self.display!r} is not a valid PostgreSQL address (libpq "
                f"cannot parse it); fix {STORE_ENV} or the policy's store.url"
            ) from None
        settings.setdefault("connect_timeout", CONNECT_TIMEOUT)
        settings.setdefault("application_name", APPLICATION_NAME)
        try:
            return psycopg.connect(make_conninfo("", **settings), autocommit=autocommit)
        except psycopg.OperationalError as exc:
            raise self._unavailable(exc) from None

    def _unavailable(self, exc: BaseException) -> StoreUnavailableError:
        return StoreUnavailableError(
            f"cannot reach the PostgreSQL store at {self.display}: {self._reason(exc)} — start "
            f"the server or fix {STORE_ENV} (or the policy's store.url), then retry",
            details={"store": self.display},
        )

    @contextlib.contextmanager
    def session(self, *, checked: bool = True) -> Iterator[Connection]:
        """One connection and transaction for the block (committed when it ends well);
        ``checked``: the schema must be the one this agentos knows."""
        import psycopg

        conn = self.connect()
        try:
            with conn:
                if checked and not self._schema_ok:
                    from agentos.store.migrations import check_version

                    check_version(conn, self.display)
                    self._schema_ok = True
                yield conn
        except psycopg.errors.UndefinedTable as exc:
            raise StoreSchemaError(
                f"the store at {self.display} lacks a table ({self._reason(exc)}): run 'agentos "
                "store migrate', then retry",
                details={"store": self.display},
            ) from None
        except psycopg.OperationalError as exc:
            raise self._unavailable(exc) from None

    def migrate(self) -> Migrated:
        """Create or bring up to date the schema (``agentos store migrate``)."""
        import psycopg

        from agentos.store.migrations import migrate

        conn = self.connect(autocommit=True)
        try:
            with conn:
                return migrate(conn, self.display)
        except psycopg.OperationalError as exc:
            raise self._unavailable(exc) from None

    def version(self) -> int | None:
        """The schema's version (None: none yet)."""
        from agentos.store.migrations import current_version

        with self.session(checked=False) as conn:
            return current_version(conn)

    # -- approvals ------------------------------------------------------------------------

    def put_approval(self, approval: Approval) -> None:
        body = json.dumps(approval.model_dump(mode="json"), sort_keys=True)
        with self.session() as conn:
            conn.execute(
                "INSERT INTO approvals (plan_id, checksum, approver, approved_at, body, source)"
                " VALUES (%s, %s, %s, %s, %s::jsonb, %s)"
                " ON CONFLICT (plan_id, checksum, approver) DO UPDATE SET"
                " approved_at = EXCLUDED.approved_at, body = EXCLUDED.body,"
                " source = EXCLUDED.source, recorded_at = now()",
                (
                    approval.plan_id,
                    approval.checksum,
                    approval.approver,
                    approval.approved_at,
                    body,
                    self.source,
                ),
            )

    def approvals(self, plan_id: str) -> list[Approval]:
        from agentos.model import Approval

        with self.session() as conn:
            rows = conn.execute(
                "SELECT body::text FROM approvals WHERE plan_id = %s"
                " ORDER BY approved_at, checksum, approver",
                (plan_id,),
            ).fetchall()
        return [Approval.model_validate_json(row[0]) for row in rows]

    def recorded_approvals(self, plan_id: str) -> list[RecordedApproval]:
        """Every runner's approvals of ``plan_id``, each named ``store:<runner>``; a row that
        is no approval at all is ``InvalidApprovalError`` naming it (exit 6)."""
        from agentos.governance.approvalfiles import parse_approval

        with self.session() as conn:
            rows = conn.execute(
                "SELECT source, body::text FROM approvals WHERE plan_id = %s"
                " ORDER BY approved_at, checksum, approver",
                (plan_id,),
            ).fetchall()
        found = []
        for source, body in rows:
            name = f"store:{source}"
            found.append(RecordedApproval(name, parse_approval(body, name), source == self.source))
        return found

    # -- idempotency ----------------------------------------------------------------------

    def idempotency(self, plan_id: str) -> IdempotencyRecord | None:
        from agentos.executor.idempotency import IdempotencyRecord

        with self.session() as conn:
            row = conn.execute(
                "SELECT plan_id, checksum, execution_id, status, attempts, updated_at,"
                " committed_at FROM idempotency WHERE plan_id = %s",
                (plan_id,),
            ).fetchone()
        if row is None:
            return None
        return IdempotencyRecord(
            plan_id=row[0],
            checksum=row[1],
            execution_id=row[2],
            status=row[3],
            attempts=row[4],
            updated_at=row[5],
            committed_at=row[6],
        )

    def put_idempotency(self, record: IdempotencyRecord) -> bool:
        # Replaced only when what stands is not a commit, or is this runner's own (a
        # recovery finishing it), or is being marked reverted by the rollback that undid it.
        with self.session() as conn:
            won = conn.execute(
                "INSERT INTO idempotency AS i (plan_id, checksum, execution_id, status,"
                " attempts, updated_at, committed_at, source)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (plan_id) DO UPDATE SET checksum = EXCLUDED.checksum,"
                " execution_id = EXCLUDED.execution_id, status = EXCLUDED.status,"
                " attempts = EXCLUDED.attempts, updated_at = EXCLUDED.updated_at,"
                " committed_at = EXCLUDED.committed_at, source = EXCLUDED.source,"
                " recorded_at = now()"
                " WHERE i.status <> 'committed' OR i.source = EXCLUDED.source"
                " OR (EXCLUDED.status = 'reverted' AND i.execution_id = EXCLUDED.execution_id)"
                " RETURNING 1",
                (
                    record.plan_id,
                    record.checksum,
                    record.execution_id,
                    record.status,
                    record.attempts,
                    record.updated_at,
                    record.committed_at,
                    self.source,
                ),
            ).fetchone()
        return won is not None

    # -- executions -----------------------------------------------------------------------

    def put_execution(self, record: ExecutionRecord) -> None:
        body = record.model_dump_json(by_alias=True)
        with self.session() as conn:
            conn.execute(
                "INSERT INTO executions (execution_id, plan_id, checksum, kind, committed_at,"
                " body, source) VALUES (%s, %s, %s, %s, %s, %s::jsonb, %s)"
                " ON CONFLICT (execution_id) DO UPDATE SET body = EXCLUDED.body,"
                " committed_at = EXCLUDED.committed_at, source = EXCLUDED.source,"
                " recorded_at = now()",
                (
                    record.execution_id,
                    record.plan_id,
                    record.checksum,
                    record.kind,
                    record.committed_at,
                    body,
                    self.source,
                ),
            )

    def execution(self, execution_id: str) -> ExecutionRecord | None:
        from agentos.executor.executions import ExecutionRecord

        with self.session() as conn:
            row = conn.execute(
                "SELECT body::text FROM executions WHERE execution_id = %s", (execution_id,)
            ).fetchone()
        return None if row is None else ExecutionRecord.model_validate_json(row[0])

    # -- breakers -------------------------------------------------------------------------

    def breakers(self) -> dict[str, Breaker]:
        from agentos.verify.breaker import Breaker

        with self.session() as conn:
            rows = conn.execute(
                "SELECT name, state, failures, successes, opened_at FROM breakers ORDER BY name"
            ).fetchall()
        return {
            name: Breaker(state=state, failures=failures, successes=successes, opened_at=opened)
            for name, state, failures, successes, opened in rows
        }

    def put_breakers(self, breakers: dict[str, Breaker]) -> None:
        with self.session() as conn, conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO breakers (name, state, failures, successes, opened_at)"
                " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (name) DO UPDATE SET"
                " state = EXCLUDED.state, failures = EXCLUDED.failures,"
                " successes = EXCLUDED.successes, opened_at = EXCLUDED.opened_at,"
                " updated_at = now()",
                [
                    (name, b.state, b.failures, b.successes, b.opened_at)
                    for name, b in sorted(breakers.items())
                ],
            )

    # -- audit events ---------------------------------------------------------------------

    def copy_audit_event(self, trail: AuditTrail, record: dict[str, Any]) -> None:
        from agentos.store.auditcopy import copy_event

        with self.session() as conn:
            copy_event(conn, self.source, trail, record)

    def verify_audit(self, trail: AuditTrail | None = None) -> StoreAuditReport:
        from agentos.store.auditcopy import verify_copy

        with self.session() as conn:
            return verify_copy(conn, self.display, self.source, trail)

    def _reason(self, exc: BaseException) -> str:
        """The first line of what the driver said, short, never with the password."""
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        text = lines[0] if lines else type(exc).__name__
        secret = _password(self.address)
        if secret:
            text = text.replace(secret, "***")
        return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 3] + "..."


def _password(address: str) -> str | None:
    """The password written in ``address``, if any."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        value = conninfo_to_dict(address).get("password")
    except Exception:
        return None
    return str(value) if value else None
