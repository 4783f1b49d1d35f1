"""The workspace lock (``agentos.executor.lock``): one execution or recovery at a time.

While held, the holder's record says who holds it; a second taker waits, then gets
``BusyError`` (exit 75) naming the holder; the probe that ``status`` uses reads the record and
never takes the lock. Through the installed CLI: a busy workspace is exit 75, also while an
apply is paused in the middle of its writes.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from agentos.errors import BusyError
from agentos.executor.lock import (
    HOLDER_NAME,
    LOCK_NAME,
    describe_holder,
    lock_is_held,
    read_holder,
    workspace_lock,
)
from agentos.workspace import Workspace, ensure_state_dir
from helpers import (
    AGENTOS,
    PERMISSIVE_POLICY,
    Cli,
    agentos_subprocess,
    apply_args,
    environment,
    needs_agentos,
    snapshot,
    wait_for,
    write_tree,
)


def test_the_lock_probe_never_takes_the_lock(ws: Path) -> None:
    workspace = Workspace(ws)
    assert lock_is_held(workspace) is False
    with workspace_lock(workspace, timeout=1, holder={"execution_id": "exec-test"}):
        assert lock_is_held(workspace) is True
        code, doc = agentos_subprocess(ws, "status")
        assert code == 0
        assert doc["result"]["lock"]["held"] is True
        assert doc["result"]["lock"]["holder"]["execution_id"] == "exec-test"
    assert lock_is_held(workspace) is False


def test_the_holder_is_recorded_while_the_lock_is_held(ws: Path) -> None:
    workspace = Workspace.open(ws)
    assert read_holder(workspace) is None
    with workspace_lock(workspace, timeout=1, holder={"execution_id": "exec-x", "plan_id": "p"}):
        holder = read_holder(workspace)
        assert holder is not None
        assert holder["execution_id"] == "exec-x"
        assert holder["plan_id"] == "p"
        assert (holder["pid"], holder["host"]) == (os.getpid(), socket.gethostname())
        assert holder["since"]
    assert read_holder(workspace) is None
    # The lock file itself stays: deleting it would let two processes lock two files.
    assert (workspace.state_dir / LOCK_NAME).exists()
    assert not (workspace.state_dir / HOLDER_NAME).exists()


def test_a_second_taker_waits_then_is_busy_naming_the_holder(ws: Path) -> None:
    workspace = Workspace.open(ws)
    waits: list[str] = []
    with workspace_lock(workspace, timeout=1, holder={"execution_id": "exec-x", "plan_id": "p"}):
        started = time.monotonic()
        with (
            pytest.raises(BusyError) as info,
            workspace_lock(workspace, timeout=0.3, holder={}, on_wait=waits.append),
        ):
            pytest.fail("the lock was taken twice")
        assert time.monotonic() - started >= 0.3
    message = info.value.message
    for part in ("exec-x of plan p", f"pid {os.getpid()}", "0.3s", "--lock-timeout"):
        assert part in message, (part, message)
    assert info.value.exit_code == 75
    assert info.value.details["holder"]["execution_id"] == "exec-x"
    assert len(waits) == 1
    assert waits[0].startswith("waiting for the workspace lock held by exec-x of plan p")
    # Once the holder is done, the lock is free again.
    with workspace_lock(workspace, timeout=0.3, holder={}):
        pass


def test_the_holder_is_described_for_messages() -> None:
    assert describe_holder(None) == "another agentos process"
    holder = {"execution_id": "exec-x", "plan_id": "p", "pid": 12, "host": "h", "since": "T"}
    assert describe_holder(holder) == "exec-x of plan p (pid 12, host h, since T)"
    assert describe_holder({"operation": "recover", "pid": 3, "host": "h", "since": "T"}) == (
        "recover (pid 3, host h, since T)"
    )


def test_a_holder_record_of_a_dead_process_is_not_a_held_lock(ws: Path) -> None:
    workspace = Workspace.open(ws)
    ensure_state_dir(workspace)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    record = {"pid": int(dead.stdout), "host": socket.gethostname(), "since": "T"}
    (workspace.state_dir / HOLDER_NAME).write_text(json.dumps(record))
    assert lock_is_held(workspace) is False
    # On another host the pid cannot be asked about: the record is taken at its word.
    (workspace.state_dir / HOLDER_NAME).write_text(json.dumps({**record, "host": "elsewhere"}))
    assert lock_is_held(workspace) is True


# -- through the installed CLI ------------------------------------------------------------


def small_workspace(ws: Path, cli: Cli, manifests: Path) -> None:
    write_tree(ws, {"a.txt": "a\n", "b.txt": "b\n"})
    manifests.mkdir()
    for name in ("a", "b"):
        manifest = manifests / f"{name}.yaml"
        change = {"op": "modify", "path": f"{name}.txt", "content": f"new {name}\n"}
        manifest.write_text(yaml.safe_dump({"changes": [change]}))
        made = cli(
            "plan", manifest, "-C", ws, "--plan-id", f"change-{name}", "--policy", PERMISSIVE_POLICY
        )
        assert made.code == 0, made.err


def busy_apply(ws: Path, plan_id: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    proc = subprocess.run(
        [str(AGENTOS), *apply_args(ws, plan_id, "--lock-timeout", "0.5")],
        env=environment(),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    return proc, time.monotonic() - started


@needs_agentos
def test_lock_held_by_another_process_is_exit_75(tmp_path: Path, cli: Cli) -> None:
    from agentos.executor.lock import workspace_lock
    from agentos.workspace import Workspace

    ws = tmp_path / "ws"
    small_workspace(ws, cli, tmp_path / "manifests")
    before = snapshot(ws)
    holder = {"execution_id": "exec-held-by-the-test", "plan_id": "holder-plan"}
    with workspace_lock(Workspace.open(ws), timeout=5, holder={**holder, "operation": "apply"}):
        proc, waited = busy_apply(ws, "change-a")
    assert proc.returncode == 75, proc.stderr
    assert waited >= 0.5
    doc = json.loads(proc.stdout)
    assert doc["error"]["type"] == "busy"
    message = proc.stderr
    for part in ("exec-held-by-the-test", "holder-plan", f"pid {os.getpid()}", "0.5s"):
        assert part in message, (part, message)
    assert snapshot(ws) == before
    assert list((ws / ".agentos" / "journal").glob("*.json")) == []
    # Once the lock is free, the same command goes through.
    proc, _ = busy_apply(ws, "change-a")
    assert (proc.returncode, json.loads(proc.stdout)["result"]["status"]) == (0, "committed")


@needs_agentos
def test_apply_paused_mid_write_holds_the_lock(tmp_path: Path, cli: Cli) -> None:
    from agentos.executor.executions import execution_id_for
    from agentos.planner.planfile import load_plan

    ws = tmp_path / "ws"
    small_workspace(ws, cli, tmp_path / "manifests")
    before = snapshot(ws)
    plan_a = load_plan(ws / ".agentos" / "plans" / "change-a.json")
    faults = tmp_path / "faults"
    faults.mkdir()
    paused = {
        **environment(),
        "AGENTOS_FAULTS": "fsops.replace.before=pause@1",
        "AGENTOS_FAULTS_DIR": str(faults),
    }
    first = subprocess.Popen(
        [str(AGENTOS), *apply_args(ws, "change-a")],
        env=paused,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(faults / "fsops.replace.before.paused", first, 60)
        proc, waited = busy_apply(ws, "change-b")
        assert proc.returncode == 75, proc.stderr
        assert waited >= 0.5
        execution = execution_id_for("change-a", plan_a.changeset.checksum)
        for part in (execution, "change-a", f"pid {first.pid}"):
            assert part in proc.stderr, (part, proc.stderr)
        assert snapshot(ws)["b.txt"] == before["b.txt"]
        # status shows it as the lock's holder, not as an interrupted execution.
        status = subprocess.run(
            [str(AGENTOS), "status", "-C", str(ws), "--json"],
            env=environment(),
            capture_output=True,
            text=True,
            check=False,
        )
        doc = json.loads(status.stdout)["result"]
        assert doc["lock"]["holder"]["execution_id"] == execution
        assert doc["interrupted"] == []
    finally:
        (faults / "fsops.replace.before.resume").touch()
        out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert json.loads(out)["result"]["status"] == "committed"
    after = snapshot(ws)
    assert after["a.txt"][1] == b"new a\n"
    assert after["b.txt"] == before["b.txt"]


def test_the_holder_says_since_when_by_the_injected_clock(ws: Path) -> None:
    from datetime import UTC, datetime

    moment = datetime(2024, 5, 6, 7, 8, 9, 250000, tzinfo=UTC)
    workspace = Workspace.open(ws)
    with workspace_lock(workspace, timeout=1, holder={"operation": "test"}, clock=lambda: moment):
        holder = read_holder(workspace)
    assert holder is not None
    assert holder["since"] == "2024-05-06T07:08:09.250000Z"
