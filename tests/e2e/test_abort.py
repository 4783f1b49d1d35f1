"""The hard stop of a real ``agentos apply``: ``agentos abort``, SIGINT and SIGTERM (SPEC §9).

Black box: the installed ``agentos`` runs in a subprocess; a second process (``agentos abort``)
or a signal from the test stops it, either while a long health check runs (a command that
notes its pid and a grandchild's, then sleeps 30 s) or while it writes files (held at
``fsops.replace.before@2`` by the ``pause`` fault). Each time the apply must exit 130 within a
few seconds, kill the check's whole process group, leave exactly the old tree (no temp file),
record ``apply.aborted`` in an audit trail that still verifies, and let a second apply of the
same plan commit.

Run time: about 15-20 s.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from helpers import (
    AGENTOS,
    PYTHON,
    Run,
    Tree,
    agentos,
    environment,
    events,
    finished,
    make_plan,
    needs_agentos,
    read_tree,
    set_policy,
    temp_files,
    trail,
    wait_for,
    wait_gone,
    write_tree,
)

WAIT_SECONDS = 30.0
STOP_SECONDS = 10.0
OLD: dict[str, bytes | str | tuple[bytes | str, str]] = {
    "src/a.txt": "a\n",
    "src/b.txt": "b\n",
    "src/c.txt": "c\n",
}
MODIFY_ONE = [{"op": "modify", "path": "src/a.txt", "content": "A\n"}]
MODIFY_ALL = [{"op": "modify", "path": p, "content": f"{p} new\n"} for p in OLD]
HOW = ["abort", "SIGINT", "SIGTERM"]

pytestmark = needs_agentos


def start_apply(ws: Path, plan_id: str, **env: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(AGENTOS), "apply", plan_id, "--json"],
        cwd=ws,
        env=environment(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def stop(how: str, ws: Path, proc: subprocess.Popen[bytes]) -> Run | None:
    """Ask the running apply to stop: ``agentos abort`` (its result) or a signal (None)."""
    if how == "abort":
        run = agentos("abort", "--reason", "test", cwd=ws)
        assert run.code == 0, run.doc
        assert run.result["requested"] is True
        return run
    proc.send_signal(getattr(signal, how))
    return None


def expect_aborted(
    ws: Path, how: str, run: Run, old: Tree, requested: Run | None, *, execution_id: str
) -> None:
    """Exit 130, the old tree, and an audit trail that says so (and still verifies)."""
    assert run.code == 130, run.doc
    assert run.result["status"] == "aborted"
    assert run.result["execution_id"] == execution_id
    assert run.doc["error"]["type"] == "aborted"
    why = "agentos abort: test" if how == "abort" else how
    assert f"aborted ({why})" in run.doc["error"]["message"]
    assert read_tree(ws) == old
    assert temp_files(ws) == []
    names = events(ws)
    assert names.count("apply.aborted") == 1
    assert "apply.failed" not in names
    assert "apply.committed" not in names
    assert names.index("rollback.finished") < names.index("apply.aborted")
    if requested is not None:
        assert requested.result["execution_id"] == execution_id
        [asked] = [e for e in trail(ws) if e["event"] == "abort.requested"]
        assert asked["execution_id"] == execution_id
        assert asked["data"]["reason"] == "test"
        assert names.index("abort.requested") < names.index("apply.aborted")
    else:
        assert "abort.requested" not in names
    verify = agentos("audit", "verify", cwd=ws)
    assert verify.code == 0, verify.doc
    assert verify.result["events"] == len(names)


def hanging_check(pids: Path) -> dict[str, Any]:
    """A check that starts a grandchild, notes both pids (atomically) and sleeps 30 s."""
    script = (
        "import os, subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'])\n"
        f"tmp = {str(pids)!r} + '.tmp'\n"
        "with open(tmp, 'w') as f: f.write(f'{os.getpid()} {child.pid}')\n"
        f"os.replace(tmp, {str(pids)!r})\n"
        "time.sleep(30)\n"
    )
    return {"name": "long", "command": [PYTHON, "-c", script]}


def quick_check() -> dict[str, Any]:
    return {"name": "quick", "command": [PYTHON, "-c", "print('ok')"]}


@pytest.mark.parametrize("how", HOW)
def test_stop_during_a_long_health_check(tmp_path: Path, how: str) -> None:
    ws = tmp_path / "ws"
    write_tree(ws, OLD)
    pids = tmp_path / "check.pids"
    set_policy(ws, [hanging_check(pids), quick_check()])
    make_plan(ws, "p1", MODIFY_ONE)
    old = read_tree(ws)

    proc = start_apply(ws, "p1")
    try:
        wait_for(pids, proc, WAIT_SECONDS)
        leader, grandchild = (int(p) for p in pids.read_text().split())
        assert read_tree(ws)["src/a.txt"][0] == b"A\n"  # written, not committed yet
        signalled = time.monotonic()
        requested = stop(how, ws, proc)
        out, err = proc.communicate(timeout=30)
        took = time.monotonic() - signalled
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    run = finished(proc.returncode, out, err)
    assert took < STOP_SECONDS, took
    assert wait_gone([leader, grandchild]) == []
    expect_aborted(ws, how, run, old, requested, execution_id=run.result["execution_id"])
    statuses = {c["name"]: c["status"] for c in run.result["checks"]}
    assert statuses["long"] == "aborted"
    assert run.result["post_rollback"] == []
    assert "health.post_rollback" not in events(ws)

    # Without the long check, the same plan commits (a new attempt).
    set_policy(ws, [quick_check()])
    again = agentos("apply", "p1", cwd=ws)
    assert again.code == 0, again.doc
    assert again.result["status"] == "committed"
    assert again.result["attempt"] == 2
    assert [c["status"] for c in again.result["checks"]] == ["passed"]
    assert read_tree(ws)["src/a.txt"] == (b"A\n", "100644")
    assert temp_files(ws) == []


@pytest.mark.parametrize("how", HOW)
def test_stop_during_the_file_writes(tmp_path: Path, how: str) -> None:
    ws = tmp_path / "ws"
    write_tree(ws, OLD)
    set_policy(ws, [])
    make_plan(ws, "p1", MODIFY_ALL)
    old = read_tree(ws)
    faults = tmp_path / "faults"
    faults.mkdir()
    point = "fsops.replace.before"

    proc = start_apply(ws, "p1", AGENTOS_FAULTS=f"{point}=pause@2", AGENTOS_FAULTS_DIR=str(faults))
    try:
        wait_for(faults / f"{point}.paused", proc, WAIT_SECONDS)
        # Held before the second replace: one file already holds its new content.
        now = read_tree(ws)
        assert sum(now[p] != old[p] for p in old) == 1
        signalled = time.monotonic()
        requested = stop(how, ws, proc)
        (faults / f"{point}.resume").write_text("go")
        out, err = proc.communicate(timeout=30)
        took = time.monotonic() - signalled
    finally:
        (faults / f"{point}.resume").write_text("go")
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    run = finished(proc.returncode, out, err)
    assert took < STOP_SECONDS, took
    expect_aborted(ws, how, run, old, requested, execution_id=run.result["execution_id"])
    assert "changes.written" not in events(ws)

    again = agentos("apply", "p1", cwd=ws)
    assert again.code == 0, again.doc
    assert again.result["status"] == "committed"
    assert again.result["attempt"] == 2
    assert read_tree(ws) == {**old, **{p: (f"{p} new\n".encode(), "100644") for p in OLD}}
    assert temp_files(ws) == []


def test_abort_with_nothing_running(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    write_tree(ws, OLD)
    (ws / ".agentos").mkdir()
    nothing = {"execution_id": None, "plan_id": None, "requested": False}
    run = agentos("abort", "--reason", "test", cwd=ws)
    assert run.code == 0, run.doc
    assert run.result == nothing

    # After a finished apply the lock file exists but nobody holds it: still nothing to stop.
    set_policy(ws, [])
    make_plan(ws, "p1", MODIFY_ONE)
    assert agentos("apply", "p1", cwd=ws).code == 0
    after = read_tree(ws)
    run = agentos("abort", cwd=ws)
    assert run.code == 0, run.doc
    assert run.result == nothing
    assert "abort.requested" not in events(ws)
    assert list((ws / ".agentos").glob("abort/*")) == []
    assert read_tree(ws) == after
