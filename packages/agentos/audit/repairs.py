"""The repairs a trail records, and the archives they name (``audit verify``, ``status``).

``audit repair`` (``repair``) starts a new chain whose first event, ``audit.repaired``, says
why and names the archive that keeps the broken trail, with the size and SHA-256 of that
trail. A repair always starts a chain, so a chain holds at most one such event: its first.
Its record would mean little if the archive could go quietly: ``verify`` reports the repair
as a warning, and fails (``AuditChainError``) when the archive, a file it kept, or the bytes
of the kept trail are gone or changed, since that is evidence destroyed. ``audit repair``
is then the way on again: it records that loss in a new chain's first event.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentos import statefs
from agentos.audit.lines import GENESIS, is_next, parse_line
from agentos.errors import AgentosError, AuditChainError

REPAIR_EVENT = "audit.repaired"
ARCHIVE_PREFIX = "broken-"
KEPT_TRAIL = "audit.jsonl"  # the trail's name in its archive, as ``repair`` keeps it
_FIRST_LINE_LIMIT = 1 << 20


@dataclass(frozen=True)
class RepairNote:
    """One ``audit.repaired`` event: when, by whom, why, and the archive it names (relative
    to the workspace, None when there was nothing to keep)."""

    seq: int
    ts: str
    actor: str
    problem: str
    archive: str | None

    def row(self) -> dict[str, Any]:
        """As ``--json`` gives it."""
        return {
            "seq": self.seq,
            "ts": self.ts,
            "actor": self.actor,
            "problem": self.problem,
            "archive": self.archive,
        }

    def warning(self) -> str:
        """The line ``audit verify`` warns with (the archive checked)."""
        kept = (
            f"the events before it are kept in {self.archive}, not in this chain"
            if self.archive is not None
            else "nothing was left to keep"
        )
        return (
            f"the audit trail was repaired at {self.ts} by {self.actor} (event seq {self.seq}): "
            f"{self.problem}; {kept}"
        )


def first_repair(path: Path) -> tuple[RepairNote, dict[str, Any]] | None:
    """The repair the trail at ``path`` starts with, and its event's data (None: it starts
    otherwise, or cannot be read). The chain itself is not verified here."""
    try:
        with statefs.open_read(path) as handle:
            line = handle.readline(_FIRST_LINE_LIMIT)
        record = parse_line(line, path=path, lineno=1)
    except (OSError, AgentosError):
        return None
    if record.get("event") != REPAIR_EVENT or not is_next(record, line, 0, GENESIS):
        return None
    data = record["data"] if isinstance(record["data"], dict) else {}
    archive = data.get("archive")
    note = RepairNote(
        seq=record["seq"],
        ts=str(record["ts"]),
        actor=str(record["actor"]),
        problem=str(data.get("problem") or "(no reason recorded)"),
        archive=archive if isinstance(archive, str) else None,
    )
    return note, data


def check_repairs(directory: Path, path: Path, events: int) -> tuple[RepairNote, ...]:
    """The repairs of the chain at ``path`` (its ``events`` verified) in the audit folder
    ``directory``, each archive checked: ``AuditChainError`` names one that is gone or was
    changed."""
    found = first_repair(path) if events else None
    if found is None:
        return ()
    note, data = found
    if note.archive is not None:
        _check_archive(directory, note, data)
    return (note,)


def _check_archive(directory: Path, note: RepairNote, data: dict[str, Any]) -> None:
    name = Path(note.archive or "").name
    archive = directory / name
    what = f"the archive {note.archive} of the repair at {note.ts} (event seq {note.seq})"
    details = {"seq": note.seq, "archive": note.archive}
    if not name.startswith(ARCHIVE_PREFIX) or not _is_dir(archive):
        raise AuditChainError(
            f"{what} is missing; the broken trail it kept was deleted", details=details
        )
    archived = data.get("archived")
    for kept in archived if isinstance(archived, list) else []:
        if isinstance(kept, str) and not _exists(archive / Path(kept).name):
            raise AuditChainError(
                f"{what} lacks {kept}; the evidence it kept was deleted", details=details
            )
    trail = data.get("trail")
    if not isinstance(trail, dict):
        return
    kept_trail = archive / KEPT_TRAIL
    if _digest(kept_trail) != (trail.get("bytes"), trail.get("sha256")):
        raise AuditChainError(
            f"{kept_trail} does not match the hash recorded by the repair at {note.ts} "
            f"(event seq {note.seq}); the broken trail it kept was altered or deleted",
            details=details,
        )


def _is_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()


def _exists(path: Path) -> bool:
    return path.exists() or path.is_symlink()


def _digest(path: Path) -> tuple[int, str] | None:
    """The size and SHA-256 of the file at ``path`` (None: none can be read)."""
    whole, size = hashlib.sha256(), 0
    try:
        with statefs.open_read(path) as handle:
            while chunk := handle.read(1 << 20):
                whole.update(chunk)
                size += len(chunk)
    except (OSError, AgentosError):
        return None
    return size, whole.hexdigest()
