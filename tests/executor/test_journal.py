"""The journal (``agentos.executor.journal``): sealed journal files, archived journals, and
the backups of pre-images they name.

A journal is read back only when this workspace's key sealed it, for where it lies and under
its own name; a backup only when it hashes to its name. Both are private to the user.
"""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import pytest

from agentos.digest import sha256_hex
from agentos.errors import IntegrityError, StateIntegrityError
from agentos.executor.journal import (
    archive_journal,
    archived_executions,
    archived_path,
    backup_dir,
    journal_path,
    load_journals,
    read_backup,
    read_journal,
    remove_execution_files,
    write_backups,
    write_journal,
)
from helpers import (
    PERMISSIVE_POLICY,
    SMALL_CHANGES,
    Staged,
    agentos_subprocess,
    plan_subprocess,
    stage,
)


def prepared(ws: Path) -> Staged:
    """``SMALL_CHANGES`` staged on ``ws`` up to its prepared journal (nothing written)."""
    return stage(ws, SMALL_CHANGES, write=False)


def test_backups_and_journal_are_private(ws: Path) -> None:
    (ws / "src" / "a.txt").chmod(0o600)
    plan_subprocess(ws, "p1", SMALL_CHANGES)
    code, _ = agentos_subprocess(
        ws, "apply", "p1", "--policy", PERMISSIVE_POLICY, faults="commit.before=crash"
    )
    assert code == 137  # the journal and backups stay, to be looked at
    state = ws / ".agentos"
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    for path in (state / "backups").rglob("*"):
        if path.is_file():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for path in (state / "journal").rglob("*.json"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_a_journal_reads_back_as_written_sealed_and_private(ws: Path) -> None:
    staged = prepared(ws)
    path = journal_path(staged.state_dir, staged.journal.execution_id)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    read = read_journal(staged.state_dir, path)
    assert read.seal is not None
    assert read.seal.startswith("hmac-sha256:")
    assert read.model_copy(update={"seal": None}) == staged.journal
    assert load_journals(staged.state_dir) == [read]
    # A journal update (the commit point) is sealed anew and replaces the file.
    committed = staged.journal.with_state("committed", committed_at="2024-01-01T00:00:00+00:00")
    write_journal(staged.state_dir, committed)
    assert read_journal(staged.state_dir, path).model_copy(update={"seal": None}) == committed


def test_an_edited_journal_is_refused(ws: Path) -> None:
    staged = prepared(ws)
    path = journal_path(staged.state_dir, staged.journal.execution_id)
    path.write_text(path.read_text().replace('"state": "prepared"', '"state": "committed"'))
    with pytest.raises(StateIntegrityError, match="not sealed by this workspace's key"):
        read_journal(staged.state_dir, path)


def test_a_journal_under_another_name_is_refused(ws: Path) -> None:
    staged = prepared(ws)
    path = journal_path(staged.state_dir, staged.journal.execution_id)
    other = path.with_name("exec-00000000000000000000.json")
    shutil.copyfile(path, other)
    with pytest.raises(StateIntegrityError, match=staged.journal.execution_id):
        read_journal(staged.state_dir, other)


def test_a_damaged_journal_is_an_integrity_error_naming_the_file(ws: Path) -> None:
    staged = prepared(ws)
    path = journal_path(staged.state_dir, staged.journal.execution_id)
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(IntegrityError, match="the journal is damaged") as info:
        read_journal(staged.state_dir, path)
    assert info.value.details["journal"] == str(path)


def test_an_archived_journal_is_out_of_recoverys_way_and_cannot_come_back(ws: Path) -> None:
    staged = prepared(ws)
    execution_id = staged.journal.execution_id
    committed = staged.journal.with_state("committed", committed_at="2024-01-01T00:00:00+00:00")
    archive_journal(staged.state_dir, committed)
    active = journal_path(staged.state_dir, execution_id)
    archived = archived_path(staged.state_dir, execution_id)
    assert not active.exists()
    assert stat.S_IMODE(archived.stat().st_mode) == 0o600
    assert load_journals(staged.state_dir) == []
    assert archived_executions(staged.state_dir) == [execution_id]
    read = read_journal(staged.state_dir, archived)
    assert read.model_copy(update={"seal": None}) == committed
    # Sealed for the archive: copied back among the active journals it is refused.
    shutil.copyfile(archived, active)
    with pytest.raises(StateIntegrityError, match="not sealed by this workspace's key"):
        read_journal(staged.state_dir, active)


def test_backups_are_read_back_only_when_they_hash_to_their_name(ws: Path) -> None:
    staged = prepared(ws)
    state_dir, execution_id = staged.state_dir, staged.journal.execution_id
    data = b"a pre-image\n"
    digest = sha256_hex(data)
    write_backups(state_dir, execution_id, {digest: data}, durable=False)
    path = backup_dir(state_dir, execution_id) / digest
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_backup(state_dir, execution_id, digest) == data
    # Every pre-image the staged plan changes was backed up by prepare(), under its hash.
    for state in staged.current.values():
        assert state is not None
        assert read_backup(state_dir, execution_id, state.sha256) == state.data
    path.write_bytes(b"altered\n")
    with pytest.raises(StateIntegrityError, match="does not hash to its name"):
        read_backup(state_dir, execution_id, digest)
    path.unlink()
    with pytest.raises(StateIntegrityError, match="is missing"):
        read_backup(state_dir, execution_id, digest)


def test_removing_an_execution_removes_its_journals_and_backups(ws: Path) -> None:
    staged = prepared(ws)
    state_dir, execution_id = staged.state_dir, staged.journal.execution_id
    assert backup_dir(state_dir, execution_id).is_dir()
    remove_execution_files(state_dir, execution_id)
    assert not backup_dir(state_dir, execution_id).exists()
    assert not journal_path(state_dir, execution_id).exists()
    assert not archived_path(state_dir, execution_id).exists()
    assert load_journals(state_dir) == []
