"""Health checks that write: their writes are part of the transaction (never exit 8).

A formatter, a code generator or a test runner run as a health check may rewrite, delete or
create files. While the checks run, the journal says so (phase ``checking``): a rollback —
because a check failed, because the post-images no longer verify after the checks, or
after a crash — undoes the change *and* what the checks did to its paths and to the
directories it created, keeping a copy of every byte it replaces in
``.agentos/displaced/<execution_id>/``. A check that passes but rewrote a planned file fails
the apply: what commits is exactly what was planned.

Black box: the installed ``agentos`` in a subprocess, checks are real ``sh -c`` commands.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import (
    AGENTOS,
    APP,
    CheckedWorkspace,
    Tree,
    agentos,
    environment,
    needs_agentos,
    temp_files,
    trail,
    wait_gone,
)

pytestmark = needs_agentos

NEW = "src/z/new.txt"
DOOMED = "docs/old.md"
CHANGES = [
    {"op": "modify", "path": APP, "content": "new\n"},
    {"op": "create", "path": NEW, "content": "created\n"},
    {"op": "delete", "path": DOOMED},
]


def check(script: str, **extra: Any) -> dict[str, Any]:
    return {"name": "fmt", "command": ["sh", "-c", script], "timeout": 20, **extra}


@pytest.fixture
def ws(tmp_path: Path) -> CheckedWorkspace:
    workspace = CheckedWorkspace(tmp_path / "ws")
    (workspace.root / DOOMED).write_text("old doc\n")
    return workspace


def new_tree(old: Tree) -> Tree:
    tree = {k: v for k, v in old.items() if k != DOOMED}
    return {**tree, APP: (b"new\n", "100644"), NEW: (b"created\n", "100644")}


def active_journals(ws: CheckedWorkspace) -> list[str]:
    return sorted(p.name for p in (ws.root / ".agentos" / "journal").glob("*.json"))


def displaced(ws: CheckedWorkspace) -> dict[str, bytes | str]:
    """What was kept aside, by the path it came from: a file's bytes, or the kind of entry
    (a directory, link or FIFO moved aside whole)."""
    root = ws.root / ".agentos" / "displaced"
    if not root.is_dir():
        return {}
    kept: dict[str, bytes | str] = {}
    for note in root.rglob("*.json"):
        doc = json.loads(note.read_text())
        copy = note.with_name(note.name.removesuffix(".json"))
        if doc["kind"] == "file":
            assert hashlib.sha256(copy.read_bytes()).hexdigest() == doc["sha256"]
            kept[doc["path"]] = copy.read_bytes()
        else:
            kept[doc["path"]] = "dir" if copy.is_dir() and not copy.is_symlink() else "entry"
    return kept


def run_with(ws: CheckedWorkspace, script: str) -> tuple[Tree, Any]:
    ws.set_policy([check(script)])
    old = ws.tree()
    ws.plan("p1", CHANGES)
    return old, ws.apply("p1")


def assert_undone(ws: CheckedWorkspace, run: Any, old: Tree, error: str) -> None:
    assert run.code == 1, run.doc
    assert run.result["status"] == "rolled_back"
    assert run.doc["error"]["type"] == error, run.doc["error"]
    assert ws.tree() == old
    assert not (ws.root / "src" / "z").exists()
    assert temp_files(ws.root) == []
    assert active_journals(ws) == []
    # Nothing is stuck: recovery has nothing to do, and the next apply runs (and fails the
    # same way, never with exit 8).
    recover = agentos("recover", cwd=ws.root)
    assert (recover.code, recover.result["recovered"]) == (0, [])
    again = ws.apply("p1")
    assert again.code == 1, again.doc
    assert ws.tree() == old


def test_a_failing_check_that_rewrote_a_planned_file_is_rolled_back_whole(
    ws: CheckedWorkspace,
) -> None:
    # The reported case: exit 8 "(nothing was changed)" although src/z/new.txt was deleted.
    old, run = run_with(ws, "echo reformatted > src/app.txt; exit 1")
    assert_undone(ws, run, old, "health_check_failed")
    assert displaced(ws) == {APP: b"reformatted\n"}
    assert any("kept in" in w and APP in w for w in run.result["warnings"]), run.result
    events = [e["event"] for e in trail(ws.root)]
    assert "rollback.finished" in events and "apply.failed" in events


def test_a_passing_check_that_rewrote_a_planned_file_fails_the_apply(ws: CheckedWorkspace) -> None:
    old, run = run_with(ws, "echo reformatted > src/app.txt")
    assert_undone(ws, run, old, "verification_failed")
    message = run.doc["error"]["message"]
    assert "after the health checks" in message and APP in message and "fmt" in message
    assert [c["status"] for c in run.checks] == ["passed"]
    verified = [e["data"] for e in trail(ws.root) if e["event"] == "verify.finished"]
    assert verified[-1]["after_checks"] is True
    assert verified[-1]["ok"] is False


@pytest.mark.parametrize(
    ("script", "error"),
    [
        ("rm src/z/new.txt", "verification_failed"),
        ("rm src/z/new.txt; exit 1", "health_check_failed"),
        ("rm src/app.txt; exit 3", "health_check_failed"),
        ("echo mine > docs/old.md; exit 1", "health_check_failed"),
        ("echo mine > docs/old.md", "verification_failed"),
        ("chmod +x src/app.txt", "verification_failed"),
        (
            "echo cache > src/z/cache.txt; mkdir -p src/z/deep; echo x > src/z/deep/y; exit 1",
            "health_check_failed",
        ),
        ("rm -r src/z; exit 1", "health_check_failed"),
        ("rm src/app.txt; mkdir src/app.txt; exit 1", "health_check_failed"),
        ("rm src/app.txt; mkdir src/app.txt", "verification_failed"),
        ("rm src/app.txt; ln -s ../docs/guide.md src/app.txt", "verification_failed"),
        ("rm src/app.txt; mkfifo src/app.txt; exit 1", "health_check_failed"),
        ("rm -r src/z; echo file > src/z; exit 1", "health_check_failed"),
        ("rm -r src/z; ln -s ../docs src/z", "verification_failed"),
        ("chmod 666 src/app.txt", "verification_failed"),
        (f"echo x > src/z/{'a' * 240}; echo y > docs/old.md; exit 1", "health_check_failed"),
        (
            "echo a > src/z/f; mkdir -p 'src/z/f~x'; echo b > 'src/z/f~x/g'; exit 1",
            "health_check_failed",
        ),
    ],
    ids=[
        "deletes-a-created-file-passes",
        "deletes-a-created-file-fails",
        "deletes-a-modified-file",
        "recreates-a-deleted-file-fails",
        "recreates-a-deleted-file-passes",
        "changes-a-mode",
        "fills-a-created-directory",
        "removes-a-created-directory",
        "a-directory-at-a-planned-path-fails",
        "a-directory-at-a-planned-path-passes",
        "a-symlink-at-a-planned-path",
        "a-fifo-at-a-planned-path",
        "a-file-in-place-of-a-created-directory",
        "a-symlink-in-place-of-a-created-directory",
        "changes-only-the-permission-bits",
        "a-255-byte-name-in-a-created-directory",
        "names-that-look-like-displaced-copies",
    ],
)
def test_every_kind_of_check_write_is_undone_with_the_change(
    ws: CheckedWorkspace, script: str, error: str
) -> None:
    old, run = run_with(ws, script)
    assert_undone(ws, run, old, error)


def test_what_a_passing_check_leaves_beside_the_change_stays(ws: CheckedWorkspace) -> None:
    # Caches in a directory the change created, files elsewhere: not the change's paths.
    old, run = run_with(ws, "echo cache > src/z/cache.txt; echo log > docs/check.log")
    assert run.code == 0, run.doc
    assert ws.tree() == {
        **new_tree(old),
        "src/z/cache.txt": (b"cache\n", "100644"),
        "docs/check.log": (b"log\n", "100644"),
    }
    # Undoing the execution later removes what agentos created and keeps the rest.
    back = agentos("rollback", run.result["execution_id"], cwd=ws.root)
    assert back.code == 0, back.doc
    assert ws.tree() == {
        **old,
        "src/z/cache.txt": (b"cache\n", "100644"),
        "docs/check.log": (b"log\n", "100644"),
    }


def test_a_failing_check_keeps_what_it_wrote_outside_the_change(ws: CheckedWorkspace) -> None:
    old, run = run_with(ws, "echo log > docs/check.log; echo cache > src/z/c.txt; exit 1")
    assert run.code == 1, run.doc
    # The created directory goes (its contents kept aside); a file elsewhere is not touched.
    assert ws.tree() == {**old, "docs/check.log": (b"log\n", "100644")}
    assert displaced(ws) == {"src/z/c.txt": b"cache\n"}


@contextlib.contextmanager
def killed_while_checking(
    ws: CheckedWorkspace, pidfile: Path, ready: Callable[[], bool] = lambda: True
) -> Iterator[int]:
    """Run ``agentos apply p1``, SIGKILL it once its check wrote its pid to ``pidfile`` (and
    ``ready()``), and yield the check's pid; its process group is killed on the way out."""
    proc = subprocess.Popen(
        [str(AGENTOS), "apply", "p1", "--json"],
        cwd=ws.root,
        env=environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    check_pid = 0
    try:
        deadline = time.monotonic() + 30
        while not (pidfile.exists() and pidfile.read_text().strip() and ready()):
            assert time.monotonic() < deadline, "the check never ran"
            time.sleep(0.05)
        proc.kill()  # power cut, OOM: the journal is hot, in phase "checking"
        proc.wait(timeout=30)
        check_pid = int(pidfile.read_text().strip())
        yield check_pid
    finally:
        if proc.poll() is None:
            proc.kill()
        if check_pid > 0:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(check_pid, signal.SIGKILL)


def test_a_crash_while_a_check_runs_is_recovered_with_the_checks_writes(
    ws: CheckedWorkspace, tmp_path: Path
) -> None:
    pidfile = tmp_path / "check.pid"
    ws.set_policy([check(f"echo $$ > {pidfile}; echo reformatted > src/app.txt; sleep 30")])
    old = ws.tree()
    ws.plan("p1", CHANGES)
    with killed_while_checking(ws, pidfile, lambda: (ws.root / APP).read_text() == "reformatted\n"):
        assert active_journals(ws)
        recover = agentos("recover", cwd=ws.root)
        assert recover.code == 0, recover.doc
        assert [row["action"] for row in recover.result["recovered"]] == ["rolled_back"]
        assert ws.tree() == old
        assert temp_files(ws.root) == []
        assert displaced(ws) == {APP: b"reformatted\n"}
        assert agentos("audit", "verify", cwd=ws.root).code == 0


def test_recovery_stops_a_check_that_outlived_a_killed_apply(
    ws: CheckedWorkspace, tmp_path: Path
) -> None:
    # agentos is killed while its check sleeps; the check would write later, after recovery.
    pidfile = tmp_path / "late.pid"
    script = f"echo $$ > {pidfile}; sleep 3; echo late > src/app.txt; exit 1"
    ws.set_policy([check(script)])
    old = ws.tree()
    ws.plan("p1", CHANGES)
    with killed_while_checking(ws, pidfile) as check_pid:
        recover = agentos("recover", cwd=ws.root)
        assert recover.code == 0, recover.doc
        assert ws.tree() == old
        assert wait_gone([check_pid], 5.0) == []  # recovery stopped it
        time.sleep(3.5)  # past the moment it would have written
        assert ws.tree() == old


def test_a_hot_journal_put_back_after_its_commit_is_refused(
    ws: CheckedWorkspace, tmp_path: Path
) -> None:
    # A check copies the (genuinely sealed) hot journal; after the commit it is put back.
    saved = tmp_path / "saved.json"
    ws.set_policy([check(f"cp .agentos/journal/*.json {saved}")])
    ws.plan("p1", CHANGES)
    old = ws.tree()
    run = ws.apply("p1")
    assert run.code == 0, run.doc
    new = ws.tree()
    assert new != old
    hot = ws.root / ".agentos" / "journal" / f"{run.result['execution_id']}.json"
    hot.write_bytes(saved.read_bytes())
    recover = agentos("recover", cwd=ws.root)
    assert recover.code == 6, recover.doc
    assert "put back from a copy" in recover.doc["error"]["message"]
    assert ws.tree() == new  # the committed change stands


def test_checks_do_not_see_the_secrets_agentos_holds(
    ws: CheckedWorkspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTOS_APPROVAL_KEY", "hmac-secret-4c1d")
    ws.set_policy([check("env | grep '^AGENTOS_' | sort; exit 1")])
    ws.plan("p1", CHANGES)
    run = ws.apply("p1")
    assert run.code == 1, run.doc
    output = run.checks[0]["output"]
    assert "AGENTOS_WORKSPACE=" in output and "AGENTOS_EXECUTION_ID=" in output
    assert "hmac-secret-4c1d" not in output
    assert "AGENTOS_APPROVAL_KEY" not in output and "AGENTOS_KEY_DIR" not in output


def test_copies_kept_aside_are_pruned_like_backups(ws: CheckedWorkspace) -> None:
    ws.set_policy([check("echo reformatted > src/app.txt; exit 1")])
    policy_path = ws.root / "agent" / "policies" / "default.yaml"
    policy = yaml.safe_load(policy_path.read_text())
    policy["executor"]["backups"] = {"keep": 1}
    policy_path.write_text(yaml.safe_dump(policy, sort_keys=False))
    root = ws.root / ".agentos" / "displaced"
    for n, content in enumerate(("one\n", "two\n")):
        ws.plan(f"p{n}", [{"op": "modify", "path": APP, "content": content}])
        assert ws.apply(f"p{n}").code == 1
        time.sleep(0.02)
    assert len(list(root.iterdir())) == 2  # a failed apply prunes nothing
    ws.set_policy([])
    policy = yaml.safe_load(policy_path.read_text())
    policy["executor"]["backups"] = {"keep": 1}
    policy_path.write_text(yaml.safe_dump(policy, sort_keys=False))
    ws.plan("p9", [{"op": "modify", "path": APP, "content": "nine\n"}])
    assert ws.apply("p9").code == 0  # a commit prunes: the newest folder stays
    assert len(list(root.iterdir())) == 1
