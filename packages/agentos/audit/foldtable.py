"""The tables of a snapshot of the folds (``snapshot.py``) and how the trail's lines are folded
into them: one row per execution, a ``meta`` row naming the last event covered.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentos import statefs
from agentos.audit.folds import ExecutionView, committed_line, fold_event, new_row
from agentos.audit.lines import GENESIS, event_hash, parse_line, quick_parse, without_hash
from agentos.errors import AUDIT_REPAIR_HINT, AuditChainError

# Bumped whenever the tables or what a row means change: another format is rebuilt.
FORMAT = 2
# Lines folded (and rows written) at a time: bounds memory while a large trail is folded.
CHUNK_LINES = 20_000
BLOCK_BYTES = 1 << 22
_SCHEMA = (
    "CREATE TABLE meta (id INTEGER PRIMARY KEY CHECK (id = 0), events INTEGER NOT NULL,"
    " seq INTEGER NOT NULL, hash TEXT NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL)",
    # key: the execution id; touched: the line of its last event, so newest first is
    # ORDER BY touched DESC; kind, parent: for the queries below; entries: how many lines
    # ``history`` gives it (its attempts, at least one); committed: the line where its newest
    # committed attempt settled (NULL: none); view: its fields as JSON; timeline: the offsets
    # of its lines in the trail (int64, little-endian).
    "CREATE TABLE executions (key TEXT PRIMARY KEY, touched INTEGER NOT NULL UNIQUE,"
    " kind TEXT, parent TEXT, entries INTEGER NOT NULL, committed INTEGER,"
    " view TEXT NOT NULL, timeline BLOB NOT NULL)",
    "CREATE INDEX executions_parent ON executions (parent) WHERE parent IS NOT NULL",
    "CREATE INDEX executions_committed ON executions (committed) WHERE committed IS NOT NULL",
    "INSERT INTO meta VALUES (0, 0, 0, '0000000000000000000000000000000000000000000000000000"
    "000000000000', 0, 0)",
    f"PRAGMA user_version = {FORMAT}",
)


@dataclass(frozen=True)
class Cover:
    """What a snapshot covers: ``events`` lines, the last with ``seq`` and ``hash``, its line
    at bytes ``start``..``end`` of the trail."""

    events: int = 0
    seq: int = 0
    hash: str = GENESIS
    start: int = 0
    end: int = 0


def key(execution_id: Any) -> str:
    """The row key of an execution id (agentos writes strings; anything else is kept apart)."""
    if isinstance(execution_id, str):
        return execution_id
    return "\0" + json.dumps(execution_id, sort_keys=True)


def _fields(text: str) -> dict[str, Any]:
    """A row's stored fields: ``TypeError`` unless they are an execution's."""
    fields = json.loads(text)
    if not isinstance(fields, dict) or fields.keys() != new_row(None, None).keys():
        raise TypeError("not an execution's fields")
    ExecutionView.of(fields)  # its attempts decode too
    return fields


def unpack_offsets(blob: bytes) -> list[int]:
    offsets = array("q", blob)
    if sys.byteorder == "big":
        offsets.byteswap()
    return offsets.tolist()


def pack_offsets(offsets: list[int]) -> bytes:
    packed = array("q", offsets)
    if sys.byteorder == "big":
        packed.byteswap()
    return packed.tobytes()


class SnapshotMismatch(AuditChainError):
    """The snapshot disagrees with the trail or with itself (a row that does not decode, an
    offset that does not lead to its event): it is rebuilt. Raised from a rebuilt one, it
    means the trail's earlier events changed while they were read."""

    def __init__(self, trail_path: Path) -> None:
        super().__init__(
            f"{trail_path}: events before its end changed while it was read; the trail was "
            f"altered — {AUDIT_REPAIR_HINT}"
        )


def read_cover(connection: sqlite3.Connection) -> Cover | None:
    """What the snapshot covers; None when it is not a snapshot of this format."""
    if connection.execute("PRAGMA user_version").fetchone()[0] != FORMAT:
        return None
    row = connection.execute("SELECT events, seq, hash, start, end FROM meta").fetchone()
    if row is None or not isinstance(row[2], str):
        return None
    events, seq, _, start, end = row
    return Cover(*row) if all(type(v) is int for v in (events, seq, start, end)) else None


def matches(path: Path, cover: Cover) -> bool:
    """Whether the trail at ``path`` still holds the last event ``cover`` names, where it names
    it, with that hash (and so, through the hash chain, every event before it)."""
    if cover.events == 0:
        return cover == Cover()
    # In a trail that verifies, seq is the line number; anything else is rebuilt.
    if not 0 <= cover.start < cover.end or cover.seq != cover.events or cover.seq < 1:
        return False
    try:
        with statefs.open_read(path) as handle:
            handle.seek(max(cover.start - 1, 0))
            data = handle.read(cover.end - cover.start + (1 if cover.start else 0))
    except OSError:
        return False
    line = data[1:] if cover.start else data
    if (cover.start and data[:1] != b"\n") or len(line) != cover.end - cover.start:
        return False
    if not line.endswith(b"\n") or b"\n" in line[:-1]:
        return False
    try:
        record = parse_line(line, path=path)
    except AuditChainError:
        return False
    # The line must also still hash to it: an edit that kept its hash member is caught too.
    linked = record["prev"]
    return bool(
        record["seq"] == cover.seq
        and record["hash"] == cover.hash
        and isinstance(linked, str)
        and event_hash(linked, without_hash(line)) == cover.hash
    )


