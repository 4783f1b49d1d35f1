"""Recovery (``agentos.executor.recovery``): what runs under the lock before every apply and
as ``agentos recover``.

A hot journal is rolled back (never over somebody else's edit, and only where the rules
allow); a committed journal whose records a crash cut short is finished; nothing is replayed
while recovery is pending; old executions' journals and backups are pruned.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from agentos.executor.idempotency import read_record
from agentos.executor.journal import (
    archive_journal,
    archived_executions,
    archived_path,
    backup_dir,
    journal_path,
    load_journals,
    write_journal,
)
from agentos.executor.records import prune_backups
from agentos.executor.recovery import RecoveryOutcome, recover
from agentos.workspace import Workspace
from helpers import (
    PERMISSIVE_POLICY,
    SMALL_CHANGES,
    agentos_subprocess,
    events,
    plan_subprocess,
    read_tree,
    stage,
    trail,
)

COMMITTED_AT = "2024-01-01T00:00:00+00:00"


def test_recovery_never_overwrites_someone_elses_edit(ws: Path) -> None:
    plan_subprocess(ws, "p1", SMALL_CHANGES)
    code, _ = agentos_subprocess(
        ws, "apply", "p1", "--policy", PERMISSIVE_POLICY, faults="commit.before=crash"
    )
    assert code == 137
    # While the journal is hot, a person edits a.txt and recreates b.txt their own way.
    (ws / "src" / "a.txt").write_text("mine\n")
    (ws / "src" / "b.txt").write_text("also mine\n")
    before = read_tree(ws)
    journals = sorted((ws / ".agentos" / "journal").glob("*.json"))
    # Every conflict is found before the first restoring write: a refusal changes nothing,
    # and it is a conflict for a person (exit 5), not a failed recovery (exit 8).
    for command in ("recover", "apply"):
        args = ("apply", "p1", "--policy", PERMISSIVE_POLICY) if command == "apply" else (command,)
        code, doc = agentos_subprocess(ws, *args)
        assert code == 5, doc
        assert doc["error"]["type"] == "rollback_conflict"
        assert set(doc["error"]["details"]["paths"]) == {"src/a.txt", "src/b.txt"}
        assert "nothing was changed" in doc["error"]["message"]
        assert read_tree(ws) == before
        assert sorted((ws / ".agentos" / "journal").glob("*.json")) == journals
    # Once the person moves their files aside, recovery finishes: the old tree.
    (ws / "src" / "a.txt").rename(ws / "a.mine")
    (ws / "src" / "b.txt").rename(ws / "b.mine")
    code, doc = agentos_subprocess(ws, "recover")
    assert code == 0, doc
    assert read_tree(ws)["src/a.txt"] == (b"a\n", "100644")
    assert read_tree(ws)["src/b.txt"] == (b"b\n", "100644")
    assert agentos_subprocess(ws, "audit", "verify")[0] == 0


def test_no_replay_before_recovery_of_an_interrupted_rollback(ws: Path) -> None:
    plan_subprocess(ws, "p1", SMALL_CHANGES)
    code, doc = agentos_subprocess(ws, "apply", "p1", "--policy", PERMISSIVE_POLICY)
    assert code == 0, doc
    execution = doc["result"]["execution_id"]
    # The rollback crashes right after its commit point, before the parent is marked reverted.
    code, _ = agentos_subprocess(
        ws, "rollback", execution, "--policy", PERMISSIVE_POLICY, faults="commit.after=crash"
    )
    assert code == 137
    assert (ws / "src" / "a.txt").read_text() == "a\n"
    # Applying the original plan again must not trust the stale "committed" record.
    code, doc = agentos_subprocess(ws, "apply", "p1", "--policy", PERMISSIVE_POLICY)
    assert code == 0, doc
    assert doc["result"]["status"] == "committed"
    assert (ws / "src" / "a.txt").read_text() == "A\n"
    assert not (ws / "src" / "b.txt").exists()


def test_recovery_under_a_tightened_pinned_policy_has_an_explicit_way_out(ws: Path) -> None:
    import yaml

    policy = yaml.safe_load(PERMISSIVE_POLICY.read_text())
    own = ws / "agent" / "policies" / "default.yaml"
    own.parent.mkdir(parents=True)
    own.write_text(yaml.safe_dump(policy))  # pinned: no governance key, so no overrides
    plan_subprocess(ws, "p1", SMALL_CHANGES)
    code, _ = agentos_subprocess(ws, "apply", "p1", faults="commit.before=crash")
    assert code == 137
    # After the crash the policy is tightened: src/a.txt may no longer be written.
    policy["writegate"]["forbidden_paths"] = ["src/a.txt"]
    own.write_text(yaml.safe_dump(policy))
    code, doc = agentos_subprocess(ws, "recover")
    assert code == 3, doc
    assert "--journal-rules" in doc["error"]["message"]
    assert (ws / "src" / "a.txt").read_text() == "A\n"  # nothing was changed
    code, doc = agentos_subprocess(ws, "recover", "--journal-rules")
    assert code == 0, doc
    assert read_tree(ws)["src/a.txt"] == (b"a\n", "100644")
    assert read_tree(ws)["src/b.txt"] == (b"b\n", "100644")
    events = [
        json.loads(line)
        for line in (ws / ".agentos" / "audit" / "audit.jsonl").read_text().splitlines()
    ]
    finished = [e["data"] for e in events if e["event"] == "recovery.finished"]
    assert finished[-1]["rules"] == "journal"


def test_recover_rolls_a_hot_journal_back(ws: Path) -> None:
    before = read_tree(ws)
    staged = stage(ws, SMALL_CHANGES)  # written, not committed: the journal is hot
    execution_id = staged.journal.execution_id
    [outcome] = recover(Workspace.open(ws), actor="tests", timeout=5)
    assert (outcome.execution_id, outcome.plan_id, outcome.action) == (
        execution_id,
        "p1",
        "rolled_back",
    )
    assert sorted(outcome.restored) == ["src/a.txt", "src/b.txt"]
    assert (outcome.removed, outcome.warnings) == ((), ())
    assert read_tree(ws) == before
    assert load_journals(staged.state_dir) == []
    assert not backup_dir(staged.state_dir, execution_id).exists()
    # The failed attempt is counted, so the plan may run again.
    record = read_record(staged.state_dir, "p1")
    assert record is not None
    assert (record.status, record.attempts) == ("rolled_back", 1)
    [finished] = [e for e in trail(ws) if e["event"] == "recovery.finished"]
    assert finished["execution_id"] == execution_id
    assert finished["data"]["rules"] == "journal"


def test_recover_finishes_a_commit_whose_records_a_crash_cut_short(ws: Path) -> None:
    staged = stage(ws, SMALL_CHANGES)
    after = read_tree(ws)
    committed = staged.journal.with_state("committed", committed_at=COMMITTED_AT)
    write_journal(staged.state_dir, committed)  # the commit point, then the crash
    outcomes = recover(Workspace.open(ws), actor="tests", timeout=5)
    assert outcomes == [RecoveryOutcome(committed.execution_id, "p1", "finished_commit")]
    assert read_tree(ws) == after  # the change stands
    record = read_record(staged.state_dir, "p1")
    assert record is not None
    assert (record.status, record.committed_at) == ("committed", COMMITTED_AT)
    assert load_journals(staged.state_dir) == []
    assert archived_path(staged.state_dir, committed.execution_id).is_file()
    assert "apply.committed" in events(ws)
    # Finished once: a second recovery has nothing to do.
    assert recover(Workspace.open(ws), actor="tests", timeout=5) == []


def test_recover_with_nothing_to_do_changes_nothing(ws: Path) -> None:
    before = read_tree(ws)
    assert recover(Workspace.open(ws), actor="tests", timeout=5) == []
    assert read_tree(ws) == before
    assert not (ws / ".agentos" / "journal").exists()


def test_pruning_keeps_the_newest_executions_backups(ws: Path) -> None:
    workspace = Workspace.open(ws)
    ids = []
    for n, change in enumerate(SMALL_CHANGES, start=1):
        staged = stage(ws, [change], plan_id=f"p{n}")
        committed = staged.journal.with_state("committed", committed_at=COMMITTED_AT)
        archive_journal(staged.state_dir, committed)
        ids.append(staged.journal.execution_id)
    older, newer = ids
    # The older archive is an hour older (archives are ordered by modification time).
    archived = archived_path(workspace.state_dir, older)
    stamp = archived.stat().st_mtime - 3600
    os.utime(archived, (stamp, stamp))
    assert archived_executions(workspace.state_dir) == [newer, older]
    assert prune_backups(workspace, keep=1) == [older]
    assert archived_executions(workspace.state_dir) == [newer]
    assert not backup_dir(workspace.state_dir, older).exists()
    assert backup_dir(workspace.state_dir, newer).is_dir()
    assert not journal_path(workspace.state_dir, older).exists()
    assert json.loads(archived_path(workspace.state_dir, newer).read_text())["state"] == (
        "committed"
    )
