"""The Codex apply_patch envelope: Codex's public scenario suite, then the parser and applier.

Acceptance: every scenario under ``../shared/conformance/codex-apply-patch/scenarios/`` is run
the way its README describes (copy ``input/``, apply ``patch.txt``, compare the whole tree with
``expected/`` byte for byte), except that agentos is atomic: a failing patch changes nothing.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from agentos.errors import AgentosError
from agentos.model import ChangePlan
from agentos.planner.codex import looks_like_codex, parse_codex
from agentos.planner.plan import PlanInput, PlanSpec, detect_format, plan_changes
from agentos.planner.planfile import load_plan
from agentos.workspace import Workspace
from helpers import (
    CODEX_SCENARIOS,
    PERMISSIVE_POLICY,
    CliResult,
    data_dirs,
    materialise,
    missing_data_message,
    missing_data_reason,
    read_tree,
    write_tree,
)

# Codex keeps what a failing patch applied before it failed; agentos must not (SPEC §4.2).
ATOMIC_DIFFERENCE = "015_failure_after_partial_success_leaves_changes"
EXPECTED_SCENARIO_COUNT = 23

# A snapshot maps each path under a root to its bytes, or to None for a directory.
Snapshot = dict[str, bytes | None]


def snapshot(root: Path) -> Snapshot:
    """Every file and directory under ``root`` (``.agentos/`` left out), empty ones included."""
    found: Snapshot = {}
    if not root.is_dir():
        return found
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if rel.parts[0] == ".agentos":
            continue
        assert not path.is_symlink(), f"unexpected symlink {rel}"
        found[rel.as_posix()] = None if path.is_dir() else path.read_bytes()
    return found


def scenario_dirs() -> list[Path]:
    """The scenario folders, or none when the shared suite is not checked out."""
    if not CODEX_SCENARIOS.is_dir():
        return []
    return sorted(p for p in CODEX_SCENARIOS.iterdir() if p.is_dir())


# Without ../shared every acceptance test is skipped, each saying which folder is missing.
SCENARIOS_MISSING = missing_data_reason(CODEX_SCENARIOS)
needs_scenarios = pytest.mark.skipif(SCENARIOS_MISSING is not None, reason=SCENARIOS_MISSING or "")


def plan_text(root: Path, patch: str | bytes, *, fmt: str = "auto") -> ChangePlan:
    """Plan one Codex patch against ``root`` without the CLI."""
    data = patch.encode("utf-8") if isinstance(patch, str) else patch
    request = PlanSpec(
        workspace=Workspace(root),
        inputs=(PlanInput(name="p.patch", data=data, format=fmt),),  # type: ignore[arg-type]
        author="t",
    )
    return plan_changes(request)


def plan_error(root: Path, patch: str | bytes) -> AgentosError:
    """The error planning ``patch`` raises (the test fails if it plans)."""
    with pytest.raises(AgentosError) as info:
        plan_text(root, patch)
    return info.value


def applied(root: Path, patch: str | bytes) -> dict[str, bytes]:
    """Plan ``patch``, materialise it and return the resulting files' bytes."""
    materialise(plan_text(root, patch), root)
    return {path: data for path, (data, _mode) in read_tree(root).items()}


def envelope(body: str) -> str:
    return f"*** Begin Patch\n{body}*** End Patch\n"


# ---------------------------------------------------------------------------------------------
# Acceptance: the public scenario suite
# ---------------------------------------------------------------------------------------------


@needs_scenarios
def test_the_suite_is_complete() -> None:
    names = [p.name for p in scenario_dirs()]
    assert len(names) == EXPECTED_SCENARIO_COUNT, names
    assert ATOMIC_DIFFERENCE in names
    for folder in scenario_dirs():
        assert (folder / "patch.txt").is_file(), folder.name
        assert (folder / "expected").is_dir(), folder.name