def has_tail(path: Path, cover: Cover) -> bool:
    """Whether the trail holds a complete line after what ``cover`` covers."""
    with statefs.open_read(path) as handle:
        handle.seek(cover.end)
        while block := handle.read(1 << 16):
            if b"\n" in block:
                return True
    return False


def reset(connection: sqlite3.Connection) -> Cover:
    """Empty the snapshot (whatever format it had) and make this format's tables."""
    found = connection.execute(
        "SELECT type, name FROM sqlite_master WHERE type IN ('table', 'view')"
        " AND name NOT LIKE 'sqlite%'"
    )
    for kind, name in found.fetchall():
        quoted = name.replace('"', '""')
        connection.execute(f'DROP {kind.upper()} IF EXISTS "{quoted}"')
    for statement in _SCHEMA:
        connection.execute(statement)
    return Cover()


def catch_up(connection: sqlite3.Connection, path: Path, cover: Cover) -> Cover:
    """Fold the trail's complete lines after ``cover`` into the snapshot; the new cover.

    A line that is not an event raises ``AuditChainError`` as a full fold does."""
    chunk: list[tuple[int, int, bytes]] = []
    for line in _lines_after(path, cover):
        chunk.append(line)
        if len(chunk) >= CHUNK_LINES:
            cover = _fold_chunk(connection, path, chunk, cover)
            chunk = []
    return _fold_chunk(connection, path, chunk, cover) if chunk else cover


def _lines_after(path: Path, cover: Cover) -> Iterator[tuple[int, int, bytes]]:
    """(line number, offset, bytes without the newline) of each complete line after
    ``cover``."""
    lineno, offset, carry = cover.events, cover.end, b""
    with statefs.open_read(path) as handle:
        handle.seek(cover.end)
        while block := handle.read(BLOCK_BYTES):
            pieces = (carry + block).split(b"\n")
            carry = pieces.pop()  # after the last newline: an incomplete line, or b""
            for piece in pieces:
                lineno += 1
                yield lineno, offset, piece
                offset += len(piece) + 1


def _fold_chunk(
    connection: sqlite3.Connection, path: Path, chunk: list[tuple[int, int, bytes]], cover: Cover
) -> Cover:
    # As AuditTrail.events() reads them: a line that is not an event raises, naming it.
    parsed = [
        (n, at, line, quick_parse(line) or parse_line(line + b"\n", path=path, lineno=n))
        for n, at, line in chunk
    ]
    keys = {key(r["execution_id"]) for _, _, _, r in parsed if r.get("execution_id")}
    entries = _load(connection, path, keys)
    for lineno, offset, _, record in parsed:
        execution_id = record.get("execution_id")
        if not execution_id:
            continue
        name = key(execution_id)
        entry = entries.get(name)
        if entry is None:
            entry = entries[name] = _Entry(new_row(execution_id, record.get("plan_id")), [])
        entry.timeline.append(offset)
        entry.touched = lineno
        fold_event(entry.row, record, lineno)
    connection.executemany(
        "INSERT OR REPLACE INTO executions VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (name, e.touched, *_columns(e.row), json.dumps(e.row), pack_offsets(e.timeline))
            for name, e in entries.items()
        ],
    )
    lineno, offset, line, record = parsed[-1]
    cover = Cover(lineno, record["seq"], record["hash"], offset, offset + len(line) + 1)
    connection.execute(
        "UPDATE meta SET events = ?, seq = ?, hash = ?, start = ?, end = ?",
        (cover.events, cover.seq, cover.hash, cover.start, cover.end),
    )
    return cover


def _columns(row: dict[str, Any]) -> tuple[str | None, str | None, int, int | None]:
    kind, parent = row["kind"], row["parent"]
    view = ExecutionView.of(row)
    return (
        kind if isinstance(kind, str) else None,
        key(parent) if parent else None,
        max(len(view.attempts_list), 1),
        committed_line(view),
    )


@dataclass
class _Entry:
    """An execution while lines are folded: its fields, its lines' offsets, its last line."""

    row: dict[str, Any]
    timeline: list[int]
    touched: int = 0


def _load(connection: sqlite3.Connection, path: Path, keys: set[str]) -> dict[str, _Entry]:
    """The stored executions among ``keys`` (of the trail at ``path``)."""
    entries: dict[str, _Entry] = {}
    ordered = sorted(keys)
    for at in range(0, len(ordered), 500):
        batch = ordered[at : at + 500]
        marks = ",".join("?" * len(batch))
        # Only placeholders are formatted in; the keys are parameters.
        query = f"SELECT key, view, timeline, touched FROM executions WHERE key IN ({marks})"  # noqa: S608
        for name, text, timeline, touched in connection.execute(query, batch):
            try:
                entries[name] = _Entry(_fields(text), unpack_offsets(timeline), touched)
            except (ValueError, TypeError):
                raise SnapshotMismatch(path) from None
    return entries
