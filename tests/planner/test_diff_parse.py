"""The diff parser reads headers the way ``git apply`` does, and every refusal is precise.

Parse errors exit 2 and name ``input:line``; a patch that does not fit the workspace exits 5
and names the file, the hunk and why; an unsafe path exits 3 before anything is read.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agentos.errors import (
    AgentosError,
    PatchConflictError,
    PatchParseError,
    PathSafetyError,
    UnsupportedFileError,
)
from agentos.model import ChangePlan
from agentos.planner.diff import FilePatch, parse_diff
from agentos.planner.plan import PlanInput, PlanSpec, plan_changes
from agentos.workspace import Workspace
from helpers import GIT_ENV, REPO_ROOT, materialise, needs_git, read_tree, run_git, write_tree


def parse_one(text: bytes, *, strip: int | None = None) -> FilePatch:
    (patch,) = parse_diff(text, source="p.diff", strip=strip)
    return patch


def plan(workspace: Path, text: bytes, *, strip: int | None = None) -> ChangePlan:
    request = PlanSpec(
        workspace=Workspace(workspace),
        inputs=(PlanInput("p.diff", text),),
        author="t",
        strip=strip,
    )
    return plan_changes(request)


def refused(workspace: Path, text: bytes, *, strip: int | None = None) -> AgentosError:
    """The error planning ``text`` raises; the workspace must be left exactly as it was."""
    before = read_tree(workspace, skip=())
    with pytest.raises(AgentosError) as caught:
        plan(workspace, text, strip=strip)
    assert read_tree(workspace, skip=()) == before
    return caught.value


MODE_ONLY = b"old mode 100644\nnew mode 100755\n"
HUNK = b"@@ -1 +1 @@\n-a\n+b\n"


# -- names in the diff --git line ----------------------------------------------------------


def test_plain_git_header() -> None:
    patch = parse_one(b"diff --git a/x.txt b/x.txt\n--- a/x.txt\n+++ b/x.txt\n" + HUNK)
    assert (patch.old_path, patch.new_path) == ("x.txt", "x.txt")
    assert patch.is_git
    # A git diff says when a file is new or deleted; otherwise it is neither (never "unknown").
    assert patch.is_new is False
    assert patch.is_delete is False
    assert patch.line == 1
    assert patch.hunks[0].line == 4


@pytest.mark.parametrize(
    ("header", "name"),
    [
        (b"diff --git a/my file.txt b/my file.txt", "my file.txt"),
        (b"diff --git a/x b/y b/x b/y", "x b/y"),  # the split where both halves agree
        (b"diff --git a/tab\there b/tab\there", "tab\there"),
        (b'diff --git "a/caf\\303\\251.txt" "b/caf\\303\\251.txt"', "café.txt"),
        (b'diff --git "a/say \\"hi\\".txt" "b/say \\"hi\\".txt"', 'say "hi".txt'),
        (b'diff --git "a/back\\\\slash" "b/back\\\\slash"', "back\\slash"),
        (b'diff --git "a/a\\tb\\nc" "b/a\\tb\\nc"', "a\tb\nc"),
        (b'diff --git a/x.txt "b/x.txt"', "x.txt"),
        (b"diff --git a/d/e/f.txt b/d/e/f.txt", "d/e/f.txt"),
    ],
)
def test_name_from_the_diff_git_line_alone(header: bytes, name: str) -> None:
    """Mode-only patches have no ---/+++ lines: the name comes from ``diff --git``."""
    patch = parse_one(header + b"\n" + MODE_ONLY)
    assert patch.old_path == patch.new_path == name
    assert (patch.old_mode, patch.new_mode) == ("100644", "100755")


@pytest.mark.parametrize(
    "header",
    [
        b"diff --git a/x b/y",  # two names and nothing saying which
        b"diff --git a/x",
        b'diff --git "a/x" "b/y"',
        b'diff --git "a/unterminated b/x',
    ],
)
def test_git_header_without_a_usable_name(header: bytes) -> None:
    with pytest.raises(PatchParseError, match=r"p\.diff:1: the diff --git header has no usable"):
        parse_diff(header + b"\n" + MODE_ONLY, source="p.diff")


def test_git_header_checked_even_without_extended_lines() -> None:
    """Like git, a bare ``diff --git a/x b/y`` line in prose is an error, not noise."""
    text = b"Intro\ndiff --git a/x b/y\nmore prose\n--- a/x.txt\n+++ b/x.txt\n" + HUNK
    with pytest.raises(PatchParseError, match=r"p\.diff:2:"):
        parse_diff(text, source="p.diff")


def test_crlf_patch_names_do_not_keep_the_carriage_return() -> None:
    text = (
        b"diff --git a/x.txt b/x.txt\r\n--- a/x.txt\r\n+++ b/x.txt\r\n@@ -1 +1 @@\r\n-a\r\n+b\r\n"
    )
    patch = parse_one(text)
    assert patch.old_path == patch.new_path == "x.txt"
    assert patch.hunks[0].old_lines == (b"a\r\n",)


def test_crlf_patch_applies_to_a_crlf_file(workspace: Path) -> None:
    write_tree(workspace, {"x.txt": b"a\r\nb\r\n"})
    text = b"diff --git a/x.txt b/x.txt\r\n--- a/x.txt\r\n+++ b/x.txt\r\n"
    text += b"@@ -1,2 +1,2 @@\r\n a\r\n-b\r\n+B\r\n"
    materialise(plan(workspace, text), workspace)
    assert (workspace / "x.txt").read_bytes() == b"a\r\nB\r\n"


# -- --- and +++ lines ----------------------------------------------------------------------


def test_names_on_minus_plus_lines_must_agree_with_the_header() -> None:
    text = b"diff --git a/x.txt b/x.txt\nnew file mode 100644\n--- /dev/null\n+++ b/y.txt\n"
    with pytest.raises(PatchParseError, match=r"p\.diff:4: inconsistent file name 'y\.txt'"):
        parse_diff(text + b"@@ -0,0 +1 @@\n+q\n", source="p.diff")


def test_new_file_must_have_dev_null_old_side() -> None:
    text = b"diff --git a/x.txt b/x.txt\nnew file mode 100644\n--- a/x.txt\n+++ b/x.txt\n"
    with pytest.raises(PatchParseError, match=r"p\.diff:3: expected /dev/null"):
        parse_diff(text + b"@@ -0,0 +1 @@\n+q\n", source="p.diff")


def test_minus_line_name_ends_at_a_tab() -> None:
    text = b"diff --git a/my file b/my file\n--- a/my file\t(old)\n+++ b/my file\t(new)\n" + HUNK
    patch = parse_one(text)
    assert patch.old_path == patch.new_path == "my file"


def test_quoted_minus_plus_names() -> None:
    text = (
        b'diff --git "a/\\346\\227\\245.txt" "b/\\346\\227\\245.txt"\n'
        b'--- "a/\\346\\227\\245.txt"\n+++ "b/\\346\\227\\245.txt"\n' + HUNK
    )
    assert parse_one(text).new_path == "日.txt"


def test_badly_quoted_name() -> None:
    text = b'diff --git a/x b/x\n--- "a/x\\q"\n+++ b/x\n' + HUNK
    with pytest.raises(PatchParseError, match=r"p\.diff:2: badly quoted file name"):
        parse_diff(text, source="p.diff")


def test_name_that_is_not_utf8() -> None:
    text = b'diff --git "a/\\377.txt" "b/\\377.txt"\n--- "a/\\377.txt"\n+++ "b/\\377.txt"\n' + HUNK
    with pytest.raises(PatchParseError, match="not valid UTF-8"):
        parse_diff(text, source="p.diff")


# -- --strip -------------------------------------------------------------------------------------


def test_strip_two_on_a_git_diff() -> None:
    text = b"diff --git a/pkg/x.txt b/pkg/x.txt\n--- a/pkg/x.txt\n+++ b/pkg/x.txt\n" + HUNK
    assert parse_one(text, strip=2).new_path == "x.txt"
    mode_only = b"diff --git a/pkg/x.txt b/pkg/x.txt\n" + MODE_ONLY
    assert parse_one(mode_only, strip=2).new_path == "x.txt"


def test_strip_zero_keeps_the_prefixes() -> None:
    text = b"--- a/x.txt\n+++ b/x.txt\n" + HUNK
    assert parse_one(text, strip=0).new_path == "b/x.txt"


def test_strip_more_than_the_name_has() -> None:
    text = b"--- a/x.txt\n+++ b/x.txt\n" + HUNK
    with pytest.raises(PatchParseError, match=r"p\.diff:1: .*fewer than 3 leading component"):
        parse_diff(text, source="p.diff", strip=3)


def test_plain_names_without_a_slash_mean_strip_zero() -> None:
    """Git guesses ``-p0`` when neither name has a slash (``diff -u f.txt f.txt.new``)."""
    text = b"--- f.txt\t2024-01-01 10:00:00.000000000 +0000\n+++ f.txt.new\t2024-01-01\n" + HUNK
    patch = parse_one(text)
    assert patch.old_path == patch.new_path == "f.txt"  # the shorter of the two names


def test_rename_names_strip_one_component_less() -> None:
    text = (
        b"diff --git a/pkg/x.txt b/pkg/y.txt\nsimilarity index 100%\n"
        b"rename from pkg/x.txt\nrename to pkg/y.txt\n"
    )
    patch = parse_one(text, strip=2)
    assert (patch.old_path, patch.new_path, patch.is_rename) == ("x.txt", "y.txt", True)


# -- extended header lines -------------------------------------------------------------------------


def test_rename_and_copy_headers() -> None:
    rename = parse_one(
        b"diff --git a/old name.txt b/new name.txt\nsimilarity index 90%\n"
        b"rename from old name.txt\nrename to new name.txt\n--- a/old name.txt\n"
        b"+++ b/new name.txt\n" + HUNK
    )
    assert (rename.old_path, rename.new_path) == ("old name.txt", "new name.txt")
    assert rename.is_rename
    assert not rename.is_copy
    copy = parse_one(b"diff --git a/x b/y\nsimilarity index 100%\ncopy from x\ncopy to y\n")
    assert (copy.old_path, copy.new_path, copy.is_copy, copy.is_rename) == ("x", "y", True, False)
    legacy = parse_one(b"diff --git a/x b/y\nrename old x\nrename new y\n")
    assert (legacy.old_path, legacy.new_path, legacy.is_rename) == ("x", "y", True)
    quoted = parse_one(b'diff --git a/x "b/\\303\\274"\nrename from x\nrename to "\\303\\274"\n')
    assert quoted.new_path == "ü"


@pytest.mark.parametrize(
    ("lines", "first", "second"),
    [
        (b"rename from x\ncopy to y\n", 2, 3),
        (b"new file mode 100644\ndeleted file mode 100644\n", 2, 3),
        (b"deleted file mode 100644\nrename from x\n", 2, 3),
        (b"copy from x\nnew file mode 100644\n", 2, 3),
    ],
)
def test_inconsistent_header_lines(lines: bytes, first: int, second: int) -> None:
    with pytest.raises(PatchParseError, match=f"inconsistent header lines {first} and {second}"):
        parse_diff(b"diff --git a/x b/x\n" + lines, source="p.diff")


def test_index_line_with_mode() -> None:
    oid_a, oid_b = "1" * 40, "2" * 40
    text = f"diff --git a/x b/x\nindex {oid_a}..{oid_b} 100755\n--- a/x\n+++ b/x\n".encode()
    patch = parse_one(text + HUNK)
    assert (patch.old_oid, patch.new_oid) == (oid_a, oid_b)
    assert patch.old_mode == "100755"
    assert patch.new_mode is None  # the index mode is the mode on both sides: no change


def test_index_line_abbreviated_and_garbled() -> None:
    short = parse_one(b"diff --git a/x b/x\nindex 1234567..89abcde\n--- a/x\n+++ b/x\n" + HUNK)
    assert (short.old_oid, short.new_oid, short.old_mode) == ("1234567", "89abcde", None)
    odd = parse_one(b"diff --git a/x b/x\nindex 12.34..56\n--- a/x\n+++ b/x\n" + HUNK)
    assert odd.old_oid is None  # git wants the first '.' to begin '..'


@pytest.mark.parametrize(
    ("old", "new", "mode"),
    [
        (b"100755", b"100644", "100644"),
        (b"100644", b"100755", "100755"),
        (b"100755", b"100664", "100644"),
        (b"100644", b"100775", "100755"),
        (b"100644", b"100744 trailing words", "100755"),
    ],
)
def test_regular_modes_are_canonical(old: bytes, new: bytes, mode: str) -> None:
    """Git's canon_mode: any regular file is 100755 if its owner may execute it, else 100644."""
    patch = parse_one(b"diff --git a/x b/x\nold mode " + old + b"\nnew mode " + new + b"\n")
    assert patch.new_mode == mode


