"""Attempts of one execution (the same plan applied again after a rollback or a failure):
``history`` lists each attempt with its own times and status, ``rollback --attempt`` names
the one it means, ``rollback --last`` goes back one applied execution at a time, and ``show
--diff`` shows a plan's or an execution's diff from what agentos kept, not "stale"."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import PERMISSIVE_POLICY, CliResult, cli_plan, write_tree

Cli = Callable[..., CliResult]
POLICY = ("--policy", PERMISSIVE_POLICY)
CHANGE = [{"op": "modify", "path": "src/a.txt", "content": "b\n"}]


def run(cli: Cli, ws: Path, *argv: str | Path, code: int = 0) -> dict[str, Any]:
    result = cli(*argv, "-C", ws, *POLICY, "--json")
    assert result.code == code, result.out + result.err
    assert "Traceback" not in result.err
    return dict(result.json()["result"] or result.json()["error"])


@pytest.fixture
def ws(cli: Cli, workspace: Path) -> Path:
    """A workspace with ``src/a.txt`` and plan ``p1`` that changes it."""
    write_tree(workspace, {"src/a.txt": "a\n"})
    cli_plan(cli, workspace, "p1", CHANGE)
    return workspace


def history(cli: Cli, ws: Path) -> list[dict[str, Any]]:
    return list(run(cli, ws, "history")["executions"])


def test_each_attempt_is_its_own_history_entry(cli: Cli, ws: Path) -> None:
    first = run(cli, ws, "apply", "p1")
    execution = first["execution_id"]
    undo = run(cli, ws, "rollback", execution)
    second = run(cli, ws, "apply", "p1")
    assert (second["execution_id"], second["attempt"]) == (execution, 2)
    rows = history(cli, ws)
    assert [(r["execution_id"], r["attempt"], r["status"]) for r in rows] == [
        (execution, 2, "committed"),
        (undo["execution_id"], 1, "committed"),
        (execution, 1, "reverted"),
    ]
    # Each attempt has its own times: none of them ends before it starts.
    assert all(r["started_at"] <= r["finished_at"] for r in rows)
    assert rows[0]["started_at"] > rows[2]["finished_at"]
    assert [r["attempts"] for r in rows] == [2, 1, 2]
    assert run(cli, ws, "history")["total"] == 3
    human = cli("history", "-C", ws).out
    assert "2/2" in human
    assert "1/2" in human
    # show: the execution at its latest attempt, each event with the attempt it belongs to.
    shown = run(cli, ws, "show", execution)
    assert (shown["attempt"], shown["status"]) == (2, "committed")
    numbers = [item["attempt"] for item in shown["timeline"]]
    assert numbers == sorted(numbers)
    assert set(numbers) == {1, 2}
    text = cli("show", execution, "-C", ws).out
    assert "attempt 1: reverted" in text
    assert "attempt 2: committed" in text


def test_rollback_last_goes_back_one_applied_execution_at_a_time(cli: Cli, ws: Path) -> None:
    execution = run(cli, ws, "apply", "p1")["execution_id"]
    run(cli, ws, "rollback", "--last")
    run(cli, ws, "apply", "p1")
    again = run(cli, ws, "rollback", "--last")
    assert (again["parent"], again["status"]) == (execution, "committed")
    assert (ws / "src" / "a.txt").read_text() == "a\n"
    # The second rollback reverted attempt 2: nothing applied is left standing.
    assert [r["status"] for r in history(cli, ws) if r["execution_id"] == execution] == [
        "reverted",
        "reverted",
    ]
    nothing = cli("rollback", "--last", "-C", ws, *POLICY)
    assert nothing.code == 2
    assert "no committed execution to roll back" in nothing.err


def test_rollback_attempt_names_the_attempt_meant(cli: Cli, ws: Path) -> None:
    execution = run(cli, ws, "apply", "p1")["execution_id"]
    run(cli, ws, "rollback", execution)
    run(cli, ws, "apply", "p1")
    gone = run(cli, ws, "rollback", execution, "--attempt", "1", code=2)
    assert "attempt 1 of" in gone["message"]
    assert "already rolled back" in gone["message"]
    unknown = run(cli, ws, "rollback", execution, "--attempt", "3", code=2)
    assert "no attempt 3 (its attempts: 1, 2)" in unknown["message"]
    both = run(cli, ws, "rollback", "--last", "--attempt", "2", code=2)
    assert "--attempt" in both["message"]
    assert (ws / "src" / "a.txt").read_text() == "b\n"  # none of them wrote anything
    undone = run(cli, ws, "rollback", execution, "--attempt", "2")
    assert (undone["parent"], undone["status"]) == (execution, "committed")
    assert (ws / "src" / "a.txt").read_text() == "a\n"


def test_an_attempt_that_did_not_commit_cannot_be_rolled_back(
    cli: Cli, ws: Path, tmp_path: Path
) -> None:
    failing = yaml.safe_load(PERMISSIVE_POLICY.read_text())
    failing["health_checks"] = [{"name": "fails", "file": {"path": "missing.txt"}}]
    policy = tmp_path / "failing.yaml"
    policy.write_text(yaml.safe_dump(failing))
    failed = cli("apply", "p1", "-C", ws, "--policy", policy, "--json")
    assert failed.code == 1, failed.out
    execution = failed.json()["result"]["execution_id"]
    refused = run(cli, ws, "rollback", execution, "--attempt", "1", code=2)
    assert "attempt 1 of" in refused["message"]
    assert "did not commit (rolled_back)" in refused["message"]
    # show --diff of an execution that never committed says it changed nothing.
    shown = run(cli, ws, "show", execution, "--diff")
    assert "never committed" in shown["diff"]
    run(cli, ws, "apply", "p1")
    rows = [r for r in history(cli, ws) if r["execution_id"] == execution]
    assert [(r["attempt"], r["status"]) for r in rows] == [(2, "committed"), (1, "rolled_back")]


def test_show_diff_of_an_applied_plan_is_its_diff_not_stale(cli: Cli, ws: Path) -> None:
    run(cli, ws, "apply", "p1")
    shown = run(cli, ws, "show", "p1", "--diff")
    assert "-a\n+b\n" in shown["diff"]
    assert "already applied" in shown["diff"]
    assert "stale" not in shown["diff"]
    # Changed since by hand: now it is stale, and the pre-image still comes from the backup.
    (ws / "src" / "a.txt").write_text("hand\n")
    stale = run(cli, ws, "show", "p1", "--diff")
    assert "the plan is stale" in stale["diff"]
    assert "-a\n+b\n" in stale["diff"]


def test_show_diff_of_an_applied_plan_without_its_backups_says_so(cli: Cli, ws: Path) -> None:
    import shutil

    run(cli, ws, "apply", "p1")
    shutil.rmtree(ws / ".agentos" / "backups")
    shown = run(cli, ws, "show", "p1", "--diff")
    assert "(no diff: already applied" in shown["diff"]
    assert "no backup of its pre-image is kept" in shown["diff"]


def test_show_execution_diff_is_what_it_changed(cli: Cli, ws: Path) -> None:
    execution = run(cli, ws, "apply", "p1")["execution_id"]
    plain = run(cli, ws, "show", execution)
    assert plain["diff"] is None
    shown = run(cli, ws, "show", execution, "--diff")
    assert shown["diff"].startswith("diff --git a/src/a.txt b/src/a.txt\n")
    assert "-a\n+b\n" in shown["diff"]
    human = cli("show", execution, "-C", ws, "--diff").out
    assert "+b" in human
    assert "apply.committed" in human
    # Still after it was rolled back, and after its plan file is gone (the new side is then
    # found in the rollback's backup of it).
    undo = run(cli, ws, "rollback", execution)
    (ws / ".agentos" / "plans" / "p1.json").unlink()
    assert "-a\n+b\n" in run(cli, ws, "show", execution, "--diff")["diff"]
    # A rollback's diff is the inverse.
    assert "-b\n+a\n" in run(cli, ws, "show", undo["execution_id"], "--diff")["diff"]
