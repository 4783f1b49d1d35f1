"""The snapshot of the folds (``.agentos/audit/folds.sqlite``): whatever state it is found in,
``status``/``history``/``show``/``rollback --last`` answer exactly what a full fold of the
trail answers; a snapshot that does not match the trail is ignored and rebuilt."""

from __future__ import annotations

import json
import sqlite3
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentos.audit.folds import ExecutionView, committed_line, fold_executions, newest_attempts
from agentos.audit.foldtable import Cover, read_cover
from agentos.audit.lines import GENESIS, event_hash
from agentos.audit.snapshot import SNAPSHOT_NAME, answer, find_execution, folded_executions
from agentos.audit.trail import AuditTrail
from agentos.digest import canonical_json

Event = tuple[str, str | None, dict[str, Any], str]  # name, execution id, data, ts


def apply_events(
    execution: str,
    ts: str,
    *,
    kind: str = "apply",
    parent: str | None = None,
    final: str = "apply.committed",
) -> list[Event]:
    data = {"kind": kind, "parent": parent, "files": 2, "attempt": 1}
    return [
        ("plan.created", None, {"files": []}, ts),
        ("lock.acquired", execution, {}, ts),
        ("apply.started", execution, data, ts),
        ("changes.written", execution, {"files": 2}, ts),
        (final, execution, {**data, "reason": "because"}, ts),
    ]


HISTORY: list[Event] = [
    *apply_events("ex-1", "2026-01-01T00:00:01Z"),
    *apply_events("ex-2", "2026-01-01T00:00:02Z", final="apply.failed"),
    *apply_events("ex-3", "2026-01-01T00:00:03Z"),
    *apply_events("rb-1", "2026-01-01T00:00:04Z", kind="rollback", parent="ex-1"),
    ("agent.staged", "ag-1", {"files": ["a"]}, "2026-01-01T00:00:05Z"),
    ("apply.replayed", "ex-3", {"changed_since": []}, "2026-01-01T00:00:06Z"),
    ("recovery.finished", "ex-4", {"action": "rolled_back"}, "2026-01-01T00:00:07Z"),
    ("apply.refused", "ex-5", {"status": "stale"}, "2026-01-01T00:00:08Z"),
]


def trail_lines(events: list[Event], prev: str = GENESIS, start: int = 1) -> list[bytes]:
    """Canonical, chained lines of ``events`` (seq from ``start``, after ``prev``)."""
    lines = []
    for seq, (name, execution, data, ts) in enumerate(events, start=start):
        record: dict[str, Any] = {
            "seq": seq,
            "ts": ts,
            "event": name,
            "actor": "t",
            "data": data,
            "prev": prev,
            "plan_id": f"plan-{seq}",
        }
        if execution is not None:
            record["execution_id"] = execution
        record["hash"] = prev = event_hash(prev, canonical_json(record))
        lines.append(canonical_json(record) + b"\n")
    return lines


def make_trail(root: Path, events: list[Event]) -> AuditTrail:
    directory = root / ".agentos" / "audit"
    directory.mkdir(parents=True, exist_ok=True)
    trail = AuditTrail(directory, durable=False, sealed=False)
    trail.path.write_bytes(b"".join(trail_lines(events)))
    return trail


def full(trail: AuditTrail) -> list[ExecutionView]:
    return fold_executions(trail.events())


def entries(trail: AuditTrail) -> list[dict[str, Any]]:
    """The ``history`` rows of a full fold: every attempt, newest first."""
    return [v.row() for v in newest_attempts(full(trail))]


def assert_same_as_full_fold(trail: AuditTrail) -> None:
    """Every query answers what a full fold of the trail answers."""
    expected = full(trail)
    rows = entries(trail)
    assert [v.row() for v in answer(trail, lambda folds: folds.newest())] == rows
    assert [v.row() for v in answer(trail, lambda folds: folds.newest(3))] == rows[:3]
    assert answer(trail, lambda folds: folds.total()) == len(rows)
    standing = [v for v in expected if v.standing() is not None and v.kind != "rollback"]
    undoable = max(standing, key=lambda v: committed_line(v) or 0, default=None)
    found = answer(trail, lambda folds: folds.undoable())
    assert (found and found.execution_id) == (undoable and undoable.execution_id)
    for view in expected:
        assert find_execution(trail, str(view.execution_id)) == view
    assert find_execution(trail, "no-such-execution") is None


