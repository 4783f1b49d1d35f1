"""Rolling a journal back: the one code path for a failed apply, an abort and recovery.

It is idempotent and survives a crash during itself (SPEC §8.8): every step looks at the disk
first and only does what is still needed, and the journal is marked ``rolled_back`` only
after the result was verified. A crash anywhere in between leaves the journal hot, and the
next run starts over.

It works in two phases, so that a rollback that must stop has changed nothing:

1. **Decide, writing nothing.** Every path of the journal is checked against the rules of the
   *current* policy and of the journal, read, and classified: already as before, to restore
   from its backup, to delete, or holding bytes nobody in this transaction wrote. Every
   backup needed is read and checked against the hash the (sealed) journal records. A path
   the rules refuse, a damaged backup, or somebody else's bytes stop the rollback here.
2. **Restore.** Temp files of the attempt are removed, every path gets its pre-image back
   through the same temp + fsync + rename protocol, files the execution created are deleted,
   the directories it created are removed, everything is fsynced and verified.

Whose bytes are they? While a journal's execution runs its health checks (journal phase
``checking``) the checks may rewrite planned files — a formatter, a code generator: those
writes belong to the transaction, so the rollback undoes them too, after keeping a copy of
what it replaces in ``.agentos/displaced/<execution_id>/`` (nothing is ever lost). Before
that phase, the only writer of those paths is agentos itself, so bytes that are neither the
pre-image nor the post-image were put there by someone else after a crash: a conflict for a
person to resolve (exit 5), never overwritten.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from agentos.digest import sha256_hex
from agentos.errors import (
    AgentosError,
    DeniedError,
    RecoveryFailedError,
    RollbackConflictError,
    WriteRefusedError,
)
from agentos.executor.fsops import FileState, Guard, WorkspaceWriter
from agentos.executor.journal import Entry, Journal, read_backup, write_journal
from agentos.faults import fault_point
from agentos.statefs import ensure_dir, write_atomic

PHASES = ("w", "r")
DISPLACED_DIR = "displaced"


@dataclass
class RestoreReport:
    """What a rollback did: files restored or removed, and anything it could not finish."""

    restored: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    # Paths whose bytes (written while the health checks ran) were kept aside, and where.
    displaced: dict[str, str] = field(default_factory=dict)
    temps_removed: int = 0
    dirs_removed: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    durable: bool = True

    def merged(self, later: RestoreReport) -> RestoreReport:
        """This report followed by ``later`` (a second pass over the same journal)."""
        return RestoreReport(
            restored=sorted({*self.restored, *later.restored}),
            removed=sorted({*self.removed, *later.removed}),
            displaced={**self.displaced, **later.displaced},
            temps_removed=self.temps_removed + later.temps_removed,
            dirs_removed=sorted({*self.dirs_removed, *later.dirs_removed}),
            warnings=list(dict.fromkeys([*self.warnings, *later.warnings])),
            durable=later.durable,
        )


@dataclass(frozen=True)
class _Step:
    """What phase 2 does at one path."""

    path: str
    action: Literal["restore", "delete"]
    # Bytes the transaction did not plan that are kept aside before the path is changed.
    displace: FileState | None = None
    data: bytes = b""
    mode: int = 0


def writer_for(root: Path, journal: Journal, guard: Guard | None = None) -> WorkspaceWriter:
    """A writer under the journal's rules and, when given, the current policy's as well."""
    recorded = Guard(tuple(journal.guard.allowed), tuple(journal.guard.forbidden))
    if guard is None:
        return WorkspaceWriter(root, recorded, tag=journal.tag, durable=journal.durable)
    return WorkspaceWriter(root, guard, tag=journal.tag, durable=journal.durable, also=recorded)


def roll_back(
    root: Path, state_dir: Path, journal: Journal, *, guard: Guard | None = None, mark: bool = True
) -> RestoreReport:
    """Put every path of ``journal`` back as it was (and, with ``mark``, record that the
    journal is rolled back; without, it stays hot for a second pass).

    ``guard`` holds the current policy's path rules (the writer enforces them together with
    the journal's). Refusals: ``RollbackConflictError`` (exit 5) when a path holds somebody
    else's bytes, ``DeniedError`` (exit 3) when the rules forbid a path, ``IntegrityError``
    (exit 6) for a damaged backup — in each case nothing was written. ``RecoveryFailedError``
    (exit 8) only when the disk itself refuses the restoring writes.
    """
    writer = writer_for(root, journal, guard)
    blockers, steps = _decide(writer, state_dir, journal)
    try:
        return _restore(writer, state_dir, journal, steps, blockers=blockers, mark=mark)
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


def _decide(
    writer: WorkspaceWriter, state_dir: Path, journal: Journal
) -> tuple[list[str], list[_Step]]:
    """Phase 1: what to move aside and what to do at every path; raises, having written
    nothing, if it must stop."""
    own = journal.phase == "checking"
    steps: list[_Step] = []
    conflicts: list[str] = []
    refused: list[str] = []
    blockers: list[str] = []
    blocked: set[str] = set()  # the same, for a lookup per leading part of a path
    created_dirs = frozenset(journal.created_dirs)
    for entry in reversed(journal.entries):
        try:
            writer.check(entry.path)
        except WriteRefusedError as exc:
            refused.append(f"{entry.path} ({exc.details.get('reason', exc.message)})")
            continue
        if _under_any(entry.path, blocked):
            current = None
        else:
            try:
                current = writer.read(entry.path)
            except (WriteRefusedError, IsADirectoryError, NotADirectoryError) as exc:
                # While checking, a directory, link or FIFO a check put at a planned path (or
                # in place of a directory the change created) is the transaction's: moved
                # aside whole. Otherwise it is somebody else's.
                blocker = _blocker(writer, entry.path, created_dirs) if own else None
                if blocker is None:
                    reason = (
                        exc.details.get("reason") if isinstance(exc, WriteRefusedError) else None
                    )
                    conflicts.append(f"{entry.path} ({reason or 'it is no longer a regular file'})")
                    continue
                blockers.append(blocker)
                blocked.add(blocker)
                current = None
        step = _step(entry, current, own=own)
        if isinstance(step, _Step):
            steps.append(step)
        elif step == "conflict":
            conflicts.append(entry.path)
    if conflicts:
        shown = ", ".join(conflicts)
        raise RollbackConflictError(
            f"cannot roll back execution {journal.execution_id}: {shown} changed after it was "
            "interrupted (they hold bytes that neither agentos nor the pre-image put there); "
            "nothing was changed — move those files aside (or put back what they held) and run "
            "'agentos recover'",
            details={"execution_id": journal.execution_id, "paths": conflicts},
        )
    if refused:
        raise DeniedError(
            f"cannot roll back execution {journal.execution_id}: the current policy forbids "
            f"writing {', '.join(refused)}; nothing was changed — restore the policy's "
            "executor.allowed_paths / writegate.forbidden_paths, or run 'agentos recover "
            "--journal-rules' to restore under the rules the change was applied with",
            details={"execution_id": journal.execution_id, "paths": refused},
        )
    # Every backup is read (and checked against its hash) before the first write.
    entries = {e.path: e for e in journal.entries}
    return blockers, [
        step
        if step.action == "delete"
        else _with_backup(step, state_dir, journal, entries[step.path])
        for step in steps
    ]


def _under_any(path: str, directories: set[str]) -> bool:
    """``path`` is one of ``directories`` or lies under one (a lookup per leading part)."""
    if not directories:
        return False
    parts = path.split("/")
    return any("/".join(parts[:end]) in directories for end in range(1, len(parts) + 1))


def _blocker(writer: WorkspaceWriter, rel: str, created_dirs: frozenset[str]) -> str | None:
    """What stands where ``rel`` (or a directory the change created above it) should be:
    that entry, if it may be moved aside; None if it is a directory that existed before."""
    parts = rel.split("/")
    for end in range(1, len(parts)):
        prefix = "/".join(parts[:end])
        if writer.is_real_dir(prefix):
            continue
        return prefix if prefix in created_dirs else None
    return rel


def _with_backup(step: _Step, state_dir: Path, journal: Journal, entry: Entry) -> _Step:
    assert entry.before is not None  # noqa: S101 - only restores of existing files get here
    data = read_backup(state_dir, journal.execution_id, entry.before.sha256)
    return _Step(step.path, "restore", step.displace, data, entry.before.mode)


def _step(entry: Entry, current: FileState | None, *, own: bool) -> _Step | str | None:
    """One path's step: None (nothing to do), a ``_Step``, or ``"conflict"``."""
    after = entry.after.sha256 if entry.after is not None else None
    if entry.before is None:
        if current is None:
            return None
        if current.sha256 == after:
            return _Step(entry.path, "delete")
        return _Step(entry.path, "delete", displace=current) if own else "conflict"
    before = entry.before
    if current is not None and (current.sha256, current.mode) == (before.sha256, before.mode):
        return None
    if current is None or current.sha256 in (before.sha256, after):
        return _Step(entry.path, "restore")
    return _Step(entry.path, "restore", displace=current) if own else "conflict"


