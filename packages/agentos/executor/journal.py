"""The journal: what an execution is about to do, made durable before it does it.

The SQLite rollback-journal pattern (SPEC §8.4): before the first workspace write, every
pre-image is copied to ``.agentos/backups/<execution_id>/<sha256>`` and fsynced, and the
journal ``.agentos/journal/<execution_id>.json`` records each path's state before and after
and the directories that do not exist yet. A journal in state ``prepared`` is *hot*: its
execution may have written some of its changes and none of them count until the journal says
``committed`` — which is the commit point. Recovery rolls a hot journal back.

The journal of a committed execution stays (with its backups) so that ``agentos rollback``
can undo it, until ``executor.backups.keep`` newer executions push it out.

Every journal is sealed with the workspace key (``statekey``): recovery and rollback act only
on a journal agentos wrote in this workspace, and the backups it names are checked against
the hashes it records — so neither a hand-written journal nor an edited backup can make
agentos write anything.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError

from agentos import statefs
from agentos.digest import canonical_json, sha256_hex
from agentos.errors import AgentosError, IntegrityError, StateIntegrityError
from agentos.faults import fault_point
from agentos.model import Frozen
from agentos.statefs import ensure_dir, fsync_dir, write_atomic

JOURNAL_FORMAT: Literal["agentos.journal/1"] = "agentos.journal/1"
JournalState = Literal["prepared", "committed", "rolled_back"]
# What a hot journal's execution was doing: writing its changes, or running health checks
# (whose own writes to the planned paths are then part of the transaction, to be undone).
JournalPhase = Literal["writing", "checking"]
ExecutionKind = Literal["apply", "rollback", "agent"]
# An active journal and an archived one are sealed for different purposes, so neither can be
# copied over the other: recovery acts only on active journals, rollback only on archived ones.
SEAL_PURPOSE = "journal"
ARCHIVED_PURPOSE = "journal-archived"
# A write an agent's own tool is about to make (``executor.agentwrites``): sealed apart from
# both, so it can never pass for a hot journal (recovery) or a committed one (rollback).
PENDING_PURPOSE = "journal-agent-pending"


class Image(Frozen):
    """A regular file's content hash and exact permission bits."""

    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    mode: Annotated[int, Field(ge=0, le=0o7777)]


class Entry(Frozen):
    """One path: its state before the execution and the state the execution gives it."""

    path: str
    before: Image | None
    after: Image | None


class ChangeRef(Frozen):
    """One change of the plan, as ``agentos rollback`` needs to invert it."""

    op: Literal["create", "modify", "delete", "rename"]
    path: str
    from_path: str | None = Field(default=None, alias="from")


class GuardSpec(Frozen):
    """The policy's path rules when the execution started (recovery writes under them)."""

    allowed: list[str]
    forbidden: list[str]


class Journal(Frozen):
    """A whole journal file."""

    format: Literal["agentos.journal/1"]
    execution_id: str
    plan_id: str
    checksum: str
    kind: ExecutionKind
    parent: str | None = None
    attempt: int = 1
    state: JournalState
    tag: str
    durable: bool
    guard: GuardSpec
    changes: list[ChangeRef]
    entries: list[Entry]
    created_dirs: list[str]
    # Permission bits of directories a deletion may empty (and remove), to restore them.
    dir_modes: dict[str, int] = Field(default_factory=dict)
    started_at: str
    committed_at: str | None = None
    phase: JournalPhase = "writing"
    # The workspace key's seal over the journal without this field (``sealed``).
    seal: str | None = None

    def with_state(self, state: JournalState, *, committed_at: str | None = None) -> Journal:
        """A copy in ``state``."""
        update: dict[str, object] = {"state": state}
        if committed_at is not None:
            update["committed_at"] = committed_at
        return self.model_copy(update=update)

    def payload(self) -> bytes:
        """The bytes the seal covers: the canonical journal without ``seal``."""
        return canonical_json(self.model_dump(mode="json", by_alias=True, exclude={"seal"}))


