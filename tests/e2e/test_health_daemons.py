"""A real ``agentos apply`` leaves no daemon behind, whatever its health checks started.

Black box: the installed ``agentos`` runs in a subprocess on a workspace whose policy holds a
command check that starts a daemon escaping its process group — ``setsid sleep 300`` in the
background, or a Python double fork with ``os.setsid()`` — and writes the daemon's pid to a
file. Whether the check passes (the apply commits) or fails (the apply rolls back, and the
check runs once more after the rollback, starting a second daemon), every daemon is gone by the
time ``agentos`` has exited. Linux only (elsewhere only the check's process group is killed).

Figures: 4 daemons reaped in 3 applies, about 5 s (mostly process start-ups).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from shlex import quote
from typing import Any

import pytest

from helpers import (
    APP,
    agentos,
    double_fork_script,
    make_plan,
    needs_agentos,
    pid_gone,
    read_tree,
    set_policy,
    write_tree,
)

pytestmark = [
    needs_agentos,
    pytest.mark.skipif(
        not sys.platform.startswith("linux") or shutil.which("setsid") is None,
        reason="reaping escaped daemons needs Linux /proc, prctl and setsid",
    ),
]

DOUBLE_FORK = double_fork_script('os.path.join(sys.argv[1], pid + ".pid")')


def setsid_check(pid_dir: Path, code: int) -> list[str]:
    """``sh`` starting ``setsid sleep 300`` in the background; the daemon notes its pid."""
    pidfile = f"{quote(str(pid_dir))}/$$.pid"
    script = (
        f"p={pidfile}; "
        'setsid sh -c \'echo $$ > "$1.tmp" && mv "$1.tmp" "$1"; exec sleep 300\' daemon "$p" & '
        'i=0; while [ ! -s "$p" ] && [ "$i" -lt 1000 ]; do sleep 0.01; i=$((i+1)); done; '
        f"exit {code}"
    )
    return ["sh", "-c", script]


def double_fork_check(pid_dir: Path, code: int) -> list[str]:
    return [sys.executable, "-c", DOUBLE_FORK, str(pid_dir), str(code)]


def make_workspace(root: Path, command: list[str]) -> None:
    write_tree(root, {APP: "old\n"})
    set_policy(root, [{"name": "daemon", "command": command, "timeout": 20}])
    make_plan(root, "p1", [{"op": "modify", "path": APP, "content": "new\n"}])


def daemon_pids(pid_dir: Path) -> list[int]:
    return sorted(int(p.read_text()) for p in pid_dir.glob("*.pid"))


@pytest.fixture
def pid_dir(tmp_path: Path) -> Iterator[Path]:
    """Where the daemons note their pids; whatever outlives the test is killed after it."""
    where = tmp_path / "pids"
    where.mkdir()
    yield where
    for pid in daemon_pids(where):
        if not pid_gone(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("make_check", [setsid_check, double_fork_check], ids=["setsid", "fork"])
def test_passing_check_leaves_no_daemon(tmp_path: Path, pid_dir: Path, make_check: Any) -> None:
    ws = tmp_path / "ws"
    make_workspace(ws, make_check(pid_dir, 0))
    run = agentos("apply", "p1", cwd=ws)
    code, doc = run.code, run.doc
    assert code == 0, doc
    assert doc["result"]["status"] == "committed"
    assert [c["status"] for c in doc["result"]["checks"]] == ["passed"]
    assert read_tree(ws)[APP] == (b"new\n", "100644")
    daemons = daemon_pids(pid_dir)
    assert len(daemons) == 1
    assert [pid for pid in daemons if not pid_gone(pid)] == [], "a daemon outlived the apply"


def test_failing_check_rolls_back_and_leaves_no_daemon(tmp_path: Path, pid_dir: Path) -> None:
    ws = tmp_path / "ws"
    make_workspace(ws, setsid_check(pid_dir, 1))
    run = agentos("apply", "p1", cwd=ws)
    code, doc = run.code, run.doc
    assert code == 1, doc
    assert doc["result"]["status"] == "rolled_back"
    assert read_tree(ws)[APP] == (b"old\n", "100644")
    # The check on the new tree and its re-run after the rollback: a daemon each, both gone.
    daemons = daemon_pids(pid_dir)
    assert len(daemons) == 2
    assert [pid for pid in daemons if not pid_gone(pid)] == [], "a daemon outlived the apply"
