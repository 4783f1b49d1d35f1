"""From a plan to the disk (``agentos.executor.staging``): the journal of an attempt
(``build_journal``), its backups and the journal made durable first (``prepare``), then the
writes (``write_changes``).

Each step runs on its own here, in this process, on a plan that does every kind of change;
nothing is committed (the journal stays hot).
"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from agentos.digest import sha256_hex
from agentos.errors import AbortedError
from agentos.executor.abort import AbortWatch
from agentos.executor.drift import verify_against_journal
from agentos.executor.journal import Entry, Image, backup_dir, journal_path, read_journal
from agentos.executor.options import change_refs
from agentos.executor.staging import write_changes
from helpers import read_tree, stage, temp_files

pytestmark = pytest.mark.usefixtures("umask_022")

EVERY_KIND = [
    {"op": "modify", "path": "src/a.txt", "content": "A\n"},
    {"op": "delete", "path": "src/b.txt"},
    {"op": "create", "path": "new/deep/c.txt", "content": "c\n", "mode": "100755"},
    {"op": "rename", "from": "keep/k.txt", "path": "moved/k.txt"},
]


def image(data: bytes, mode: int) -> Image:
    return Image(sha256=sha256_hex(data), mode=mode)


def test_the_journal_records_every_path_before_and_after(ws: Path) -> None:
    (ws / "keep").chmod(0o750)
    staged = stage(ws, EVERY_KIND, write=False)
    journal = staged.journal
    assert (journal.state, journal.kind, journal.plan_id) == ("prepared", "apply", "p1")
    assert journal.changes == list(change_refs(staged.plan))
    assert sorted(journal.entries, key=lambda e: e.path) == [
        Entry(path="keep/k.txt", before=image(b"k\n", 0o644), after=None),
        Entry(path="moved/k.txt", before=None, after=image(b"k\n", 0o644)),
        Entry(path="new/deep/c.txt", before=None, after=image(b"c\n", 0o755)),
        Entry(path="src/a.txt", before=image(b"a\n", 0o644), after=image(b"A\n", 0o644)),
        Entry(path="src/b.txt", before=image(b"b\n", 0o644), after=None),
    ]
    # The directories to make, outermost first; the modes of those a deletion may empty.
    assert sorted(journal.created_dirs) == ["moved", "new", "new/deep"]
    assert journal.created_dirs.index("new") < journal.created_dirs.index("new/deep")
    assert journal.dir_modes == {"keep": 0o750, "src": 0o755}
    assert (journal.guard.allowed, journal.guard.forbidden) == (["**"], [])


def test_prepare_makes_the_backups_and_then_the_journal_and_writes_nothing(ws: Path) -> None:
    before = read_tree(ws)
    staged = stage(ws, EVERY_KIND, write=False)
    execution_id = staged.journal.execution_id
    assert read_tree(ws) == before
    assert temp_files(ws) == []
    backups = backup_dir(staged.state_dir, execution_id)
    assert sorted(p.name for p in backups.iterdir()) == sorted(
        sha256_hex(data) for data in (b"a\n", b"b\n", b"k\n")
    )
    for path in backups.iterdir():
        assert sha256_hex(path.read_bytes()) == path.name
    read = read_journal(staged.state_dir, journal_path(staged.state_dir, execution_id))
    assert read.model_copy(update={"seal": None}) == staged.journal


def test_write_changes_leaves_exactly_the_post_images(ws: Path) -> None:
    staged = stage(ws, EVERY_KIND)
    assert read_tree(ws) == {
        "src/a.txt": (b"A\n", "100644"),
        "new/deep/c.txt": (b"c\n", "100755"),
        "moved/k.txt": (b"k\n", "100644"),
    }
    assert stat.S_IMODE((ws / "new" / "deep" / "c.txt").stat().st_mode) == 0o755
    # Like git, a deletion (or a rename away) removes the directory it leaves empty.
    assert not (ws / "keep").exists()
    assert temp_files(ws) == []
    assert verify_against_journal(staged.journal, staged.writer) == []


def test_an_abort_before_the_first_write_writes_nothing(ws: Path) -> None:
    before = read_tree(ws)
    staged = stage(ws, EVERY_KIND, write=False)
    marker = staged.state_dir / "abort-marker"
    marker.write_text('{"reason": "test"}')
    with pytest.raises(AbortedError, match=r"aborted \(agentos abort: test\)"):
        write_changes(staged.plan, staged.journal, staged.writer, AbortWatch(marker), None)
    assert read_tree(ws) == before
    assert temp_files(ws) == []


def test_progress_counts_every_temp_file_rename_and_deletion(ws: Path) -> None:
    staged = stage(ws, EVERY_KIND, write=False)
    seen: list[tuple[int, int]] = []

    def progress(done: int, total: int) -> None:
        seen.append((done, total))

    abort = AbortWatch(staged.state_dir / "abort-marker")
    write_changes(staged.plan, staged.journal, staged.writer, abort, progress)
    # Three files written (a temp file and a rename each), two removed.
    assert seen == [(n, 8) for n in range(1, 9)]
