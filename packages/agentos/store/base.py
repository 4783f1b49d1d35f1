"""What every store of agentos's shared control state offers (SPEC §14).

Two implementations: ``files.FileStore`` (the files under ``.agentos/``, the embedded
default) and ``postgres.PostgresStore`` (a PostgreSQL database that many runners share). The
state is the same in both: approvals, idempotency records (SPEC §8: a plan is applied once),
execution records, circuit-breaker state, and the audit events (the file store's trail *is*
its copy; the PostgreSQL store keeps a copy of every runner's events on a chain of its own).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from agentos.audit.trail import AuditTrail
    from agentos.executor.executions import ExecutionRecord
    from agentos.executor.idempotency import IdempotencyRecord
    from agentos.model import Approval
    from agentos.verify.breaker import Breaker

StoreKind = Literal["files", "postgresql"]


@dataclass(frozen=True)
class StoreAuditReport:
    """What verifying a store's copy of the audit events found.

    ``events`` rows on one chain ending in ``head``; ``sources`` the runners (workspaces)
    whose events it holds; ``behind`` how many events of this workspace's own trail are not
    copied yet (the next append copies them)."""

    events: int
    head: str
    sources: int = 0
    behind: int = 0
    warnings: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class RecordedApproval:
    """An approval as a store keeps it: where it was recorded (a file of this workspace, or
    the runner that put it in the database) and whether that is this workspace itself."""

    source: str
    approval: Approval
    own: bool


class Store(Protocol):
    """The shared control state, whichever engine keeps it."""

    @property
    def kind(self) -> StoreKind:
        """``files`` or ``postgresql``."""
        ...

    @property
    def display(self) -> str:
        """Where the state lives, safe to print (never a password)."""
        ...

    # -- approvals (SPEC §7) --------------------------------------------------------------

    def put_approval(self, approval: Approval) -> None:
        """Keep ``approval``; a re-approval of the same bytes by the same person replaces it."""
        ...

    def approvals(self, plan_id: str) -> list[Approval]:
        """Every approval kept for ``plan_id`` (any version of it), oldest first."""
        ...

    def recorded_approvals(self, plan_id: str) -> list[RecordedApproval]:
        """``approvals`` with where each was recorded (the gate judges them by that)."""
        ...

    # -- idempotency (SPEC §8) ------------------------------------------------------------

    def idempotency(self, plan_id: str) -> IdempotencyRecord | None:
        """What happened last to ``plan_id`` (None: nothing yet)."""
        ...

    def put_idempotency(self, record: IdempotencyRecord) -> bool:
        """Record ``record``; False when another runner's committed record of the plan id
        stands and was kept (this one lost: it must not count as applied)."""
        ...

    # -- execution records ----------------------------------------------------------------

    def put_execution(self, record: ExecutionRecord) -> None:
        """Keep a committed execution's summary (replacing an earlier one of the same id)."""
        ...

    def execution(self, execution_id: str) -> ExecutionRecord | None:
        """A committed execution's summary (None when unknown)."""
        ...

    # -- circuit breakers (SPEC §9) -------------------------------------------------------

    def breakers(self) -> dict[str, Breaker]:
        """Every health check's breaker state."""
        ...

    def put_breakers(self, breakers: dict[str, Breaker]) -> None:
        """Keep these breakers' states (others are left as they are)."""
        ...

    # -- audit events (SPEC §10) ----------------------------------------------------------

    def copy_audit_event(self, trail: AuditTrail, record: dict[str, Any]) -> None:
        """``record`` was just appended to ``trail`` (under its lock): keep a copy, after any
        earlier events of that trail the store lacks, in the trail's order."""
        ...

    def verify_audit(self, trail: AuditTrail | None = None) -> StoreAuditReport:
        """Check the store's copy of the audit events against its own chain
        (``AuditChainError`` names the first bad one); ``trail``: this workspace's own trail,
        to tell how far the copy is behind it."""
        ...
