"""Recovery and the bookkeeping after the commit point (SPEC §8.2, §8.7, §8.8).

``recover_locked`` runs under the workspace lock before every apply and rollback, and as
``agentos recover``: a hot journal is rolled back (the shared, idempotent path in
``restore``); a committed journal whose records a crash cut short is finished; a rolled-back
one is cleared away.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from agentos import statefs
from agentos.clock import Clock, rfc3339, system_clock
from agentos.errors import ConflictError, DeniedError, IntegrityError, StateIntegrityError
from agentos.executor.executions import read_execution, write_execution
from agentos.executor.fsops import Guard
from agentos.executor.idempotency import (
    IdempotencyRecord,
    RecordStatus,
    read_record,
    write_record,
)
from agentos.executor.journal import (
    Journal,
    archive_journal,
    archived_executions,
    archived_path,
    journal_path,
    load_journals,
    read_journal,
    remove_execution_files,
)
from agentos.executor.restore import roll_back
from agentos.model import ChangePlan
from agentos.workspace import Workspace

# Every folder of .agentos/ that recovery, records and pruning read, write or remove.
STATE_FOLDERS = (
    "journal/committed",
    "backups",
    "idempotency",
    "executions",
    "approvals",
    "plans",
    "displaced",
    "abort",
    "audit",
)


class Recorder:
    """Appends this execution's audit events (the trail is opened once, lazily)."""

    def __init__(self, workspace: Workspace, actor: str, clock: Callable[[], datetime]) -> None:
        self.workspace = workspace
        self.actor = actor
        self.clock = clock

    def event(
        self, name: str, execution_id: str | None, plan_id: str | None, data: dict[str, Any]
    ) -> None:
        """Append one event (never file contents)."""
        from agentos.audit.trail import AuditTrail

        AuditTrail(self.workspace.audit_dir, clock=self.clock).append(
            name, actor=self.actor, data=data, execution_id=execution_id, plan_id=plan_id
        )

    def now(self) -> str:
        """The current time as stored in records."""
        return rfc3339(self.clock())


@dataclass
class RecoveryOutcome:
    """What recovery did to one journal."""

    execution_id: str
    plan_id: str
    action: str  # rolled_back | finished_commit | cleared
    restored: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def recover_locked(
    workspace: Workspace, recorder: Recorder, guard: Guard | None = None
) -> list[RecoveryOutcome]:
    """Roll back hot journals and finish interrupted commits (the caller holds the lock).

    ``guard`` holds the current policy's path rules: the rollback writes only where both they
    and the rules its journal recorded allow (SPEC §1: recovery included). Every journal is
    read and authenticated before anything is acted on.
    """
    outcomes = []
    state_dir = workspace.state_dir
    # Before anything is read or removed: no folder of the state may be a planted link.
    for folder in STATE_FOLDERS:
        statefs.refuse_links(state_dir / folder)
    journals = load_journals(state_dir)
    for journal in journals:
        _refuse_stale(state_dir, journal)
    _remove_orphan_backups(state_dir)
    for journal in journals:
        if journal.state == "rolled_back":
            remove_execution_files(state_dir, journal.execution_id)
            continue
        if journal.state == "committed":
            if not _finished(workspace, journal):
                _finish(workspace, recorder, journal)
                outcomes.append(
                    RecoveryOutcome(journal.execution_id, journal.plan_id, "finished_commit")
                )
            archive_journal(state_dir, journal)
            continue
        if journal.phase == "checking":
            # agentos died while its checks ran: stop what they left before undoing it.
            from agentos.verify.reaper import kill_execution_leftovers

            kill_execution_leftovers(journal.execution_id)
        try:
            report = roll_back(workspace.root, state_dir, journal, guard=guard)
        except (DeniedError, ConflictError, IntegrityError) as exc:
            recorder.event(
                "recovery.refused",
                journal.execution_id,
                journal.plan_id,
                {"reason": exc.kind, "paths": exc.details.get("paths", [])},
            )
            raise
        recorder.event(
            "recovery.finished",
            journal.execution_id,
            journal.plan_id,
            {
                "action": "rolled_back",
                "restored": report.restored,
                "removed": report.removed,
                "temps_removed": report.temps_removed,
                "displaced": sorted(report.displaced),
                "rules": "journal" if guard is None else "policy and journal",
                "durable": report.durable,
                "warnings": report.warnings,
            },
        )
        record_failure(workspace, recorder, journal, attempt=journal.attempt)
        if report.durable:
            remove_execution_files(state_dir, journal.execution_id)
        outcomes.append(
            RecoveryOutcome(
                journal.execution_id,
                journal.plan_id,
                "rolled_back",
                report.restored,
                report.removed,
                report.warnings,
            )
        )
    return outcomes


