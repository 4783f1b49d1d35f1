"""Edges of the executor's promises: other people's edits, failures around the commit point,
private backups, directory modes, a symlinked state directory, FIFOs, the lock probe.

Each test pins one behaviour found by review; crashes run the real CLI in a subprocess.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agentos.executor.lock import lock_is_held, workspace_lock
from agentos.workspace import Workspace
from helpers import PERMISSIVE_POLICY, read_tree, write_tree


def agentos(ws: Path, *args: str | Path, faults: str | None = None) -> tuple[int, dict[str, Any]]:
    """``python -m agentos ARGS -C ws --json`` in a subprocess; (exit code, envelope)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTOS_FAULTS")}
    if faults:
        env["AGENTOS_FAULTS"] = faults
    proc = subprocess.run(
        [sys.executable, "-m", "agentos", *map(str, args), "-C", str(ws), "--json"],
        capture_output=True,
        env=env,
        check=False,
        timeout=120,
    )
    assert b"Traceback" not in proc.stderr, proc.stderr
    doc = json.loads(proc.stdout) if proc.stdout.strip() else {}
    return proc.returncode, doc


def apply(ws: Path, *args: str, faults: str | None = None) -> tuple[int, dict[str, Any]]:
    """``agentos apply|rollback ARGS`` under the permissive policy."""
    return agentos(ws, *args, "--policy", PERMISSIVE_POLICY, faults=faults)


def plan(ws: Path, plan_id: str, changes: list[dict[str, str]]) -> None:
    manifest = ws.parent / f"{plan_id}.json"
    manifest.write_text(json.dumps({"changes": changes}))
    code, doc = agentos(ws, "plan", manifest, "--plan-id", plan_id, "--policy", PERMISSIVE_POLICY)
    assert code == 0, doc


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    write_tree(root, {"src/a.txt": "a\n", "src/b.txt": "b\n", "keep/k.txt": "k\n"})
    return root


CHANGES = [
    {"op": "modify", "path": "src/a.txt", "content": "A\n"},
    {"op": "delete", "path": "src/b.txt"},
]


