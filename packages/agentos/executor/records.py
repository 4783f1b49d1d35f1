"""The paperwork of an execution: its audit events, and the records after the commit point.

``Recorder`` appends an execution's audit events. ``finalize_commit`` writes what a commit
leaves behind (execution record, idempotency record, archived journal) and prunes old
backups; ``record_failure`` counts a failed attempt. Recovery finishes the same records when
a crash cut them short, through ``commit_records``.
"""

from __future__ import annotations

from typing import Any

from agentos import statefs
from agentos.clock import Clock, rfc3339
from agentos.executor.executions import (
    ExecutionRecord,
    execution_id_for,
    read_execution,
    write_execution,
)
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
    read_journal,
    remove_execution_files,
)
from agentos.executor.shared import tell_shared
from agentos.model import ChangePlan
from agentos.workspace import Workspace


class Recorder:
    """Appends this execution's audit events (the trail is opened once, lazily)."""

    def __init__(self, workspace: Workspace, actor: str, clock: Clock) -> None:
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
        recorder.event(
            "apply.replayed",
            execution_id_for(plan.plan_id, plan.changeset.checksum),
            plan.plan_id,
            {"checksum": plan.changeset.checksum, "reason": "the workspace holds every post-image"},
        )
        return
    commit_records(
        workspace,
        recorder,
        journal,
        attempt=attempt,
        files=len(plan.changeset.changes),
        recovered=False,
    )
    archive_journal(workspace.state_dir, journal)
    prune_backups(workspace, keep)


def commit_records(
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
    record = ExecutionRecord(
        execution_id=journal.execution_id,
        plan_id=journal.plan_id,
        checksum=journal.checksum,
        kind=journal.kind,
        parent=journal.parent,
        status="committed",
        attempt=attempt,
        started_at=journal.started_at,
        committed_at=committed_at,
        files=tuple(journal.changes),
    )
    write_execution(state_dir, record, durable=journal.durable)
    tell_shared(state_dir, lambda shared: shared.put_execution(record))
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
    done = record_of(journal, "committed", attempt, recorder.now(), committed_at=committed_at)
    write_record(state_dir, done, durable=journal.durable)
    share_record(workspace, done)


def share_record(workspace: Workspace, record: IdempotencyRecord) -> None:
    """Tell a shared store (SPEC §14) of a commit, or of its rollback. The commit point is
    passed: nothing may fail now, so a store that cannot take it is left behind
    (docs/scale.md)."""
    tell_shared(workspace.state_dir, lambda shared: shared.put_idempotency(record))


def mark_reverted(workspace: Workspace, execution_id: str, *, durable: bool) -> None:
    """Note that ``execution_id`` was rolled back, so applying its plan again is a new attempt."""
    archived = archived_path(workspace.state_dir, execution_id)
    if archived.is_file():
        plan_id = read_journal(workspace.state_dir, archived).plan_id
    else:
        summary = read_execution(workspace.state_dir, execution_id)
        if summary is None:
            return
        plan_id = summary.plan_id
    record = read_record(workspace.state_dir, plan_id)
    if record is None or record.execution_id != execution_id:
        return
    reverted = IdempotencyRecord(**{**record.to_json(), "status": "reverted"})
    write_record(workspace.state_dir, reverted, durable=durable)
    share_record(workspace, reverted)


def record_failure(
    workspace: Workspace, recorder: Recorder, journal: Journal, *, attempt: int
) -> None:
    """A failed attempt: allowed to run again, and counted (unless a commit already stands)."""
    record = read_record(workspace.state_dir, journal.plan_id)
    if record is not None and record.status == "committed" and record.checksum != journal.checksum:
        return
    failed = record_of(journal, "rolled_back", attempt, recorder.now())
    write_record(workspace.state_dir, failed, durable=journal.durable)


def record_of(
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
