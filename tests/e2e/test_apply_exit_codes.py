"""Every exit code ``apply`` and ``rollback`` can give, through the installed script (SPEC §3).

Each test runs ``agentos`` as a user does (a subprocess of the console script next to the
test interpreter), checks the ``--json`` envelope (``ok``, ``exit_code``, ``result.status``
where the executor produced one, ``error.type``), that stderr carries no traceback, and that
the workspace is unchanged whenever the exit code is not 0.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from helpers import (
    AGENTOS,
    Run,
    agentos,
    environment,
    events,
    finished,
    make_plan,
    needs_agentos,
    read_tree,
    wait_for,
    write_manifest,
    write_tree,
)

pytestmark = needs_agentos

PAUSE_WAIT_SECONDS = 30.0


def expect(run: Run, code: int, *, status: str | None, error: str | None) -> None:
    """The envelope of an ``apply`` / ``rollback`` that ended with ``code``."""
    assert run.code == code, run.doc
    if status is not None:
        assert run.result["status"] == status, run.result
        assert run.result["executions"][-1]["status"] == status
    else:
        assert "status" not in run.result
    if error is None:
        assert run.doc["error"] is None
        assert run.err == ""
    else:
        assert run.doc["error"]["type"] == error, run.doc["error"]
        assert run.doc["error"]["message"]
        # One line, starting like every agentos error, saying what happened.
        assert f"agentos: error: {run.doc['error']['message']}" in run.err


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    write_tree(root, {"src/a.txt": "one\n", "src/b.txt": "bee\n", "README.md": "hello\n"})
    (root / ".agentos").mkdir()  # a workspace: commands run in it without -C find it
    return root


MODIFY_A = [{"op": "modify", "path": "src/a.txt", "content": "two\n"}]


@contextmanager
def paused(ws: Path, fault_dir: Path, point: str, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    """An ``agentos ... --json`` paused at ``point`` (its first hit) until the block ends."""
    fault_dir.mkdir(exist_ok=True)
    proc = subprocess.Popen(
        [str(AGENTOS), *args, "--json"],
        cwd=ws,
        env=environment(AGENTOS_FAULTS=f"{point}=pause@1", AGENTOS_FAULTS_DIR=str(fault_dir)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(fault_dir / f"{point}.paused", proc, PAUSE_WAIT_SECONDS)
        yield proc
    except BaseException:
        proc.kill()
        proc.communicate()
        raise
    finally:
        (fault_dir / f"{point}.resume").write_text("go")


def collect(proc: subprocess.Popen[bytes]) -> Run:
    """Wait for a resumed run and read its result."""
    out, err = proc.communicate(timeout=60)
    return finished(proc.returncode, out, err)


# -- 0 ------------------------------------------------------------------------------------


def test_exit_0_committed_then_already_applied_then_rolled_back(ws: Path) -> None:
    before = read_tree(ws)
    make_plan(ws, "p1", MODIFY_A)
    applied = agentos("apply", "p1", cwd=ws)
    expect(applied, 0, status="committed", error=None)
    assert applied.result["files"] == [{"op": "modify", "path": "src/a.txt", "from": None}]
    after = read_tree(ws)
    assert after["src/a.txt"] == (b"two\n", "100644")

    replay = agentos("apply", "p1", cwd=ws)
    expect(replay, 0, status="already_applied", error=None)
    assert read_tree(ws) == after
    assert events(ws)[-1] == "apply.replayed"

    undo = agentos("rollback", applied.result["execution_id"], cwd=ws)
    expect(undo, 0, status="committed", error=None)
    assert undo.result["kind"] == "rollback"
    assert read_tree(ws) == before


# -- 1 ------------------------------------------------------------------------------------


def test_exit_1_failed_write_is_rolled_back(ws: Path) -> None:
    make_plan(ws, "p1", [*MODIFY_A, {"op": "create", "path": "src/new/c.txt", "content": "c\n"}])
    before = read_tree(ws)
    run = agentos("apply", "p1", cwd=ws, AGENTOS_FAULTS="fsops.replace.before=eio@1")
    expect(run, 1, status="rolled_back", error="execution_failed")
    assert "Input/output error" in run.doc["error"]["message"]
    assert run.result["attempt"] == 1
    assert read_tree(ws) == before
    assert not (ws / "src" / "new").exists()
    assert "apply.failed" in events(ws)
    retry = agentos("apply", "p1", cwd=ws)
    expect(retry, 0, status="committed", error=None)
    assert retry.result["attempt"] == 2


# -- 2 ------------------------------------------------------------------------------------


def test_exit_2_missing_plan_file(ws: Path) -> None:
    before = read_tree(ws)
    run = agentos("apply", ws.parent / "no-such-plan.json", cwd=ws)
    expect(run, 2, status=None, error="usage_error")
    assert "no-such-plan.json" in run.doc["error"]["message"]
    assert read_tree(ws) == before


@pytest.mark.parametrize("value", ["soon", "-1"])
def test_exit_2_bad_lock_timeout(ws: Path, value: str) -> None:
    make_plan(ws, "p1", MODIFY_A)
    before = read_tree(ws)
    run = agentos("apply", "p1", "--lock-timeout", value, cwd=ws)
    expect(run, 2, status=None, error="usage_error")
    assert "--lock-timeout" in run.doc["error"]["message"]
    assert read_tree(ws) == before


def test_usage_error_envelope_names_the_command(ws: Path) -> None:
    make_plan(ws, "p1", MODIFY_A)
    run = agentos("apply", "p1", "--lock-timeout", "soon", cwd=ws)
    assert run.doc["command"] == "apply"
    assert "'agentos apply --help'" in run.err


def test_exit_2_rollback_of_an_unknown_execution(ws: Path) -> None:
    before = read_tree(ws)
    run = agentos("rollback", "exec-00000000000000000000", cwd=ws)
    expect(run, 2, status=None, error="usage_error")
    assert read_tree(ws) == before


# -- 3 ------------------------------------------------------------------------------------


def test_exit_3_denied_by_the_default_policy(ws: Path) -> None:
    before = read_tree(ws)
    make_plan(ws, "p1", [{"op": "create", "path": ".env", "content": "TOKEN=x\n"}], code=3)
    run = agentos("apply", "p1", cwd=ws)
    expect(run, 3, status="denied", error="denied")
    assert run.result["decision"] == "DENY"
    assert "forbidden-path" in run.doc["error"]["message"]
    assert read_tree(ws) == before
    assert not (ws / ".env").exists()


# -- 4 ------------------------------------------------------------------------------------


def test_exit_4_needs_approval_then_approved_commits(ws: Path) -> None:
    before = read_tree(ws)
    run = agentos(
        "plan",
        write_manifest(ws, "del", [{"op": "delete", "path": "src/b.txt"}]),
        "--plan-id",
        "p1",
        "--author",
        "alice",
        cwd=ws,
    )
    assert run.code == 4
    refused = agentos("apply", "p1", cwd=ws)
    expect(refused, 4, status="needs_approval", error="needs_approval")
    assert refused.result["decision"] == "NEED_APPROVAL"
    assert "agentos approve p1" in refused.doc["error"]["message"]
    assert read_tree(ws) == before

    approved = agentos("approve", "p1", "--by", "bob", cwd=ws)
    assert approved.code == 0, approved.doc
    applied = agentos("apply", "p1", cwd=ws)
    expect(applied, 0, status="committed", error=None)
    assert "src/b.txt" not in read_tree(ws)


# -- 5 ------------------------------------------------------------------------------------


def test_exit_5_stale_plan(ws: Path) -> None:
    make_plan(ws, "p1", MODIFY_A)
    (ws / "src" / "a.txt").write_text("edited after planning\n")
    before = read_tree(ws)
    run = agentos("apply", "p1", cwd=ws)
    expect(run, 5, status="stale", error="stale")
    assert any("src/a.txt" in d for d in run.result["drifted"])
    assert "src/a.txt" in run.err
    assert read_tree(ws) == before


def test_exit_5_plan_id_reused_for_other_content(ws: Path) -> None:
    make_plan(ws, "p1", MODIFY_A)
    expect(agentos("apply", "p1", cwd=ws), 0, status="committed", error=None)
    other = agentos(
        "plan",
        write_manifest(ws, "other", [{"op": "modify", "path": "src/b.txt", "content": "BEE\n"}]),
        "--plan-id",
        "p1",
        "-o",
        ws.parent / "other-plan.json",
        cwd=ws,
    )
    assert other.code == 0
    before = read_tree(ws)
    run = agentos("apply", ws.parent / "other-plan.json", cwd=ws)
    expect(run, 5, status=None, error="conflict")
    assert "'p1'" in run.doc["error"]["message"]
    assert read_tree(ws) == before


def test_exit_5_rollback_of_hand_edited_files(ws: Path) -> None:
    make_plan(ws, "p1", MODIFY_A)
    applied = agentos("apply", "p1", cwd=ws)
    (ws / "src" / "a.txt").write_text("edited after applying\n")
    before = read_tree(ws)
    run = agentos("rollback", applied.result["execution_id"], cwd=ws)
    expect(run, 5, status="stale", error="stale")
    assert read_tree(ws) == before


# -- 6 ------------------------------------------------------------------------------------


def test_exit_6_tampered_plan_file(ws: Path) -> None:
    plan_file = make_plan(ws, "p1", MODIFY_A)
    text = plan_file.read_text()
    tampered = text.replace('"data": "two\\n"', '"data": "twp\\n"')
    assert tampered != text
    assert sum(a != b for a, b in zip(text, tampered, strict=True)) == 1
    plan_file.write_text(tampered)
    before = read_tree(ws)
    run = agentos("apply", plan_file, cwd=ws)
    expect(run, 6, status=None, error="checksum_mismatch")
    assert run.doc["error"]["message"].startswith(f"{plan_file}: checksum mismatch")
    assert read_tree(ws) == before
    assert not (ws / ".agentos" / "idempotency" / "p1.json").exists()


# -- 75 -----------------------------------------------------------------------------------


def test_exit_75_busy_names_the_lock_holder(ws: Path, tmp_path: Path) -> None:
    make_plan(ws, "p1", MODIFY_A)
    make_plan(ws, "p2", [{"op": "modify", "path": "src/b.txt", "content": "BEE\n"}])
    before = read_tree(ws)
    with paused(ws, tmp_path / "faults", "journal.write.before", "apply", "p1") as holder:
        run = agentos("apply", "p2", "--lock-timeout", "0.2", cwd=ws)
        # The full result, as for every other status: which plan, and who holds the lock.
        expect(run, 75, status="busy", error="busy")
        message = run.doc["error"]["message"]
        assert "plan p1" in message
        assert f"pid {holder.pid}" in message
        assert "waiting for the workspace lock held by" in run.err
        assert run.doc["error"]["details"]["holder"]["plan_id"] == "p1"
        result = run.result
        assert (result["plan_id"], result["kind"], result["message"]) == ("p2", "apply", message)
        assert result["files"] == [{"op": "modify", "path": "src/b.txt", "from": None}]
        assert result["holder"] == run.doc["error"]["details"]["holder"]
        assert set(result["holder"]) == {
            "execution_id",
            "plan_id",
            "operation",
            "pid",
            "host",
            "since",
        }
        assert (result["holder"]["pid"], result["holder"]["plan_id"]) == (holder.pid, "p1")
        assert result["holder"]["execution_id"].startswith("exec-")
        assert read_tree(ws) == before
    expect(collect(holder), 0, status="committed", error=None)
    expect(agentos("apply", "p2", cwd=ws), 0, status="committed", error=None)


def test_exit_75_busy_rollback_gives_its_full_result(ws: Path, tmp_path: Path) -> None:
    make_plan(ws, "p1", MODIFY_A)
    committed = agentos("apply", "p1", cwd=ws)
    expect(committed, 0, status="committed", error=None)
    make_plan(ws, "p2", [{"op": "modify", "path": "src/b.txt", "content": "BEE\n"}])
    before = read_tree(ws)
    with paused(ws, tmp_path / "faults", "journal.write.before", "apply", "p2") as holder:
        run = agentos("rollback", committed.result["execution_id"], "--lock-timeout", "0.2", cwd=ws)
        # Busy while recovering, before its own transaction: still the whole result.
        expect(run, 75, status="busy", error="busy")
        result = run.result
        assert (result["kind"], result["parent"]) == ("rollback", committed.result["execution_id"])
        assert result["files"] == [{"op": "modify", "path": "src/a.txt", "from": None}]
        assert result["execution_id"].startswith("exec-")
        assert (result["holder"]["pid"], result["holder"]["plan_id"]) == (holder.pid, "p2")
        assert result["holder"] == run.doc["error"]["details"]["holder"]
        assert read_tree(ws) == before
    expect(collect(holder), 0, status="committed", error=None)
    rolled = agentos("rollback", committed.result["execution_id"], cwd=ws)
    expect(rolled, 0, status="committed", error=None)
    assert (ws / "src" / "a.txt").read_text() == "one\n"


# -- 130 ----------------------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_exit_130_signal_during_apply_rolls_back(
    ws: Path, tmp_path: Path, signum: signal.Signals
) -> None:
    changes = [
        *MODIFY_A,
        {"op": "create", "path": "src/new/c.txt", "content": "c\n"},
        {"op": "delete", "path": "README.md"},
    ]
    make_plan(ws, "p1", changes, code=4)
    assert agentos("approve", "p1", "--by", "reviewer", cwd=ws).code == 0
    before = read_tree(ws)
    with paused(ws, tmp_path / "faults", "fsops.replace.before", "apply", "p1") as proc:
        proc.send_signal(signum)
        time.sleep(0.3)  # let the handler run before the apply goes on
    run = collect(proc)
    expect(run, 130, status="aborted", error="aborted")
    assert signum.name in run.doc["error"]["message"]
    assert read_tree(ws) == before
    assert not (ws / "src" / "new").exists()
    trail = events(ws)
    assert "apply.aborted" in trail
    assert "apply.committed" not in trail
    state = ws / ".agentos"
    assert not list(state.glob("journal/*.json"))
    assert not list(ws.rglob("*.tmp"))
    # Aborted is not committed: the plan can be applied afterwards.
    expect(agentos("apply", "p1", cwd=ws), 0, status="committed", error=None)