def test_invalid_mode() -> None:
    with pytest.raises(PatchParseError, match=r"p\.diff:3: invalid file mode 'abc'"):
        parse_diff(b"diff --git a/x b/x\nold mode 100644\nnew mode abc\n", source="p.diff")


def test_mode_header_that_changes_nothing_is_garbage() -> None:
    with pytest.raises(PatchParseError, match="no hunks"):
        parse_diff(b"diff --git a/x b/x\nold mode 100644\nnew mode 100644\n", source="p.diff")


@pytest.mark.parametrize(
    ("line", "what", "mode"),
    [
        (b"new file mode 120000", "a symlink", "120000"),
        (b"deleted file mode 120000", "a symlink", "120000"),
        (b"new mode 120000", "a symlink", "120000"),
        (b"index 1234567..89abcde 120000", "a symlink", "120000"),
        (b"new file mode 160000", "a submodule", "160000"),
        (b"index 1234567..89abcde 160000", "a submodule", "160000"),
        (b"new file mode 040000", "a directory", "040000"),
        (b"new mode 000755", "a file of an unknown type", "000755"),
    ],
)
def test_links_submodules_and_directories_are_refused(line: bytes, what: str, mode: str) -> None:
    text = b"diff --git a/x b/x\n" + line + b"\n"
    with pytest.raises(UnsupportedFileError) as caught:
        parse_diff(text, source="p.diff")
    error = caught.value
    assert error.exit_code == 2
    assert error.message.startswith("p.diff:2: ")
    assert what in error.message
    assert "only writes regular files" in error.message
    assert error.details["mode"] == mode


