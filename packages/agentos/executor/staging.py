"""From a plan to the disk: the journal of an attempt, its backups, and the writes.

``build_journal`` records each path's state before and after (and the directories to make and
the modes of those a deletion may empty); ``prepare`` makes the backups and then the journal
durable; ``write_changes`` writes temp files, fsyncs them together, renames them into place,
unlinks, removes the directories a deletion empties, and fsyncs every touched directory.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from agentos.executor.abort import AbortWatch
from agentos.executor.fsops import FileState, Guard, WorkspaceWriter
from agentos.executor.journal import (
    JOURNAL_FORMAT,
    Entry,
    ExecutionKind,
    GuardSpec,
    Image,
    Journal,
    write_backups,
    write_journal,
)
from agentos.executor.modes import current_umask
from agentos.executor.modes import permission_bits as bits
from agentos.executor.options import change_refs
from agentos.model import MODE_EXECUTABLE, ChangePlan


def build_journal(
    plan: ChangePlan,
    writer: WorkspaceWriter,
    *,
    current: dict[str, FileState | None],
    guard: Guard,
    execution_id: str,
    kind: ExecutionKind,
    parent: str | None,
    attempt: int,
    exact_modes: Mapping[str, int],
    started_at: str,
) -> Journal:
    """The journal of this attempt: each path before and after, and the directories to make."""
    umask = current_umask()
    entries: list[Entry] = []
    # An ordered set: a list's membership test made N files in N new directories quadratic.
    created_dirs: dict[str, None] = {}

    def image(state: FileState | None) -> Image | None:
        return None if state is None else Image(sha256=state.sha256, mode=state.mode)

    def target(path: str, change_mode: str, sha: str, existing: int | None) -> Image:
        for directory in writer.missing_dirs(path):
            created_dirs.setdefault(directory)
        exact = exact_modes.get(path)
        if exact is not None and bool(exact & 0o100) == (change_mode == MODE_EXECUTABLE):
            return Image(sha256=sha, mode=exact)
        return Image(sha256=sha, mode=bits(change_mode == MODE_EXECUTABLE, existing, umask))

    for change in plan.changeset.changes:
        if change.op == "delete":
            before = image(current[change.path])
            entries.append(Entry(path=change.path, before=before, after=None))
        elif change.op == "rename":
            old = current[change.from_path]
            entries.append(Entry(path=change.from_path, before=image(old), after=None))
            after = target(change.path, change.mode, change.sha256, old.mode if old else None)
            entries.append(Entry(path=change.path, before=None, after=after))
        else:
            state = current[change.path]
            existing = state.mode if state is not None else None
            after = target(change.path, change.mode, change.sha256, existing)
            entries.append(Entry(path=change.path, before=image(state), after=after))
    dir_modes: dict[str, int] = {}
    for change in plan.changeset.changes:
        if change.op not in ("delete", "rename"):
            continue
        gone = change.from_path if change.op == "rename" else change.path
        parts = gone.split("/")
        for end in range(1, len(parts)):
            directory = "/".join(parts[:end])
            mode = writer.dir_mode(directory)
            if mode is not None:
                dir_modes.setdefault(directory, mode)
    return Journal(
        format=JOURNAL_FORMAT,
        dir_modes=dir_modes,
        execution_id=execution_id,
        plan_id=plan.plan_id,
        checksum=plan.changeset.checksum,
        kind=kind,
        parent=parent,
        attempt=attempt,
        state="prepared",
        tag=writer.tag,
        durable=writer.durable,
        guard=GuardSpec(allowed=list(guard.allowed), forbidden=list(guard.forbidden)),
        changes=list(change_refs(plan)),
        entries=entries,
        created_dirs=list(created_dirs),
        started_at=started_at,
    )


def prepare(state_dir: Path, journal: Journal, current: dict[str, FileState | None]) -> None:
    """Backups first, then the journal that names them: only then may the workspace change."""
    backups = {s.sha256: s.data for s in current.values() if s is not None}
    write_backups(state_dir, journal.execution_id, backups, durable=journal.durable)
    write_journal(state_dir, journal)


def write_changes(
    plan: ChangePlan,
    journal: Journal,
    writer: WorkspaceWriter,
    abort: AbortWatch,
    progress: Callable[[int, int], None] | None,
) -> None:
    """Temp files, their fsyncs (together), renames, deletions, directory fsyncs."""
    modes = {e.path: e.after.mode for e in journal.entries if e.after is not None}
    written = [c.path for c in plan.changeset.changes if c.op != "delete"]
    removed = [
        c.from_path if c.op == "rename" else c.path
        for c in plan.changeset.changes
        if c.op in ("delete", "rename")
    ]
    total = 2 * len(written) + len(removed)
    done = 0

    def step() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    contents = {c.path: c.content.to_bytes() for c in plan.changeset.changes if c.op != "delete"}
    for path in written:
        abort.check()
        writer.write_temp(path, contents[path], modes[path])
        step()
    writer.fsync_temps(written)
    for path in written:
        abort.check()
        writer.replace(path)
        step()
    emptied: list[str] = []
    for path in removed:
        abort.check()
        writer.unlink(path)
        emptied.extend(_remove_empty_parents(writer, path))
        step()
    writer.fsync_dirs([e.path for e in journal.entries] + journal.created_dirs + emptied)


def _remove_empty_parents(writer: WorkspaceWriter, path: str) -> list[str]:
    """Like git, remove the directories a deletion leaves empty (rollback recreates them)."""
    removed = []
    parent = path.rpartition("/")[0]
    while parent and writer.rmdir(parent):
        removed.append(parent)
        parent = parent.rpartition("/")[0]
    return removed