def journal_dir(state_dir: Path) -> Path:
    """``.agentos/journal``: one file per execution."""
    return state_dir / "journal"


def backup_dir(state_dir: Path, execution_id: str) -> Path:
    """``.agentos/backups/<execution_id>``: that execution's pre-images, by hash."""
    return state_dir / "backups" / execution_id


def journal_path(state_dir: Path, execution_id: str) -> Path:
    """Where an execution's journal lives."""
    return journal_dir(state_dir) / f"{execution_id}.json"


def _sealed_bytes(state_dir: Path, journal: Journal, purpose: str) -> bytes:
    from agentos.statekey import state_key

    sealed = journal.model_copy(
        update={"seal": state_key(state_dir).seal(purpose, journal.payload())}
    )
    return sealed.model_dump_json(by_alias=True, indent=1).encode("utf-8") + b"\n"


def write_journal(state_dir: Path, journal: Journal) -> None:
    """Seal and replace the execution's journal atomically and durably (a journal update)."""
    data = _sealed_bytes(state_dir, journal, SEAL_PURPOSE)
    fault_point("journal.write.before")
    write_atomic(
        journal_path(state_dir, journal.execution_id), data, mode=0o600, durable=journal.durable
    )
    fault_point("journal.write.after")


def read_journal(state_dir: Path, path: Path) -> Journal:
    """A journal file of ``state_dir``, checked against its seal and its name.

    ``IntegrityError`` when it is not a journal (it is written atomically, so a damaged one
    was altered by something other than agentos); ``StateIntegrityError`` when it is not
    sealed by this workspace's key for where it lies (forged, edited, or an archived journal
    copied back among the active ones), or names another execution than its file: nothing
    may act on it.
    """
    from agentos.statekey import state_key

    purpose = _PURPOSES.get(path.parent.name, SEAL_PURPOSE)
    try:
        journal = Journal.model_validate_json(statefs.read_bytes(path))
    except (ValidationError, ValueError) as exc:
        raise IntegrityError(
            f"{path}: the journal is damaged ({str(exc).splitlines()[0]}); agentos cannot tell "
            "what the interrupted execution wrote — restore the workspace from version control "
            "and remove this file",
            details={"journal": str(path)},
        ) from None
    if journal.execution_id != path.stem:
        raise StateIntegrityError(
            f"{path}: the journal is that of execution {journal.execution_id}, not "
            f"{path.stem}: it was moved or copied outside agentos, so nothing it says is acted "
            "on (nothing was written) — put it back or remove it",
            details={"journal": str(path)},
        )
    if not state_key(state_dir).verify(purpose, journal.payload(), journal.seal):
        raise StateIntegrityError(
            f"{path}: the journal is not sealed by this workspace's key: it was forged or "
            "edited outside agentos, so nothing it says is acted on (nothing was written) — "
            "check the workspace against version control, then remove this file",
            details={"journal": str(path)},
        )
    return journal


ARCHIVE_NAME = "committed"
AGENT_NAME = "agent"
_PURPOSES = {ARCHIVE_NAME: ARCHIVED_PURPOSE, AGENT_NAME: PENDING_PURPOSE}


def pending_dir(state_dir: Path) -> Path:
    """``.agentos/journal/agent``: journals of agent writes allowed but not yet seen done."""
    return journal_dir(state_dir) / AGENT_NAME


def pending_path(state_dir: Path, execution_id: str) -> Path:
    """Where a pending agent write's journal lives."""
    return pending_dir(state_dir) / f"{execution_id}.json"


def write_pending(state_dir: Path, journal: Journal) -> None:
    """Seal and write the journal of an agent write that agentos allowed (not a hot journal:
    recovery never reads this folder)."""
    target = pending_path(state_dir, journal.execution_id)
    ensure_dir(target.parent)
    write_atomic(
        target,
        _sealed_bytes(state_dir, journal, PENDING_PURPOSE),
        mode=0o600,
        durable=journal.durable,
    )


