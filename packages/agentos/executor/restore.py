"""Rolling a journal back: the one code path for a failed apply, an abort and recovery.

It is idempotent and survives a crash during itself (SPEC §8.8): every step looks at the disk
first and only does what is still needed — temp files left by the crashed writer are removed,
each path gets its pre-image back unless it already holds it, directories the execution made
are removed if empty — and the journal is marked ``rolled_back`` only after the result was
verified. A crash anywhere in between leaves the journal hot, and the next run starts over.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from agentos.errors import AgentosError, RecoveryFailedError
from agentos.executor.fsops import Guard, WorkspaceWriter
from agentos.executor.journal import Journal, read_backup, write_journal
from agentos.faults import fault_point

PHASES = ("w", "r")


@dataclass
class RestoreReport:
    """What a rollback did: files restored or removed, and anything it could not finish."""

    restored: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    temps_removed: int = 0
    dirs_removed: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    durable: bool = True


def writer_for(root: Path, journal: Journal) -> WorkspaceWriter:
    """A writer under the rules the execution started with."""
    guard = Guard(tuple(journal.guard.allowed), tuple(journal.guard.forbidden))
    return WorkspaceWriter(root, guard, tag=journal.tag, durable=journal.durable)


def roll_back(root: Path, state_dir: Path, journal: Journal) -> RestoreReport:
    """Put every path of ``journal`` back as it was; ``RecoveryFailedError`` (exit 8) if not."""
    try:
        return _roll_back(root, state_dir, journal)
    except RecoveryFailedError:
        raise
    except (AgentosError, OSError) as exc:
        message = exc.message if isinstance(exc, AgentosError) else str(exc)
        raise RecoveryFailedError(
            f"rolling back execution {journal.execution_id} failed: {message}; the journal "
            f"{state_dir / 'journal' / (journal.execution_id + '.json')} is kept, so "
            "'agentos recover' can try again — check the disk and the paths it names",
            details={"execution_id": journal.execution_id, "reason": message},
        ) from exc


def _roll_back(root: Path, state_dir: Path, journal: Journal) -> RestoreReport:
    writer = writer_for(root, journal)
    report = RestoreReport()
    entries = journal.entries
    for entry in entries:
        for phase in PHASES:
            report.temps_removed += writer.remove_temp(entry.path, phase)
    rewrite: list[tuple[str, bytes, int]] = []
    conflicts: list[str] = []
    for entry in reversed(entries):
        current = writer.read(entry.path)
        if entry.before is None:
            if current is None:
                continue
            if entry.after is not None and current.sha256 == entry.after.sha256:
                writer.unlink(entry.path)
                report.removed.append(entry.path)
            else:
                conflicts.append(entry.path)
            continue
        if current is not None and (current.sha256, current.mode) == (
            entry.before.sha256,
            entry.before.mode,
        ):
            continue
        known = {entry.before.sha256} | ({entry.after.sha256} if entry.after else set())
        if current is not None and current.sha256 not in known:
            # Neither the pre-image nor what agentos wrote: someone else's edit. Never
            # overwrite it — a person decides.
            conflicts.append(entry.path)
            continue
        data = read_backup(state_dir, journal.execution_id, entry.before.sha256)
        rewrite.append((entry.path, data, entry.before.mode))
    if conflicts:
        raise RecoveryFailedError(
            f"cannot roll back execution {journal.execution_id}: "
            f"{', '.join(conflicts)} now hold(s) content that neither agentos nor the "
            "pre-image put there (nothing was changed); move those files aside and run "
            "'agentos recover'",
            details={"execution_id": journal.execution_id, "paths": conflicts},
        )
    for path, data, mode in rewrite:
        writer.write_temp(path, data, mode, phase="r")
    try:
        writer.fsync_temps([p for p, _, _ in rewrite], phase="r")
    except OSError as exc:
        report.durable = False
        report.warnings.append(f"fsync failed while restoring ({exc.strerror or exc})")
    for path, _, _ in rewrite:
        writer.replace(path, phase="r")
        report.restored.append(path)
    for directory in sorted(journal.created_dirs, key=lambda d: d.count("/"), reverse=True):
        if writer.rmdir(directory):
            report.dirs_removed.append(directory)
        else:
            report.warnings.append(f"{directory} is not empty (files not from agentos); kept")
    # Directories a deletion emptied (and removed) came back with default modes: restore them.
    for directory, mode in journal.dir_modes.items():
        writer.chmod_dir(directory, mode)
    try:
        # Every restored path, not only those written now: an earlier attempt at this
        # rollback may have put them back without making them durable.
        writer.fsync_files([e.path for e in entries if e.before is not None])
    except OSError as exc:
        report.durable = False
        report.warnings.append(f"fsync failed while restoring ({exc.strerror or exc})")
    try:
        writer.fsync_dirs([e.path for e in entries] + list(journal.created_dirs))
    except OSError as exc:
        report.durable = False
        report.warnings.append(f"fsync of a directory failed ({exc.strerror or exc})")
    _verify(writer, journal)
    if report.durable:
        fault_point("rollback.mark.before")
        try:
            write_journal(state_dir, journal.with_state("rolled_back"))
        except OSError as exc:
            # The files are back and verified; only the record of it failed to reach the
            # disk, so the journal stays hot and the next run redoes this (a no-op).
            report.durable = False
            report.warnings.append(f"could not mark the journal rolled back ({exc.strerror})")
    if not report.durable:
        report.warnings.append(
            "the restored files could not be made durable; the journal stays hot and the "
            "next agentos command finishes the rollback"
        )
    return report


def _verify(writer: WorkspaceWriter, journal: Journal) -> None:
    """Every path holds its pre-image (bytes and mode), or is absent if it had none."""
    wrong = []
    for entry in journal.entries:
        current = writer.read(entry.path)
        if entry.before is None:
            if current is not None:
                wrong.append(f"{entry.path} still exists")
        elif current is None:
            wrong.append(f"{entry.path} is missing")
        elif (current.sha256, current.mode) != (entry.before.sha256, entry.before.mode):
            wrong.append(f"{entry.path} does not hold its pre-image")
    if wrong:
        raise RecoveryFailedError(
            f"the rollback of execution {journal.execution_id} did not verify: "
            f"{'; '.join(wrong)}; the journal is kept — run 'agentos recover' after checking "
            "the disk",
            details={"execution_id": journal.execution_id, "problems": wrong},
        )