def displaced_path(state_dir: Path, execution_id: str, rel: str, what: str) -> Path:
    """Where something displaced from ``rel`` is kept: a flat name made of hashes (any path
    fits, two never collide), with a ``.json`` beside it that names the path."""
    name = f"{sha256_hex(rel.encode('utf-8', 'surrogatepass'))[:16]}-{what}"
    return state_dir / DISPLACED_DIR / execution_id / name


def _note(target: Path, rel: str, kind: str, *, durable: bool, data: bytes | None = None) -> None:
    """The sidecar that says where a displaced copy or entry came from."""
    note: dict[str, object] = {"path": rel, "kind": kind}
    if data is not None:
        note |= {"sha256": sha256_hex(data), "bytes": len(data)}
    body = json.dumps(note, ensure_ascii=False, sort_keys=True).encode("utf-8") + b"\n"
    write_atomic(target.with_name(target.name + ".json"), body, mode=0o600, durable=durable)


def _keep_aside(
    writer: WorkspaceWriter,
    *,
    state_dir: Path,
    journal: Journal,
    rel: str,
    state: FileState,
    report: RestoreReport,
) -> None:
    """Copy ``state`` (what ``rel`` holds now) durably under ``.agentos/displaced/``."""
    target = displaced_path(state_dir, journal.execution_id, rel, sha256_hex(state.data)[:12])
    write_atomic(target, state.data, mode=0o600, durable=writer.durable)
    _note(target, rel, "file", durable=writer.durable, data=state.data)
    report.displaced[rel] = str(target)


