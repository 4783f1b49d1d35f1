"""Plan and execution ids given by a unique prefix, as git takes a short hash: resolved by the
pipeline for every command that takes one; an ambiguous prefix is a usage error listing the
candidates, an unknown or too short one keeps the error of an unknown id."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from helpers import PERMISSIVE_POLICY, CliResult, cli_apply, cli_plan, cli_rollback, write_tree

Cli = Callable[..., CliResult]
AMBIGUOUS_DETAILS = {"prefix", "candidates", "matches"}


@pytest.fixture
def ws(workspace: Path) -> Path:
    write_tree(workspace, {"a.txt": "a\n", "b.txt": "b\n"})
    return workspace


def two_plans(cli: Cli, ws: Path) -> None:
    cli_plan(cli, ws, "fix-one", [{"op": "modify", "path": "a.txt", "content": "A\n"}])
    cli_plan(cli, ws, "fix-two", [{"op": "modify", "path": "b.txt", "content": "B\n"}])


def run(cli: Cli, ws: Path, *args: str) -> CliResult:
    return cli(*args, "-C", ws, "--policy", PERMISSIVE_POLICY, "--json")


def test_a_plan_id_prefix_names_the_plan(cli: Cli, ws: Path) -> None:
    two_plans(cli, ws)
    for args in (("check", "fix-o"), ("show", "fix-o"), ("policy", "explain", "fix-o")):
        res = run(cli, ws, *args)
        assert res.code == 0, (args, res.out)
        assert res.json()["result"]["plan_id"] == "fix-one"
    approved = run(cli, ws, "approve", "fix-t", "--by", "dana")
    assert approved.code == 0
    assert approved.json()["result"]["approval"]["plan_id"] == "fix-two"
    res = cli_apply(cli, ws, "fix-t")
    assert (res.code, res.json()["result"]["plan_id"]) == (0, "fix-two")
    assert (ws / "b.txt").read_text() == "B\n"
    assert (ws / "a.txt").read_text() == "a\n"


def test_an_ambiguous_plan_prefix_is_a_usage_error_listing_the_candidates(
    cli: Cli, ws: Path
) -> None:
    two_plans(cli, ws)
    res = cli_apply(cli, ws, "fix-")
    assert res.code == 2
    error = res.json()["error"]
    assert error["type"] == "usage_error"
    assert set(error["details"]) == AMBIGUOUS_DETAILS
    assert error["details"] == {
        "prefix": "fix-",
        "candidates": ["fix-one", "fix-two"],
        "matches": 2,
    }
    assert "fix-one, fix-two" in error["message"]
    assert (ws / "a.txt").read_text() == "a\n"


def test_an_exact_id_wins_over_longer_ids_it_is_a_prefix_of(cli: Cli, ws: Path) -> None:
    cli_plan(cli, ws, "fix-1", [{"op": "modify", "path": "a.txt", "content": "A\n"}])
    cli_plan(cli, ws, "fix-10", [{"op": "modify", "path": "b.txt", "content": "B\n"}])
    res = run(cli, ws, "check", "fix-1")
    assert (res.code, res.json()["result"]["plan_id"]) == (0, "fix-1")


@pytest.mark.parametrize("ref", ["fix", "plan-0000", "nope-at-all"])
def test_a_short_or_unknown_plan_prefix_keeps_the_unknown_plan_error(
    cli: Cli, ws: Path, ref: str
) -> None:
    two_plans(cli, ws)
    res = run(cli, ws, "check", ref)
    assert res.code == 2
    assert "neither a plan file nor the id of a plan" in res.json()["error"]["message"]


def test_an_execution_id_prefix_names_the_execution(cli: Cli, ws: Path) -> None:
    two_plans(cli, ws)
    execution_id = cli_apply(cli, ws, "fix-one").json()["result"]["execution_id"]
    short = execution_id[: len("exec-") + 6]
    shown = run(cli, ws, "show", short)
    assert shown.code == 0
    assert shown.json()["result"]["execution_id"] == execution_id
    undone = cli_rollback(cli, ws, short)
    assert undone.code == 0
    assert undone.json()["result"]["parent"] == execution_id
    assert (ws / "a.txt").read_text() == "a\n"


def test_an_ambiguous_execution_prefix_lists_the_candidates(cli: Cli, ws: Path) -> None:
    from agentos.pipeline import open_context

    trail = open_context(ws).audit
    ids = ["exec-abcd" + "1" * 16, "exec-abcd" + "2" * 16, "exec-abce" + "3" * 16]
    for execution_id in ids:
        trail.append("apply.started", actor="tests", data={}, execution_id=execution_id)
    for args in (("show", "exec-abcd"), ("rollback", "exec-abcd")):
        res = run(cli, ws, *args)
        assert res.code == 2, args
        error = res.json()["error"]
        assert error["type"] == "usage_error"
        assert error["details"] == {"prefix": "exec-abcd", "candidates": ids[:2], "matches": 2}
        assert "'agentos history'" in error["message"]
    # Long enough to be unique: the one execution.
    res = run(cli, ws, "show", "exec-abcd1")
    assert res.json()["result"]["execution_id"] == ids[0]
    # Fewer than 4 characters after exec-: not a prefix, the unknown id's error.
    res = run(cli, ws, "show", "exec-abc")
    assert res.code == 2
    assert "no execution 'exec-abc'" in res.json()["error"]["message"]


def test_unique_match_rules() -> None:
    from agentos.errors import UsageError
    from agentos.pipeline.refs import unique_match

    ids = ["plan-0a1b2c", "plan-0a1bff", "ci-1234", "exec-77aa00"]
    assert unique_match("plan-0a1b2", ids, what="plan", hint="h") == "plan-0a1b2c"
    assert unique_match("plan-0a1", ids, what="plan", hint="h") is None  # 3 after plan-
    assert unique_match("ci-1", ids, what="plan", hint="h") == "ci-1234"
    assert unique_match("ci-", ids, what="plan", hint="h") is None  # 3 in all
    assert unique_match("exec-77aa", ids, what="plan", hint="h") == "exec-77aa00"
    with pytest.raises(UsageError, match="ambiguous: it matches plan-0a1b2c, plan-0a1bff"):
        unique_match("plan-0a1b", ids, what="plan", hint="h")
    many = [f"run-{n:04d}" for n in range(25)]
    with pytest.raises(UsageError, match="run-0009 and 15 more") as info:
        unique_match("run-0", many, what="plan", hint="h")
    assert info.value.details["matches"] == 25
    assert len(info.value.details["candidates"]) == 10


def generated_plan(cli: Cli, ws: Path, content: str = "A\n") -> str:
    """A plan with the id agentos makes (no --plan-id); its id."""
    manifest = ws.parent / f"generated-{len(list(ws.parent.glob('generated-*')))}.json"
    manifest.write_text(
        json.dumps({"changes": [{"op": "modify", "path": "a.txt", "content": content}]})
    )
    res = run(cli, ws, "plan", str(manifest))
    assert res.code == 0, res.out
    plan_id: str = res.json()["result"]["plan_id"]
    assert plan_id.startswith("plan-")
    return plan_id


@pytest.mark.parametrize("chosen", ["plan-3e5c", "exec-0001", "Plan-x", "EXEC-y", "plan-"])
def test_a_chosen_plan_id_may_not_take_the_marks_of_generated_ids(
    cli: Cli, ws: Path, chosen: str
) -> None:
    manifest = ws.parent / "m.json"
    manifest.write_text(
        json.dumps({"changes": [{"op": "modify", "path": "b.txt", "content": "X\n"}]})
    )
    res = run(cli, ws, "plan", str(manifest), "--plan-id", chosen)
    assert res.code == 2
    error = res.json()["error"]
    assert error["type"] == "usage_error"
    assert "--plan-id" in error["message"] and "keeps for the ids it makes" in error["message"]
    assert not list((ws / ".agentos" / "plans").glob("*.json"))


def test_a_planted_plan_cannot_capture_the_prefix_of_a_generated_id(cli: Cli, ws: Path) -> None:
    real = generated_plan(cli, ws)
    prefix = real[: len("plan-") + 4]
    planted = ws.parent / "planted.json"
    planted.write_text(
        json.dumps({"changes": [{"op": "modify", "path": "b.txt", "content": "EVIL\n"}]})
    )
    assert run(cli, ws, "plan", str(planted), "--plan-id", prefix).code == 2
    approved = run(cli, ws, "approve", prefix, "--by", "dana")
    assert approved.json()["result"]["approval"]["plan_id"] == real
    res = cli_apply(cli, ws, prefix)
    assert (res.code, res.json()["result"]["plan_id"]) == (0, real)
    assert (ws / "b.txt").read_text() == "b\n"


@pytest.mark.parametrize("ref", ["p", "pl", "pla", "plan", "plan-", "e", "exe", "exec", "exec-"])
def test_a_beginning_of_a_mark_is_too_short_to_be_a_prefix(cli: Cli, ws: Path, ref: str) -> None:
    generated_plan(cli, ws)
    for args in (("check", ref), ("show", ref)):
        res = run(cli, ws, *args)
        assert res.code == 2, (args, res.out)
        message = res.json()["error"]["message"]
        assert "neither a plan file nor the id of a plan" in message or "no execution" in message


@pytest.mark.parametrize("ref", ["e", "exec", "exec-"])
def test_rollback_of_a_beginning_of_the_mark_names_no_execution(
    cli: Cli, ws: Path, ref: str
) -> None:
    plan_id = generated_plan(cli, ws)
    assert cli_apply(cli, ws, plan_id).code == 0
    res = cli_rollback(cli, ws, ref)
    assert res.code == 2
    assert f"no committed execution {ref!r}" in res.json()["error"]["message"]
    assert (ws / "a.txt").read_text() == "A\n"


def test_a_chosen_id_that_is_a_beginning_of_a_mark_is_still_named_exactly(
    cli: Cli, ws: Path
) -> None:
    cli_plan(cli, ws, "plan", [{"op": "modify", "path": "a.txt", "content": "A\n"}])
    generated_plan(cli, ws, "Z\n")
    res = run(cli, ws, "check", "plan")
    assert (res.code, res.json()["result"]["plan_id"]) == (0, "plan")


def test_a_mark_alone_matches_nothing() -> None:
    from agentos.model import RESERVED_ID_MARKS
    from agentos.pipeline.refs import ID_MARKS, long_enough, unique_match

    assert ID_MARKS == RESERVED_ID_MARKS
    ids = ["plan-0a1b2c3d", "exec-77aa0011"]
    for ref in ("plan", "exec", "pla", "exec-"):
        assert not long_enough(ref)
        assert unique_match(ref, ids, what="plan", hint="h") is None


LONG = "a" * 300


@pytest.mark.parametrize(
    "args",
    [
        ("show", LONG),
        ("show", f"exec-{LONG}"),
        ("check", LONG),
        ("policy", "explain", LONG),
        ("approve", LONG, "--by", "dana"),
        ("apply", LONG),
        ("rollback", LONG),
        ("rollback", f"exec-{LONG}"),
        ("rollback", f"exec-{LONG}", "--attempt", "1"),
    ],
)
def test_a_ref_too_long_for_a_file_name_is_not_found(
    cli: Cli, ws: Path, args: tuple[str, ...]
) -> None:
    plan_id = generated_plan(cli, ws)
    assert cli_apply(cli, ws, plan_id).code == 0  # the executions' folders exist
    res = run(cli, ws, *args)
    assert res.code == 2, res.out
    assert res.json()["error"]["type"] == "usage_error"
    assert "Traceback" not in res.err and not (ws / ".agentos" / "logs").exists()


def test_human_tables_print_whole_ids_in_a_pipe_and_keep_the_execution_id_on_a_terminal(
    cli: Cli, ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rich.console import Console

    from agentos.cli.views.executions import render_executions
    from agentos.pipeline import history, open_context

    long_id = "a-plan-id-long-enough-to-be-cut-in-a-narrow-table"
    cli_plan(cli, ws, long_id, [{"op": "modify", "path": "a.txt", "content": "A\n"}])
    execution_id = cli_apply(cli, ws, long_id).json()["result"]["execution_id"]
    monkeypatch.setenv("COLUMNS", "40")
    out = cli("history", "-C", ws).out
    assert execution_id in out
    assert long_id in out
    terminal = io.StringIO()
    console = Console(file=terminal, force_terminal=True, width=40, no_color=True)
    render_executions(console, history(open_context(ws)).executions, "Executions")
    assert execution_id in terminal.getvalue()