def _real_git_diff(tmp_path: Path, make_head: str) -> bytes:
    repo = tmp_path / "repo"
    repo.mkdir()
    run_git(repo, "init", "-q")
    write_tree(repo, {"file.txt": "x\n"})
    run_git(repo, "add", "-A")
    run_git(repo, "commit", "-q", "-m", "base")
    if make_head == "symlink":
        (repo / "link").symlink_to("file.txt")
    else:
        sub = repo / "sub"
        sub.mkdir()
        run_git(sub, "init", "-q")
        run_git(sub, "commit", "-q", "--allow-empty", "-m", "inner")
    run_git(repo, "add", "-A")
    run_git(repo, "commit", "-q", "-m", "head")
    return run_git(repo, "diff", "--binary", "--full-index", "HEAD~1", "HEAD")


@needs_git
@pytest.mark.git
@pytest.mark.parametrize(("kind", "mode"), [("symlink", "120000"), ("submodule", "160000")])
def test_real_git_symlink_and_submodule_diffs_are_refused(
    tmp_path: Path, kind: str, mode: str
) -> None:
    text = _real_git_diff(tmp_path, kind)
    assert f"new file mode {mode}".encode() in text
    workspace = tmp_path / "ws"
    write_tree(workspace, {"file.txt": "x\n"})
    error = refused(workspace, text)
    assert isinstance(error, UnsupportedFileError)
    assert error.exit_code == 2
    assert f"a {kind}" in error.message