@needs_scenarios
@pytest.mark.parametrize("scenario", data_dirs(CODEX_SCENARIOS), ids=lambda p: p.name)
def test_scenario(scenario: Path, cli: Callable[..., CliResult], tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    if (scenario / "input").is_dir():
        shutil.copytree(scenario / "input", ws)
    else:
        ws.mkdir()
    before = snapshot(ws)
    patch = scenario / "patch.txt"

    result = cli("plan", patch, "-C", ws, "--json", "--policy", PERMISSIVE_POLICY)

    doc = result.json()
    assert doc["exit_code"] == result.code
    if result.code == 0:
        assert doc["ok"] is True
        assert result.err == ""
        # Planning never writes a workspace file; only the executor (here: materialise) does.
        assert snapshot(ws) == before
        materialise(load_plan(Path(doc["result"]["plan_file"])), ws)
    else:
        assert result.code in (2, 5), result.err
        assert doc["ok"] is False
        assert doc["error"]["message"]
        lines = result.err.splitlines()
        assert len(lines) == 1, result.err
        assert lines[0].startswith("agentos: error: ")
        assert "Traceback" not in result.err
        assert snapshot(ws) == before, "a failing patch must leave the workspace unchanged"

    if scenario.name == ATOMIC_DIFFERENCE:
        assert result.code == 5, result.err
        assert "missing.txt" in result.err
        expected = before  # atomic: the Add File before the failing Update must not happen
        assert expected == {}
    else:
        expected = snapshot(scenario / "expected")
    assert snapshot(ws) == expected


@needs_scenarios
def test_no_expected_tree_relies_on_empty_directories() -> None:
    # ``materialise`` (like the executor) removes directories a deletion empties, while Codex
    # leaves them. That only matters if some expected tree holds an empty directory.
    for folder in scenario_dirs():
        for directory in (folder / "expected").rglob("*"):
            if directory.is_dir():
                assert any(directory.iterdir()), f"{folder.name}: {directory} is empty"


def test_a_missing_suite_is_a_skip_that_names_the_folder(tmp_path: Path) -> None:
    assert missing_data_message(CODEX_SCENARIOS) == (
        "../shared/conformance/codex-apply-patch/scenarios not found: "
        "clone the shared test data beside the repository"
    )
    missing = tmp_path / "shared" / "scenarios"
    reason = missing_data_reason(missing)
    assert reason == missing_data_message(missing)
    assert reason is not None
    assert reason.endswith(
        "shared/scenarios not found: clone the shared test data beside the repository"
    )
    [param] = data_dirs(missing)
    assert param.id == "missing"
    [mark] = param.marks
    assert (mark.name, mark.kwargs) == ("skip", {"reason": reason})
    # Present, it gives its folders (files are not scenarios), sorted.
    for name in ("b", "a"):
        (missing / name).mkdir(parents=True)
    (missing / "README.md").write_text("scenarios\n")
    assert missing_data_reason(missing) is None
    assert data_dirs(missing) == [missing / "a", missing / "b"]


# ---------------------------------------------------------------------------------------------
# Envelope parsing
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("opener", ["<<EOF", "<<'EOF'", '<<"EOF"'])
def test_heredoc_wrapper_is_accepted(workspace: Path, opener: str) -> None:
    write_tree(workspace, {"a.txt": "one\n"})
    patch = (
        f"{opener}\n*** Begin Patch\n*** Update File: a.txt\n@@\n-one\n+two\n*** End Patch\nEOF\n"
    )
    assert detect_format(patch.encode(), source="p") == "codex"
    assert applied(workspace, patch) == {"a.txt": b"two\n"}


def test_heredoc_needs_its_closing_line(workspace: Path) -> None:
    write_tree(workspace, {"a.txt": "one\n"})
    patch = "<<'EOF'\n*** Begin Patch\n*** Update File: a.txt\n@@\n-one\n+two\n*** End Patch\n"
    error = plan_error(workspace, patch)
    assert error.exit_code == 2
    assert "*** Begin Patch" in error.message


def test_crlf_patch_text_applies_like_lf(workspace: Path) -> None:
    write_tree(workspace, {"a.txt": "one\ntwo\n"})
    patch = envelope("*** Update File: a.txt\n@@\n one\n-two\n+2\n*** Add File: b.txt\n+bee\n")
    crlf = patch.replace("\n", "\r\n")
    assert applied(workspace, crlf) == {"a.txt": b"one\n2\n", "b.txt": b"bee\n"}


def test_crlf_file_is_matched_by_trailing_whitespace_leniency(workspace: Path) -> None:
    # Lines split on LF; the CR left on each line is trailing whitespace to the rstrip pass.
    write_tree(workspace, {"a.txt": b"one\r\ntwo\r\n"})
    patch = envelope("*** Update File: a.txt\n@@\n-two\n+2\n")
    assert applied(workspace, patch) == {"a.txt": b"one\r\n2\n"}


def test_whitespace_padded_markers(workspace: Path) -> None:
    write_tree(workspace, {"a.txt": "x\n"})
    patch = "\n  *** Begin Patch  \n   *** Update File: a.txt\n@@\n-x\n+y\n\t*** End Patch \n\n"
    assert applied(workspace, patch) == {"a.txt": b"y\n"}


def test_first_chunk_may_omit_the_marker(workspace: Path) -> None:
    write_tree(workspace, {"a.txt": "import foo\n"})
    patch = envelope("*** Update File: a.txt\n import foo\n+bar\n")
    assert applied(workspace, patch) == {"a.txt": b"import foo\nbar\n"}


def test_later_chunk_needs_a_marker(workspace: Path) -> None:
    write_tree(workspace, {"a.txt": "a\nb\n"})
    patch = envelope("*** Update File: a.txt\n@@\n-a\n+A\n*** End of File\n-b\n+B\n")
    error = plan_error(workspace, patch)
    assert error.exit_code == 2
    assert "'@@'" in error.message


def test_blank_lines_between_chunks_are_skipped(workspace: Path) -> None:
    write_tree(workspace, {"a.txt": "a\nb\nc\n"})
    patch = envelope("*** Update File: a.txt\n@@\n-a\n+A\n*** End of File\n\n@@\n-c\n+C\n")
    # "*** End of File" here ends the first chunk; the blank line before "@@" is skipped.
    assert parse_codex(patch, source="p")[0].chunks[1].old_lines == ("c",)


def test_parser_reads_every_section_kind() -> None:
    patch = envelope(
        "*** Add File: new.txt\n+x\n+y\n*** Delete File: gone.txt\n"
        "*** Update File: old.py\n*** Move to: new.py\n@@ def f():\n-    pass\n+    return 1\n"
    )
    add, delete, update = parse_codex(patch, source="p")
    assert (add.kind, add.path, add.contents) == ("add", "new.txt", "x\ny\n")
    assert (delete.kind, delete.path) == ("delete", "gone.txt")
    assert (update.kind, update.path, update.move_to) == ("update", "old.py", "new.py")
    (chunk,) = update.chunks
    assert chunk.context == "def f():"
    assert chunk.old_lines == ("    pass",)
    assert chunk.new_lines == ("    return 1",)
    assert not chunk.end_of_file


@pytest.mark.parametrize(
    ("patch", "fragment"),
    [
        ("", "first line"),
        ("*** Begin Patch\n*** Add File: a\n+x\n", "last line"),
        ("*** Begin Patch\n*** End Patch\n", "empty"),
        (envelope("*** Frobnicate File: a\n"), "not a valid section header"),
        (envelope("*** Update File: a\n"), "is empty"),
        (envelope("*** Update File: a\n@@\n"), "no lines"),
        (envelope("*** Update File: a\n@@\n*** End of File\n"), "no lines"),
        (envelope("*** Update File: a\n@@\n?oops\n"), "unexpected line"),
    ],
)
def test_malformed_envelopes_are_parse_errors(workspace: Path, patch: str, fragment: str) -> None:
    error = plan_error(workspace, patch) if patch else None
    if error is None:  # an empty input cannot be auto-detected; force the format
        with pytest.raises(AgentosError) as info:
            plan_text(workspace, patch, fmt="codex")
        error = info.value
    assert error.exit_code == 2
    assert fragment in error.message
    assert "\n" not in error.message


def test_looks_like_codex() -> None:
    assert looks_like_codex("*** Begin Patch\n*** End Patch\n")
    assert looks_like_codex("  \n *** Begin Patch\n")
    assert looks_like_codex("<<'EOF'\n*** Begin Patch\n")
    assert not looks_like_codex("--- a/x\n+++ b/x\n")
    assert not looks_like_codex("")


# ---------------------------------------------------------------------------------------------
# Applying: anchors, leniency, end of file, moves, adds
# ---------------------------------------------------------------------------------------------


def test_context_anchor_picks_the_right_occurrence(workspace: Path) -> None:
    write_tree(workspace, {"m.py": "def a():\n    return 1\n\ndef b():\n    return 1\n"})
    patch = envelope("*** Update File: m.py\n@@ def b():\n-    return 1\n+    return 2\n")
    assert applied(workspace, patch) == {
        "m.py": b"def a():\n    return 1\n\ndef b():\n    return 2\n"
    }


def test_anchors_advance_through_the_file(workspace: Path) -> None:
    text = "class A:\n  x = 1\nclass B:\n  x = 1\nclass C:\n  x = 1\n"
    write_tree(workspace, {"m.py": text})
    patch = envelope(
        "*** Update File: m.py\n"
        "@@ class A:\n-  x = 1\n+  x = 10\n"
        "@@ class C:\n-  x = 1\n+  x = 30\n"
    )
    assert applied(workspace, patch)["m.py"] == (
        b"class A:\n  x = 10\nclass B:\n  x = 1\nclass C:\n  x = 30\n"
    )


def test_anchor_not_found_is_a_conflict_naming_file_and_anchor(workspace: Path) -> None:
    write_tree(workspace, {"m.py": "def a():\n    return 1\n"})
    patch = envelope("*** Update File: m.py\n@@ def zzz():\n-    return 1\n+    return 2\n")
    error = plan_error(workspace, patch)
    assert error.exit_code == 5
    assert "m.py" in error.message
    assert "def zzz():" in error.message
    assert error.details["path"] == "m.py"


def test_anchor_must_come_after_the_previous_chunk(workspace: Path) -> None:
    write_tree(workspace, {"m.py": "def a():\n  x\ndef b():\n  y\n"})
    patch = envelope("*** Update File: m.py\n@@ def b():\n-  y\n+  Y\n@@ def a():\n-  x\n+  X\n")
    assert plan_error(workspace, patch).exit_code == 5


def test_rstrip_matching(workspace: Path) -> None:
    write_tree(workspace, {"a.txt": "keep\nfoo   \t\nbar\n"})
    patch = envelope("*** Update File: a.txt\n@@\n-foo\n+FOO\n")
    assert applied(workspace, patch) == {"a.txt": b"keep\nFOO\nbar\n"}


def test_strip_matching(workspace: Path) -> None:
    write_tree(workspace, {"a.txt": "if x:\n        foo()\n"})
    patch = envelope("*** Update File: a.txt\n@@\n if x:\n-foo()\n+    bar()\n")
    assert applied(workspace, patch) == {"a.txt": b"if x:\n    bar()\n"}


def test_unicode_punctuation_matching(workspace: Path) -> None:
    original = "title \u201cquoted\u201d \u2014 it\u2019s\u00a0here\n"
    write_tree(workspace, {"a.txt": original})
    patch = envelope('*** Update File: a.txt\n@@\n-title "quoted" - it\'s here\n+plain\n')
    assert applied(workspace, patch) == {"a.txt": b"plain\n"}


def test_exact_match_wins_over_lenient_one(workspace: Path) -> None:
    # The lenient pass would match line 1 first; the exact pass must find line 3 before it runs.
    write_tree(workspace, {"a.txt": "foo  \nmid\nfoo\n"})
    patch = envelope("*** Update File: a.txt\n@@\n-foo\n+X\n")
    assert applied(workspace, patch) == {"a.txt": b"foo  \nmid\nX\n"}


def test_leniency_does_not_ignore_inner_whitespace(workspace: Path) -> None:
    write_tree(workspace, {"a.txt": "a  b\n"})
    patch = envelope("*** Update File: a.txt\n@@\n-a b\n+c\n")
    error = plan_error(workspace, patch)
    assert error.exit_code == 5


def test_end_of_file_marker_matches_at_the_end(workspace: Path) -> None:
    write_tree(workspace, {"a.txt": "x\nmid\nx\n"})
    at_end = envelope("*** Update File: a.txt\n@@\n-x\n+y\n*** End of File\n")
    assert applied(workspace, at_end) == {"a.txt": b"x\nmid\ny\n"}


def test_without_end_of_file_marker_the_first_match_is_used(workspace: Path) -> None:
    write_tree(workspace, {"a.txt": "x\nmid\nx\n"})
    first = envelope("*** Update File: a.txt\n@@\n-x\n+y\n")
    assert applied(workspace, first) == {"a.txt": b"y\nmid\nx\n"}


def test_end_of_file_chunk_must_match_the_last_lines(workspace: Path) -> None:
    write_tree(workspace, {"a.txt": "x\nmid\n"})
    patch = envelope("*** Update File: a.txt\n@@\n-x\n+y\n*** End of File\n")
    assert plan_error(workspace, patch).exit_code == 5


def test_pure_addition_with_end_of_file_appends(workspace: Path) -> None:
    write_tree(workspace, {"a.txt": "a\nb\n"})
    patch = envelope("*** Update File: a.txt\n@@\n+c\n*** End of File\n")
    assert applied(workspace, patch) == {"a.txt": b"a\nb\nc\n"}


def test_updated_file_always_ends_with_a_newline(workspace: Path) -> None:
    write_tree(workspace, {"a.txt": "a\nb"})
    patch = envelope("*** Update File: a.txt\n@@\n-a\n+A\n")
    assert applied(workspace, patch) == {"a.txt": b"A\nb\n"}


def test_move_to_plans_a_rename(workspace: Path) -> None:
    write_tree(workspace, {"src/old.py": ("x = 1\n", "100755"), "src/keep.py": "k\n"})
    patch = envelope("*** Update File: src/old.py\n*** Move to: lib/new.py\n@@\n-x = 1\n+x = 2\n")
    plan = plan_text(workspace, patch)
    (change,) = plan.changeset.changes
    assert change.op == "rename"
    assert (change.from_path, change.path, change.mode) == ("src/old.py", "lib/new.py", "100755")
    materialise(plan, workspace)
    assert read_tree(workspace) == {
        "lib/new.py": (b"x = 2\n", "100755"),
        "src/keep.py": (b"k\n", "100644"),
    }


def test_move_over_an_existing_file_replaces_it(workspace: Path) -> None:
    write_tree(workspace, {"a.txt": "from\n", "b.txt": "existing\n"})
    patch = envelope("*** Update File: a.txt\n*** Move to: b.txt\n@@\n-from\n+new\n")
    plan = plan_text(workspace, patch)
    assert sorted((c.op, c.path) for c in plan.changeset.changes) == [
        ("delete", "a.txt"),
        ("modify", "b.txt"),
    ]
    materialise(plan, workspace)
    assert read_tree(workspace) == {"b.txt": (b"new\n", "100644")}


def test_add_over_an_existing_file_is_planned_as_modify(workspace: Path) -> None:
    write_tree(workspace, {"dup.txt": ("old content\n", "100755")})
    plan = plan_text(workspace, envelope("*** Add File: dup.txt\n+new content\n"))
    (change,) = plan.changeset.changes
    assert change.op == "modify"
    assert change.mode == "100755"  # the file keeps its mode, as Codex's overwrite does
    materialise(plan, workspace)
    assert read_tree(workspace) == {"dup.txt": (b"new content\n", "100755")}


def test_add_creates_parent_directories(workspace: Path) -> None:
    patch = envelope("*** Add File: a/b/c.txt\n+deep\n")
    plan = plan_text(workspace, patch)
    assert [(c.op, c.path) for c in plan.changeset.changes] == [("create", "a/b/c.txt")]
    assert applied(workspace, patch) == {"a/b/c.txt": b"deep\n"}


def test_add_with_no_lines_creates_an_empty_file(workspace: Path) -> None:
    assert applied(workspace, envelope("*** Add File: empty.txt\n")) == {"empty.txt": b""}


def test_sections_see_the_ones_before_them(workspace: Path) -> None:
    patch = envelope(
        "*** Add File: a.txt\n+one\n*** Update File: a.txt\n@@\n-one\n+two\n"
        "*** Update File: a.txt\n*** Move to: b.txt\n@@\n-two\n+three\n"
    )
    plan = plan_text(workspace, patch)
    assert [(c.op, c.path) for c in plan.changeset.changes] == [("create", "b.txt")]
    assert applied(workspace, patch) == {"b.txt": b"three\n"}


def test_chunk_whose_lines_are_missing_is_a_conflict_naming_the_file(workspace: Path) -> None:
    write_tree(workspace, {"dir/code.py": "alpha\nbeta\n"})
    patch = envelope("*** Update File: dir/code.py\n@@\n alpha\n-gamma\n+delta\n")
    error = plan_error(workspace, patch)
    assert error.exit_code == 5
    assert "dir/code.py" in error.message
    assert "'alpha'" in error.message  # the chunk's first line, so the reader can find it
    assert "\n" not in error.message  # one line on stderr
    assert error.details["path"] == "dir/code.py"
    assert error.details["expected"] == ["alpha", "gamma"]


def test_missing_chunk_through_the_cli_is_one_line(
    cli: Callable[..., CliResult], workspace: Path, tmp_path: Path
) -> None:
    write_tree(workspace, {"a.txt": "alpha\n"})
    patch = tmp_path / "p.patch"
    patch.write_text(envelope("*** Update File: a.txt\n@@\n-first\n-second\n+x\n"))
    result = cli("plan", patch, "-C", workspace, "--json", "--policy", PERMISSIVE_POLICY)
    assert result.code == 5
    assert result.err.count("\n") == 1
    assert result.err.startswith("agentos: error: patch does not apply")
    assert "a.txt" in result.err
    assert result.json()["error"]["type"] == "patch_does_not_apply"
    assert read_tree(workspace) == {"a.txt": (b"alpha\n", "100644")}


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("*** Delete File: nope.txt\n", "nope.txt"),
        ("*** Update File: nope.txt\n@@\n-a\n+b\n", "nope.txt"),
        ("*** Delete File: d\n", "directory"),
        ("*** Add File: d\n+x\n", "directory"),
        ("*** Add File: f.txt/under\n+x\n", "f.txt"),
    ],
)
def test_sections_that_do_not_fit_the_tree_are_conflicts(
    workspace: Path, body: str, fragment: str
) -> None:
    write_tree(workspace, {"d/x.txt": "x\n", "f.txt": "f\n"})
    error = plan_error(workspace, envelope(body))
    assert error.exit_code == 5
    assert fragment in error.message


