"""The inverse of a committed execution, as a plan (``agentos rollback``, SPEC §8).

Restore pre-images, delete created files, undo renames — with every ``old_sha256`` pinned to
the execution's post-image, so the rollback is refused (exit 5) if any of those files changed
since. The plan then goes through the same WriteGate and executor as any other, as an
execution of kind ``rollback`` whose parent is the execution it undoes.
"""

from __future__ import annotations

from datetime import UTC, datetime

from agentos.clock import parse_rfc3339, rfc3339
from agentos.errors import IntegrityError, UsageError
from agentos.executor.executions import read_execution
from agentos.executor.journal import Entry, Image, Journal, archived_path, read_backup, read_journal
from agentos.model import (
    PLAN_FORMAT,
    UNSEALED,
    Base,
    ChangePlan,
    ChangeSet,
    Content,
    CreateChange,
    DeleteChange,
    FileChange,
    FileMode,
    FileStat,
    ModifyChange,
    RenameChange,
    Risk,
    Stats,
    changes_checksum,
    mode_of,
    seal_plan,
)
from agentos.textlines import line_count
from agentos.workspace import Workspace


def load_committed(workspace: Workspace, execution_id: str) -> Journal:
    """The archived journal of a committed execution, or a ``UsageError`` that says why not."""
    path = archived_path(workspace.state_dir, execution_id)
    try:
        archived: bool | None = path.is_file()
    except OSError:  # a name no file can have (ENAMETOOLONG): no execution has that id
        archived = None
    if archived:
        return read_journal(workspace.state_dir, path)
    summary = None if archived is None else read_execution(workspace.state_dir, execution_id)
    if summary is not None and summary.status == "committed":
        raise UsageError(
            f"execution {execution_id} can no longer be rolled back: its backups were pruned "
            "(executor.backups.keep keeps the newest executions only); undo it with a new "
            "plan instead"
        )
    raise UsageError(
        f"no committed execution {execution_id!r} in this workspace; see 'agentos status' "
        "or 'agentos audit show --event apply.committed' for execution ids"
    )


def _image(image: Image | None, journal: Journal, path: str) -> Image:
    if image is None:
        raise IntegrityError(
            f"the journal of {journal.execution_id} is inconsistent at {path}; it cannot be "
            "inverted",
            details={"execution_id": journal.execution_id, "path": path},
        )
    return image


def _mode(image: Image) -> FileMode:
    return mode_of(image.mode)


def inverse_plan(workspace: Workspace, execution_id: str, *, author: str) -> ChangePlan:
    """The plan that undoes ``execution_id`` (risk is left LOW: the gate computes it)."""
    try:
        return _inverse_plan(workspace, execution_id, author=author)
    except FileNotFoundError:
        # Pruned by a concurrent apply between the check and the read.
        raise UsageError(
            f"execution {execution_id} can no longer be rolled back: its backups were pruned "
            "(executor.backups.keep)"
        ) from None


def _inverse_plan(workspace: Workspace, execution_id: str, *, author: str) -> ChangePlan:
    journal = load_committed(workspace, execution_id)
    entries = {e.path: e for e in journal.entries}
    changes: list[FileChange] = []
    stats: list[FileStat] = []

    def backup(entry: Entry) -> tuple[bytes, Image]:
        before = _image(entry.before, journal, entry.path)
        return read_backup(workspace.state_dir, journal.execution_id, before.sha256), before

    for ref in journal.changes:
        entry = entries[ref.path]
        after = None if ref.op == "delete" else _image(entry.after, journal, ref.path)
        if ref.op == "create" and after is not None:
            changes.append(DeleteChange(op="delete", path=ref.path, old_sha256=after.sha256))
            stats.append(FileStat(path=ref.path, added=0, removed=0))
            continue
        source = entries[ref.from_path] if ref.op == "rename" and ref.from_path else entry
        data, before = backup(source)
        content = Content.from_bytes(data)
        if ref.op == "delete":
            changes.append(
                CreateChange(
                    op="create",
                    path=ref.path,
                    mode=_mode(before),
                    content=content,
                    sha256=before.sha256,
                )
            )
        elif ref.op == "modify" and after is not None:
            changes.append(
                ModifyChange(
                    op="modify",
                    path=ref.path,
                    old_sha256=after.sha256,
                    mode=_mode(before),
                    content=content,
                    sha256=before.sha256,
                )
            )
        elif after is not None and ref.from_path is not None:
            changes.append(
                RenameChange(
                    op="rename",
                    from_path=ref.path,
                    path=ref.from_path,
                    old_sha256=after.sha256,
                    mode=_mode(before),
                    content=content,
                    sha256=before.sha256,
                )
            )
        stats.append(FileStat(path=changes[-1].path, added=line_count(data), removed=0))
    changes.sort(key=lambda change: change.path)
    stats.sort(key=lambda stat: stat.path)
    stamp = "".join(ch for ch in (journal.committed_at or "") if ch.isdigit())[:20]
    return seal_plan(
        ChangePlan(
            format=PLAN_FORMAT,
            plan_id=f"rollback-{execution_id.removeprefix('exec-')[:16]}-{stamp}",
            intent=f"roll back {execution_id} (plan {journal.plan_id})",
            author=author,
            # The parent's commit time, not now: the same execution always inverts to the same
            # sealed plan, so an approval of it (rollback.require_approval) stays valid.
            created_at=_stamp(journal.committed_at),
            base=Base(),
            risk=Risk(level="LOW"),
            stats=Stats(
                files=len(changes),
                added_lines=sum(s.added for s in stats),
                removed_lines=sum(s.removed for s in stats),
                bytes=sum(len(c.content.to_bytes()) for c in changes if c.op != "delete"),
                per_file=tuple(stats),
            ),
            changeset=ChangeSet(changes=tuple(changes), checksum=changes_checksum(tuple(changes))),
            plan_digest=UNSEALED,
        )
    )


def _stamp(committed_at: str | None) -> str:
    """``committed_at`` as plans write times (the epoch when a journal lacks it)."""
    try:
        when = parse_rfc3339(committed_at or "")
    except ValueError:
        when = datetime.fromtimestamp(0, UTC)
    return rfc3339(when)


def inverse_modes(workspace: Workspace, execution_id: str) -> dict[str, int]:
    """The exact permission bits the inverse plan's paths had before ``execution_id``.

    A plan carries only the executable bit; the journal kept the whole mode, so a rollback
    gives back 0o600 or 0o640 files as they were.
    """
    journal = load_committed(workspace, execution_id)
    entries = {e.path: e for e in journal.entries}
    modes = {}
    for ref in journal.changes:
        source = ref.from_path if ref.op == "rename" and ref.from_path else ref.path
        before = entries[source].before
        if before is not None:
            modes[source] = before.mode
    return modes
