"""Agents' native tool inputs (SPEC §4.5): Claude Code and Gemini CLI shapes, tool calls and
hook events wrapping them, lists of calls, absolute paths, detection, --format, refusals."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from agentos.errors import (
    ConflictError,
    InputTooLargeError,
    PatchConflictError,
    PatchParseError,
    PathSafetyError,
)
from agentos.planner.agentinputs import WRITE_TOOLS, tool_base_name
from agentos.planner.plan import detect_format
from agentos.planner.tree import PlanLimits
from helpers import write_tree
from planning import as_bytes, files, plan_items, refusal

XY = {"file_path": "a", "old_string": "x", "new_string": "y"}


def hook(tool: str, tool_input: dict[str, Any]) -> dict[str, Any]:
    """A Claude Code PreToolUse hook event."""
    return {
        "session_id": "abc",
        "transcript_path": "/home/u/.claude/projects/x.jsonl",
        "cwd": "/somewhere",
        "hook_event_name": "PreToolUse",
        "tool_name": tool,
        "tool_input": tool_input,
    }


# ---------------------------------------------------------------------------------------------
# The public names the hook front-end uses
# ---------------------------------------------------------------------------------------------


def test_write_tools_are_the_unprefixed_names_the_planner_plans() -> None:
    assert {
        "Write",
        "Edit",
        "MultiEdit",
        "write_file",
        "replace",
        "edit_file",
        "move_file",
        "apply_patch",
    } == WRITE_TOOLS
    assert "NotebookEdit" not in WRITE_TOOLS


@pytest.mark.parametrize(
    ("name", "base"),
    [
        ("mcp__filesystem__edit_file", "edit_file"),
        ("mcp__my_server__write_file", "write_file"),
        ("mcp__a__b__move_file", "move_file"),
        ("Edit", "Edit"),
        ("apply_patch", "apply_patch"),
        ("my__tool", "my__tool"),
    ],
)
def test_tool_base_name_strips_the_mcp_server_prefix(name: str, base: str) -> None:
    assert tool_base_name(name) == base


# ---------------------------------------------------------------------------------------------
# Claude Code: Write, Edit, MultiEdit
# ---------------------------------------------------------------------------------------------


def test_write_creates_a_file_from_an_absolute_path(workspace: Path) -> None:
    plan = plan_items(workspace, {"file_path": f"{workspace}/src/new.py", "content": "x = 1\n"})
    assert plan.sources[0].format == "claude"
    assert [(c.op, c.path) for c in plan.changeset.changes] == [("create", "src/new.py")]
    assert files(plan, workspace) == {"src/new.py": b"x = 1\n"}


def test_write_overwrites_a_file_and_keeps_its_mode(workspace: Path) -> None:
    write_tree(workspace, {"run.sh": ("echo 1\n", "100755")})
    plan = plan_items(workspace, hook("Write", {"file_path": "run.sh", "content": "echo 2\n"}))
    (change,) = plan.changeset.changes
    assert (change.op, change.mode) == ("modify", "100755")
    assert files(plan, workspace) == {"run.sh": b"echo 2\n"}


def test_edit_in_a_hook_event(workspace: Path) -> None:
    write_tree(workspace, {"a.py": "x = 1\ny = 2\n"})
    event = hook(
        "Edit", {"file_path": f"{workspace}/a.py", "old_string": "y = 2", "new_string": "y = 3"}
    )
    plan = plan_items(workspace, event)
    assert plan.sources[0].format == "claude"
    assert files(plan, workspace) == {"a.py": b"x = 1\ny = 3\n"}


def test_edit_replace_all(workspace: Path) -> None:
    write_tree(workspace, {"a.py": "x\nx\nx\n"})
    edit = {"file_path": "a.py", "old_string": "x", "new_string": "yy", "replace_all": True}
    assert files(plan_items(workspace, edit), workspace) == {"a.py": b"yy\nyy\nyy\n"}


def test_edit_with_an_empty_old_string_creates_a_file(workspace: Path) -> None:
    edit = {"file_path": "n/new.txt", "old_string": "", "new_string": "hi\n"}
    assert files(plan_items(workspace, edit), workspace) == {"n/new.txt": b"hi\n"}


def test_multi_edit_applies_edits_in_order(workspace: Path) -> None:
    write_tree(workspace, {"a.txt": "one two\n"})
    multi = {
        "file_path": f"{workspace}/a.txt",
        "edits": [
            {"old_string": "one", "new_string": "1"},
            {"old_string": "1 two", "new_string": "1 2"},
            {"old_string": "2", "new_string": "3", "replace_all": True},
        ],
    }
    plan = plan_items(workspace, hook("MultiEdit", multi))
    assert files(plan, workspace) == {"a.txt": b"1 3\n"}


def test_multi_edit_is_all_or_nothing(workspace: Path) -> None:
    write_tree(workspace, {"a.txt": "one two\n"})
    multi = {
        "file_path": "a.txt",
        "edits": [
            {"old_string": "one", "new_string": "1"},
            {"old_string": "missing", "new_string": "x"},
        ],
    }
    error = refusal(workspace, multi, kind=PatchConflictError, code=5)
    assert "a.txt" in error.message
    assert "edits[1]" in error.message


def test_multi_edit_creating_a_file_with_its_first_edit(workspace: Path) -> None:
    multi = {
        "file_path": "new.py",
        "edits": [
            {"old_string": "", "new_string": "a = 1\nb = 2\n"},
            {"old_string": "b = 2", "new_string": "b = 3"},
        ],
    }
    assert files(plan_items(workspace, multi), workspace) == {"new.py": b"a = 1\nb = 3\n"}


# ---------------------------------------------------------------------------------------------
# Gemini CLI: write_file and replace
# ---------------------------------------------------------------------------------------------


def test_gemini_write_file(workspace: Path) -> None:
    call = {"name": "write_file", "args": None, "input": {"file_path": "g.txt", "content": "g\n"}}
    plan = plan_items(workspace, call)
    assert plan.sources[0].format == "claude"
    assert files(plan, workspace) == {"g.txt": b"g\n"}


def test_gemini_replace_needs_the_expected_number_of_occurrences(workspace: Path) -> None:
    write_tree(workspace, {"a.py": "x = 1\nx = 1\n"})
    two = {"file_path": "a.py", "old_string": "1", "new_string": "2", "expected_replacements": 2}
    plan = plan_items(workspace, {"name": "replace", "arguments": two})
    assert files(plan, workspace) == {"a.py": b"x = 2\nx = 2\n"}


def test_gemini_replace_defaults_to_one_occurrence(workspace: Path) -> None:
    write_tree(workspace, {"a.py": "x = 1\nx = 1\n"})
    call = {
        "name": "replace",
        "arguments": {"file_path": "a.py", "old_string": "1", "new_string": "2"},
    }
    error = refusal(workspace, call, kind=PatchConflictError, code=5)
    assert "a.py" in error.message
    assert "expected_replacements" in error.message


def test_gemini_replace_with_a_wrong_count_is_refused(workspace: Path) -> None:
    write_tree(workspace, {"a.py": "x = 1\nx = 1\n"})
    three = {"file_path": "a.py", "old_string": "1", "new_string": "2", "expected_replacements": 3}
    error = refusal(workspace, three, kind=PatchConflictError, code=5)
    assert "2 time(s)" in error.message


def test_gemini_arguments_as_a_json_text(workspace: Path) -> None:
    write_tree(workspace, {"a.py": "x = 1\n"})
    call = {
        "name": "replace",
        "arguments": '{"file_path": "a.py", "old_string": "1", "new_string": "2"}',
    }
    assert files(plan_items(workspace, call), workspace) == {"a.py": b"x = 2\n"}


# ---------------------------------------------------------------------------------------------
# Lists of calls, YAML, --format
# ---------------------------------------------------------------------------------------------


def test_a_list_of_calls_and_bare_inputs_is_one_changeset_in_order(workspace: Path) -> None:
    write_tree(workspace, {"a.py": "a = 1\n"})
    calls = [
        hook("Edit", {"file_path": "a.py", "old_string": "a = 1", "new_string": "a = 2"}),
        {"name": "Write", "input": {"file_path": "b.py", "content": "b = 1\n"}},
        {"file_path": "b.py", "old_string": "b = 1", "new_string": "b = 2"},
        {"type": "tool_use", "id": "t1", "name": "MultiEdit", "input": {
            "file_path": "a.py", "edits": [{"old_string": "2", "new_string": "3"}]}},
    ]  # fmt: skip
    plan = plan_items(workspace, calls)
    assert [s.format for s in plan.sources] == ["claude"]
    assert files(plan, workspace) == {"a.py": b"a = 3\n", "b.py": b"b = 2\n"}


def test_a_yaml_tool_input(workspace: Path) -> None:
    write_tree(workspace, {"a.py": "a = 1\n"})
    doc = "tool_name: Edit\ntool_input:\n  file_path: a.py\n  old_string: a = 1\n"
    doc += "  new_string: a = 2\n"
    assert files(plan_items(workspace, doc), workspace) == {"a.py": b"a = 2\n"}


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({"file_path": "/w/a", "content": "x"}, "claude"),
        ({"file_path": "a", "old_string": "x", "new_string": "y"}, "claude"),
        ({"file_path": "a", "edits": [{"old_string": "x", "new_string": "y"}]}, "claude"),
        ({**XY, "expected_replacements": 2}, "claude"),
        ({"tool_name": "Write", "tool_input": {"file_path": "a", "content": "x"}}, "claude"),
        ({"name": "mcp__fs__write_file", "arguments": {"path": "a", "content": "x"}}, "mcp"),
        ({"path": "a", "edits": [{"oldText": "x", "newText": "y"}]}, "mcp"),
        ({"path": "a", "content": "x"}, "mcp"),
        ({"source": "a", "destination": "b"}, "mcp"),
        ([{"file_path": "a", "content": "x"}, {"file_path": "b", "content": "y"}], "claude"),
        ({"tool_name": "apply_patch", "tool_input": {"command": "*** Begin Patch"}}, "codex"),
        (["apply_patch", "*** Begin Patch\n*** End Patch"], "codex"),
    ],
)  # fmt: skip
def test_detection_of_agent_shapes(doc: Any, expected: str) -> None:
    assert detect_format(as_bytes(doc), source="in") == expected


def test_forcing_the_claude_format(workspace: Path) -> None:
    write_tree(workspace, {"a.py": "a = 1\n"})
    edit = {"file_path": "a.py", "old_string": "1", "new_string": "2"}
    plan = plan_items(workspace, edit, fmt="claude")
    assert plan.sources[0].format == "claude"


@pytest.mark.parametrize("fmt", ["mcp", "codex"])
def test_a_claude_call_under_another_format_is_refused(workspace: Path, fmt: str) -> None:
    write_tree(workspace, {"a.py": "a = 1\n"})
    edit = hook("Edit", {"file_path": "a.py", "old_string": "1", "new_string": "2"})
    error = refusal(workspace, edit, fmt=fmt, kind=PatchParseError, code=2)
    assert "--format claude" in error.message


def test_claude_format_refuses_what_is_not_a_tool_input(workspace: Path) -> None:
    error = refusal(workspace, {"changes": []}, fmt="claude", kind=PatchParseError, code=2)
    assert error.message.startswith("hook.json: ")


def test_mixing_families_in_one_input_is_refused(workspace: Path) -> None:
    calls = [
        {"file_path": "a", "content": "x"},
        {"name": "mcp__fs__write_file", "arguments": {"path": "b", "content": "y"}},
    ]
    error = refusal(workspace, calls, kind=PatchParseError, code=2)
    assert "separate input" in error.message


# ---------------------------------------------------------------------------------------------
# Absolute paths
# ---------------------------------------------------------------------------------------------


def test_an_absolute_path_outside_the_workspace_is_a_path_safety_denial(workspace: Path) -> None:
    error = refusal(
        workspace, hook("Write", {"file_path": "/etc/passwd", "content": "x"}), kind=PathSafetyError
    )
    assert error.exit_code == 3
    assert error.message.startswith("path-safety: hook.json")
    assert "/etc/passwd is outside the workspace" in error.message
    assert str(workspace) in error.message


@pytest.mark.parametrize("raw", ["{ws}x/../../etc", "{ws}/../x", "{ws}x"])
def test_lookalike_and_dotdot_absolute_paths_are_refused(workspace: Path, raw: str) -> None:
    path = raw.format(ws=workspace)
    refusal(workspace, {"file_path": path, "content": "x"}, kind=PathSafetyError, code=3)


def test_the_workspace_is_found_through_a_link_to_it(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "alias").symlink_to(real, target_is_directory=True)
    for root, named in ((real, tmp_path / "alias"), (tmp_path / "alias", real)):
        plan = plan_items(root, {"file_path": f"{named}//sub/./f.txt", "content": "x\n"})
        assert [c.path for c in plan.changeset.changes] == ["sub/f.txt"]


def test_a_link_inside_the_workspace_is_not_followed(workspace: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (workspace / "link").symlink_to(outside, target_is_directory=True)
    error = refusal(
        workspace, {"file_path": f"{workspace}/link/f.txt", "content": "x"}, kind=PathSafetyError
    )
    assert "symbolic link" in error.message
    assert list(outside.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# Refusals
# ---------------------------------------------------------------------------------------------


def test_an_ambiguous_old_string_is_refused(workspace: Path) -> None:
    write_tree(workspace, {"a.py": "x\nx\n"})
    error = refusal(
        workspace,
        hook("Edit", {"file_path": f"{workspace}/a.py", "old_string": "x", "new_string": "y"}),
        kind=PatchConflictError,
        code=5,
    )
    assert "a.py" in error.message
    assert "ambiguous" in error.message
    assert "2 times" in error.message
    assert "add more context or set replace_all" in error.message


def test_an_old_string_not_found_is_refused(workspace: Path) -> None:
    write_tree(workspace, {"a.py": "x\n"})
    edit = {"file_path": "a.py", "old_string": "zzz", "new_string": "y"}
    error = refusal(workspace, edit, kind=PatchConflictError, code=5)
    assert "a.py" in error.message
    assert "not found" in error.message


def test_an_edit_that_changes_nothing_is_refused(workspace: Path) -> None:
    write_tree(workspace, {"a.py": "x\n"})
    edit = {"file_path": "a.py", "old_string": "x", "new_string": "x"}
    error = refusal(workspace, edit, kind=PatchParseError, code=2)
    assert "the same" in error.message


def test_an_edit_of_a_missing_file_is_refused(workspace: Path) -> None:
    edit = {"file_path": f"{workspace}/no.py", "old_string": "a", "new_string": "b"}
    error = refusal(workspace, edit, kind=PatchConflictError, code=5)
    assert "no.py" in error.message
    assert "does not exist" in error.message


def test_an_empty_old_string_on_an_existing_file_is_refused(workspace: Path) -> None:
    write_tree(workspace, {"a.py": "x\n"})
    edit = {"file_path": "a.py", "old_string": "", "new_string": "y"}
    error = refusal(workspace, edit, kind=ConflictError, code=5)
    assert "a.py" in error.message


def test_a_multi_edit_without_edits_is_refused(workspace: Path) -> None:
    write_tree(workspace, {"a.py": "x\n"})
    error = refusal(workspace, {"file_path": "a.py", "edits": []}, kind=PatchParseError, code=2)
    assert "a.py" in error.message
    assert "no edits" in error.message


def test_an_unknown_tool_is_refused(workspace: Path) -> None:
    event = hook("NotebookEdit", {"notebook_path": "/w/n.ipynb", "new_source": "x"})
    error = refusal(workspace, event, kind=PatchParseError, code=2)
    assert error.message.startswith(
        "hook.json: tool 'NotebookEdit' is not a write tool agentos can plan"
    )


def test_an_unknown_tool_in_a_list_is_named_by_its_place(workspace: Path) -> None:
    calls = [{"file_path": "a", "content": "x"}, {"tool_name": "Bash", "tool_input": {}}]
    error = refusal(workspace, calls, kind=PatchParseError, code=2)
    assert error.message.startswith("hook.json: [1]: tool 'Bash'")


@pytest.mark.parametrize(
    ("doc", "fragment"),
    [
        ({"file_path": "a", "colour": "red"}, "keys ['colour', 'file_path'] fit no"),
        (hook("Edit", {"file_path": "a", "old_string": "x"}), "Edit needs new_string"),
        (hook("Write", {"file_path": "a", "content": "x", "mode": 1}), "Write takes no mode"),
        (hook("Edit", {"file_path": "a", "old_string": 1, "new_string": "y"}), "must be a string"),
        (hook("Edit", {**XY, "replace_all": "y"}), "true or false"),
        (hook("Write", "not a mapping"), "must be a mapping"),
        (hook("MultiEdit", {"file_path": "a", "edits": [{"old_string": "x"}]}), "edits[0]"),
        (hook("replace", {**XY, "expected_replacements": 0}), "at least 1"),
        ({"name": "Edit", "arguments": "{not json"}, "not valid JSON"),
        ({"tool_name": 3, "tool_input": {}}, "must be a string"),
        (hook("Write", {"file_path": "a", "content": "\udfff"}), "surrogate"),
    ],
)  # fmt: skip
def test_bad_keys_and_values_are_parse_errors(workspace: Path, doc: Any, fragment: str) -> None:
    write_tree(workspace, {"a": "x\n"})
    error = refusal(workspace, doc, kind=PatchParseError, code=2)
    assert fragment in error.message
    assert error.message.startswith("hook.json")


def test_replace_all_cannot_outgrow_the_file_limit(workspace: Path) -> None:
    write_tree(workspace, {"a.txt": "x" * 1000})
    edit = {"file_path": "a.txt", "old_string": "x", "new_string": "y" * 2000, "replace_all": True}
    with pytest.raises(InputTooLargeError) as info:
        plan_items(workspace, edit)
    assert "max_file_bytes" in info.value.message


def test_yaml_aliases_cannot_multiply_the_strings(workspace: Path) -> None:
    big = "y" * 1000
    doc = f"- {{file_path: b.txt, content: &s '{big}'}}\n"
    doc += "- {file_path: b.txt, content: *s}\n" * 100
    limits = PlanLimits(max_input_bytes=50_000)
    error = refusal(workspace, doc, kind=InputTooLargeError, code=3, limits=limits)
    assert "aliases expanded" in error.message


def test_too_many_calls_in_one_input_are_refused(workspace: Path) -> None:
    doc = "- &w {file_path: a.txt, content: x}\n" + "- *w\n" * 10_001
    error = refusal(workspace, doc, kind=InputTooLargeError, code=3)
    assert "split the change" in error.message


# ---------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------

_TEXT = st.text(alphabet="ab \n", min_size=1, max_size=40)


@given(before=_TEXT, old=_TEXT, after=_TEXT, new=st.text(alphabet="cd\n", max_size=20))
def test_an_edit_with_a_unique_old_string_replaces_it_once(
    before: str, old: str, after: str, new: str
) -> None:
    content = before + old + after
    assume(content.count(old) == 1 and old != new)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_tree(root, {"f.txt": content})
        edit = {"file_path": str(root / "f.txt"), "old_string": old, "new_string": new}
        plan = plan_items(root, hook("Edit", edit), name="e.json")
        assert files(plan, root) == {"f.txt": content.replace(old, new, 1).encode()}
