"""``status``, ``history``, ``show EXECUTION_ID``, ``recover`` and ``apply``: pinned JSON keys
and the folds over the audit trail."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from helpers import PERMISSIVE_POLICY, CliResult, cli_apply, cli_plan, write_tree

Cli = Callable[..., CliResult]
EXECUTION_KEYS = {
    "execution_id",
    "plan_id",
    "kind",
    "parent",
    "status",
    "started_at",
    "finished_at",
    "attempts",
    "files",
    "reason",
    "attempt",
}
APPLY_ROW_KEYS = {
    "execution_id",
    "plan_id",
    "checksum",
    "kind",
    "parent",
    "status",
    "message",
    "attempt",
    "decision",
    "files",
    "drifted",
    "changed_since",
    "warnings",
    "checks",
    "post_rollback",
    "policy",
    "holder",
    "git",
}
POLICY_KEYS = {"source", "digest", "override"}


def applied(cli: Cli, ws: Path) -> str:
    write_tree(ws, {"src/a.txt": "a\n"})
    manifest = ws.parent / "m.json"
    manifest.write_text(
        json.dumps({"changes": [{"op": "modify", "path": "src/a.txt", "content": "b\n"}]})
    )
    assert (
        cli("plan", manifest, "-C", ws, "--plan-id", "p1", "--policy", PERMISSIVE_POLICY).code == 0
    )
    result = cli("apply", "p1", "-C", ws, "--policy", PERMISSIVE_POLICY, "--json")
    assert result.code == 0, result.out
    doc = result.json()["result"]
    assert set(doc) == APPLY_ROW_KEYS | {"executions"}
    assert all(set(row) == APPLY_ROW_KEYS for row in doc["executions"])
    assert all(set(f) == {"op", "path", "from"} for f in doc["files"])
    assert set(doc["policy"]) == POLICY_KEYS
    assert doc["policy"]["override"] is True  # --policy replaced the packaged default
    assert doc["git"] is None  # neither --commit nor --index
    return str(doc["execution_id"])


def test_status_keys_and_content(cli: Cli, workspace: Path) -> None:
    execution = applied(cli, workspace)
    doc = cli("status", "-C", workspace, "--json").json()["result"]
    assert set(doc) == {
        "workspace",
        "lock",
        "interrupted",
        "breakers",
        "executions",
        "sweep",
        "queue",
        "audit_repaired",
    }
    assert doc["workspace"] == str(workspace.resolve())
    if os.environ.get("AGENTOS_STORE") is None:
        assert doc["queue"] is None  # the file store has no queue
    else:
        assert doc["queue"]["backlog"] == 0  # the suite's PostgreSQL pass: an empty queue
    assert doc["lock"] == {"held": False, "holder": None}
    assert doc["audit_repaired"] is None  # never repaired
    assert doc["interrupted"] == []
    assert doc["breakers"] == []
    [row] = doc["executions"]
    assert set(row) == EXECUTION_KEYS
    assert (row["execution_id"], row["status"], row["attempts"]) == (execution, "committed", 1)


def test_history_survives_deleting_the_execution_records(cli: Cli, workspace: Path) -> None:
    execution = applied(cli, workspace)
    shutil.rmtree(workspace / ".agentos" / "executions")
    rollback = cli("rollback", execution, "-C", workspace, "--policy", PERMISSIVE_POLICY, "--json")
    assert rollback.code == 0, rollback.out
    doc = cli("history", "-C", workspace, "--json").json()["result"]
    assert set(doc) == {"executions", "total"}
    assert doc["total"] == 2
    newest, oldest = doc["executions"]
    assert (newest["kind"], newest["status"], newest["parent"]) == (
        "rollback",
        "committed",
        execution,
    )
    assert (oldest["execution_id"], oldest["status"]) == (execution, "reverted")
    assert cli("history", "-C", workspace, "--limit", "1", "--json").json()["result"]["total"] == 2


def test_show_an_execution_timeline(cli: Cli, workspace: Path) -> None:
    execution = applied(cli, workspace)
    doc = cli("show", execution, "-C", workspace, "--json").json()["result"]
    assert set(doc) == EXECUTION_KEYS | {"timeline", "diff"}
    assert doc["diff"] is None  # without --diff
    events = [item["event"] for item in doc["timeline"]]
    assert events[0] == "lock.acquired"
    assert events[-1] == "apply.committed"
    assert all(set(item) == {"seq", "ts", "event", "actor", "attempt"} for item in doc["timeline"])
    assert {item["attempt"] for item in doc["timeline"]} == {1}
    human = cli("show", execution, "-C", workspace)
    assert "apply.committed" in human.out
    missing = cli("show", "exec-0000", "-C", workspace, "--json")
    assert missing.code == 2
    assert "agentos history" in missing.err


def test_recover_with_nothing_to_do(cli: Cli, workspace: Path) -> None:
    result = cli("recover", "-C", workspace, "--json")
    assert result.code == 0
    doc = result.json()["result"]
    assert doc["recovered"] == []
    assert set(doc) == {"recovered", "policy"}
    assert set(doc["policy"]) == POLICY_KEYS
    assert "Nothing to recover" in cli("recover", "-C", workspace).out


def test_abort_with_nothing_running(cli: Cli, workspace: Path) -> None:
    result = cli("abort", "-C", workspace, "--json")
    assert result.code == 0
    assert result.json()["result"] == {"execution_id": None, "plan_id": None, "requested": False}


def test_status_history_and_show_are_the_same_with_or_without_the_snapshot(
    cli: Cli, workspace: Path
) -> None:
    """The snapshot of the folds is only a cache: made by the first reader, brought up to date
    by the next after an apply, and deleting or spoiling it changes no output."""
    first = applied(cli, workspace)
    snapshot = workspace / ".agentos" / "audit" / "folds.sqlite"
    views = [["status"], ["history"], ["history", "--limit", "1"], ["show", first]]

    def outputs() -> list[str]:
        return [cli(*argv, "-C", workspace, "--json").out for argv in views] + [
            cli(*argv, "-C", workspace).out for argv in views
        ]

    assert not snapshot.exists()
    before = outputs()
    assert snapshot.is_file()
    assert outputs() == before
    snapshot.unlink()
    assert outputs() == before
    stale = snapshot.read_bytes()
    # rollback --last finds the execution through the snapshot, then the next reader folds
    # the rollback's events on top of it.
    rollback = cli("rollback", "--last", "-C", workspace, "--policy", PERMISSIVE_POLICY, "--json")
    assert rollback.code == 0, rollback.out
    after = outputs()
    snapshot.unlink()
    assert outputs() == after
    history = json.loads(after[1])["result"]
    assert [row["status"] for row in history["executions"]] == ["committed", "reverted"]
    # A snapshot from before the rollback put back: its cover still matches, its tail is
    # folded; a garbage one is rebuilt.
    snapshot.write_bytes(stale)
    assert outputs() == after
    snapshot.write_bytes(b"garbage" * 1000)
    assert outputs() == after
    nothing = cli("rollback", "--last", "-C", workspace, "--policy", PERMISSIVE_POLICY)
    assert nothing.code == 2
    assert "no committed execution to roll back" in nothing.err


# -- the executions table on a narrow terminal ------------------------------------------------

LONG_PLAN = "a-rather-long-plan-identifier-here"


def on_a_terminal(monkeypatch: pytest.MonkeyPatch, width: int) -> None:
    """Human output to a terminal ``width`` columns wide (no colour), as ``console`` makes it."""
    import sys

    from rich.console import Console

    from agentos.cli.visible import visible_text_hook

    def console(*, stderr: bool = False) -> Console:
        out = Console(
            file=sys.stderr if stderr else sys.stdout,
            width=width,
            force_terminal=True,
            color_system=None,
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
        out.push_render_hook(visible_text_hook())
        return out

    monkeypatch.setattr("agentos.cli.context.console", console)


@pytest.mark.parametrize("command", ["history", "status"])
@pytest.mark.parametrize("width", [80, 90, 100, 120])
def test_the_plan_column_is_shortened_not_dropped_on_a_narrow_terminal(
    cli: Cli, workspace: Path, monkeypatch: pytest.MonkeyPatch, command: str, width: int
) -> None:
    write_tree(workspace, {"src/a.txt": "one\n"})
    cli_plan(cli, workspace, LONG_PLAN, [{"op": "modify", "path": "src/a.txt", "content": "2\n"}])
    applied = cli_apply(cli, workspace, LONG_PLAN).json()["result"]
    execution = applied["execution_id"]
    on_a_terminal(monkeypatch, width)
    out = cli(command, "-C", workspace).out.splitlines()
    title = out.index("Executions" if command == "history" else "Last executions")
    header, row = out[title + 1].split(), out[title + 2].split()
    assert header == ["execution", "attempt", "plan", "kind", "status", "started", "finished"]
    assert row[0] == execution  # ids whole
    assert row[1] == "1/1"
    assert row[2].endswith("…") and LONG_PLAN.startswith(row[2][:-1]) and len(row[2]) >= 10
    assert row[3:5] == ["apply", "committed"]
    assert len(row[5]) == len("2024-01-01") and len(row[6]) == len("00:00:00")  # times whole
    if width >= 90:  # the whole line fits the terminal
        assert max(len(line) for line in out[title + 1 :]) <= width


def test_the_plan_column_is_whole_on_a_wide_terminal(
    cli: Cli, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_tree(workspace, {"src/a.txt": "one\n"})
    cli_plan(cli, workspace, LONG_PLAN, [{"op": "modify", "path": "src/a.txt", "content": "2\n"}])
    assert cli_apply(cli, workspace, LONG_PLAN).code == 0
    on_a_terminal(monkeypatch, 160)
    out = cli("history", "-C", workspace).out
    assert f"  {LONG_PLAN}  apply  committed  " in out
