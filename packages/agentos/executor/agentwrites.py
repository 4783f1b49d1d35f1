"""Writes an agent makes itself, after agentos allowed them: staged, then recorded (SPEC §13).

An agent's own tool writes the file, not the executor, so the transaction is split in two:

- ``stage_agent_write`` (the pre-write hook): checks that every pre-image the plan pinned is
  still on disk, backs the pre-images up, and keeps the plan's journal aside as *pending*
  (``.agentos/journal/agent/<execution_id>.json``, sealed for that purpose). A pending
  journal is not hot: recovery never acts on it, because the agent, not agentos, writes.
- ``finish_agent_write`` (the post-write hook, or the end of the turn): reads what the tool
  actually left at each planned path and records a committed execution of kind ``agent``,
  whose archived journal holds the pre-images and *the images actually written*. So
  ``agentos rollback`` undoes it byte for byte even when the tool wrote something other than
  what was planned (``diverged`` names those paths); a tool that wrote nothing leaves nothing
  recorded (its backups are dropped).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from agentos import statefs
from agentos.clock import parse_rfc3339
from agentos.digest import sha256_hex
from agentos.errors import ConflictError, WriteRefusedError
from agentos.executor.drift import check_drift
from agentos.executor.executions import ExecutionRecord, executions_dir, write_execution
from agentos.executor.fsops import FileState, Guard, WorkspaceWriter
from agentos.executor.journal import (
    ChangeRef,
    Entry,
    Image,
    Journal,
    archive_journal,
    archived_path,
    backup_dir,
    new_tag,
    pending_dir,
    pending_path,
    read_journal,
    write_backups,
    write_pending,
)
from agentos.executor.records import Recorder, prune_backups
from agentos.executor.shared import tell_shared
from agentos.executor.staging import build_journal
from agentos.model import ChangePlan
from agentos.workspace import Workspace

AGENT_KIND: Literal["agent"] = "agent"


# How long a pending write whose files are untouched is taken to be in flight: past that,
# the tool never ran (the user said no, another hook refused it) and it is dropped.
IN_FLIGHT_SECONDS = 60.0
# Nothing recorded: the tool wrote none of the files; or, settled without its post-write
# event, it left files that are not what was allowed (the sweep reports them instead).
Unrecorded = Literal["not_written", "unconfirmed"]


@dataclass(frozen=True)
class AgentRecord:
    """What ``finish_agent_write`` recorded (``not_written``, ``unconfirmed``: nothing)."""

    execution_id: str
    plan_id: str
    status: Literal["committed", "diverged", "not_written", "unconfirmed"]
    files: tuple[ChangeRef, ...]
    diverged: tuple[str, ...]
    # Each recorded path and the SHA-256 it held before the tool wrote (None: absent).
    before: tuple[tuple[str, str | None], ...] = ()


def agent_execution_id(key: str, attempt: int = 0) -> str:
    """The execution id of the agent write known by ``key`` (its tool-use id): ``attempt``
    counts the writes known by the same key (a call repeated without an id)."""
    suffix = f"\n{attempt}" if attempt else ""
    return "exec-" + sha256_hex(f"agent\n{key}{suffix}".encode())[:20]


def _known(state_dir: Path, execution_id: str) -> bool:
    """Whether ``execution_id`` names a pending, committed or recorded execution."""
    return (
        pending_path(state_dir, execution_id).exists()
        or archived_path(state_dir, execution_id).exists()
        or (executions_dir(state_dir) / f"{execution_id}.json").exists()
    )


def new_agent_execution_id(state_dir: Path, key: str) -> str:
    """An id for a new write known by ``key`` that no execution has had."""
    attempt = 0
    while _known(state_dir, agent_execution_id(key, attempt)):
        attempt += 1
    return agent_execution_id(key, attempt)


def pending_for(state_dir: Path, key: str) -> str | None:
    """The pending write known by ``key`` (the newest when several are), or None."""
    found = None
    attempt = 0
    while _known(state_dir, execution_id := agent_execution_id(key, attempt)):
        if pending_path(state_dir, execution_id).exists():
            found = execution_id
        attempt += 1
    return found


def stage_agent_write(
    workspace: Workspace,
    plan: ChangePlan,
    *,
    key: str,
    guard: Guard,
    durable: bool,
    started_at: str,
    recorder: Recorder,
) -> Journal:
    """Back up ``plan``'s pre-images and keep its journal pending; ``ConflictError`` (exit 5)
    when a pre-image changed since the plan was made, or another allowed write to one of its
    files has not been seen done yet (its post-image is what this plan would start from)."""
    state_dir = workspace.state_dir
    _no_write_in_flight(workspace, plan, recorder=recorder, now=parse_rfc3339(started_at))
    writer = WorkspaceWriter(workspace.root, guard, tag=new_tag(), durable=durable)
    drift = check_drift(plan, writer)
    if drift.drifted:
        raise ConflictError(
            f"stale: {'; '.join(drift.drifted)}; nothing was allowed — let the agent read the "
            "file again",
            details={"drifted": drift.drifted},
        )
    execution_id = new_agent_execution_id(state_dir, key)
    journal = build_journal(
        plan,
        writer,
        current=drift.current,
        guard=guard,
        execution_id=execution_id,
        kind=AGENT_KIND,
        parent=None,
        attempt=1,
        exact_modes={},
        started_at=started_at,
    )
    backups = {s.sha256: s.data for s in drift.current.values() if s is not None}
    write_backups(state_dir, execution_id, backups, durable=durable)
    write_pending(state_dir, journal)
    return journal


def _no_write_in_flight(
    workspace: Workspace, plan: ChangePlan, *, recorder: Recorder, now: datetime
) -> None:
    """``ConflictError`` when a pending write touches one of ``plan``'s paths; one whose
    files were never touched and that is older than ``IN_FLIGHT_SECONDS`` is dropped."""
    state_dir = workspace.state_dir
    paths = {c.path for c in plan.changeset.changes}
    paths |= {c.from_path for c in plan.changeset.changes if c.op == "rename"}
    folder = pending_dir(state_dir)
    for other in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        pending = read_journal(state_dir, other)
        overlap = sorted(paths & {e.path for e in pending.entries})
        if not overlap:
            continue
        age = (now - parse_rfc3339(pending.started_at)).total_seconds()
        if age > IN_FLIGHT_SECONDS and not _written(workspace, pending):
            recorder.event(
                "agent.discarded",
                pending.execution_id,
                pending.plan_id,
                {"reason": "the tool never wrote the files it was allowed to", "kind": AGENT_KIND},
            )
            _drop(state_dir, pending.execution_id)
            continue
        raise ConflictError(
            f"{', '.join(overlap)}: another write to it was allowed at {pending.started_at} "
            f"and has not been seen done yet ({pending.execution_id}); retry in a moment",
            details={"paths": overlap, "pending": pending.execution_id},
        )


def _written(workspace: Workspace, pending: Journal) -> bool:
    """Whether any of a pending write's files no longer holds its pre-image."""
    reader = WorkspaceWriter(workspace.root, Guard(("**",), ()), tag=new_tag(), durable=False)
    return any(not _same(_image(_read(reader, e.path)), e.before) for e in pending.entries)


