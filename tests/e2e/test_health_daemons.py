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
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from shlex import quote
from typing import Any

import pytest
import yaml

from helpers import GIT_ENV, PERMISSIVE_POLICY, double_fork_script, pid_gone, read_tree, write_tree

AGENTOS = Path(sys.executable).with_name("agentos")
FAULT_VARS = ("AGENTOS_FAULTS", "AGENTOS_FAULTS_DIR", "AGENTOS_FAULTS_TRACE")
APP = "src/app.txt"

pytestmark = [
    pytest.mark.skipif(not AGENTOS.exists(), reason="agentos is not installed in the venv"),
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


def agentos(*args: str | Path, cwd: Path) -> tuple[int, dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if k not in FAULT_VARS}
    proc = subprocess.run(
        [str(AGENTOS), *map(str, args), "--json"],
        cwd=cwd,
        env={**env, **GIT_ENV, "NO_COLOR": "1", "COLUMNS": "120"},
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert "Traceback" not in proc.stderr.decode(), proc.stderr.decode()
    return proc.returncode, json.loads(proc.stdout)


def make_workspace(root: Path, command: list[str]) -> None:
    write_tree(root, {APP: "old\n"})
    policy = yaml.safe_load(PERMISSIVE_POLICY.read_text())
    policy["health_checks"] = [{"name": "daemon", "command": command, "timeout": 20}]
    path = root / "agent" / "policies" / "default.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(policy, sort_keys=False))
    manifest = root.parent / "change.json"
    manifest.write_text(
        json.dumps({"changes": [{"op": "modify", "path": APP, "content": "new\n"}]})
    )
    code, doc = agentos("plan", manifest, "--plan-id", "p1", cwd=root)
    assert code == 0, doc


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
    code, doc = agentos("apply", "p1", cwd=ws)
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
    code, doc = agentos("apply", "p1", cwd=ws)
    assert code == 1, doc
    assert doc["result"]["status"] == "rolled_back"
    assert read_tree(ws)[APP] == (b"old\n", "100644")
    # The check on the new tree and its re-run after the rollback: a daemon each, both gone.
    daemons = daemon_pids(pid_dir)
    assert len(daemons) == 2
    assert [pid for pid in daemons if not pid_gone(pid)] == [], "a daemon outlived the apply"
