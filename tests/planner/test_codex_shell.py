"""Codex's apply_patch as it arrives (SPEC §4.5): heredoc scripts with and without ``cd``, the
argv forms, the hook payload; detection, --format codex, and the forms Codex does not run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agentos.errors import PatchConflictError, PatchParseError, PathSafetyError
from agentos.planner.codexshell import heredoc_call, is_patch_argv
from agentos.planner.plan import detect_format
from helpers import write_tree
from planning import as_bytes, files, plan_items, refusal

PATCH = "*** Begin Patch\n*** Update File: a.txt\n@@\n-one\n+two\n*** End Patch"
ADD = "*** Begin Patch\n*** Add File: n.txt\n+new\n*** End Patch"


def heredoc(patch: str = PATCH, opener: str = "<<'EOF'", prefix: str = "", end: str = "EOF") -> str:
    return f"{prefix}apply_patch {opener}\n{patch}\n{end}\n"


@pytest.mark.parametrize(
    "script",
    [
        heredoc(),
        heredoc(opener='<<"EOF"'),
        heredoc(opener="<<EOF"),
        heredoc(opener="<<'PATCH'", end="PATCH"),
        heredoc(opener="<< 'EOF'"),
        heredoc().replace("apply_patch", "applypatch"),
        "\n  " + heredoc(),
        heredoc(opener="<<-EOF", end="\t\tEOF"),
    ],
)
def test_heredoc_forms(workspace: Path, script: str) -> None:
    write_tree(workspace, {"a.txt": "one\n"})
    plan = plan_items(workspace, script, name="cmd.sh")
    assert plan.sources[0].format == "codex"
    assert files(plan, workspace) == {"a.txt": b"two\n"}


@pytest.mark.parametrize(
    ("prefix", "where"),
    [
        ("cd sub && ", "sub/n.txt"),
        ("cd 'my dir' && ", "my dir/n.txt"),
        ('cd "my dir" && ', "my dir/n.txt"),
        ("cd ./sub/deeper &&", "sub/deeper/n.txt"),
        ("cd . && ", "n.txt"),
    ],
)
def test_a_leading_cd_puts_every_path_under_it(workspace: Path, prefix: str, where: str) -> None:
    plan = plan_items(workspace, heredoc(ADD, prefix=prefix))
    assert [c.path for c in plan.changeset.changes] == [where]


def test_cd_to_an_absolute_directory_inside_the_workspace(workspace: Path) -> None:
    write_tree(workspace, {"sub/a.txt": "one\n"})
    plan = plan_items(workspace, heredoc(prefix=f"cd {workspace}/sub && "))
    assert files(plan, workspace) == {"sub/a.txt": b"two\n"}


def test_a_move_follows_the_cd(workspace: Path) -> None:
    write_tree(workspace, {"sub/a.txt": "one\n"})
    patch = (
        "*** Begin Patch\n*** Update File: a.txt\n*** Move to: b.txt\n@@\n-one\n+two\n*** End Patch"
    )
    plan = plan_items(workspace, heredoc(patch, prefix="cd sub && "))
    assert files(plan, workspace) == {"sub/b.txt": b"two\n"}


@pytest.mark.parametrize("directory", ["..", "../elsewhere", "/etc", "sub/../.."])
def test_a_cd_out_of_the_workspace_is_refused(workspace: Path, directory: str) -> None:
    error = refusal(workspace, heredoc(ADD, prefix=f"cd {directory} && "), kind=PathSafetyError)
    assert error.exit_code == 3
    assert error.message.startswith("path-safety")


def test_absolute_paths_in_the_patch_inside_the_workspace(workspace: Path) -> None:
    write_tree(workspace, {"a.txt": "one\n"})
    plan = plan_items(workspace, PATCH.replace("a.txt", f"{workspace}/a.txt"))
    assert files(plan, workspace) == {"a.txt": b"two\n"}


@pytest.mark.parametrize(
    "doc",
    [
        ["apply_patch", PATCH],
        ["applypatch", PATCH + "\n"],
        ["bash", "-lc", heredoc()],
        ["/bin/sh", "-c", heredoc()],
        ["zsh", "-lc", heredoc(prefix="cd . && ")],
        ["powershell.exe", "-NoProfile", "-Command", heredoc()],
        ["cmd.exe", "/c", heredoc()],
    ],
)
def test_argv_forms(workspace: Path, doc: list[str]) -> None:
    write_tree(workspace, {"a.txt": "one\n"})
    assert is_patch_argv(doc)
    plan = plan_items(workspace, doc)
    assert plan.sources[0].format == "codex"
    assert files(plan, workspace) == {"a.txt": b"two\n"}


@pytest.mark.parametrize(
    "command",
    [
        PATCH,
        heredoc(),
        heredoc(prefix="cd . && "),
        ["apply_patch", PATCH],
        ["bash", "-lc", heredoc()],
    ],
)
def test_the_hook_payload(workspace: Path, command: Any) -> None:
    write_tree(workspace, {"a.txt": "one\n"})
    payload = {
        "session_id": "s",
        "hook_event_name": "PreToolUse",
        "tool_name": "apply_patch",
        "tool_input": {"command": command},
    }
    plan = plan_items(workspace, payload)
    assert plan.sources[0].format == "codex"
    assert files(plan, workspace) == {"a.txt": b"two\n"}


def test_a_function_call_and_a_list_of_calls(workspace: Path) -> None:
    write_tree(workspace, {"a.txt": "one\n"})
    calls = [
        {"name": "apply_patch", "arguments": {"input": PATCH}},
        {"type": "custom_tool_call", "name": "apply_patch", "input": ADD},
    ]
    assert files(plan_items(workspace, calls), workspace) == {"a.txt": b"two\n", "n.txt": b"new\n"}


@pytest.mark.parametrize(
    "data",
    [
        heredoc(),
        heredoc(prefix="cd sub && "),
        ["apply_patch", PATCH],
        ["bash", "-lc", heredoc()],
        {"tool_name": "apply_patch", "tool_input": {"command": heredoc()}},
    ],
)
def test_detection(data: Any) -> None:
    assert detect_format(as_bytes(data), source="in") == "codex"


@pytest.mark.parametrize(
    "data",
    [
        heredoc(),
        ["apply_patch", PATCH],
        {"tool_name": "apply_patch", "tool_input": {"command": PATCH}},
    ],
)
def test_forcing_the_codex_format(workspace: Path, data: Any) -> None:
    write_tree(workspace, {"a.txt": "one\n"})
    plan = plan_items(workspace, data, fmt="codex")
    assert files(plan, workspace) == {"a.txt": b"two\n"}


def test_a_heredoc_reports_the_lines_of_its_input(workspace: Path) -> None:
    error = refusal(workspace, heredoc("*** Begin Patch\n*** Frobnicate: x\n*** End Patch"))
    assert error.message.startswith("hook.json:3:")


def test_a_patch_that_does_not_apply_is_refused(workspace: Path) -> None:
    write_tree(workspace, {"a.txt": "other\n"})
    error = refusal(workspace, heredoc(), kind=PatchConflictError, code=5)
    assert "a.txt" in error.message


# ---------------------------------------------------------------------------------------------
# What Codex does not run as apply_patch
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "script",
    [
        heredoc(prefix="cd foo; "),
        heredoc(prefix="cd foo || "),
        heredoc(prefix="cd foo | "),
        heredoc(prefix="echo hi && "),
        heredoc(prefix="cd a && cd b && "),
        heredoc(prefix="cd a b && "),
        heredoc().replace("apply_patch <<", "apply_patch foo <<"),
    ],
)
def test_scripts_codex_does_not_treat_as_apply_patch(script: str) -> None:
    assert heredoc_call(script, source="s") is None
    assert not is_patch_argv(["bash", "-lc", script])


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (heredoc() + "echo done\n", "goes on after the heredoc"),
        (heredoc(end="END"), "never closed"),
        ("apply_patch foo <<'EOF'\n" + PATCH + "\nEOF\n", "not an apply_patch call"),
        (["bash", "-lc", "echo hi"], "not an apply_patch call"),
        ({"tool_name": "apply_patch", "tool_input": {"command": 3}}, "must be a patch"),
        ({"tool_name": "apply_patch", "tool_input": {"cmd": PATCH}}, "one key"),
    ],
)
def test_malformed_calls_are_refused(workspace: Path, data: Any, fragment: str) -> None:
    error = refusal(workspace, data, fmt="codex", kind=PatchParseError, code=2)
    assert fragment in error.message