def test_update_of_a_binary_file_is_a_conflict(workspace: Path) -> None:
    write_tree(workspace, {"b.bin": b"\xff\xfe\x00"})
    error = plan_error(workspace, envelope("*** Update File: b.bin\n@@\n-a\n+b\n"))
    assert error.exit_code == 5
    assert "UTF-8" in error.message


@pytest.mark.parametrize("path", ["../escape.txt", "/abs.txt", "a/../../b", ".git/config"])
def test_hostile_paths_are_refused(workspace: Path, path: str) -> None:
    error = plan_error(workspace, envelope(f"*** Add File: {path}\n+x\n"))
    assert error.exit_code == 3
    assert error.message.startswith("path-safety")


def test_hostile_move_target_is_refused(workspace: Path) -> None:
    write_tree(workspace, {"a.txt": "a\n"})
    error = plan_error(
        workspace, envelope("*** Update File: a.txt\n*** Move to: ../x\n@@\n-a\n+b\n")
    )
    assert error.exit_code == 3


def test_a_patch_that_changes_nothing_is_refused(workspace: Path) -> None:
    write_tree(workspace, {"a.txt": "a\n"})
    error = plan_error(workspace, envelope("*** Update File: a.txt\n@@\n-a\n+a\n"))
    assert error.exit_code == 2
    assert "nothing" in error.message


def test_line_counts(workspace: Path) -> None:
    write_tree(workspace, {"a.txt": "1\n2\n3\n"})
    patch = envelope("*** Update File: a.txt\n@@\n 1\n-2\n+two\n+zwei\n*** Add File: n.txt\n+x\n")
    plan = plan_text(workspace, patch)
    counts = {f.path: (f.added, f.removed) for f in plan.stats.per_file}
    assert counts == {"a.txt": (2, 1), "n.txt": (1, 0)}