def _restore(
    writer: WorkspaceWriter,
    state_dir: Path,
    journal: Journal,
    steps: list[_Step],
    *,
    blockers: list[str],
    mark: bool,
) -> RestoreReport:
    """Phase 2: make the disk hold every pre-image again, verify, mark the journal."""
    report = RestoreReport()
    entries = journal.entries
    for blocker in blockers:
        target = displaced_path(state_dir, journal.execution_id, blocker, "entry")
        ensure_dir(target.parent)
        _note(target, blocker, "entry", durable=writer.durable)
        if writer.move_out(blocker, target):
            report.displaced[blocker] = str(target)
    for entry in entries:
        for phase in PHASES:
            report.temps_removed += writer.remove_temp(entry.path, phase)
    for step in steps:
        if step.displace is not None:
            _keep_aside(
                writer,
                state_dir=state_dir,
                journal=journal,
                rel=step.path,
                state=step.displace,
                report=report,
            )
    rewrite = [step for step in steps if step.action == "restore"]
    for step in steps:
        if step.action == "delete" and writer.unlink(step.path):
            report.removed.append(step.path)
    for step in rewrite:
        writer.write_temp(step.path, step.data, step.mode, phase="r")
    try:
        writer.fsync_temps([s.path for s in rewrite], phase="r")
    except OSError as exc:
        report.durable = False
        report.warnings.append(f"fsync failed while restoring ({exc.strerror or exc})")
    for step in rewrite:
        writer.replace(step.path, phase="r")
        report.restored.append(step.path)
    _remove_created_dirs(writer, state_dir, journal, report)
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
    for rel, kept in report.displaced.items():
        report.warnings.append(
            f"{rel} held bytes written while the health checks ran; they were undone with the "
            f"change and kept in {kept}"
        )
    if report.durable and mark:
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


def _remove_created_dirs(
    writer: WorkspaceWriter, state_dir: Path, journal: Journal, report: RestoreReport
) -> None:
    """Remove the directories the execution created, deepest first.

    Files the health checks left in them (caches, generated files) belong to the transaction
    too while it was checking: they are kept aside and removed. Otherwise (or where the rules
    forbid touching them) a non-empty directory is kept, with a warning.
    """
    own = journal.phase == "checking"
    for directory in sorted(journal.created_dirs, key=lambda d: d.count("/"), reverse=True):
        if writer.rmdir(directory):
            report.dirs_removed.append(directory)
            continue
        if (
            own
            and _empty_out(writer, state_dir, journal, directory, report)
            and (writer.rmdir(directory))
        ):
            report.dirs_removed.append(directory)
            continue
        report.warnings.append(f"{directory} is not empty (files not from agentos); kept")


def _empty_out(
    writer: WorkspaceWriter,
    state_dir: Path,
    journal: Journal,
    directory: str,
    report: RestoreReport,
) -> bool:
    """Keep aside and remove everything in ``directory``; False if something had to stay."""
    emptied = True
    for name, is_dir in writer.entries(directory):
        rel = f"{directory}/{name}"
        # Best effort: what cannot be kept aside and removed stays, and so does the directory.
        try:
            if is_dir:
                emptied = _empty_out(writer, state_dir, journal, rel, report) and emptied
                emptied = writer.rmdir(rel) and emptied
                continue
            state = writer.read(rel)
            if state is None:
                continue
            _keep_aside(
                writer, state_dir=state_dir, journal=journal, rel=rel, state=state, report=report
            )
            writer.unlink(rel)
        except (AgentosError, OSError):
            emptied = False
    return emptied


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