def archived_path(state_dir: Path, execution_id: str) -> Path:
    """Where a finished, committed execution's journal is kept (for ``agentos rollback``)."""
    return journal_dir(state_dir) / ARCHIVE_NAME / f"{execution_id}.json"


def load_journals(state_dir: Path) -> list[Journal]:
    """Every active journal (hot, or committed but not yet archived), oldest first."""
    directory = journal_dir(state_dir)
    if not directory.is_dir():
        return []
    journals = []
    for path in directory.glob("*.json"):
        try:
            journals.append(read_journal(state_dir, path))
        except FileNotFoundError:
            continue  # archived or removed since the listing (read without the lock)
    return sorted(journals, key=lambda j: (j.started_at, j.execution_id))


def archive_journal(state_dir: Path, journal: Journal) -> None:
    """Move a committed journal out of the way of recovery, which then never reads it again.

    It is sealed anew as an archived journal (written whole and durable first), and only then
    is the active one removed: a crash between leaves both, and recovery archives it again.
    """
    target = archived_path(state_dir, journal.execution_id)
    ensure_dir(target.parent)
    fault_point("journal.archive.before")
    write_atomic(
        target,
        _sealed_bytes(state_dir, journal, ARCHIVED_PURPOSE),
        mode=0o600,
        durable=journal.durable,
    )
    statefs.unlink(journal_path(state_dir, journal.execution_id), missing_ok=True)
    if journal.durable:
        fsync_dir(journal_dir(state_dir))
    fault_point("journal.archive.after")


def archived_executions(state_dir: Path) -> list[str]:
    """Execution ids of archived journals, newest commit first."""
    folder = journal_dir(state_dir) / "committed"
    if not folder.is_dir():
        return []
    found = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
    return [p.stem for p in found]


def write_backups(
    state_dir: Path, execution_id: str, contents: dict[str, bytes], *, durable: bool
) -> None:
    """Store each pre-image under its hash and make them durable before the journal names them.

    Private files (the pre-image may be a 0600 file). A backup is named by its hash and checked
    against it, so one left whole by an earlier attempt is kept and a torn one (a crash before
    its journal existed) is rewritten.
    """

    def whole(path: Path, digest: str) -> bool:
        return sha256_hex(statefs.read_bytes(path)) == digest

    statefs.write_files(
        backup_dir(state_dir, execution_id), contents, durable=durable, keep=whole, faults="backup"
    )


def read_backup(state_dir: Path, execution_id: str, digest: str) -> bytes:
    """A stored pre-image, checked against its hash."""
    path = backup_dir(state_dir, execution_id) / digest
    try:
        data = statefs.read_bytes(path)
    except FileNotFoundError:
        raise StateIntegrityError(
            f"{path}: the backup of a pre-image is missing; it was removed outside agentos, "
            "so that file cannot be restored (nothing was written)",
            details={"backup": str(path)},
        ) from None
    if sha256_hex(data) != digest:
        raise StateIntegrityError(
            f"{path}: the backup does not hash to its name; it was altered (nothing was written)",
            details={"backup": str(path)},
        )
    return data


def remove_execution_files(state_dir: Path, execution_id: str) -> None:
    """Delete an execution's journals and backups (after a rollback, or pruning)."""
    for path in (journal_path(state_dir, execution_id), archived_path(state_dir, execution_id)):
        statefs.unlink(path, missing_ok=True)
    statefs.remove_tree(backup_dir(state_dir, execution_id))


def new_tag() -> str:
    """A short random tag that names this attempt's temp files."""
    return os.urandom(4).hex()


def recovery_pending(state_dir: Path) -> bool:
    """True when an active journal (hot, or committed but not finished) exists."""
    try:
        return any(journal_dir(state_dir).glob("*.json"))
    except OSError:
        return True


def journal_on_disk(state_dir: Path, execution_id: str) -> Journal | None:
    """The execution's active journal as the disk holds it (None when there is none)."""
    try:
        return read_journal(state_dir, journal_path(state_dir, execution_id))
    except (OSError, AgentosError):
        return None
