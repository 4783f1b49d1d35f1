"""The MCP filesystem server's write tools (SPEC §4.5): edit_file with the server's matching
(made unique), write_file, move_file; detection, --format, refusals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agentos.errors import ConflictError, PatchConflictError, PatchParseError, PathSafetyError
from agentos.planner.mcpfs import edit_once
from helpers import write_tree
from planning import files, plan_items, refusal


def call(tool: str, arguments: dict[str, Any], server: str = "filesystem") -> dict[str, Any]:
    """An MCP tools/call's name and arguments, as a client names the server's tool."""
    return {"name": f"mcp__{server}__{tool}", "arguments": arguments}


def edit(path: str, *pairs: tuple[str, str], **extra: Any) -> dict[str, Any]:
    return {"path": path, "edits": [{"oldText": o, "newText": n} for o, n in pairs], **extra}


# ---------------------------------------------------------------------------------------------
# edit_file
# ---------------------------------------------------------------------------------------------


def test_edit_file_with_an_exact_match(workspace: Path) -> None:
    write_tree(workspace, {"src/a.py": "def f():\n    return 1\n"})
    plan = plan_items(workspace, call("edit_file", edit(f"{workspace}/src/a.py", ("1", "2"))))
    assert plan.sources[0].format == "mcp"
    assert files(plan, workspace) == {"src/a.py": b"def f():\n    return 2\n"}


def test_edit_file_applies_edits_in_order(workspace: Path) -> None:
    write_tree(workspace, {"a.txt": "one two\n"})
    doc = edit("a.txt", ("one", "1"), ("1 two", "1 2"))
    assert files(plan_items(workspace, doc), workspace) == {"a.txt": b"1 2\n"}


def test_a_dry_run_is_planned_the_same_way(workspace: Path) -> None:
    write_tree(workspace, {"a.txt": "one\n"})
    doc = {
        "tool_name": "mcp__fs__edit_file",
        "tool_input": edit("a.txt", ("one", "1"), dryRun=True),
    }
    assert files(plan_items(workspace, doc), workspace) == {"a.txt": b"1\n"}


def test_the_line_by_line_fallback_keeps_the_first_lines_indentation(workspace: Path) -> None:
    # oldText has lost the indentation and has a trailing space the file does not.
    write_tree(workspace, {"a.py": "class A:\n    def f(self):\n        return 1\n"})
    doc = edit("a.py", ("def f(self): \nreturn 1", "def g(self):\nreturn 2"))
    plan = plan_items(workspace, doc)
    # The first new line takes the matched line's indentation; a later line with no
    # indentation of its own is written as given (the server's rule).
    assert files(plan, workspace) == {"a.py": b"class A:\n    def g(self):\nreturn 2\n"}


def test_the_fallback_indents_later_lines_relative_to_old_text(workspace: Path) -> None:
    write_tree(workspace, {"a.py": "if a:\n    if b:\n        x = 1\n"})
    doc = edit("a.py", ("if b:  \n    x = 1", "if c:\n      x = 2\n    y = 3"))
    plan = plan_items(workspace, doc)
    # Line 2: 6 - 4 = 2 spaces deeper than the first line; line 3: no old line to measure
    # against, written as given.
    expected = b"if a:\n    if c:\n      x = 2\n    y = 3\n"
    assert files(plan, workspace) == {"a.py": expected}


@pytest.mark.parametrize(
    ("text", "old", "new", "expected"),
    [
        ("a\nb\n", "b", "c", "a\nc\n"),
        ("  a\n  b\n", "a\nb", "x\n  y", "  x\n  y\n"),
        ("\tif x:\n\t\tpass\n", "if x:\n  pass", "if y:\n  return", "\tif y:\n\treturn\n"),
        ("a\n", "a\n", "b\n", "b\n"),
    ],
)
def test_edit_once_follows_the_server(text: str, old: str, new: str, expected: str) -> None:
    assert edit_once(text, old, new, label="t", path="p")[0] == expected


def test_a_crlf_file_keeps_its_line_endings(workspace: Path) -> None:
    write_tree(workspace, {"w.txt": b"one\r\ntwo\r\n"})
    plan = plan_items(workspace, edit("w.txt", ("one\ntwo", "1\n2")))
    assert files(plan, workspace) == {"w.txt": b"1\r\n2\r\n"}


def test_an_ambiguous_exact_match_is_refused(workspace: Path) -> None:
    write_tree(workspace, {"a.py": "x = 1\nx = 1\n"})
    error = refusal(workspace, edit("a.py", ("x = 1", "x = 2")), kind=PatchConflictError, code=5)
    assert "a.py" in error.message
    assert "ambiguous" in error.message
    assert "2 times" in error.message


def test_an_ambiguous_line_by_line_match_is_refused(workspace: Path) -> None:
    write_tree(workspace, {"a.py": "  x = 1\n\tx = 1\n"})
    error = refusal(workspace, edit("a.py", ("x = 1 ", "x = 2")), kind=PatchConflictError, code=5)
    assert "a.py" in error.message
    assert "more than once" in error.message


def test_old_text_not_found_is_refused(workspace: Path) -> None:
    write_tree(workspace, {"a.py": "x = 1\n"})
    error = refusal(workspace, edit("a.py", ("nope", "x")), kind=PatchConflictError, code=5)
    assert "a.py" in error.message
    assert "'nope'" in error.message
    assert "not found" in error.message


def test_editing_a_missing_file_is_refused(workspace: Path) -> None:
    error = refusal(workspace, edit("no.txt", ("a", "b")), kind=PatchConflictError, code=5)
    assert "no.txt" in error.message


@pytest.mark.parametrize(
    ("doc", "fragment"),
    [
        (edit("a.txt", ("", "x")), "oldText is empty"),
        (edit("a.txt", ("a", "a")), "the same"),
        (edit("a.txt"), "no edits"),
        ({"path": "a.txt", "edits": [{"oldText": "a"}]}, "{oldText, newText}"),
        ({"path": "a.txt", "edits": "a"}, "must be a list"),
        (edit("a.txt", ("a", "b"), dryRun="yes"), "true or false"),
        (edit("a.txt", ("a", "b"), force=True), "edit_file takes no force"),
    ],
)
def test_malformed_edit_file_inputs_are_refused(workspace: Path, doc: Any, fragment: str) -> None:
    write_tree(workspace, {"a.txt": "a\n"})
    error = refusal(workspace, doc, kind=PatchParseError, code=2)
    assert fragment in error.message


# ---------------------------------------------------------------------------------------------
# write_file and move_file
# ---------------------------------------------------------------------------------------------


def test_write_file_creates_and_overwrites(workspace: Path) -> None:
    write_tree(workspace, {"a.txt": "old\n"})
    calls = [
        call("write_file", {"path": f"{workspace}/a.txt", "content": "new\n"}),
        call("write_file", {"path": "d/b.txt", "content": "b\n"}),
    ]
    plan = plan_items(workspace, calls)
    assert [s.format for s in plan.sources] == ["mcp"]
    assert files(plan, workspace) == {"a.txt": b"new\n", "d/b.txt": b"b\n"}


def test_move_file_is_a_rename(workspace: Path) -> None:
    write_tree(workspace, {"a.txt": "a\n"})
    plan = plan_items(workspace, {"source": f"{workspace}/a.txt", "destination": "b/a.txt"})
    (change,) = plan.changeset.changes
    assert (change.op, change.path) == ("rename", "b/a.txt")
    assert files(plan, workspace) == {"b/a.txt": b"a\n"}


def test_move_then_edit_in_one_list(workspace: Path) -> None:
    write_tree(workspace, {"a.txt": "a\n"})
    calls = [
        call("move_file", {"source": "a.txt", "destination": "b.txt"}),
        call("edit_file", edit("b.txt", ("a", "b"))),
    ]
    assert files(plan_items(workspace, calls), workspace) == {"b.txt": b"b\n"}


def test_move_onto_an_existing_file_is_refused(workspace: Path) -> None:
    write_tree(workspace, {"a.txt": "a\n", "b.txt": "b\n"})
    doc = {"source": "a.txt", "destination": "b.txt"}
    error = refusal(workspace, doc, kind=ConflictError, code=5)
    assert "b.txt already exists" in error.message


def test_moving_a_missing_file_or_a_directory_is_refused(workspace: Path) -> None:
    write_tree(workspace, {"d/a.txt": "a\n"})
    missing = refusal(workspace, {"source": "x", "destination": "y"}, code=5)
    assert "x" in missing.message
    directory = refusal(workspace, {"source": "d", "destination": "e"}, code=5)
    assert "d is a directory" in directory.message or "it is a directory" in directory.message


def test_paths_outside_the_workspace_are_refused(workspace: Path) -> None:
    doc = call("write_file", {"path": "/tmp/elsewhere/x", "content": "x"})
    error = refusal(workspace, doc, kind=PathSafetyError, code=3)
    assert "/tmp/elsewhere/x is outside the workspace" in error.message


def test_forcing_the_mcp_format(workspace: Path) -> None:
    write_tree(workspace, {"a.txt": "a\n"})
    plan = plan_items(workspace, edit("a.txt", ("a", "b")), fmt="mcp")
    assert plan.sources[0].format == "mcp"
    error = refusal(workspace, edit("a.txt", ("a", "b")), fmt="claude", kind=PatchParseError)
    assert "--format mcp" in error.message
