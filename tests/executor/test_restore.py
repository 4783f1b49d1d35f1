"""Rolling a journal back (``agentos.executor.restore.roll_back``): the one path for a failed
apply, an abort and recovery.

Every path of the journal gets its pre-image back (bytes and exact mode), created files and
directories go, emptied directories come back with their modes; it is idempotent, and it
stops before its first write when a path holds somebody else's bytes.
"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from agentos.errors import RollbackConflictError
from agentos.executor.journal import journal_path, read_journal
from agentos.executor.restore import roll_back
from helpers import (
    PERMISSIVE_POLICY,
    SMALL_CHANGES,
    agentos_subprocess,
    plan_subprocess,
    read_tree,
    stage,
    temp_files,
    write_tree,
)

EVERY_KIND = [
    *SMALL_CHANGES,
    {"op": "create", "path": "new/deep/c.txt", "content": "c\n", "mode": "100755"},
    {"op": "rename", "from": "keep/k.txt", "path": "moved/k.txt"},
]


def test_rollback_restores_the_mode_of_a_directory_a_deletion_removed(ws: Path) -> None:
    write_tree(ws, {"private/only.txt": "secret-free\n"})
    (ws / "private").chmod(0o700)
    plan_subprocess(ws, "p1", [{"op": "delete", "path": "private/only.txt"}])
    code, doc = agentos_subprocess(ws, "apply", "p1", "--policy", PERMISSIVE_POLICY)
    assert code == 0, doc
    assert not (ws / "private").exists()
    code, doc = agentos_subprocess(
        ws, "rollback", doc["result"]["execution_id"], "--policy", PERMISSIVE_POLICY
    )
    assert code == 0, doc
    assert (ws / "private" / "only.txt").read_text() == "secret-free\n"
    # The inverse plan recreates the folder; a crash-recovery restores its mode from the journal.
    write_tree(ws, {"private2/x.txt": "x\n"})
    (ws / "private2").chmod(0o700)
    plan_subprocess(ws, "p2", [{"op": "delete", "path": "private2/x.txt"}])
    code, _ = agentos_subprocess(
        ws, "apply", "p2", "--policy", PERMISSIVE_POLICY, faults="commit.before=crash"
    )
    assert code == 137
    assert agentos_subprocess(ws, "recover", "--policy", PERMISSIVE_POLICY)[0] == 0
    assert stat.S_IMODE((ws / "private2").stat().st_mode) == 0o700
    assert (ws / "private2" / "x.txt").read_text() == "x\n"


def test_roll_back_puts_every_path_back_and_marks_the_journal(ws: Path) -> None:
    (ws / "keep").chmod(0o750)
    before = read_tree(ws)
    staged = stage(ws, EVERY_KIND)
    assert read_tree(ws) != before
    report = roll_back(ws, staged.state_dir, staged.journal)
    assert read_tree(ws) == before
    assert sorted(report.restored) == ["keep/k.txt", "src/a.txt", "src/b.txt"]
    assert sorted(report.removed) == ["moved/k.txt", "new/deep/c.txt"]
    assert sorted(report.dirs_removed) == ["moved", "new", "new/deep"]
    assert (report.durable, report.warnings, report.displaced) == (True, [], {})
    assert not (ws / "new").exists()
    assert not (ws / "moved").exists()
    assert stat.S_IMODE((ws / "keep").stat().st_mode) == 0o750
    assert temp_files(ws) == []
    path = journal_path(staged.state_dir, staged.journal.execution_id)
    assert read_journal(staged.state_dir, path).state == "rolled_back"


def test_roll_back_is_idempotent(ws: Path) -> None:
    before = read_tree(ws)
    staged = stage(ws, EVERY_KIND)
    roll_back(ws, staged.state_dir, staged.journal, mark=False)
    again = roll_back(ws, staged.state_dir, staged.journal)
    assert (again.restored, again.removed, again.temps_removed) == ([], [], 0)
    assert read_tree(ws) == before


def test_a_half_written_change_is_rolled_back_with_its_temp_files(ws: Path) -> None:
    before = read_tree(ws)
    staged = stage(ws, EVERY_KIND, write=False)
    # A crash after the first temp file and the first rename.
    staged.writer.write_temp("src/a.txt", b"A\n", 0o644)
    staged.writer.replace("src/a.txt")
    staged.writer.write_temp("moved/k.txt", b"k\n", 0o644)
    assert temp_files(ws) != []
    report = roll_back(ws, staged.state_dir, staged.journal)
    assert report.temps_removed == 1
    assert report.restored == ["src/a.txt"]
    assert read_tree(ws) == before
    assert temp_files(ws) == []


def test_somebody_elses_bytes_stop_the_rollback_before_any_write(ws: Path) -> None:
    staged = stage(ws, EVERY_KIND)
    (ws / "src" / "a.txt").write_text("edited by a person\n")
    (ws / "src" / "b.txt").write_text("made by a person\n")
    during = read_tree(ws)
    with pytest.raises(RollbackConflictError, match="nothing was changed") as info:
        roll_back(ws, staged.state_dir, staged.journal)
    assert sorted(info.value.details["paths"]) == ["src/a.txt", "src/b.txt"]
    assert read_tree(ws) == during
    path = journal_path(staged.state_dir, staged.journal.execution_id)
    assert read_journal(staged.state_dir, path).state == "prepared"
