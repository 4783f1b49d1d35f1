"""Recovery and the bookkeeping after the commit point (SPEC §8.2, §8.7, §8.8).

``recover_locked`` runs under the workspace lock before every apply and rollback, and as
``agentos recover``: a hot journal is rolled back (the shared, idempotent path in
``restore``); a committed journal whose records a crash cut short is finished; a rolled-back
one is cleared away.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from agentos import statefs
from agentos.clock import Clock, system_clock
from agentos.errors import ConflictError, DeniedError, IntegrityError, StateIntegrityError
from agentos.executor.fsops import Guard
from agentos.executor.idempotency import read_record
from agentos.executor.journal import (
    Journal,
    archive_journal,
    archived_path,
    journal_path,
    load_journals,
    read_journal,
    remove_execution_files,
)
from agentos.executor.records import Recorder, commit_records, record_failure
from agentos.executor.restore import roll_back
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


@dataclass(frozen=True)
class RecoveryOutcome:
    """What recovery did to one journal."""

    execution_id: str
    plan_id: str
    action: str  # rolled_back | finished_commit
    restored: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


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
                tuple(report.restored),
                tuple(report.removed),
                tuple(report.warnings),
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
    commit_records(
        workspace,
        recorder,
        journal,
        attempt=journal.attempt,
        files=len(journal.changes),
        recovered=True,
    )


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
    with workspace_lock(workspace, timeout=timeout, holder=holder, on_wait=on_wait, clock=clock):
        return recover_locked(workspace, Recorder(workspace, actor, clock), guard)