def read_pending(state_dir: Path, execution_id: str) -> Journal | None:
    """The pending journal of ``execution_id`` (None when there is none)."""
    path = pending_path(state_dir, execution_id)
    if not path.is_file():
        return None
    return read_journal(state_dir, path)


def finish_agent_write(
    workspace: Workspace,
    execution_id: str,
    *,
    recorder: Recorder,
    keep: int,
    discard_unwritten: bool = True,
    confirmed: bool = True,
) -> AgentRecord | None:
    """Record what the tool wrote for the pending ``execution_id`` (None: nothing pending).

    When the tool wrote none of the planned files, the pending write is dropped
    (``not_written``) — or, without ``discard_unwritten``, left pending (None). Without
    ``confirmed`` (no post-write event said the tool ran: a turn's end settles it), files
    that are not what was allowed are not taken for the tool's: nothing is recorded
    (``unconfirmed``), and the sweep reports them as changed outside agentos.
    """
    state_dir = workspace.state_dir
    pending = read_pending(state_dir, execution_id)
    if pending is None:
        return None
    reader = WorkspaceWriter(workspace.root, Guard(("**",), ()), tag=new_tag(), durable=False)
    entries: list[Entry] = []
    diverged: list[str] = []
    for entry in pending.entries:
        now = _image(_read(reader, entry.path))
        if not _same(now, entry.after):
            diverged.append(entry.path)
        if not _same(now, entry.before):
            entries.append(Entry(path=entry.path, before=entry.before, after=now))
    if entries and diverged and not confirmed:
        recorder.event(
            "agent.unconfirmed",
            execution_id,
            pending.plan_id,
            {
                "reason": "no post-write event came, and the files are not what was allowed",
                "kind": AGENT_KIND,
                "paths": diverged,
            },
        )
        _drop(state_dir, execution_id)
        return AgentRecord(execution_id, pending.plan_id, "unconfirmed", (), tuple(diverged))
    if not entries:
        if not discard_unwritten:
            return None
        recorder.event(
            "agent.discarded",
            execution_id,
            pending.plan_id,
            {"reason": "the tool wrote none of the planned files", "kind": AGENT_KIND},
        )
        _drop(state_dir, execution_id)
        return AgentRecord(execution_id, pending.plan_id, "not_written", (), ())
    changes = _changes(pending, entries, diverged)
    committed_at = recorder.now()
    journal = pending.model_copy(
        update={
            "entries": entries,
            "changes": list(changes),
            "state": "committed",
            "committed_at": committed_at,
        }
    )
    archive_journal(state_dir, journal)
    statefs.unlink(pending_path(state_dir, execution_id), missing_ok=True)
    record = ExecutionRecord(
        execution_id=execution_id,
        plan_id=pending.plan_id,
        checksum=pending.checksum,
        kind=AGENT_KIND,
        parent=None,
        status="committed",
        attempt=1,
        started_at=pending.started_at,
        committed_at=committed_at,
        files=changes,
        diverged=tuple(diverged),
    )
    write_execution(state_dir, record, durable=pending.durable)
    tell_shared(state_dir, lambda shared: shared.put_execution(record))
    recorder.event(
        "apply.committed",
        execution_id,
        pending.plan_id,
        {
            "checksum": pending.checksum,
            "kind": AGENT_KIND,
            "parent": None,
            "attempt": 1,
            "files": len(changes),
            "recovered": False,
            "diverged": diverged,
        },
    )
    prune_backups(workspace, keep)
    status: Literal["committed", "diverged"] = "diverged" if diverged else "committed"
    before = tuple((e.path, e.before.sha256 if e.before else None) for e in entries)
    return AgentRecord(execution_id, pending.plan_id, status, changes, tuple(diverged), before)