def _refuse_stale(state_dir: Path, journal: Journal) -> None:
    """A journal that is not committed, of an attempt no newer than one already committed
    and archived, was put back from a copy (seals say who wrote a file, not when): acting on
    it would undo a committed change."""
    if journal.state == "committed":
        return
    archived = archived_path(state_dir, journal.execution_id)
    if not archived.exists():
        return
    committed = read_journal(state_dir, archived)
    if committed.attempt >= journal.attempt:
        path = journal_path(state_dir, journal.execution_id)
        raise StateIntegrityError(
            f"{path}: the journal of attempt {journal.attempt} is older than the committed "
            f"attempt {committed.attempt} of the same execution: it was put back from a copy, "
            "and acting on it would undo a committed change (nothing was written) — remove it",
            details={"journal": str(path)},
        )


def _remove_orphan_backups(state_dir: Path) -> None:
    """Backups a crash left before their journal was written (no journal names them)."""
    root = state_dir / "backups"
    if not root.is_dir():
        return
    for folder in root.iterdir():
        execution_id = folder.name
        if not (
            journal_path(state_dir, execution_id).exists()
            or archived_path(state_dir, execution_id).exists()
        ):
            statefs.remove_tree(folder)


def _finished(workspace: Workspace, journal: Journal) -> bool:
    record = read_record(workspace.state_dir, journal.plan_id)
    return (
        record is not None
        and record.checksum == journal.checksum
        and record.committed_at == journal.committed_at
    )


def _finish(workspace: Workspace, recorder: Recorder, journal: Journal) -> None:
    """Write the records a crash after the commit point left unwritten."""
    _commit_records(
        workspace,
        recorder,
        journal,
        attempt=journal.attempt,
        files=len(journal.changes),
        recovered=True,
    )


def finalize_commit(
    workspace: Workspace,
    recorder: Recorder,
    journal: Journal | None,
    *,
    plan: ChangePlan,
    attempt: int,
    durable: bool,
    keep: int,
) -> None:
    """After the commit point: idempotency record, execution record, audit, pruning.

    With no journal (the workspace already held every post-image) only the replay is
    recorded in the audit trail.
    """
    if journal is None:
        # Nothing was written, so nothing is recorded as committed: a later change to those
        # files must not be hidden behind a replay of this plan.
        from agentos.executor.executions import execution_id_for

        recorder.event(
            "apply.replayed",
            execution_id_for(plan.plan_id, plan.changeset.checksum),
            plan.plan_id,
            {"checksum": plan.changeset.checksum, "reason": "the workspace holds every post-image"},
        )
        return
    _commit_records(
        workspace,
        recorder,
        journal,
        attempt=attempt,
        files=len(plan.changeset.changes),
        recovered=False,
    )
    archive_journal(workspace.state_dir, journal)
    prune_backups(workspace, keep)


