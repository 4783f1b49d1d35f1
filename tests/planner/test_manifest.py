"""Manifests (full new contents per file), edit lists (string replaces), and combined inputs."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agentos.errors import AgentosError, PatchParseError
from agentos.model import ChangePlan
from agentos.planner.plan import PlanInput, PlanSpec, detect_format, plan_changes
from agentos.workspace import Workspace
from helpers import CliResult, materialise, read_tree, write_tree


def plan_inputs(root: Path, *inputs: bytes | str | Any, fmt: str = "auto") -> ChangePlan:
    """Plan ``inputs`` in order (bytes as given, str encoded, anything else as JSON)."""
    items = []
    for index, item in enumerate(inputs):
        if isinstance(item, str):
            data = item.encode("utf-8")
        elif isinstance(item, bytes):
            data = item
        else:
            data = json.dumps(item).encode("utf-8")
        items.append(PlanInput(name=f"in{index}", data=data, format=fmt))  # type: ignore[arg-type]
    return plan_changes(PlanSpec(workspace=Workspace(root), inputs=tuple(items), author="t"))


def plan_error(root: Path, *inputs: bytes | str | Any, fmt: str = "auto") -> AgentosError:
    """The error planning ``inputs`` raises (the test fails if it plans)."""
    with pytest.raises(AgentosError) as info:
        plan_inputs(root, *inputs, fmt=fmt)
    assert "\n" not in info.value.message, "errors are one line on stderr"
    return info.value


def manifest(*changes: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {**top, "changes": list(changes)}


def ops(plan: ChangePlan) -> list[tuple[str, str]]:
    return [(c.op, c.path) for c in plan.changeset.changes]


def result_tree(plan: ChangePlan, root: Path) -> dict[str, tuple[bytes, str]]:
    materialise(plan, root)
    return read_tree(root)


# ---------------------------------------------------------------------------------------------
# Manifest operations
# ---------------------------------------------------------------------------------------------


def test_create_modify_delete_rename_in_one_manifest(workspace: Path) -> None:
    write_tree(workspace, {"mod.txt": "old\n", "gone.txt": "bye\n", "a.txt": "moved\n"})
    doc = manifest(
        {"op": "create", "path": "src/new.py", "content": "print(1)\n"},
        {"op": "modify", "path": "mod.txt", "content": "new\n"},
        {"op": "delete", "path": "gone.txt"},
        {"op": "rename", "from": "a.txt", "path": "b/a.txt"},
        intent="tidy up",
    )
    plan = plan_inputs(workspace, doc)
    assert ops(plan) == [
        ("rename", "b/a.txt"),
        ("delete", "gone.txt"),
        ("modify", "mod.txt"),
        ("create", "src/new.py"),
    ]
    assert plan.intent == "tidy up"
    assert plan.sources[0].format == "manifest"
    assert result_tree(plan, workspace) == {
        "b/a.txt": (b"moved\n", "100644"),
        "mod.txt": (b"new\n", "100644"),
        "src/new.py": (b"print(1)\n", "100644"),
    }


def test_manifest_in_yaml(workspace: Path) -> None:
    text = (
        'intent: "yaml works"\n'
        "changes:\n"
        '  - {op: create, path: a.txt, content: "one\\n"}\n'
        "  - op: create\n"
        "    path: b.txt\n"
        "    content: |\n"
        "      two\n"
        "      lines\n"
    )
    plan = plan_inputs(workspace, text)
    assert plan.intent == "yaml works"
    assert result_tree(plan, workspace) == {
        "a.txt": (b"one\n", "100644"),
        "b.txt": (b"two\nlines\n", "100644"),
    }


def test_rename_with_new_content(workspace: Path) -> None:
    write_tree(workspace, {"a.txt": ("old\n", "100755")})
    plan = plan_inputs(
        workspace, manifest({"op": "rename", "from": "a.txt", "path": "b.txt", "content": "new\n"})
    )
    (change,) = plan.changeset.changes
    assert change.op == "rename"
    assert change.from_path == "a.txt"
    assert result_tree(plan, workspace) == {"b.txt": (b"new\n", "100755")}


def test_rename_without_content_keeps_bytes(workspace: Path) -> None:
    blob = bytes(range(256))
    write_tree(workspace, {"img.bin": blob})
    plan = plan_inputs(workspace, manifest({"op": "rename", "from": "img.bin", "path": "x.bin"}))
    assert result_tree(plan, workspace) == {"x.bin": (blob, "100644")}


def test_content_base64_is_decoded(workspace: Path) -> None:
    blob = b"\x89PNG\r\n\x1a\n\x00\x01\xff"
    encoded = base64.b64encode(blob).decode()
    plan = plan_inputs(
        workspace, manifest({"op": "create", "path": "logo.png", "content_base64": encoded})
    )
    (change,) = plan.changeset.changes
    assert change.op == "create"
    assert change.content.encoding == "base64"
    assert result_tree(plan, workspace) == {"logo.png": (blob, "100644")}


def test_invalid_base64_is_a_parse_error(workspace: Path) -> None:
    error = plan_error(
        workspace, manifest({"op": "create", "path": "x", "content_base64": "not base64!"})
    )
    assert error.exit_code == 2
    assert "content_base64" in error.message


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("100755", "100755"),
        ("755", "100755"),
        ("0755", "100755"),
        (755, "100755"),
        (100755, "100755"),
        ("100644", "100644"),
        (644, "100644"),
    ],
)
def test_modes(workspace: Path, mode: object, expected: str) -> None:
    plan = plan_inputs(
        workspace, manifest({"op": "create", "path": "run.sh", "content": "x\n", "mode": mode})
    )
    assert plan.changeset.changes[0].mode == expected  # type: ignore[union-attr]
    assert result_tree(plan, workspace)["run.sh"][1] == expected


def test_yaml_octal_mode(workspace: Path) -> None:
    # YAML 1.1 reads an unquoted 0755 as the octal number 493; it still means 100755.
    text = "changes:\n  - {op: create, path: run.sh, content: x, mode: 0755}\n"
    assert plan_inputs(workspace, text).changeset.changes[0].mode == "100755"  # type: ignore[union-attr]


@pytest.mark.parametrize("mode", ["777", "100644x", 0, True, 755.0, [755], {"m": 1}, None])
def test_bad_modes_are_parse_errors(workspace: Path, mode: object) -> None:
    error = plan_error(
        workspace, manifest({"op": "create", "path": "x", "content": "x", "mode": mode})
    )
    assert error.exit_code == 2
    assert "mode" in error.message


def test_mode_only_change_through_modify(workspace: Path) -> None:
    write_tree(workspace, {"run.sh": "echo\n"})
    plan = plan_inputs(
        workspace,
        manifest({"op": "modify", "path": "run.sh", "content": "echo\n", "mode": "100755"}),
    )
    assert ops(plan) == [("modify", "run.sh")]
    assert result_tree(plan, workspace) == {"run.sh": (b"echo\n", "100755")}


def test_modify_keeps_the_mode_when_none_is_given(workspace: Path) -> None:
    write_tree(workspace, {"run.sh": ("echo\n", "100755")})
    plan = plan_inputs(workspace, manifest({"op": "modify", "path": "run.sh", "content": "ls\n"}))
    assert result_tree(plan, workspace) == {"run.sh": (b"ls\n", "100755")}


def test_modify_to_identical_content_plans_nothing(workspace: Path) -> None:
    write_tree(workspace, {"a.txt": "same\n"})
    error = plan_error(workspace, manifest({"op": "modify", "path": "a.txt", "content": "same\n"}))
    assert error.exit_code == 2
    assert "nothing" in error.message


# ---------------------------------------------------------------------------------------------
# Manifest errors
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("doc", "fragment"),
    [
        (manifest({"op": "create", "path": "x", "content": "x", "colour": "red"}), "colour"),
        ("changes: [{op: create, path: x, content: x, 1: a, b: 2}]", "unknown key(s) ['1', 'b']"),
        ({"changes": [{"op": "create", "path": "x", "content": "x"}], "extra": 1}, "extra"),
        (
            manifest({"op": "create", "path": "x", "content": "x", "content_base64": "eA=="}),
            "not both",
        ),
        (manifest({"op": "create", "path": "y"}), "needs 'content'"),
        (manifest({"op": "modify", "path": "x"}), "needs 'content'"),
        (manifest({"op": "delete", "path": "x", "content": "x"}), "takes no content"),
        (manifest({"op": "delete", "path": "x", "mode": "100644"}), "takes no content"),
        (manifest({"op": "copy", "path": "x"}), "op"),
        (manifest({"path": "x", "content": "x"}), "op"),
        (manifest({"op": "create", "content": "x"}), "path"),
        (manifest({"op": "create", "path": 7, "content": "x"}), "path"),
        (manifest({"op": "create", "path": "x", "content": 7}), "content"),
        (manifest({"op": "rename", "path": "x"}), "from"),
        ({"changes": ["create x"]}, "mapping"),
        ({"changes": []}, "empty"),
        (manifest({"op": "create", "path": "x", "content": "\ud800"}), "surrogate"),
    ],
)
def test_manifest_errors_are_parse_errors(
    workspace: Path, doc: dict[str, Any] | str, fragment: str
) -> None:
    write_tree(workspace, {"x": "x\n"})
    # JSON through the YAML loader: ensure_ascii keeps a lone surrogate as a \ud800 escape.
    data = doc if isinstance(doc, str) else json.dumps(doc)
    error = plan_error(workspace, data, fmt="manifest")
    assert isinstance(error, PatchParseError)
    assert error.exit_code == 2
    assert fragment in error.message
    assert error.message.startswith("in0")  # names the input


def test_create_on_an_existing_file_is_a_conflict(workspace: Path) -> None:
    write_tree(workspace, {"a.txt": "a\n"})
    error = plan_error(workspace, manifest({"op": "create", "path": "a.txt", "content": "b\n"}))
    assert error.exit_code == 5
    assert "a.txt" in error.message
    assert "modify" in error.message  # says what to do instead


def test_create_on_a_directory_is_a_conflict(workspace: Path) -> None:
    write_tree(workspace, {"d/a.txt": "a\n"})
    error = plan_error(workspace, manifest({"op": "create", "path": "d", "content": "b\n"}))
    assert error.exit_code == 5


@pytest.mark.parametrize(
    "change",
    [
        {"op": "modify", "path": "missing.txt", "content": "x"},
        {"op": "delete", "path": "missing.txt"},
        {"op": "rename", "from": "missing.txt", "path": "new.txt"},
    ],
)
def test_changing_a_missing_file_is_a_conflict(workspace: Path, change: dict[str, str]) -> None:
    error = plan_error(workspace, manifest(change))
    assert error.exit_code == 5
    assert "missing.txt" in error.message


def test_rename_onto_an_existing_file_is_a_conflict(workspace: Path) -> None:
    write_tree(workspace, {"a.txt": "a\n", "b.txt": "b\n"})
    error = plan_error(workspace, manifest({"op": "rename", "from": "a.txt", "path": "b.txt"}))
    assert error.exit_code == 5
    assert "b.txt" in error.message


def test_bad_yaml_reports_the_line(workspace: Path) -> None:
    text = "changes:\n  - op: create\n    path: a.txt\n   content: [unclosed\n"
    error = plan_error(workspace, text, fmt="manifest")
    assert error.exit_code == 2
    assert error.message.startswith("in0:4:")
    assert error.details["line"] == 4


@pytest.mark.parametrize(
    ("data", "line"), [(b"\x00", 1), (b"changes:\n  - a\n\x07\n", 3), (b"a: b\n\x1b", 2)]
)
def test_unreadable_characters_are_reported_on_one_line(
    workspace: Path, data: bytes, line: int
) -> None:
    error = plan_error(workspace, data, fmt="manifest")
    assert error.exit_code == 2
    assert error.message.startswith(f"in0:{line}: invalid YAML/JSON: character #x")
    assert error.details["line"] == line


def test_deeply_nested_yaml_is_a_parse_error(workspace: Path) -> None:
    error = plan_error(workspace, "[" * 1000 + "]" * 1000, fmt="manifest")
    assert error.exit_code == 2
    assert "nested too deeply" in error.message


def test_non_utf8_manifest_is_a_parse_error(workspace: Path) -> None:
    error = plan_error(workspace, b"changes: [\xff]\n", fmt="manifest")
    assert error.exit_code == 2
    assert "UTF-8" in error.message


def test_a_manifest_must_be_a_mapping(workspace: Path) -> None:
    assert plan_error(workspace, "- a\n- b\n", fmt="manifest").exit_code == 2


def test_later_entries_see_earlier_ones(workspace: Path) -> None:
    write_tree(workspace, {"a.txt": "a\n"})
    doc = manifest(
        {"op": "modify", "path": "a.txt", "content": "b\n"},
        {"op": "rename", "from": "a.txt", "path": "c.txt"},
        {"op": "create", "path": "a.txt", "content": "fresh\n"},
    )
    plan = plan_inputs(workspace, doc)
    assert result_tree(plan, workspace) == {
        "a.txt": (b"fresh\n", "100644"),
        "c.txt": (b"b\n", "100644"),
    }


# ---------------------------------------------------------------------------------------------
# Edit lists
# ---------------------------------------------------------------------------------------------


def test_edit_with_a_unique_match(workspace: Path) -> None:
    write_tree(workspace, {"a.py": ("x = 1\ny = 2\n", "100755")})
    plan = plan_inputs(workspace, [{"path": "a.py", "old_string": "y = 2", "new_string": "y = 3"}])
    assert plan.sources[0].format == "edits"
    assert result_tree(plan, workspace) == {"a.py": (b"x = 1\ny = 3\n", "100755")}


def test_edit_matching_several_times_needs_replace_all(workspace: Path) -> None:
    write_tree(workspace, {"a.py": "x\nx\nx\n"})
    error = plan_error(workspace, [{"path": "a.py", "old_string": "x", "new_string": "y"}])
    assert error.exit_code == 5
    assert "3 times" in error.message
    assert "replace_all" in error.message


def test_replace_all(workspace: Path) -> None:
    write_tree(workspace, {"a.py": "x\nx\nx\n"})
    edits = [{"path": "a.py", "old_string": "x", "new_string": "yy", "replace_all": True}]
    assert result_tree(plan_inputs(workspace, edits), workspace) == {
        "a.py": (b"yy\nyy\nyy\n", "100644")
    }


def test_edit_not_found_is_a_conflict(workspace: Path) -> None:
    write_tree(workspace, {"a.py": "x\n"})
    error = plan_error(workspace, [{"path": "a.py", "old_string": "zzz", "new_string": "y"}])
    assert error.exit_code == 5
    assert "a.py" in error.message
    assert "not found" in error.message


def test_edit_of_a_missing_file_is_a_conflict(workspace: Path) -> None:
    error = plan_error(workspace, [{"path": "no.py", "old_string": "a", "new_string": "b"}])
    assert error.exit_code == 5
    assert "no.py" in error.message


def test_empty_old_string_creates_a_file(workspace: Path) -> None:
    plan = plan_inputs(
        workspace,
        {"intent": "add", "edits": [{"path": "n/new.txt", "old_string": "", "new_string": "hi\n"}]},
    )
    assert ops(plan) == [("create", "n/new.txt")]
    assert plan.intent == "add"
    assert result_tree(plan, workspace) == {"n/new.txt": (b"hi\n", "100644")}


def test_empty_old_string_on_an_existing_file_is_a_conflict(workspace: Path) -> None:
    write_tree(workspace, {"a.txt": "a\n"})
    error = plan_error(workspace, [{"path": "a.txt", "old_string": "", "new_string": "b"}])
    assert error.exit_code == 5


def test_edits_apply_in_order(workspace: Path) -> None:
    write_tree(workspace, {"a.txt": "one two\n"})
    edits = [
        {"path": "a.txt", "old_string": "one", "new_string": "1"},
        {"path": "a.txt", "old_string": "1 two", "new_string": "1 2"},
    ]
    assert result_tree(plan_inputs(workspace, edits), workspace) == {"a.txt": (b"1 2\n", "100644")}


def test_conflicting_edits_of_one_file_are_an_error(workspace: Path) -> None:
    write_tree(workspace, {"a.txt": "one two\n"})
    edits = [
        {"path": "a.txt", "old_string": "one", "new_string": "1"},
        {"path": "a.txt", "old_string": "one two", "new_string": "x"},
    ]
    assert plan_error(workspace, edits).exit_code == 5


@pytest.mark.parametrize(
    ("doc", "fragment"),
    [
        ([], "non-empty"),
        ({"edits": []}, "non-empty"),
        ([{"path": "a.txt", "old_string": "a", "new_string": "a"}], "the same"),
        ([{"path": "a.txt", "old_string": "a", "new_string": "b", "extra": 1}], "extra"),
        (
            [{"path": "a.txt", "old_string": "a", "new_string": "b", "replace_all": "yes"}],
            "replace_all",
        ),
        ([{"path": "a.txt", "old_string": "a"}], "new_string"),
        ({"edits": [{"path": "a.txt", "old_string": "a", "new_string": "b"}], "x": 1}, "x"),
        ([{"path": "a.txt", "old_string": "a", "new_string": "\udfff"}], "surrogate"),
    ],
)
def test_malformed_edits_are_parse_errors(workspace: Path, doc: Any, fragment: str) -> None:
    write_tree(workspace, {"a.txt": "a\n"})
    error = plan_error(workspace, doc, fmt="edits")
    assert error.exit_code == 2
    assert fragment in error.message


def test_edit_of_a_binary_file_is_a_conflict(workspace: Path) -> None:
    write_tree(workspace, {"b.bin": b"\xff\x00a"})
    error = plan_error(workspace, [{"path": "b.bin", "old_string": "a", "new_string": "b"}])
    assert error.exit_code == 5
    assert "UTF-8" in error.message


# ---------------------------------------------------------------------------------------------
# Several inputs, format detection, path safety
# ---------------------------------------------------------------------------------------------

DIFF = b"""diff --git a/a.txt b/a.txt
--- a/a.txt
+++ b/a.txt
@@ -1,2 +1,2 @@
 hello