# -- hunks ------------------------------------------------------------------------------------

GIT_HEAD = b"diff --git a/x.txt b/x.txt\n--- a/x.txt\n+++ b/x.txt\n"


@pytest.mark.parametrize(
    ("body", "line", "words"),
    [
        (b"@@ -1,3 +1,3 @@\n a\n-b\n+B\n", 4, "promises 3 old and 3 new lines"),
        (b"@@ -1,3 +1,3 @@\n a\n-b\n+B\nXc\n", 8, "hunk line starts with 'X'"),
        (b"@@ -1 +1 @@\n-a\n+b\n@@ -5 +5 @@\n", 7, "promises 1 old and 1 new lines"),
        (b"@@ -1 +1 @@\n a\n", 4, "a hunk that changes nothing"),
        (b"@@ -1 +1 @@\n-a\n\\ x\n+b\n", 6, "malformed '\\ No newline' marker"),
        (b"@@ -1 +1 @@\n-a\n+b", 6, "the input ends inside a hunk line"),
        (b"@@ -1 +1 @\n-a\n+b\n", 4, "corrupt hunk header"),
        (b"@@ -1 +1 @@\n-a\n+b\n@@ -x +1 @@\n", 7, "corrupt hunk header"),
    ],
)
def test_corrupt_hunks_name_their_line(body: bytes, line: int, words: str) -> None:
    with pytest.raises(PatchParseError) as caught:
        parse_diff(GIT_HEAD + body, source="p.diff")
    assert caught.value.exit_code == 2
    assert caught.value.message.startswith(f"p.diff:{line}: ")
    assert words in caught.value.message
    assert caught.value.details == {"input": "p.diff", "line": line}


def test_hunk_without_a_file_header() -> None:
    with pytest.raises(PatchParseError, match=r"p\.diff:2: hunk without a file header"):
        parse_diff(b"Some text\n@@ -1 +1 @@\n-a\n+b\n", source="p.diff")


def test_no_changes_at_all() -> None:
    with pytest.raises(PatchParseError, match="no file changes found"):
        parse_diff(b"just prose\n--- not a header\n", source="p.diff")