def cover_of(trail: AuditTrail) -> Cover | None:
    with sqlite3.connect(trail.directory / SNAPSHOT_NAME) as connection:
        return read_cover(connection)


def whole_cover(trail: AuditTrail) -> Cover:
    data = trail.path.read_bytes()
    lines = data.splitlines(keepends=True)
    last = json.loads(lines[-1])
    return Cover(len(lines), last["seq"], last["hash"], len(data) - len(lines[-1]), len(data))


def test_the_first_reader_builds_the_snapshot_and_the_folds_are_a_full_folds(
    tmp_path: Path,
) -> None:
    trail = make_trail(tmp_path, HISTORY)
    assert not (trail.directory / SNAPSHOT_NAME).exists()
    assert_same_as_full_fold(trail)
    assert cover_of(trail) == whole_cover(trail)
    statuses = {v.execution_id: v.status for v in full(trail)}
    assert statuses == {
        "ex-1": "reverted",
        "ex-2": "rolled_back",
        "ex-3": "committed",
        "rb-1": "committed",
        "ag-1": "staged",
        "ex-4": "rolled_back",
        "ex-5": "stale",
    }


def test_events_after_the_snapshot_are_folded_on_top_and_saved(tmp_path: Path) -> None:
    trail = make_trail(tmp_path, HISTORY[:7])
    assert_same_as_full_fold(trail)
    first = cover_of(trail)
    lines = trail_lines(HISTORY)
    trail.path.write_bytes(b"".join(lines))
    assert_same_as_full_fold(trail)
    assert cover_of(trail) == whole_cover(trail) != first
    # A torn last line (an interrupted append) is not folded, as events() skips it.
    whole = whole_cover(trail)
    with trail.path.open("ab") as handle:
        handle.write(b'{"actor":"t","data":{')
    assert_same_as_full_fold(trail)
    assert cover_of(trail) == whole


def swap_trail(other: list[Event]) -> Callable[[AuditTrail], None]:
    def change(trail: AuditTrail) -> None:
        trail.path.write_bytes(b"".join(trail_lines(other)))

    return change


def corrupt_snapshot(data: bytes) -> Callable[[AuditTrail], None]:
    def change(trail: AuditTrail) -> None:
        (trail.directory / SNAPSHOT_NAME).write_bytes(data)

    return change


def edit_snapshot(statement: str) -> Callable[[AuditTrail], None]:
    def change(trail: AuditTrail) -> None:
        with sqlite3.connect(trail.directory / SNAPSHOT_NAME) as connection:
            connection.execute(statement)

    return change


def truncate_trail(trail: AuditTrail) -> None:
    lines = trail.path.read_bytes().splitlines(keepends=True)
    trail.path.write_bytes(b"".join(lines[:-4]))


def edit_last_event(trail: AuditTrail) -> None:
    """The last event's line rewritten in place (same length, another hash)."""
    lines = trail.path.read_bytes().splitlines(keepends=True)
    lines[-1] = lines[-1].replace(b'"stale"', b'"xtale"')
    trail.path.write_bytes(b"".join(lines))


def truncate_snapshot(trail: AuditTrail) -> None:
    path = trail.directory / SNAPSHOT_NAME
    path.write_bytes(path.read_bytes()[:1500])


