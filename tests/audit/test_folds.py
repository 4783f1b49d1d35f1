"""The folds' attempts: one execution id applied, rolled back and applied again is one
execution with several attempts, each with its own start, finish and status; a rollback
reverts the attempt it undid, not the ones after it. The snapshot answers the same."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from test_snapshot import Event, assert_same_as_full_fold, make_trail

from agentos.audit.folds import fold_executions, newest_attempts, timeline_attempts
from agentos.audit.snapshot import answer


def started(execution: str, ts: str, attempt: int, **data: Any) -> Event:
    return ("apply.started", execution, {"attempt": attempt, "files": 1, **data}, ts)


def committed(execution: str, ts: str, attempt: int, **data: Any) -> Event:
    return ("apply.committed", execution, {"attempt": attempt, "files": 1, **data}, ts)


def undo(execution: str, parent: str, ts: str) -> list[Event]:
    return [
        started(execution, ts, 1, kind="rollback", parent=parent),
        committed(execution, ts, 1, kind="rollback", parent=parent),
    ]


APPLIED_TWICE: list[Event] = [
    ("lock.acquired", "ex-1", {}, "2026-01-01T00:00:01Z"),
    started("ex-1", "2026-01-01T00:00:01Z", 1),
    committed("ex-1", "2026-01-01T00:00:02Z", 1),
    *undo("rb-1", "ex-1", "2026-01-01T00:00:03Z"),
    ("lock.acquired", "ex-1", {}, "2026-01-01T00:00:04Z"),
    started("ex-1", "2026-01-01T00:00:05Z", 2),
]


def rows(events: list[Event], tmp_path: Path) -> list[tuple[Any, ...]]:
    trail = make_trail(tmp_path, events)
    assert_same_as_full_fold(trail)
    found = answer(trail, lambda folds: folds.newest())
    return [(v.execution_id, v.attempt, v.status, v.started_at, v.finished_at) for v in found]


def test_a_running_second_attempt_has_its_own_times(tmp_path: Path) -> None:
    assert rows(APPLIED_TWICE, tmp_path) == [
        ("ex-1", 2, "started", "2026-01-01T00:00:05Z", None),
        ("rb-1", 1, "committed", "2026-01-01T00:00:03Z", "2026-01-01T00:00:03Z"),
        ("ex-1", 1, "reverted", "2026-01-01T00:00:01Z", "2026-01-01T00:00:02Z"),
    ]


def test_a_rollback_reverts_the_attempt_it_undid_only(tmp_path: Path) -> None:
    events = [*APPLIED_TWICE, committed("ex-1", "2026-01-01T00:00:06Z", 2)]
    assert [r[:3] for r in rows(events, tmp_path / "a")] == [
        ("ex-1", 2, "committed"),
        ("rb-1", 1, "committed"),
        ("ex-1", 1, "reverted"),
    ]
    views = fold_executions(make_trail(tmp_path / "b", events).events())
    [view] = [v for v in views if v.execution_id == "ex-1"]
    standing = view.standing()
    assert standing is not None
    assert standing.attempt == 2
    # The second rollback (another rollback plan: it inverts attempt 2) reverts attempt 2.
    again = [*events, *undo("rb-2", "ex-1", "2026-01-01T00:00:07Z")]
    statuses = [r[:3] for r in rows(again, tmp_path / "c") if r[0] == "ex-1"]
    assert statuses == [("ex-1", 2, "reverted"), ("ex-1", 1, "reverted")]
    trail = make_trail(tmp_path / "d", again)
    assert answer(trail, lambda folds: folds.undoable()) is None


def test_a_run_refused_before_writing_does_not_use_up_its_number(tmp_path: Path) -> None:
    events: list[Event] = [
        started("ex-1", "2026-01-01T00:00:01Z", 1),
        ("apply.refused", "ex-1", {"status": "dry_run"}, "2026-01-01T00:00:01Z"),
        started("ex-1", "2026-01-01T00:00:02Z", 1),
        committed("ex-1", "2026-01-01T00:00:03Z", 1),
    ]
    assert [r[:3] for r in rows(events, tmp_path)] == [("ex-1", 1, "committed")]


def test_each_event_of_a_timeline_belongs_to_an_attempt(tmp_path: Path) -> None:
    trail = make_trail(tmp_path, [*APPLIED_TWICE, committed("ex-1", "2026-01-01T00:00:06Z", 2)])
    [view] = [v for v in fold_executions(trail.events()) if v.execution_id == "ex-1"]
    names = [e["event"] for e in view.events]
    assert list(zip(names, timeline_attempts(view.events), strict=True)) == [
        ("lock.acquired", 1),
        ("apply.started", 1),
        ("apply.committed", 1),
        ("lock.acquired", 2),
        ("apply.started", 2),
        ("apply.committed", 2),
    ]
    assert len(newest_attempts([view])) == 2