def test_new_file_with_old_lines_and_deleted_file_with_new_lines() -> None:
    new = b"diff --git a/x b/x\nnew file mode 100644\n--- /dev/null\n+++ b/x\n" + HUNK
    with pytest.raises(PatchParseError, match="new file 'x' depends on old contents"):
        parse_diff(new, source="p.diff")
    gone = b"diff --git a/x b/x\ndeleted file mode 100644\n--- a/x\n+++ /dev/null\n" + HUNK
    with pytest.raises(PatchParseError, match="deleted file 'x' still has contents"):
        parse_diff(gone, source="p.diff")


def test_no_newline_markers_shape_the_images() -> None:
    text = GIT_HEAD + (
        b"@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n\\ No newline at end of file\n"
    )
    hunk = parse_one(text).hunks[0]
    assert hunk.old_lines == (b"a\n", b"b")
    assert hunk.new_lines == (b"a\n", b"b")
    assert (hunk.leading, hunk.trailing, hunk.added, hunk.removed) == (1, 0, 1, 1)


def test_a_short_final_marker_counts_when_input_follows() -> None:
    """Git takes any final ``\\ `` line as the marker if more than 12 bytes of input remain."""
    text = GIT_HEAD + b"@@ -1,2 +1,2 @@\n a\n-b\n+c\n\\ x\n" + b"trailing prose\n"
    assert parse_one(text).hunks[0].new_lines == (b"a\n", b"c")
    at_end = GIT_HEAD + b"@@ -1,2 +1,2 @@\n a\n-b\n+c\n\\ x\n"
    assert parse_one(at_end).hunks[0].new_lines == (b"a\n", b"c\n")


def test_bare_empty_line_is_empty_context() -> None:
    """Newer GNU diff writes an empty context line as just ``\\n``."""
    hunk = parse_one(GIT_HEAD + b"@@ -1,3 +1,3 @@\n a\n\n-c\n+C\n").hunks[0]
    assert hunk.old_lines == (b"a\n", b"\n", b"c\n")
    assert hunk.new_lines == (b"a\n", b"\n", b"C\n")


def test_several_files_and_text_between_them() -> None:
    text = (
        b"From 123 Mon Sep 17 00:00:00 2001\nSubject: [PATCH] two files\n\nWhy.\n---\n"
        b" a | 2 +-\n\n"
        + b"diff --git a/a b/a\n--- a/a\n+++ b/a\n"
        + HUNK
        + b"diff --git a/b b/b\nnew file mode 100755\n--- /dev/null\n+++ b/b\n@@ -0,0 +1 @@\n+x\n"
        + b"-- \n2.39.5\n\n"
    )
    first, second = parse_diff(text, source="p.diff")
    assert (first.new_path, second.new_path) == ("a", "b")
    assert second.is_new
    assert second.new_mode == "100755"
    assert second.old_path is None


# -- plain (GNU) diffs ---------------------------------------------------------------------------


NOW = b"\t2024-01-01 00:00:00.000000000 +0000"
ADDS = b"@@ -0,0 +1 @@\n+x\n"
REMOVES = b"@@ -1 +0,0 @@\n-x\n"


@pytest.mark.parametrize(
    ("minus", "plus", "body", "expected"),
    [
        (b"/dev/null", b"b/x", ADDS, (True, False)),
        (b"a/x", b"/dev/null", REMOVES, (False, True)),
        (b"a/x\t1970-01-01 00:00:00.000000000 +0000", b"b/x" + NOW, ADDS, (True, False)),
        (b"a/x" + NOW, b"b/x\t1970-01-01 00:00:00.000000000 +0000", REMOVES, (False, True)),
        (b"a/x\t1970-01-01 01:00:00 +0100", b"b/x" + NOW, ADDS, (True, False)),
        (b"a/x\t1969-12-31 19:00:00.0 -05:00", b"b/x" + NOW, ADDS, (True, False)),
        # Not the epoch by git's rule: a second past it, a non-zero fraction, no zone, the
        # wrong zone. Whether such a side is new is left to the disk (None).
        (b"a/x\t1970-01-01 00:00:01 +0000", b"b/x" + NOW, ADDS, (None, False)),
        (b"a/x\t1970-01-01 00:00:00.5 +0000", b"b/x" + NOW, ADDS, (None, False)),
        (b"a/x\t1970-01-01 00:00:00", b"b/x" + NOW, ADDS, (None, False)),
        (b"a/x\t1970-01-01 01:00:00 +0000", b"b/x" + NOW, ADDS, (None, False)),
        (b"a/x" + NOW, b"b/x" + NOW, REMOVES, (False, None)),
    ],
)
def test_plain_diff_new_and_deleted_files(
    minus: bytes, plus: bytes, body: bytes, expected: tuple[bool | None, bool | None]
) -> None:
    patch = parse_one(b"--- " + minus + b"\n+++ " + plus + b"\n" + body)
    assert (patch.is_new, patch.is_delete) == expected
    assert patch.display_path == "x"
    assert not patch.is_git