REPLACED = [(n, e, d, ts.replace("2026", "2027")) for n, e, d, ts in HISTORY]
CHANGES: dict[str, Callable[[AuditTrail], None]] = {
    "trail replaced by another of the same length": swap_trail(REPLACED),
    "trail replaced by a longer one": swap_trail([*REPLACED, *HISTORY]),
    "trail truncated": truncate_trail,
    "trail emptied": swap_trail([]),
    "last event edited": edit_last_event,
    "garbage snapshot": corrupt_snapshot(b"not a database\n" * 300),
    "empty snapshot file": corrupt_snapshot(b""),
    "truncated snapshot": truncate_snapshot,
    "snapshot of another format": edit_snapshot("PRAGMA user_version = 99"),
    "snapshot meta hash edited": edit_snapshot("UPDATE meta SET hash = 'f' || substr(hash, 2)"),
    "snapshot meta offset edited": edit_snapshot("UPDATE meta SET start = start + 1"),
    "snapshot meta beyond the trail": edit_snapshot("UPDATE meta SET end = end + 100000"),
    "snapshot without tables": edit_snapshot("DROP TABLE meta"),
    "snapshot meta line count edited": edit_snapshot("UPDATE meta SET events = events - 3"),
    "snapshot meta of the wrong types": edit_snapshot("UPDATE meta SET start = 'x', seq = 1.5"),
    "a row that is no JSON": edit_snapshot("UPDATE executions SET view = '{' WHERE key = 'ex-3'"),
    "a row of other fields": edit_snapshot("UPDATE executions SET view = '[1]' WHERE key = 'ex-1'"),
    "a row with a field too many": edit_snapshot(
        "UPDATE executions SET view = json_set(view, '$.x', 1) WHERE key = 'rb-1'"
    ),
    "a timeline cut short": edit_snapshot(
        "UPDATE executions SET timeline = substr(timeline, 1, 3) WHERE key = 'ex-2'"
    ),
    "a timeline pointing elsewhere": edit_snapshot(
        "UPDATE executions SET timeline = (SELECT timeline FROM executions WHERE key = 'ex-1')"
        " WHERE key = 'ex-2'"
    ),
}


@pytest.mark.parametrize("change", list(CHANGES), ids=list(CHANGES))
def test_a_snapshot_that_does_not_match_is_rebuilt(tmp_path: Path, change: str) -> None:
    trail = make_trail(tmp_path, HISTORY)
    assert_same_as_full_fold(trail)
    CHANGES[change](trail)
    assert_same_as_full_fold(trail)
    if trail.path.read_bytes():
        assert cover_of(trail) == whole_cover(trail)
    with folded_executions(trail) as folds:  # rebuilt: read as it is, nothing to retry
        assert [v.row() for v in folds.newest()] == entries(trail)


def test_a_timeline_that_no_longer_leads_to_its_events_is_rebuilt(tmp_path: Path) -> None:
    """Lines edited before the last covered one (same lengths, so the cover still matches):
    ``show`` finds other events at the stored offsets and rebuilds."""
    trail = make_trail(tmp_path, HISTORY)
    assert_same_as_full_fold(trail)
    data = trail.path.read_bytes()
    trail.path.write_bytes(data.replace(b'"execution_id":"ex-2"', b'"execution_id":"ex-9"'))
    assert find_execution(trail, "ex-2") is None
    assert find_execution(trail, "ex-9") == next(v for v in full(trail) if v.execution_id == "ex-9")
    assert_same_as_full_fold(trail)


def test_where_the_snapshot_cannot_be_written_the_fold_runs_in_memory(tmp_path: Path) -> None:
    trail = make_trail(tmp_path, HISTORY)
    (trail.directory / SNAPSHOT_NAME).mkdir()  # not a file SQLite can open or replace
    assert_same_as_full_fold(trail)
    assert (trail.directory / SNAPSHOT_NAME).is_dir()


def test_no_trail_no_snapshot(tmp_path: Path) -> None:
    trail = AuditTrail(tmp_path / ".agentos" / "audit", durable=False, sealed=False)
    with folded_executions(trail) as folds:
        assert (folds.newest(), folds.total(), folds.undoable()) == ([], 0, None)
    assert not (tmp_path / ".agentos").exists()


def test_deleting_the_snapshot_changes_nothing(tmp_path: Path) -> None:
    trail = make_trail(tmp_path, HISTORY)
    with folded_executions(trail) as folds:
        before = [v.row() for v in folds.newest()]
    (trail.directory / SNAPSHOT_NAME).unlink()
    with folded_executions(trail) as folds:
        assert [v.row() for v in folds.newest()] == before


