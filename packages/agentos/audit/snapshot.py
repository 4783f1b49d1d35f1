"""A snapshot of the executions folded from the audit trail, so that ``status``, ``history``,
``show EXECUTION_ID`` and ``rollback --last`` read neither the whole trail nor every execution.

``.agentos/audit/folds.sqlite`` holds one row per execution (its fields as ``fold_event``
leaves them, the order it was last touched in, and the byte offsets of its events in the
trail) and a ``meta`` row naming the last event it covers: its seq, its hash, and where its
line starts and ends. The snapshot is used only while that line is still in the trail, at that
offset, with that hash (earlier lines are not read again: an edit to one is for ``audit
verify`` to find, not the folds). The events after it are folded on top and saved (under the
snapshot's own lock, ``folds.lock``, so appends never wait for it); a snapshot that does not
match, or that SQLite cannot read, is rebuilt from the whole trail. It is only ever a
cache: deleting it changes nothing but speed, ``audit verify`` never reads it, and where it
cannot be written (a read-only copy of a workspace) the same fold runs in memory.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import json
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

from agentos import statefs
from agentos.audit.folds import (
    ExecutionView,
    committed_line,
    newest_attempts,
    reverting_line,
    settle,
)
from agentos.audit.foldtable import (
    SnapshotMismatch,
    catch_up,
    has_tail,
    key,
    matches,
    read_cover,
    reset,
    unpack_offsets,
)
from agentos.audit.lines import parse_line
from agentos.errors import AuditChainError

if TYPE_CHECKING:
    from agentos.audit.trail import AuditTrail

SNAPSHOT_NAME = "folds.sqlite"
# Snapshot writers take this lock, not the trail's: a long rebuild never holds up an append.
LOCK_NAME = "folds.lock"
# How long a reader waits for another one saving the snapshot before folding in memory.
LOCK_TIMEOUT_SECONDS = 60.0
_UNREADABLE = {"SQLITE_NOTADB", "SQLITE_CORRUPT"}
T = TypeVar("T")


class FoldedExecutions:
    """The executions of one trail, answered from a (caught-up) snapshot connection."""

    def __init__(self, connection: sqlite3.Connection, trail: AuditTrail) -> None:
        self._db = connection
        self._trail = trail

    def newest(self, limit: int = 0) -> list[ExecutionView]:
        """Every attempt as its own entry, newest first (``limit`` 0: all), without the
        timelines: what ``newest_attempts`` gives for the whole trail.

        Executions are read newest first; an attempt settles no later than its execution
        was last touched, so an attempt is final once it is newer than the next execution."""
        rows = self._db.execute("SELECT view, touched FROM executions ORDER BY touched DESC")
        found: list[ExecutionView] = []
        waiting: list[tuple[int, int, ExecutionView]] = []
        order = itertools.count()
        for text, touched in rows:
            while waiting and -waiting[0][0] > touched:
                found.append(heapq.heappop(waiting)[2])
                if limit and len(found) >= limit:
                    return found
            view = self._settled(self._view(text))
            for entry in newest_attempts([view]):
                last = entry.current.last if entry.current else entry.touched
                heapq.heappush(waiting, (-last, next(order), entry))
        while waiting and not (limit and len(found) >= limit):
            found.append(heapq.heappop(waiting)[2])
        return found

    def total(self) -> int:
        """How many entries ``newest`` gives in all (attempts, at least one per execution)."""
        found = self._db.execute("SELECT coalesce(sum(entries), 0) FROM executions").fetchone()
        return int(found[0])

    def ids_with_prefix(self, prefix: str) -> list[str]:
        """The execution ids that start with ``prefix`` (not empty), sorted."""
        upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        rows = self._db.execute(
            "SELECT key FROM executions WHERE key >= ? AND key < ? ORDER BY key", (prefix, upper)
        )
        return [found for (found,) in rows.fetchall() if found.startswith(prefix)]

    def get(self, execution_id: str) -> ExecutionView | None:
        """One execution with its timeline (its events, read from the trail at their offsets);
        ``SnapshotMismatch`` if they are not there."""
        found = self._db.execute(
            "SELECT view, timeline FROM executions WHERE key = ?", (key(execution_id),)
        ).fetchone()
        if found is None:
            return None
        view = self._settled(self._view(found[0]))
        try:
            offsets = unpack_offsets(found[1])
        except (ValueError, TypeError):
            raise SnapshotMismatch(self._trail.path) from None
        events = tuple(_read_events(self._trail.path, offsets, view.execution_id))
        return replace(view, events=events)

    def undoable(self) -> ExecutionView | None:
        """The execution, not a rollback, whose newest committed attempt committed last and
        still stands (no rollback reverted it)."""
        rows = self._db.execute(
            "SELECT view FROM executions WHERE committed IS NOT NULL AND kind IS NOT 'rollback'"
            " ORDER BY committed DESC"
        )
        for (text,) in rows:
            view = self._settled(self._view(text))
            if view.standing() is not None:
                return view
        return None

    def _view(self, text: str) -> ExecutionView:
        return _view(text, self._trail.path)

    def _settled(self, view: ExecutionView) -> ExecutionView:
        if committed_line(view) is None:
            return view
        # Where the committed rollbacks of it committed.
        rows = self._db.execute(
            "SELECT view FROM executions WHERE parent = ? AND kind = 'rollback'"
            " AND committed IS NOT NULL",
            (key(view.execution_id),),
        )
        lines = [reverting_line(self._view(text)) for (text,) in rows]
        return settle(view, [at for at in lines if at is not None])


def _view(text: str, trail_path: Path) -> ExecutionView:
    try:
        return ExecutionView.of(json.loads(text))
    except (ValueError, TypeError, KeyError):
        raise SnapshotMismatch(trail_path) from None


def _read_events(path: Path, offsets: list[int], execution_id: Any) -> Iterator[dict[str, Any]]:
    with statefs.open_read(path) as handle:
        for offset in offsets:
            handle.seek(max(offset - 1, 0))
            before = handle.read(1) if offset else b"\n"
            line = handle.readline()
            if before != b"\n" or not line.endswith(b"\n"):
                raise SnapshotMismatch(path)
            try:
                record = parse_line(line, path=path)
            except AuditChainError:
                raise SnapshotMismatch(path) from None
            if record.get("execution_id") != execution_id:
                raise SnapshotMismatch(path)
            yield record


# -- opening it ---------------------------------------------------------------------------------


def _open_readonly(path: Path) -> sqlite3.Connection:
    statefs.refuse_links(path)
    connection = sqlite3.connect(
        f"file:{quote(str(path))}?mode=ro", uri=True, isolation_level=None, timeout=10.0
    )
    connection.execute("BEGIN")  # one consistent read of it, whatever a writer does meanwhile
    return connection


def _open_cover(path: Path, trail_path: Path, *, whole: bool) -> sqlite3.Connection | None:
    """The snapshot, opened for reading, when it matches the trail (``whole``: and covers all
    of it); else None."""
    if not path.is_file():
        return None
    connection = None
    try:
        connection = _open_readonly(path)
        cover = read_cover(connection)
        fits = cover is not None and matches(trail_path, cover)
        if fits and cover is not None and not (whole and has_tail(trail_path, cover)):
            return connection
    except sqlite3.Error:
        pass
    if connection is not None:
        connection.close()
    return None


def _save(trail: AuditTrail, path: Path, *, rebuild: bool) -> bool:
    """Bring the snapshot up to the trail under the snapshot's lock (``rebuild``: from its
    first event); False if it cannot be written (read-only copies, a stuck lock). Appends may
    go on meanwhile: what is folded is a prefix of the trail, checked against its cover."""
    from filelock import FileLock, Timeout

    def update(connection: sqlite3.Connection) -> None:
        try:
            cover = None if rebuild else read_cover(connection)
        except sqlite3.DatabaseError:
            cover = None  # tables of another kind
        if cover is None or not matches(trail.path, cover):
            cover = reset(connection)
        try:
            catch_up(connection, trail.path, cover)
        except SnapshotMismatch:
            catch_up(connection, trail.path, reset(connection))  # rows that do not decode

    try:
        statefs.refuse_links(trail.directory / LOCK_NAME)
        with FileLock(str(trail.directory / LOCK_NAME), timeout=LOCK_TIMEOUT_SECONDS):
            try:
                statefs.update_database(path, update, durable=trail.durable)
            except sqlite3.DatabaseError as exc:
                if getattr(exc, "sqlite_errorname", "") not in _UNREADABLE:
                    raise
                # Not a database, or a damaged one: under the lock, no one else writes it (and
                # readers only read). Start afresh.
                for stale in (path, path.with_name(path.name + "-journal")):
                    statefs.unlink(stale, missing_ok=True)
                statefs.update_database(path, update, durable=trail.durable)
    except (Timeout, OSError, sqlite3.Error):
        return False
    return True


@contextlib.contextmanager
def folded_executions(trail: AuditTrail, *, rebuild: bool = False) -> Iterator[FoldedExecutions]:
    """The trail's executions from its snapshot, brought up to date first (``rebuild``: from
    the whole trail, the snapshot being found wrong)."""
    path = trail.directory / SNAPSHOT_NAME
    connection = None
    if trail.path.exists():
        connection = None if rebuild else _open_cover(path, trail.path, whole=True)
        if connection is None and _save(trail, path, rebuild=rebuild):
            # Events appended since are left for the next reader.
            connection = _open_cover(path, trail.path, whole=False)
    if connection is None:
        connection = _in_memory(trail, path, rebuild=rebuild)
    try:
        yield FoldedExecutions(connection, trail)
    finally:
        connection.close()


def _in_memory(trail: AuditTrail, path: Path, *, rebuild: bool) -> sqlite3.Connection:
    """The same fold into a database in memory, for a trail whose snapshot cannot be saved:
    on top of a copy of the snapshot when it matches the trail."""
    connection = sqlite3.connect(":memory:", isolation_level=None)
    if not trail.path.exists():
        reset(connection)
        return connection
    stored = None if rebuild else _open_cover(path, trail.path, whole=False)
    cover = None
    if stored is not None:
        with contextlib.closing(stored):
            stored.backup(connection)
            cover = read_cover(connection)
    catch_up(connection, trail.path, cover or reset(connection))
    return connection


def answer(trail: AuditTrail, ask: Callable[[FoldedExecutions], T]) -> T:
    """What ``ask`` finds in the trail's folded executions. A snapshot found wrong while
    answering (rows that do not decode, offsets that do not lead to their events, pages SQLite
    finds damaged) is rebuilt from the whole trail and asked again."""
    try:
        with folded_executions(trail) as folds:
            return ask(folds)
    except (SnapshotMismatch, sqlite3.DatabaseError):
        pass
    with folded_executions(trail, rebuild=True) as folds:
        return ask(folds)


def find_execution(trail: AuditTrail, execution_id: str) -> ExecutionView | None:
    """One execution with its timeline."""
    return answer(trail, lambda folds: folds.get(execution_id))