def test_plain_diff_name_with_spaces_and_timestamp() -> None:
    text = b"--- a/my file.txt\t2024-01-01 10:00:00.0 +0000\n"
    text += b"+++ b/my file.txt\t2024-01-01 11:00:00.0 +0000\n"
    assert parse_one(text + HUNK).new_path == "my file.txt"
    spaced = b"--- a/my file.txt 2024-01-01 10:00:00 +0000\n"
    spaced += b"+++ b/my file.txt 2024-01-01 11:00:00 +0000\n"
    assert parse_one(spaced + HUNK).new_path == "my file.txt"


# -- binary without data ------------------------------------------------------------------------


def test_git_binary_files_differ_needs_regenerating(workspace: Path) -> None:
    write_tree(workspace, {"img.png": b"\0old"})
    text = b"diff --git a/img.png b/img.png\nindex 1234567..89abcde 100644\n"
    text += b"Binary files a/img.png and b/img.png differ\n"
    patch = parse_one(text)
    assert patch.binary_without_data
    error = refused(workspace, text)
    assert error.exit_code == 2
    assert "img.png" in error.message
    assert "regenerate it with 'git diff --binary'" in error.message


def test_gnu_binary_files_differ_is_refused_not_skipped() -> None:
    """diff(1) prints this line with no header; git skips it, agentos will not drop a change."""
    text = b"diff -ruN a/x b/x\n--- a/x\n+++ b/x\n" + HUNK + b"diff -ruN a/y.bin b/y.bin\n"
    text += b"Binary files a/y.bin and b/y.bin differ\n"
    with pytest.raises(PatchParseError) as caught:
        parse_diff(text, source="p.diff")
    assert caught.value.exit_code == 2
    assert caught.value.message.startswith("p.diff:8: 'Binary files a/y.bin and b/y.bin differ'")
    assert "git diff --binary" in caught.value.message


# -- patches that do not fit the workspace: exit 5 ------------------------------------------------


def test_patch_for_a_missing_file(workspace: Path) -> None:
    text = GIT_HEAD + b"@@ -3,2 +3,2 @@\n c\n-d\n+D\n"
    error = refused(workspace, text)
    assert isinstance(error, PatchConflictError)
    assert error.exit_code == 5
    assert "cannot patch x.txt: it does not exist in the workspace" in error.message
    assert "hunk #1, @@ -3,2 +3,2 @@ at line 4" in error.message
    assert error.details == {"input": "p.diff", "path": "x.txt", "hunk": 1, "line": 4}


def test_git_patch_without_new_file_mode_does_not_create(workspace: Path) -> None:
    """Only a plain diff may create a missing file from an all-added hunk; a git diff says so."""
    text = GIT_HEAD + b"@@ -0,0 +1 @@\n+new\n"
    error = refused(workspace, text)
    assert error.exit_code == 5
    assert "x.txt: it does not exist" in error.message
    plain = b"--- a/x.txt\n+++ b/x.txt\n@@ -0,0 +1 @@\n+new\n"
    materialise(plan(workspace, plain), workspace)
    assert (workspace / "x.txt").read_bytes() == b"new\n"


def test_patch_for_a_directory(workspace: Path) -> None:
    write_tree(workspace, {"x.txt/inner": "a\n"})
    error = refused(workspace, GIT_HEAD + HUNK)
    assert error.exit_code == 5
    assert "cannot patch x.txt: it is a directory" in error.message


def test_context_mismatch_names_file_hunk_and_reason(workspace: Path) -> None:
    write_tree(workspace, {"x.txt": "one\ntwo\nthree\nfour\nfive\nsix\nseven\n"})
    text = GIT_HEAD + (
        b"@@ -1,3 +1,3 @@\n one\n-two\n+TWO\n three\n@@ -4,3 +4,3 @@\n four\n-FIVE\n+5\n six\n"
    )
    error = refused(workspace, text)
    assert isinstance(error, PatchConflictError)
    assert error.exit_code == 5
    assert error.message.startswith(
        "patch does not apply: p.diff:9: x.txt: hunk #2 (@@ -4,3 +4,3 @@)"
    )
    assert "3 context/removed line(s) starting 'four' were not found anywhere in the file" in (
        error.message
    )
    assert error.details["hunk"] == 2
    assert error.details["path"] == "x.txt"
    assert error.details["line"] == 9


