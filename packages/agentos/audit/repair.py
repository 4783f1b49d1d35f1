"""``agentos audit repair``: keep a broken trail aside and start a new chain that says why.

No command appends to a trail that does not verify at its end, nor to a missing one beside
recorded executions (``evidence``): that is the point of the chain, and a dead end without
this way out, which is explicit (the CLI asks first) and audited itself. Under the workspace
lock (taken by the pipeline) and the trail's lock:

1. The trail is verified again; one that verifies is left alone. So is a trail whose new
   chain an interrupted repair staged: that repair is finished (step 4) instead.
2. Every file of the trail's folder is kept in ``broken-<UTC time>/`` inside it: the trail
   and HEAD as hard links (their bytes stay in place too, for now), the rest — the snapshot
   of the folds, anchors, leftovers — moved. Earlier archives stay where they are, and so do
   the two lock files, which other processes may be waiting on.
3. The new chain's first event, ``audit.repaired``, is staged whole (``AuditTrail.
   stage_chain``): what ``verify`` found, the last event that still chains, the HEAD the
   trail had, the hash of its last line and of the whole file, and the archive. Then HEAD
   names it.
4. The staged chain is renamed over the trail, in one step (``commit_chain``).

A crash before HEAD names the staged event leaves the old trail in place, failing ``verify``
as before; after it, nothing appends to the old trail (it no longer matches HEAD) and the next
``audit repair`` finishes step 4. Whatever happens, the old trail's bytes are in the archive.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agentos import statefs
from agentos.audit.anchor import Anchor
from agentos.audit.chain import check_line
from agentos.audit.evidence import recorded_executions
from agentos.audit.lines import GENESIS
from agentos.audit.repairs import ARCHIVE_PREFIX, REPAIR_EVENT
from agentos.audit.snapshot import LOCK_NAME as SNAPSHOT_LOCK_NAME
from agentos.audit.trail import HEAD_NAME, LOCK_NAME, STAGED_NAME, TRAIL_NAME, AuditTrail
from agentos.errors import AgentosError, AuditChainError
from agentos.faults import fault_point
from agentos.statelinks import keep_as

# Left in place: lock files another process may wait on, and the new chain being staged.
_STAYS = frozenset({LOCK_NAME, SNAPSHOT_LOCK_NAME, STAGED_NAME})
# Kept as hard links, so that the trail stays whole in place until the new one replaces it.
_LINKED = frozenset({TRAIL_NAME, HEAD_NAME})
_HEAD_LIMIT = 1 << 16
_HASH_LIMIT = 128


@dataclass(frozen=True)
class TrailBreak:
    """What is wrong with a trail, as ``verify`` and a walk of the file can tell."""

    problem: str  # verify's message
    line: int | None  # the line and seq it names, when it names one
    seq: int | None
    missing: bool  # no events and no HEAD, beside recorded executions
    executions: int  # executions recorded in the state directory
    last_good: Anchor | None  # the last event that chains from the first (before ``line``)
    old_head: Anchor | None  # what HEAD recorded, when it could be read
    last_line_sha256: str | None  # of the file's last line as stored (complete or not)
    trail_bytes: int
    trail_sha256: str | None  # of the whole file (None: there was none)

    def data(self) -> dict[str, Any]:
        """The part of the ``audit.repaired`` event that describes the break."""
        return {
            "problem": self.problem,
            "line": self.line,
            "seq": self.seq,
            "missing": self.missing,
            "executions": self.executions,
            "last_good": _pair(self.last_good),
            "old_head": _pair(self.old_head),
            "last_line_sha256": self.last_line_sha256,
            "trail": None
            if self.trail_sha256 is None
            else {"bytes": self.trail_bytes, "sha256": self.trail_sha256},
        }


@dataclass(frozen=True)
class Repaired:
    """What ``repair`` did: ``event`` is the new chain's first event (None when the trail
    verified and was left alone), ``head`` the trail's head afterwards, ``archive`` where
    the old files are kept, ``resumed`` when an interrupted repair was finished."""

    head: Anchor
    event: dict[str, Any] | None = None
    archive: Path | None = None
    resumed: bool = False


def check_trail(trail: AuditTrail, *, locked: bool = False) -> Anchor | TrailBreak:
    """The head of a trail that verifies, else what is wrong with it (``locked``: the
    caller holds the trail's lock)."""
    try:
        report = trail.verify(locked=locked)
    except AuditChainError as exc:
        return describe_break(trail, exc)
    return Anchor(report.events, report.head)


def describe_break(trail: AuditTrail, exc: AuditChainError) -> TrailBreak:
    """``exc`` (raised by ``verify``) with what the files still tell about the trail."""
    line, seq = exc.details.get("line"), exc.details.get("seq")
    line = line if type(line) is int else None
    good, last_line, size, digest = _walk(trail.path, line)
    return TrailBreak(
        problem=exc.message,
        line=line,
        seq=seq if type(seq) is int else None,
        missing=exc.details.get("missing") is True,
        executions=recorded_executions(trail.directory.parent),
        last_good=good,
        old_head=_recorded_head(trail.directory / HEAD_NAME),
        last_line_sha256=last_line,
        trail_bytes=size,
        trail_sha256=digest,
    )


def repair(trail: AuditTrail, *, actor: str) -> Repaired:
    """Keep a broken trail aside and start a new chain whose first event, by ``actor``,
    records the break (see the module's steps); a trail that verifies is left alone."""
    with trail.locked():
        staged = trail.staged_chain()
        if staged is not None:
            trail.commit_chain()
            return Repaired(Anchor(1, staged["hash"]), staged, _archive_of(trail, staged), True)
        found = check_trail(trail, locked=True)
        if isinstance(found, Anchor):
            return Repaired(found)
        archive, archived = _keep_aside(trail)
        where = None if archive is None else _relative(trail, archive)
        data = {**found.data(), "archive": where, "archived": archived}
        record = trail.stage_chain(REPAIR_EVENT, actor=actor, data=data)
        trail.commit_chain()
        return Repaired(Anchor(1, record["hash"]), record, archive)


def _keep_aside(trail: AuditTrail) -> tuple[Path | None, list[str]]:
    """Keep every file of the trail's folder in a new archive folder (step 2): the archive
    and the names it keeps (none: no archive)."""
    directory = trail.directory
    entries = sorted(
        path
        for path in directory.iterdir()
        if path.name not in _STAYS
        and not (path.name.startswith(ARCHIVE_PREFIX) and path.is_dir() and not path.is_symlink())
    )
    if not entries:
        return None, []
    for path in entries:
        statefs.refuse_links(path)  # before anything moves: a link is named, never followed
    archive = _new_archive(directory, trail.clock())
    for path in entries:
        if path.name in _LINKED:
            keep_as(path, archive / path.name)
        else:
            statefs.rename(path, archive / path.name)
        fault_point("audit.repair.archive")
    if trail.durable:
        statefs.fsync_dir(archive)
        statefs.fsync_dir(directory)
    return archive, [path.name for path in entries]


def _new_archive(directory: Path, when: datetime) -> Path:
    """A new ``broken-<UTC time>`` folder in ``directory`` (``-2``... when that is taken)."""
    name = ARCHIVE_PREFIX + when.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    archive, number = directory / name, 1
    while archive.exists() or archive.is_symlink():
        number += 1
        archive = directory / f"{name}-{number}"
    statefs.ensure_dir(archive)
    return archive


def _relative(trail: AuditTrail, path: Path) -> str:
    """``path`` as the event records it: from the workspace root (``.agentos/audit/...``)."""
    return path.relative_to(trail.directory.parent.parent).as_posix()


def _archive_of(trail: AuditTrail, record: dict[str, Any]) -> Path | None:
    where = record["data"].get("archive") if isinstance(record["data"], dict) else None
    return trail.directory.parent.parent / where if isinstance(where, str) else None


def _walk(path: Path, stop: int | None) -> tuple[Anchor | None, str | None, int, str | None]:
    """Walk the trail's file: the last event that chains from the first (before line
    ``stop``), the SHA-256 of its last line, its size and its SHA-256 (None: no file)."""
    try:
        handle = statefs.open_read(path)
    except FileNotFoundError:
        return None, None, 0, None
    whole, size, last = hashlib.sha256(), 0, b""
    good: Anchor | None = None
    prev, chained = GENESIS, True
    with handle:
        for lineno, line in enumerate(handle, start=1):
            whole.update(line)
            size += len(line)
            last = line
            chained = chained and (stop is None or lineno < stop) and line.endswith(b"\n")
            if chained:
                try:
                    prev = check_line(path, line, lineno, prev)["hash"]
                except AuditChainError:
                    chained = False
                else:
                    good = Anchor(lineno, prev)
    last_line = hashlib.sha256(last).hexdigest() if last else None
    return good, last_line, size, whole.hexdigest()


def _recorded_head(path: Path) -> Anchor | None:
    """What HEAD recorded (seq and hash), when it still reads as such."""
    try:
        doc = json.loads(statefs.read_bytes(path, limit=_HEAD_LIMIT))
    except (OSError, ValueError, AgentosError):
        return None
    if not isinstance(doc, dict) or type(doc.get("seq")) is not int:
        return None
    digest = doc.get("hash")
    return Anchor(doc["seq"], digest[:_HASH_LIMIT]) if isinstance(digest, str) else None


def _pair(anchor: Anchor | None) -> dict[str, Any] | None:
    return None if anchor is None else {"seq": anchor.seq, "hash": anchor.digest}
