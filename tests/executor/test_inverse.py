"""The inverse of a committed execution (``agentos.executor.inverse``): what
``agentos rollback`` applies.

``inverse_plan`` restores pre-images, deletes created files and undoes renames, each pinned to
the execution's post-image; ``inverse_modes`` gives back the exact permission bits the journal
kept; ``load_committed`` says why an execution cannot be inverted (unknown, or its backups
pruned). Through the CLI: a rollback restores exact modes, and a rollback can be rolled back.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from agentos.digest import sha256_hex
from agentos.errors import UsageError
from agentos.executor.inverse import inverse_modes, inverse_plan, load_committed
from agentos.workspace import Workspace
from helpers import (
    MODIFY_A,
    MODIFY_B,
    PERMISSIVE_POLICY,
    Cli,
    cli_apply,
    cli_plan,
    cli_rollback,
    materialise,
    policy_with_executor,
    read_tree,
    run_cli,
)

pytestmark = pytest.mark.usefixtures("no_faults")

EVERY_KIND = [
    {"op": "create", "path": "new/deep/x.txt", "content": "x\n", "mode": "100755"},
    {"op": "modify", "path": "src/a.txt", "content": "two\n"},
    {"op": "delete", "path": "src/b.txt"},
    {"op": "rename", "from": "src/tool.sh", "path": "bin/tool.sh", "mode": "100644"},
]


@pytest.fixture
def ws(script_ws: Path) -> Path:
    """This module's workspace: ``SCRIPT_TREE`` (see tests/executor/conftest.py)."""
    return script_ws


def applied(cli: Cli, ws: Path, changes: list[dict[str, str]], plan_id: str = "p1") -> str:
    """Plan and apply ``changes`` through the CLI; the execution id."""
    cli_plan(cli, ws, plan_id, changes)
    res = cli_apply(cli, ws, plan_id)
    assert res.code == 0, res.out
    return str(res.json()["result"]["execution_id"])


def test_the_inverse_plan_undoes_every_kind_of_change(cli: Cli, ws: Path) -> None:
    before = read_tree(ws)
    execution_id = applied(cli, ws, EVERY_KIND)
    plan = inverse_plan(Workspace.open(ws), execution_id, author="tests")
    assert plan.plan_id.startswith("rollback-")
    assert execution_id in plan.intent
    ops = {change.path: change.op for change in plan.changeset.changes}
    assert ops == {
        "new/deep/x.txt": "delete",
        "src/a.txt": "modify",
        "src/b.txt": "create",
        "src/tool.sh": "rename",
    }
    # Every change is pinned to what the execution left there.
    after = read_tree(ws)
    for change in plan.changeset.changes:
        if change.op != "create":
            pinned = change.from_path if change.op == "rename" else change.path
            assert change.old_sha256 is not None
            assert change.old_sha256 == sha256_hex(after[pinned][0]), pinned
    # Applied by the test's own stand-in for the executor, it gives the old tree back.
    materialise(plan, ws)
    assert read_tree(ws) == before


def test_the_same_execution_always_inverts_to_the_same_sealed_plan(cli: Cli, ws: Path) -> None:
    execution_id = applied(cli, ws, EVERY_KIND)
    workspace = Workspace.open(ws)
    first = inverse_plan(workspace, execution_id, author="tests")
    again = inverse_plan(workspace, execution_id, author="tests")
    assert first.plan_digest == again.plan_digest
    assert first == again


def test_inverse_modes_are_the_exact_bits_before_the_execution(cli: Cli, ws: Path) -> None:
    (ws / "src" / "a.txt").chmod(0o640)
    (ws / "src" / "b.txt").chmod(0o600)
    execution_id = applied(cli, ws, [*MODIFY_A, {"op": "delete", "path": "src/b.txt"}])
    assert inverse_modes(Workspace.open(ws), execution_id) == {
        "src/a.txt": 0o640,
        "src/b.txt": 0o600,
    }


def test_an_unknown_execution_cannot_be_inverted(ws: Path) -> None:
    with pytest.raises(UsageError, match="no committed execution 'exec-0000'"):
        load_committed(Workspace.open(ws), "exec-0000")
    with pytest.raises(UsageError, match="no committed execution"):
        inverse_plan(Workspace.open(ws), "exec-0000", author="tests")