def _commit_records(
    workspace: Workspace,
    recorder: Recorder,
    journal: Journal,
    *,
    attempt: int,
    files: int,
    recovered: bool,
) -> None:
    """The records after the commit point; the idempotency record comes last, because
    recovery takes it as the sign that all of them were written (redoing is harmless)."""
    state_dir = workspace.state_dir
    committed_at = journal.committed_at or recorder.now()
    write_execution(
        state_dir,
        {
            "execution_id": journal.execution_id,
            "plan_id": journal.plan_id,
            "checksum": journal.checksum,
            "kind": journal.kind,
            "parent": journal.parent,
            "status": "committed",
            "attempt": attempt,
            "started_at": journal.started_at,
            "committed_at": committed_at,
            "files": [c.model_dump(by_alias=True) for c in journal.changes],
        },
        durable=journal.durable,
    )
    if journal.kind == "rollback" and journal.parent:
        mark_reverted(workspace, journal.parent, durable=journal.durable)
    recorder.event(
        "apply.committed",
        journal.execution_id,
        journal.plan_id,
        {
            "checksum": journal.checksum,
            "kind": journal.kind,
            "parent": journal.parent,
            "attempt": attempt,
            "files": files,
            "recovered": recovered,
        },
    )
    record = _record_of(journal, "committed", attempt, recorder.now(), committed_at=committed_at)
    write_record(state_dir, record, durable=journal.durable)


def mark_reverted(workspace: Workspace, execution_id: str, *, durable: bool) -> None:
    """Note that ``execution_id`` was rolled back, so applying its plan again is a new attempt."""
    archived = archived_path(workspace.state_dir, execution_id)
    if archived.is_file():
        plan_id = read_journal(workspace.state_dir, archived).plan_id
    else:
        summary = read_execution(workspace.state_dir, execution_id)
        if summary is None:
            return
        plan_id = str(summary["plan_id"])
    record = read_record(workspace.state_dir, plan_id)
    if record is None or record.execution_id != execution_id:
        return
    write_record(
        workspace.state_dir,
        IdempotencyRecord(**{**record.to_json(), "status": "reverted"}),
        durable=durable,
    )


def record_failure(
    workspace: Workspace, recorder: Recorder, journal: Journal, *, attempt: int
) -> None:
    """A failed attempt: allowed to run again, and counted (unless a commit already stands)."""
    record = read_record(workspace.state_dir, journal.plan_id)
    if record is not None and record.status == "committed" and record.checksum != journal.checksum:
        return
    failed = _record_of(journal, "rolled_back", attempt, recorder.now())
    write_record(workspace.state_dir, failed, durable=journal.durable)


def _record_of(
    journal: Journal,
    status: RecordStatus,
    attempt: int,
    now: str,
    *,
    committed_at: str | None = None,
) -> IdempotencyRecord:
    """The idempotency record of ``journal``'s execution in ``status``."""
    return IdempotencyRecord(
        plan_id=journal.plan_id,
        checksum=journal.checksum,
        execution_id=journal.execution_id,
        status=status,
        attempts=attempt,
        updated_at=now,
        committed_at=committed_at,
    )


def prune_backups(workspace: Workspace, keep: int) -> list[str]:
    """Drop the journals and backups of committed executions beyond the newest ``keep``, and
    the copies rollbacks kept aside (``displaced/``) beyond the newest ``keep`` executions."""
    pruned = archived_executions(workspace.state_dir)[keep:]
    for execution_id in pruned:
        remove_execution_files(workspace.state_dir, execution_id)
    displaced = workspace.state_dir / "displaced"
    if displaced.is_dir() and not displaced.is_symlink():
        folders = sorted(displaced.iterdir(), key=lambda p: p.lstat().st_mtime_ns, reverse=True)
        for folder in folders[keep:]:
            statefs.remove_tree(folder)
    return pruned


def recover(
    workspace: Workspace,
    *,
    actor: str,
    timeout: float,
    clock: Clock = system_clock,
    on_wait: Callable[[str], None] | None = None,
    guard: Guard | None = None,
) -> list[RecoveryOutcome]:
    """``agentos recover``: take the lock and run recovery under the current policy's
    path rules (``guard``)."""
    from agentos.executor.lock import workspace_lock
    from agentos.workspace import ensure_state_dir

    ensure_state_dir(workspace)
    holder = {"operation": "recover"}
    with workspace_lock(workspace, timeout=timeout, holder=holder, on_wait=on_wait):
        return recover_locked(workspace, Recorder(workspace, actor, clock), guard)