def test_new_file_that_already_exists(workspace: Path) -> None:
    write_tree(workspace, {"x.txt": "here\n"})
    text = b"diff --git a/x.txt b/x.txt\nnew file mode 100644\n--- /dev/null\n+++ b/x.txt\n"
    error = refused(workspace, text + b"@@ -0,0 +1 @@\n+new\n")
    assert error.exit_code == 5
    assert "cannot create x.txt: it already exists in the workspace" in error.message


def test_deletion_that_leaves_content(workspace: Path) -> None:
    write_tree(workspace, {"x.txt": "a\nb\n"})
    text = b"diff --git a/x.txt b/x.txt\ndeleted file mode 100644\n--- a/x.txt\n+++ /dev/null\n"
    error = refused(workspace, text + b"@@ -2 +1,0 @@\n-b\n")
    assert error.exit_code == 5
    assert "deletes x.txt but its hunks leave content behind" in error.message


def test_rename_onto_an_existing_file(workspace: Path) -> None:
    write_tree(workspace, {"x.txt": "a\n", "y.txt": "b\n"})
    text = (
        b"diff --git a/x.txt b/y.txt\nsimilarity index 100%\nrename from x.txt\nrename to y.txt\n"
    )
    error = refused(workspace, text)
    assert error.exit_code == 5
    assert "cannot create y.txt: it already exists" in error.message


def test_two_names_without_rename_headers_move_the_file(workspace: Path) -> None:
    """Git writes the new name and removes the old one (apply.c write_out_one_result)."""
    write_tree(workspace, {"x.txt": "a\n"})
    text = b"diff --git a/x.txt b/y.txt\n--- a/x.txt\n+++ b/y.txt\n" + HUNK
    result = plan(workspace, text)
    assert [(c.op, c.path) for c in result.changeset.changes] == [("rename", "y.txt")]
    materialise(result, workspace)
    assert read_tree(workspace) == {"y.txt": (b"b\n", "100644")}


def test_patching_a_file_twice_in_one_diff_chains(workspace: Path) -> None:
    write_tree(workspace, {"x.txt": "a\n"})
    text = GIT_HEAD + HUNK + GIT_HEAD + b"@@ -1 +1 @@\n-b\n+c\n"
    materialise(plan(workspace, text), workspace)
    assert (workspace / "x.txt").read_bytes() == b"c\n"


def test_deleting_twice_is_refused(workspace: Path) -> None:
    write_tree(workspace, {"x.txt": "a\n"})
    delete = b"diff --git a/x.txt b/x.txt\ndeleted file mode 100644\n--- a/x.txt\n+++ /dev/null\n"
    delete += b"@@ -1 +0,0 @@\n-a\n"
    error = refused(workspace, delete + delete)
    assert error.exit_code == 5
    assert "x.txt was already renamed or deleted earlier in this diff" in error.message


def test_one_failing_file_leaves_no_partial_plan(workspace: Path) -> None:
    write_tree(workspace, {"a.txt": "a\n", "x.txt": "other\n"})
    good = b"diff --git a/a.txt b/a.txt\n--- a/a.txt\n+++ b/a.txt\n" + HUNK
    error = refused(workspace, good + GIT_HEAD + HUNK)
    assert error.exit_code == 5
    assert "x.txt" in error.message


# -- path safety: exit 3, and nothing outside the workspace is read -----------------------------

HOSTILE = {
    "dotdot-git": b"diff --git a/../outside/secret b/../outside/secret\n"
    b"--- a/../outside/secret\n+++ b/../outside/secret\n@@ -1 +1 @@\n-secret\n+pwned\n",
    "dotdot-plain": b"--- a/../outside/secret\n+++ b/../outside/secret\n"
    b"@@ -1 +1 @@\n-secret\n+pwned\n",
    "absolute-double-slash": b"--- a//etc/passwd\n+++ b//etc/passwd\n@@ -1 +1 @@\n-root\n+x\n",
    "absolute-quoted": b'diff --git "a//etc/passwd" "b//etc/passwd"\n' + MODE_ONLY,
    "dot-git-config": b"diff --git a/.git/config b/.git/config\n--- a/.git/config\n"
    b"+++ b/.git/config\n@@ -1 +1 @@\n-[core]\n+[core] pwned\n",
    "dot-git-case": b"diff --git a/sub/.GIT/hooks/pre-commit b/sub/.GIT/hooks/pre-commit\n"
    b"new file mode 100755\n--- /dev/null\n+++ b/sub/.GIT/hooks/pre-commit\n@@ -0,0 +1 @@\n+x\n",
    "rename-out": b"diff --git a/x.txt b/x.txt\nrename from x.txt\nrename to ../outside/x.txt\n",
    "rename-in": b"diff --git a/x.txt b/x.txt\nrename from ../outside/secret\nrename to x2.txt\n",
    "copy-in": b"diff --git a/x b/x\ncopy from ../outside/secret\ncopy to stolen.txt\n",
    "through-symlink": b"diff --git a/link/secret b/link/secret\n--- a/link/secret\n"
    b"+++ b/link/secret\n@@ -1 +1 @@\n-secret\n+pwned\n",
    "agentos-state": b"diff --git a/.agentos/x b/.agentos/x\nnew file mode 100644\n"
    b"--- /dev/null\n+++ b/.agentos/x\n@@ -0,0 +1 @@\n+x\n",
}

