"""Edges of the executor's promises: an error after the commit point, a symlinked state
directory, a FIFO at a planned path.

Each test pins one behaviour found by review; crashes run the real CLI in a subprocess. (The
edges of one module each are with that module's tests: recovery never overwriting someone
else's edit in test_recovery.py, private backups in test_journal.py, directory modes in
test_restore.py, the lock probe in test_lock.py.)
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from helpers import (
    PERMISSIVE_POLICY,
    SMALL_CHANGES,
    agentos_subprocess,
    plan_subprocess,
    read_tree,
)


def test_an_error_after_the_commit_record_reports_the_commit(ws: Path) -> None:
    plan_subprocess(ws, "p1", SMALL_CHANGES)
    code, doc = agentos_subprocess(
        ws, "apply", "p1", "--policy", PERMISSIVE_POLICY, faults="commit.after=eio"
    )
    assert code == 0, doc
    assert doc["result"]["status"] == "committed"
    assert any("after the commit point" in w for w in doc["result"]["warnings"])
    assert read_tree(ws) == {"src/a.txt": (b"A\n", "100644"), "keep/k.txt": (b"k\n", "100644")}
    assert agentos_subprocess(ws, "audit", "verify")[0] == 0


def test_a_symlinked_state_directory_is_refused(ws: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (ws / ".agentos").symlink_to(outside)
    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps({"changes": SMALL_CHANGES}))
    code, doc = agentos_subprocess(
        ws, "plan", manifest, "--plan-id", "p1", "--policy", PERMISSIVE_POLICY
    )
    assert code == 3, doc
    assert "symlink" in doc["error"]["message"]
    assert list(outside.iterdir()) == []


def test_a_fifo_at_a_planned_path_does_not_hang(ws: Path) -> None:
    plan_subprocess(ws, "p1", [{"op": "modify", "path": "src/a.txt", "content": "A\n"}])
    (ws / "src" / "a.txt").unlink()
    os.mkfifo(ws / "src" / "a.txt")
    code, doc = agentos_subprocess(
        ws, "apply", "p1", "--policy", PERMISSIVE_POLICY
    )  # timeout=120 guards
    assert code == 5, doc
    assert doc["result"]["status"] == "stale"