NAMES = [
    "apply.started",
    "agent.staged",
    "apply.committed",
    "apply.failed",
    "apply.aborted",
    "apply.replayed",
    "agent.discarded",
    "agent.unconfirmed",
    "apply.refused",
    "recovery.finished",
    "lock.acquired",
    "plan.created",
]
IDS = ["ex-a", "ex-b", "ex-c", "ex-d", "rb-a", "rb-b"]
DATA = st.fixed_dictionaries(
    {},
    optional={
        "kind": st.sampled_from(["apply", "rollback", "agent"]),
        "parent": st.one_of(st.none(), st.sampled_from(IDS)),
        "attempt": st.integers(1, 4),
        "files": st.integers(0, 9),
        "status": st.sampled_from(["stale", "denied", "dry_run"]),
        "reason": st.one_of(st.none(), st.text(max_size=5)),
    },
)
TS = st.sampled_from(["2026-01-01T00:00:01Z", "2026-01-01T00:00:02Z", "2026-01-01T00:00:03Z"])
SINGLE = st.tuples(
    st.sampled_from(NAMES), st.one_of(st.none(), st.sampled_from(IDS)), DATA, TS
).map(lambda event: [event])
# An execution started and settled: makes committed applies and rollbacks of them common.
ROUND = st.builds(
    lambda execution, kind, parent, final, started, finished: [
        ("apply.started", execution, {"kind": kind, "parent": parent}, started),
        (final, execution, {"kind": kind, "parent": parent}, finished),
    ],
    st.sampled_from(IDS),
    st.sampled_from(["apply", "rollback"]),
    st.sampled_from(IDS),
    st.sampled_from(["apply.committed", "apply.committed", "apply.failed", "apply.replayed"]),
    TS,
    TS,
)
EVENTS = st.lists(st.one_of(SINGLE, ROUND), max_size=25).map(
    lambda parts: [event for part in parts for event in part]
)


@given(events=EVENTS, split=st.integers(0, 50))
def test_a_snapshot_at_any_point_plus_the_rest_equals_folding_everything(
    events: list[Event], split: int
) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        trail = make_trail(Path(scratch), events[:split])
        with folded_executions(trail):
            pass  # the snapshot, taken at the split
        trail.path.write_bytes(b"".join(trail_lines(events)))
        assert_same_as_full_fold(trail)


def test_while_another_reader_saves_the_snapshot_the_tail_is_folded_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reader that cannot take the snapshot's lock in time folds the tail on top of a copy
    of the snapshot in memory, and writes nothing."""
    from filelock import FileLock

    from agentos.audit import snapshot

    trail = make_trail(tmp_path, HISTORY[:9])
    assert_same_as_full_fold(trail)
    saved = (trail.directory / SNAPSHOT_NAME).read_bytes()
    trail.path.write_bytes(b"".join(trail_lines(HISTORY)))
    monkeypatch.setattr(snapshot, "LOCK_TIMEOUT_SECONDS", 0.05)
    with FileLock(str(trail.directory / snapshot.LOCK_NAME)):
        assert_same_as_full_fold(trail)
    assert (trail.directory / SNAPSHOT_NAME).read_bytes() == saved
    assert_same_as_full_fold(trail)  # and once the lock is free, the tail is saved
    assert cover_of(trail) == whole_cover(trail)


@pytest.mark.parametrize("name", [SNAPSHOT_NAME, SNAPSHOT_NAME + "-journal", "folds.lock"])
def test_a_link_planted_for_the_snapshot_is_refused_and_its_target_untouched(
    tmp_path: Path, name: str
) -> None:
    from agentos.errors import StateIntegrityError

    trail = make_trail(tmp_path / "ws", HISTORY)
    target = tmp_path / "elsewhere.db"
    target.write_bytes(b"precious")
    (trail.directory / name).symlink_to(target)
    with pytest.raises(StateIntegrityError, match="symlink"), folded_executions(trail) as folds:
        folds.newest()
    assert target.read_bytes() == b"precious"