def _drop(state_dir: Path, execution_id: str) -> None:
    statefs.unlink(pending_path(state_dir, execution_id), missing_ok=True)
    statefs.remove_tree(backup_dir(state_dir, execution_id))


def _read(reader: WorkspaceWriter, path: str) -> FileState | None:
    """The regular file at ``path``; anything else (a link, a directory) counts as absent:
    rollback then refuses to act on it, as it refuses any drifted file."""
    try:
        return reader.read(path)
    except (OSError, WriteRefusedError):
        return None


def _image(state: FileState | None) -> Image | None:
    return None if state is None else Image(sha256=state.sha256, mode=state.mode)


def _same(now: Image | None, expected: Image | None) -> bool:
    """The same bytes and executable bit (other mode bits follow the umask)."""
    if now is None or expected is None:
        return now is expected
    return now.sha256 == expected.sha256 and bool(now.mode & 0o100) == bool(expected.mode & 0o100)


def _changes(pending: Journal, entries: list[Entry], diverged: list[str]) -> tuple[ChangeRef, ...]:
    """The changes as they happened: the planned ones when the tool did what was planned,
    else one per path from what it holds before and after."""
    if not diverged and len(entries) == len(pending.entries):
        return tuple(pending.changes)
    refs = []
    for entry in entries:
        if entry.before is None:
            refs.append(ChangeRef(op="create", path=entry.path))
        elif entry.after is None:
            refs.append(ChangeRef(op="delete", path=entry.path))
        else:
            refs.append(ChangeRef(op="modify", path=entry.path))
    return tuple(refs)