# Plans each input in a child process whose audit hook records every file opened.
_PROBE = """
import json, sys
from pathlib import Path
from agentos.errors import AgentosError
from agentos.planner.plan import PlanInput, PlanSpec, plan_changes
from agentos.workspace import Workspace

opened = []
sys.addaudithook(lambda event, args: opened.append(str(args[0])) if event == "open" else None)
root = Path(sys.argv[1])
results = {}
for name, text in json.loads(sys.stdin.read()).items():
    opened.clear()
    inputs = (PlanInput("p.diff", text.encode("latin-1")),)
    try:
        plan_changes(PlanSpec(workspace=Workspace(root), inputs=inputs, author="t"))
        results[name] = {"code": 0, "message": "", "opened": list(opened)}
    except AgentosError as exc:
        results[name] = {"code": exc.exit_code, "message": exc.message, "opened": list(opened)}
print(json.dumps(results))
"""
CONTROL = GIT_HEAD + HUNK


def test_hostile_paths_exit_3_and_read_nothing_outside(tmp_path: Path) -> None:
    """Planned in a child process with an audit hook recording every file it opens."""
    workspace = tmp_path / "ws"
    outside = tmp_path / "outside"
    write_tree(workspace, {"x.txt": "a\n", ".git/config": "[core]\n"})
    write_tree(outside, {"secret": "secret\n", "x.txt": "a\n"})
    (workspace / "link").symlink_to(outside, target_is_directory=True)
    inputs = {name: text.decode("latin-1") for name, text in HOSTILE.items()}
    inputs["control"] = CONTROL.decode("latin-1")
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, str(workspace)],
        input=json.dumps(inputs).encode(),
        capture_output=True,
        check=False,
        env={**os.environ, **GIT_ENV, "PYTHONPATH": str(REPO_ROOT / "packages")},
    )
    assert proc.returncode == 0, proc.stderr.decode()
    results = json.loads(proc.stdout)
    control = results.pop("control")
    assert control["code"] == 0, control  # the hook sees opens: the workspace file was read
    assert str(workspace / "x.txt") in control["opened"]
    assert set(results) == set(HOSTILE)
    for name, result in results.items():
        assert result["code"] == 3, (name, result)
        assert "path-safety" in result["message"], (name, result)
        touched = [p for p in result["opened"] if str(outside) in p or p.startswith("/etc")]
        assert not touched, (name, touched)
    assert (outside / "secret").read_bytes() == b"secret\n"


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_paths_raise_path_safety_in_process(tmp_path: Path, name: str) -> None:
    workspace = tmp_path / "ws"
    outside = tmp_path / "outside"
    write_tree(workspace, {"x.txt": "a\n"})
    write_tree(outside, {"secret": "secret\n", "x.txt": "a\n"})
    (workspace / "link").symlink_to(outside, target_is_directory=True)
    error = refused(workspace, HOSTILE[name])
    assert isinstance(error, PathSafetyError)
    assert error.exit_code == 3
    assert read_tree(outside) == {"secret": (b"secret\n", "100644"), "x.txt": (b"a\n", "100644")}


def test_absolute_plain_names(workspace: Path) -> None:
    """``--- /etc/passwd`` loses its first component by default, as in git: it names
    ``etc/passwd`` in the workspace. With ``--strip 0`` it is absolute and refused."""
    text = b"--- /etc/passwd\n+++ /etc/passwd\n@@ -1 +1 @@\n-root\n+pwned\n"
    error = refused(workspace, text, strip=0)
    assert isinstance(error, PathSafetyError)
    assert "'/etc/passwd' is absolute" in error.message
    relative = refused(workspace, text)
    assert relative.exit_code == 5
    assert "cannot patch etc/passwd: it does not exist" in relative.message