-world
+there
"""


def test_a_diff_then_a_manifest_on_the_same_file(workspace: Path) -> None:
    write_tree(workspace, {"a.txt": "hello\nworld\n"})
    plan = plan_inputs(
        workspace,
        DIFF,
        manifest({"op": "rename", "from": "a.txt", "path": "b.txt"}),
        [{"path": "b.txt", "old_string": "there", "new_string": "you"}],
    )
    assert [s.format for s in plan.sources] == ["diff", "manifest", "edits"]
    (change,) = plan.changeset.changes
    assert change.op == "rename"
    assert result_tree(plan, workspace) == {"b.txt": (b"hello\nyou\n", "100644")}


def test_inputs_combine_in_the_order_given(workspace: Path) -> None:
    write_tree(workspace, {"a.txt": "hello\nworld\n"})
    # The manifest first: the diff's context no longer matches what it left.
    override = manifest({"op": "modify", "path": "a.txt", "content": "replaced\n"})
    assert plan_error(workspace, override, DIFF).exit_code == 5
    plan = plan_inputs(workspace, DIFF, override)
    (change,) = plan.changeset.changes
    assert change.op == "modify"
    assert result_tree(plan, workspace) == {"a.txt": (b"replaced\n", "100644")}


def test_inputs_that_cancel_out_plan_nothing(workspace: Path) -> None:
    write_tree(workspace, {"a.txt": "x\n"})
    there = [{"path": "a.txt", "old_string": "x", "new_string": "y"}]
    back = [{"path": "a.txt", "old_string": "y", "new_string": "x"}]
    assert plan_error(workspace, there, back).exit_code == 2


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (DIFF, "diff"),
        (b"--- a.txt\n+++ a.txt\n@@ -1 +1 @@\n-a\n+b\n", "diff"),
        (b"some preamble\n--- a/x\n+++ b/x\n", "diff"),
        (b"*** Begin Patch\n*** Add File: a\n+x\n*** End Patch\n", "codex"),
        (b"<<'EOF'\n*** Begin Patch\n*** End Patch\nEOF\n", "codex"),
        (b"changes:\n  - {op: delete, path: a}\n", "manifest"),
        (b'{"intent": "x", "changes": [{"op": "delete", "path": "a"}]}', "manifest"),
        (b'[{"path": "a", "old_string": "x", "new_string": "y"}]', "edits"),
        (b"- path: a\n  old_string: x\n  new_string: y\n", "edits"),
        (b"edits:\n  - {path: a, old_string: x, new_string: y}\n", "edits"),
    ],
)
def test_detect_format(data: bytes, expected: str) -> None:
    assert detect_format(data, source="in") == expected


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello world\n",
        b"\x00\xff\xfe binary",
        b"key: value\n",
        b"[1, 2]",
        b"- just\n- a list\n",
    ],
)
def test_detect_format_refuses_unknown_inputs(data: bytes) -> None:
    with pytest.raises(PatchParseError) as info:
        detect_format(data, source="in")
    assert info.value.exit_code == 2
    assert "--format" in info.value.message


@pytest.mark.parametrize(
    "doc",
    [
        manifest({"op": "create", "path": "../x", "content": "x"}),
        manifest({"op": "create", "path": "/etc/x", "content": "x"}),
        manifest({"op": "create", "path": "a/../../x", "content": "x"}),
        manifest({"op": "create", "path": ".git/hooks/pre-commit", "content": "x"}),
        manifest({"op": "create", "path": ".agentos/plans/x.json", "content": "x"}),
        manifest({"op": "create", "path": "a\x00b", "content": "x"}),
        manifest({"op": "create", "path": "C:\\x", "content": "x"}),
        manifest({"op": "rename", "from": "../outside", "path": "x"}),
        manifest({"op": "delete", "path": "../x"}),
        [{"path": "../x", "old_string": "", "new_string": "x"}],
    ],
)
def test_hostile_paths_are_refused_by_path_safety(workspace: Path, doc: Any) -> None:
    outside = workspace.parent / "x"
    error = plan_error(workspace, doc)
    assert error.exit_code == 3
    assert error.message.startswith("path-safety")
    assert not outside.exists()


def test_paths_are_normalised(workspace: Path) -> None:
    plan = plan_inputs(
        workspace, manifest({"op": "create", "path": "./a//b/./c.txt", "content": "x"})
    )
    assert ops(plan) == [("create", "a/b/c.txt")]


def test_manifest_through_the_cli(
    cli: Callable[..., CliResult], workspace: Path, tmp_path: Path
) -> None:
    source = tmp_path / "m.yaml"
    source.write_text("changes:\n  - {op: create, path: ../evil, content: x}\n")
    result = cli("plan", source, "-C", workspace, "--json")
    assert result.code == 3
    assert result.err.startswith("agentos: error: path-safety")
    assert result.err.count("\n") == 1
    assert result.json()["error"]["type"] == "path_safety"
    assert not (tmp_path / "evil").exists()
    assert read_tree(workspace) == {}


# -- JSON read as JSON ---------------------------------------------------------------------------


def test_an_escaped_character_beyond_the_bmp_is_one_character() -> None:
    from agentos.planner.manifest import load_structured

    # json.dumps writes an emoji as a surrogate pair; YAML 1.1 would read two lone surrogates.
    data = json.dumps({"content": "smile \U0001f600\n"}).encode()
    assert b"\\ud83d\\ude00" in data
    assert load_structured(data, source="x") == {"content": "smile \U0001f600\n"}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        # Where JSON and YAML 1.1 read a value differently, YAML's reading is kept.
        (b'{"n": 1e5}', {"n": "1e5"}),
        (b'{"n": 1.5, "m": -2, "b": true, "z": null}', {"n": 1.5, "m": -2, "b": True, "z": None}),
        (b'{"n": NaN}', {"n": "NaN"}),
        (b"{a: 1}", {"a": 1}),  # YAML flow style, not JSON
        (b'  [{"path": "a"}]', [{"path": "a"}]),
    ],
)
def test_json_and_yaml_read_the_same(data: bytes, expected: Any) -> None:
    from agentos.planner.manifest import load_structured

    assert load_structured(data, source="x") == expected


def test_json_nested_too_deeply_is_one_line() -> None:
    from agentos.planner.manifest import load_structured

    with pytest.raises(PatchParseError, match="nested too deeply"):
        load_structured(b"[" * 100_000 + b"]" * 100_000, source="deep.json")