def test_recovery_never_overwrites_someone_elses_edit(ws: Path) -> None:
    plan(ws, "p1", CHANGES)
    code, _ = agentos(
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
        code, doc = agentos(ws, *args)
        assert code == 5, doc
        assert doc["error"]["type"] == "rollback_conflict"
        assert set(doc["error"]["details"]["paths"]) == {"src/a.txt", "src/b.txt"}
        assert "nothing was changed" in doc["error"]["message"]
        assert read_tree(ws) == before
        assert sorted((ws / ".agentos" / "journal").glob("*.json")) == journals
    # Once the person moves their files aside, recovery finishes: the old tree.
    (ws / "src" / "a.txt").rename(ws / "a.mine")
    (ws / "src" / "b.txt").rename(ws / "b.mine")
    code, doc = agentos(ws, "recover")
    assert code == 0, doc
    assert read_tree(ws)["src/a.txt"] == (b"a\n", "100644")
    assert read_tree(ws)["src/b.txt"] == (b"b\n", "100644")
    assert agentos(ws, "audit", "verify")[0] == 0


def test_an_error_after_the_commit_record_reports_the_commit(ws: Path) -> None:
    plan(ws, "p1", CHANGES)
    code, doc = agentos(ws, "apply", "p1", "--policy", PERMISSIVE_POLICY, faults="commit.after=eio")
    assert code == 0, doc
    assert doc["result"]["status"] == "committed"
    assert any("after the commit point" in w for w in doc["result"]["warnings"])
    assert read_tree(ws) == {"src/a.txt": (b"A\n", "100644"), "keep/k.txt": (b"k\n", "100644")}
    assert agentos(ws, "audit", "verify")[0] == 0


def test_no_replay_before_recovery_of_an_interrupted_rollback(ws: Path) -> None:
    plan(ws, "p1", CHANGES)
    code, doc = agentos(ws, "apply", "p1", "--policy", PERMISSIVE_POLICY)
    assert code == 0, doc
    execution = doc["result"]["execution_id"]
    # The rollback crashes right after its commit point, before the parent is marked reverted.
    code, _ = agentos(
        ws, "rollback", execution, "--policy", PERMISSIVE_POLICY, faults="commit.after=crash"
    )
    assert code == 137
    assert (ws / "src" / "a.txt").read_text() == "a\n"
    # Applying the original plan again must not trust the stale "committed" record.
    code, doc = agentos(ws, "apply", "p1", "--policy", PERMISSIVE_POLICY)
    assert code == 0, doc
    assert doc["result"]["status"] == "committed"
    assert (ws / "src" / "a.txt").read_text() == "A\n"
    assert not (ws / "src" / "b.txt").exists()


def test_backups_and_journal_are_private(ws: Path) -> None:
    (ws / "src" / "a.txt").chmod(0o600)
    plan(ws, "p1", CHANGES)
    code, _ = apply(ws, "apply", "p1", faults="commit.before=crash")
    assert code == 137  # the journal and backups stay, to be looked at
    state = ws / ".agentos"
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    for path in (state / "backups").rglob("*"):
        if path.is_file():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for path in (state / "journal").rglob("*.json"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_rollback_restores_the_mode_of_a_directory_a_deletion_removed(ws: Path) -> None:
    write_tree(ws, {"private/only.txt": "secret-free\n"})
    (ws / "private").chmod(0o700)
    plan(ws, "p1", [{"op": "delete", "path": "private/only.txt"}])
    code, doc = agentos(ws, "apply", "p1", "--policy", PERMISSIVE_POLICY)
    assert code == 0, doc
    assert not (ws / "private").exists()
    code, doc = agentos(
        ws, "rollback", doc["result"]["execution_id"], "--policy", PERMISSIVE_POLICY
    )
    assert code == 0, doc
    assert (ws / "private" / "only.txt").read_text() == "secret-free\n"
    # The inverse plan recreates the folder; a crash-recovery restores its mode from the journal.
    write_tree(ws, {"private2/x.txt": "x\n"})
    (ws / "private2").chmod(0o700)
    plan(ws, "p2", [{"op": "delete", "path": "private2/x.txt"}])
    code, _ = agentos(
        ws, "apply", "p2", "--policy", PERMISSIVE_POLICY, faults="commit.before=crash"
    )
    assert code == 137
    assert agentos(ws, "recover", "--policy", PERMISSIVE_POLICY)[0] == 0
    assert stat.S_IMODE((ws / "private2").stat().st_mode) == 0o700
    assert (ws / "private2" / "x.txt").read_text() == "x\n"


def test_a_symlinked_state_directory_is_refused(ws: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (ws / ".agentos").symlink_to(outside)
    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps({"changes": CHANGES}))
    code, doc = agentos(ws, "plan", manifest, "--plan-id", "p1", "--policy", PERMISSIVE_POLICY)
    assert code == 3, doc
    assert "symlink" in doc["error"]["message"]
    assert list(outside.iterdir()) == []


def test_a_fifo_at_a_planned_path_does_not_hang(ws: Path) -> None:
    plan(ws, "p1", [{"op": "modify", "path": "src/a.txt", "content": "A\n"}])
    (ws / "src" / "a.txt").unlink()
    os.mkfifo(ws / "src" / "a.txt")
    code, doc = agentos(ws, "apply", "p1", "--policy", PERMISSIVE_POLICY)  # timeout=120 guards
    assert code == 5, doc
    assert doc["result"]["status"] == "stale"


def test_the_lock_probe_never_takes_the_lock(ws: Path) -> None:
    workspace = Workspace(ws)
    assert lock_is_held(workspace) is False
    with workspace_lock(workspace, timeout=1, holder={"execution_id": "exec-test"}):
        assert lock_is_held(workspace) is True
        code, doc = agentos(ws, "status")
        assert code == 0
        assert doc["result"]["lock"]["held"] is True
        assert doc["result"]["lock"]["holder"]["execution_id"] == "exec-test"
    assert lock_is_held(workspace) is False


def test_recovery_under_a_tightened_pinned_policy_has_an_explicit_way_out(ws: Path) -> None:
    import yaml

    policy = yaml.safe_load(PERMISSIVE_POLICY.read_text())
    own = ws / "agent" / "policies" / "default.yaml"
    own.parent.mkdir(parents=True)
    own.write_text(yaml.safe_dump(policy))  # pinned: no governance key, so no overrides
    plan(ws, "p1", CHANGES)
    code, _ = agentos(ws, "apply", "p1", faults="commit.before=crash")
    assert code == 137
    # After the crash the policy is tightened: src/a.txt may no longer be written.
    policy["writegate"]["forbidden_paths"] = ["src/a.txt"]
    own.write_text(yaml.safe_dump(policy))
    code, doc = agentos(ws, "recover")
    assert code == 3, doc
    assert "--journal-rules" in doc["error"]["message"]
    assert (ws / "src" / "a.txt").read_text() == "A\n"  # nothing was changed
    code, doc = agentos(ws, "recover", "--journal-rules")
    assert code == 0, doc
    assert read_tree(ws)["src/a.txt"] == (b"a\n", "100644")
    assert read_tree(ws)["src/b.txt"] == (b"b\n", "100644")
    events = [
        json.loads(line)
        for line in (ws / ".agentos" / "audit" / "audit.jsonl").read_text().splitlines()
    ]
    finished = [e["data"] for e in events if e["event"] == "recovery.finished"]
    assert finished[-1]["rules"] == "journal"