def _mode_of(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_rollback_restores_exact_permission_bits(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)
    try:
        ws = tmp_path / "ws"
        (ws / "src").mkdir(parents=True)
        modes = {"src/secret.txt": 0o600, "src/group.txt": 0o640, "src/tool.sh": 0o711}
        for path, mode in modes.items():
            (ws / path).write_bytes(f"{path}\n".encode())
            (ws / path).chmod(mode)
        manifest = tmp_path / "m.json"
        changes = [
            {"op": "delete", "path": "src/secret.txt"},
            {"op": "modify", "path": "src/group.txt", "content": "g\n", "mode": "100755"},
            {"op": "modify", "path": "src/tool.sh", "content": "t\n", "mode": "100644"},
        ]
        manifest.write_text(json.dumps({"changes": changes}))
        common = ("-C", ws, "--policy", PERMISSIVE_POLICY)
        assert run_cli("plan", manifest, "--plan-id", "p1", *common)[0] == 0
        code, doc, _ = run_cli("apply", "p1", *common)
        assert code == 0, doc
        code, doc, _ = run_cli("rollback", doc["result"]["execution_id"], *common)
        assert code == 0, doc
        assert {path: _mode_of(ws / path) for path in modes} == modes
    finally:
        os.umask(old_umask)


def test_rolling_back_a_rollback_redoes_the_change(cli: Cli, ws: Path) -> None:
    changes = [
        {"op": "create", "path": "new/deep/x.txt", "content": "x\n", "mode": "100755"},
        {"op": "delete", "path": "src/b.txt"},
        {"op": "rename", "from": "src/tool.sh", "path": "bin/tool.sh", "mode": "100644"},
    ]
    before = read_tree(ws)
    cli_plan(cli, ws, "p1", changes)
    applied = cli_apply(cli, ws, "p1").json()["result"]
    after = read_tree(ws)
    undo = cli_rollback(cli, ws, applied["execution_id"]).json()["result"]
    assert read_tree(ws) == before
    assert not (ws / "new").exists()
    assert not (ws / "bin").exists()
    redo = cli_rollback(cli, ws, undo["execution_id"])
    result = redo.json()["result"]
    assert (redo.code, result["status"], result["parent"]) == (0, "committed", undo["execution_id"])
    assert read_tree(ws) == after
    # Undoing the same rollback again is a replay of it: nothing is written.
    replay = cli_rollback(cli, ws, undo["execution_id"])
    assert (replay.code, replay.json()["result"]["status"]) == (0, "already_applied")
    assert read_tree(ws) == after


def test_pruned_execution_cannot_be_rolled_back(cli: Cli, ws: Path, tmp_path: Path) -> None:
    policy = policy_with_executor(tmp_path, backups={"keep": 1})
    cli_plan(cli, ws, "p1", MODIFY_A, policy=policy)
    cli_plan(cli, ws, "p2", MODIFY_B, policy=policy)
    first = cli_apply(cli, ws, "p1", policy=policy).json()["result"]["execution_id"]
    second = cli_apply(cli, ws, "p2", policy=policy).json()["result"]["execution_id"]
    state = ws / ".agentos"
    assert not (state / "backups" / first).exists()
    assert not (state / "journal" / "committed" / f"{first}.json").exists()
    assert (state / "journal" / "committed" / f"{second}.json").exists()
    after = read_tree(ws)
    res = cli_rollback(cli, ws, first, policy=policy)
    assert res.code == 2
    error = res.json()["error"]
    assert error["type"] == "usage_error"
    assert "backups.keep" in error["message"]
    assert first in error["message"]
    assert read_tree(ws) == after
    # The newest one still has its backups.
    kept = cli_rollback(cli, ws, second, policy=policy)
    assert kept.code == 0
    assert read_tree(ws)["src/b.txt"] == (b"bee\n", "100644")


def test_unknown_execution_is_a_usage_error(cli: Cli, ws: Path) -> None:
    res = cli_rollback(cli, ws, "exec-00000000000000000000")
    assert res.code == 2
    assert "exec-00000000000000000000" in res.json()["error"]["message"]
