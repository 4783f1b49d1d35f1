"""Acceptance: every kind of change git can describe plans to exactly the tree git checks out.

Each case builds a real repository with a base and a head commit, asks git for the diff
(``git diff --binary --full-index`` with and without rename/copy detection, and a
``git format-patch`` mail with its commit message), plans it against a checkout of the base and
materialises the plan. The result must equal the head checkout byte for byte, modes included,
and planning itself must not touch the workspace. ``git apply`` of the same text is run too, so
a case that git itself cannot round-trip is caught as a broken test rather than a pass.
"""

from __future__ import annotations

import io
import random
import shutil
import subprocess
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from agentos.errors import AgentosError
from agentos.model import ChangePlan
from agentos.planner.plan import PlanInput, PlanSpec, plan_changes
from agentos.workspace import Workspace
from helpers import Tree, materialise, needs_git, read_tree, run_git, write_tree

pytestmark = [needs_git, pytest.mark.git]

Files = dict[str, bytes | str | tuple[bytes | str, str]]


@dataclass(frozen=True)
class Case:
    """A base tree, a head tree, and what the diff must show to prove the case is exercised."""

    base: Files
    head: Files
    flags: tuple[str, ...] = ()
    expect_in_diff: tuple[bytes, ...] = ()
    expect_ops: frozenset[str] = field(default_factory=frozenset)
    # (exit code, words of the message) when agentos refuses what git would do
    refused: tuple[int, str] | None = None


def _lines(tag: str, count: int) -> str:
    return "".join(f"{tag} line {n}: the quick brown fox\n" for n in range(1, count + 1))


def _edit_lines(text: str, edits: dict[int, str]) -> str:
    lines = text.splitlines(keepends=True)
    for index, replacement in edits.items():
        lines[index] = replacement
    return "".join(lines)


def _random_bytes(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)  # noqa: S311 - test data, not secrets


def _binary_delta_pair() -> tuple[bytes, bytes]:
    old = _random_bytes(7, 64 * 1024)
    new = bytearray(old)
    for pos in (10, 20_000, 40_001, 65_000):
        new[pos] ^= 0xFF
    return old, bytes(new)


_BIG_OLD, _BIG_NEW = _binary_delta_pair()
_FAR = _lines("far", 240)
_RENAMED = _lines("renamed", 30)
_COPIED = _lines("copied", 30)

CASES: dict[str, Case] = {
    "modify-far-hunks": Case(
        base={"src/far.txt": _FAR},
        head={
            "src/far.txt": _edit_lines(
                _FAR, {3: "early change\n", 120: "middle change\n", 236: "late change\n"}
            )
        },
        expect_in_diff=(b"@@ -1,", b"@@ -118,", b"@@ -234,"),
    ),
    "new-file": Case(
        base={"keep.txt": "keep\n"},
        head={"keep.txt": "keep\n", "deep/new/file.txt": "brand new\ncontent\n"},
        expect_in_diff=(b"new file mode 100644",),
        expect_ops=frozenset({"create"}),
    ),
    "deleted-file": Case(
        base={"keep.txt": "keep\n", "gone/old.txt": "going away\n"},
        head={"keep.txt": "keep\n"},
        expect_in_diff=(b"deleted file mode 100644",),
        expect_ops=frozenset({"delete"}),
    ),
    "pure-rename": Case(
        base={"old/name.txt": _RENAMED},
        head={"new/place/name.txt": _RENAMED},
        expect_in_diff=(b"similarity index 100%", b"rename from old/name.txt"),
        expect_ops=frozenset({"rename"}),
    ),
    "rename-with-edits": Case(
        base={"before.txt": _RENAMED},
        head={"after.txt": _edit_lines(_RENAMED, {2: "edited while moving\n"})},
        expect_in_diff=(b"rename from before.txt", b"@@ "),
        expect_ops=frozenset({"rename"}),
    ),
    "copy-of-modified-source": Case(
        base={"orig.txt": _COPIED},
        head={
            "orig.txt": _edit_lines(_COPIED, {0: "source changed\n"}),
            "dup.txt": _edit_lines(_COPIED, {29: "copy changed\n"}),
        },
        expect_in_diff=(b"copy from orig.txt", b"copy to dup.txt"),
        expect_ops=frozenset({"create", "modify"}),
    ),
    "copy-harder": Case(
        base={"lib/orig.txt": _COPIED},
        head={"lib/orig.txt": _COPIED, "lib/copy.txt": _COPIED},
        flags=("--find-copies-harder",),
        expect_in_diff=(b"similarity index 100%", b"copy from lib/orig.txt"),
        expect_ops=frozenset({"create"}),
    ),
    "swap-by-rename": Case(
        base={"left.txt": _lines("left", 20), "right.txt": _lines("right", 20)},
        head={"left.txt": _lines("right", 20), "right.txt": _lines("left", 20)},
        flags=("-B",),
        expect_in_diff=(b"rename from left.txt", b"rename from right.txt"),
        expect_ops=frozenset({"modify"}),
    ),
    "mode-only": Case(
        base={"run.sh": "#!/bin/sh\necho hi\n"},
        head={"run.sh": ("#!/bin/sh\necho hi\n", "100755")},
        expect_in_diff=(b"old mode 100644\nnew mode 100755\n",),
        expect_ops=frozenset({"modify"}),
    ),
    "mode-off": Case(
        base={"run.sh": ("#!/bin/sh\necho hi\n", "100755")},
        head={"run.sh": "#!/bin/sh\necho hi\n"},
        expect_in_diff=(b"old mode 100755\nnew mode 100644\n",),
    ),
    "mode-and-edit": Case(
        base={"tool.py": "print('v1')\n"},
        head={"tool.py": ("#!/usr/bin/env python3\nprint('v2')\n", "100755")},
        expect_in_diff=(b"new mode 100755", b"+print('v2')"),
    ),
    "new-executable": Case(
        base={"keep.txt": "keep\n"},
        head={"keep.txt": "keep\n", "bin/go": ("#!/bin/sh\nexit 0\n", "100755")},
        expect_in_diff=(b"new file mode 100755",),
    ),
    "no-eol-old-side": Case(
        base={"eol.txt": "one\ntwo\nthree"},
        head={"eol.txt": "one\ntwo\nthree\n"},
        expect_in_diff=(b"-three\n\\ No newline at end of file\n+three\n",),
    ),
    "no-eol-new-side": Case(
        base={"eol.txt": "one\ntwo\nthree\n"},
        head={"eol.txt": "one\ntwo\nthree\nfour"},
        expect_in_diff=(b"+four\n\\ No newline at end of file\n",),
    ),
    "no-eol-both-sides": Case(
        base={"eol.txt": "one\ntwo\nthree"},
        head={"eol.txt": "one\n2\nthree"},
        expect_in_diff=(b" three\n\\ No newline at end of file\n",),
    ),
    "no-eol-both-last-line-changed": Case(
        base={"eol.txt": "one\ntwo\nthree"},
        head={"eol.txt": "one\ntwo\nTHREE"},
        expect_in_diff=(
            b"-three\n\\ No newline at end of file\n+THREE\n\\ No newline at end of file\n",
        ),
    ),
    "crlf-edit": Case(
        base={"win.txt": b"alpha\r\nbeta\r\ngamma\r\ndelta\r\n"},
        head={"win.txt": b"alpha\r\nBETA\r\ngamma\r\ndelta\r\nepsilon\r\n"},
        expect_in_diff=(b"-beta\r\n+BETA\r\n",),
    ),
    "lone-cr-lines": Case(
        base={"mac.txt": b"a\rb\rc\nd\n"},
        head={"mac.txt": b"a\rB\rc\nd\n"},
        expect_in_diff=(b"-a\rb\rc\n+a\rB\rc\n",),
    ),
    "spaces-in-name": Case(
        base={"dir with space/file name.txt": "x\ny\n"},
        head={"dir with space/file name.txt": "x\nz\n", "new dir/a b.txt": "new\n"},
        expect_in_diff=(b"diff --git a/dir with space/file name.txt b/dir with space/",),
    ),
    "non-ascii-name": Case(
        base={"données/naïve.txt": "café\n"},
        head={"données/naïve.txt": "café au lait\n", "données/日本.txt": "新しい\n"},
        expect_in_diff=(b'"a/donn\\303\\251es/na\\303\\257ve.txt"',),
    ),
    "non-ascii-rename": Case(
        base={"ärger.txt": _RENAMED},
        head={"öl/ärger.txt": _RENAMED},
        expect_in_diff=(b'rename to "\\303\\266l/\\303\\244rger.txt"',),
        expect_ops=frozenset({"rename"}),
    ),
    "quote-in-name": Case(
        base={'say "hi".txt': "hello\n"},
        head={'say "hi".txt': "hello there\n", '"quoted".txt': "new\n"},
        expect_in_diff=(b'"a/say \\"hi\\".txt"',),
    ),
    "binary-literal-added": Case(
        base={"keep.txt": "keep\n"},
        head={"keep.txt": "keep\n", "img/logo.bin": b"\x89PNG\r\n\x1a\n\0\0" + bytes(range(256))},
        expect_in_diff=(b"GIT binary patch\nliteral ",),
        expect_ops=frozenset({"create"}),
    ),
    "binary-delta": Case(
        base={"blob.bin": _BIG_OLD},
        head={"blob.bin": _BIG_NEW},
        expect_in_diff=(b"GIT binary patch\ndelta ",),
        expect_ops=frozenset({"modify"}),
    ),
    "binary-rewritten": Case(
        base={"small.bin": b"\0\1\2\3" * 8},
        head={"small.bin": b"\0" + _random_bytes(3, 300)},
        expect_in_diff=(b"GIT binary patch\n",),
    ),
    "binary-deleted": Case(
        base={"keep.txt": "keep\n", "old.bin": b"\0" + _random_bytes(4, 500)},
        head={"keep.txt": "keep\n"},
        expect_in_diff=(b"deleted file mode 100644", b"GIT binary patch\nliteral 0\n"),
        expect_ops=frozenset({"delete"}),
    ),
    "binary-renamed-and-changed": Case(
        base={"a.bin": _BIG_OLD},
        head={"moved/b.bin": _BIG_NEW},
        expect_in_diff=(b"rename from a.bin", b"delta "),
        expect_ops=frozenset({"rename"}),
    ),
    "empty-new-file": Case(
        base={"keep.txt": "keep\n"},
        head={"keep.txt": "keep\n", "empty.txt": b""},
        expect_in_diff=(
            b"new file mode 100644\nindex 0000000000000000000000000000000000000000..e69d",
        ),
        expect_ops=frozenset({"create"}),
    ),
    "empty-file-deleted": Case(
        base={"keep.txt": "keep\n", "empty.txt": b""},
        head={"keep.txt": "keep\n"},
        expect_in_diff=(b"deleted file mode 100644\n",),
        expect_ops=frozenset({"delete"}),
    ),
    "file-emptied": Case(
        base={"full.txt": "some\ncontent\n"},
        head={"full.txt": b""},
        expect_in_diff=(b"@@ -1,2 +0,0 @@",),
        expect_ops=frozenset({"modify"}),
    ),
    "empty-file-filled": Case(
        base={"blank.txt": b""},
        head={"blank.txt": "now\nfilled\n"},
        expect_in_diff=(b"@@ -0,0 +1,2 @@",),
        expect_ops=frozenset({"modify"}),
    ),
    # Git applies the next two (it deletes before it creates); the overlay refuses to turn a
    # file into a directory or back in one changeset, and must say so with exit 5.
    "file-becomes-directory": Case(
        base={"thing": "a file\n"},
        head={"thing/inside.txt": "a file in a dir\n"},
        expect_in_diff=(b"deleted file mode", b"new file mode"),
        refused=(5, "because thing is a file; replacing a file by a directory needs two plans"),
    ),
    "directory-becomes-file": Case(
        base={"thing/inside.txt": "a file in a dir\n"},
        head={"thing": "a file\n"},
        expect_in_diff=(b"deleted file mode", b"new file mode"),
        refused=(5, "cannot create thing: it is a directory in the workspace"),
    ),
    # Path safety refuses names git can carry: a backslash and a control character.
    "backslash-in-name": Case(
        base={"keep.txt": "k\n"},
        head={"keep.txt": "k\n", "back\\slash.txt": "x\n"},
        expect_in_diff=(b'"b/back\\\\slash.txt"',),
        refused=(3, "contains a backslash"),
    ),
    "tab-in-name": Case(
        base={"keep.txt": "k\n"},
        head={"keep.txt": "k\n", "a\tb.txt": "x\n"},
        expect_in_diff=(b'"b/a\\tb.txt"',),
        refused=(3, "contains a NUL, control or bidirectional-override character"),
    ),
}


# -- building repositories ---------------------------------------------------------------


@dataclass(frozen=True)
class Repo:
    path: Path
    base: str
    head: str


def _write_files(root: Path, files: Files) -> None:
    write_tree(root, dict(files))


def _replace_worktree(root: Path, files: Files) -> None:
    for child in root.iterdir():
        if child.name == ".git":
            continue
        if child.is_dir():
            shutil.rmtree(child)
        else:
            child.unlink()
    _write_files(root, files)


def make_repo(path: Path, base: Files, head: Files, message: str = "change") -> Repo:
    """A repository whose first commit holds ``base`` and second ``head``."""
    path.mkdir(parents=True)
    run_git(path, "init", "-q", "-b", "main")
    _write_files(path, base)
    run_git(path, "add", "-A")
    run_git(path, "commit", "-q", "--allow-empty", "-m", "base")
    base_sha = run_git(path, "rev-parse", "HEAD").decode().strip()
    _replace_worktree(path, head)
    run_git(path, "add", "-A")
    run_git(path, "commit", "-q", "--allow-empty", "-m", message)
    head_sha = run_git(path, "rev-parse", "HEAD").decode().strip()
    return Repo(path, base_sha, head_sha)


def checkout(repo: Repo, commit: str, target: Path) -> Path:
    """The files of ``commit`` extracted into ``target`` (no .git: a plain workspace)."""
    target.mkdir(parents=True)
    archive = run_git(repo.path, "archive", "--format=tar", commit)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(target, filter="tar")
    return target


def git_diff(repo: Repo, *flags: str) -> bytes:
    return run_git(repo.path, "diff", "--binary", "--full-index", *flags, repo.base, repo.head)


def format_patch(repo: Repo, *flags: str) -> bytes:
    return run_git(
        repo.path,
        "format-patch",
        "--stdout",
        "--binary",
        "--full-index",
        *flags,
        f"{repo.base}..{repo.head}",
    )


def plan_bytes(workspace: Path, data: bytes, name: str = "change.diff") -> ChangePlan:
    request = PlanSpec(workspace=Workspace(workspace), inputs=(PlanInput(name, data),), author="t")
    return plan_changes(request)


def plan_and_materialise(workspace: Path, data: bytes) -> ChangePlan:
    """Plan ``data``, check planning wrote nothing, then apply the plan to ``workspace``."""
    before = read_tree(workspace, skip=())
    plan = plan_bytes(workspace, data)
    assert read_tree(workspace, skip=()) == before, "planning changed the workspace"
    materialise(plan, workspace)
    return plan


def git_apply_tree(repo: Repo, data: bytes, target: Path) -> Tree:
    """What ``git apply`` makes of ``data`` on a checkout of the base (the oracle)."""
    checkout(repo, repo.base, target)
    run_git(target, "apply", "--whitespace=nowarn", "-", input_bytes=data)
    return read_tree(target)


VARIANTS: dict[str, Callable[[Repo, tuple[str, ...]], bytes]] = {
    "diff-M-C": lambda repo, flags: git_diff(repo, "-M", "-C", *flags),
    "diff-no-renames": lambda repo, flags: git_diff(
        repo, "--no-renames", *[f for f in flags if f != "--find-copies-harder"]
    ),
    "format-patch": lambda repo, flags: format_patch(repo, "-M", "-C", *flags),
}


# -- one case at a time ------------------------------------------------------------------


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("kind", sorted(CASES))
def test_each_kind_of_change_round_trips(tmp_path: Path, kind: str, variant: str) -> None:
    case = CASES[kind]
    repo = make_repo(tmp_path / "repo", case.base, case.head)
    diff = VARIANTS[variant](repo, case.flags)
    if variant != "diff-no-renames":
        for needle in case.expect_in_diff:
            assert needle in diff, (
                f"{kind}: git's diff lacks {needle!r}:\n{diff.decode(errors='replace')}"
            )
    head_tree = read_tree(checkout(repo, repo.head, tmp_path / "head"))
    assert git_apply_tree(repo, diff, tmp_path / "oracle") == head_tree

    workspace = checkout(repo, repo.base, tmp_path / "ws")
    if case.refused is not None:
        code, words = case.refused
        before = read_tree(workspace)
        with pytest.raises(AgentosError) as caught:
            plan_bytes(workspace, diff)
        assert caught.value.exit_code == code
        assert words in caught.value.message
        assert read_tree(workspace) == before
        return
    plan = plan_and_materialise(workspace, diff)

    assert read_tree(workspace) == head_tree
    if variant == "diff-M-C" and case.expect_ops:
        assert {c.op for c in plan.changeset.changes} == case.expect_ops
    if variant == "diff-no-renames":
        assert all(c.op != "rename" for c in plan.changeset.changes)


def test_binary_delta_case_really_uses_a_delta() -> None:
    """Guard the fixture: a few flipped bytes in 64 KiB must make git choose ``delta``."""
    assert len(_BIG_OLD) == 64 * 1024
    assert sum(a != b for a, b in zip(_BIG_OLD, _BIG_NEW, strict=True)) == 4


# -- everything at once ------------------------------------------------------------------


def _prefixed(files: Files, prefix: str) -> Files:
    return {f"{prefix}/{path}": value for path, value in files.items()}


def _all_in_one() -> tuple[Files, Files]:
    base: Files = {}
    head: Files = {}
    for kind, case in CASES.items():
        if case.refused is not None:
            continue
        base.update(_prefixed(case.base, kind))
        head.update(_prefixed(case.head, kind))
    return base, head


MESSAGE = """Every kind of change at once

This message has several paragraphs, a line that looks like a hunk
counter (@@ is fine in prose) and trailers.

Signed-off-by: agentos tests <tests@agentos.invalid>
"""


@pytest.mark.parametrize(
    "flags",
    [
        ("-M", "-C"),
        ("-M", "-C", "--find-copies-harder"),
        ("-M", "-C", "-B"),
        ("--no-renames",),
        ("-M50%", "-C50%"),
    ],
    ids=" ".join,
)
def test_all_kinds_in_one_diff(tmp_path: Path, flags: tuple[str, ...]) -> None:
    base, head = _all_in_one()
    repo = make_repo(tmp_path / "repo", base, head)
    diff = git_diff(repo, *flags)
    assert b"GIT binary patch\ndelta " in diff
    head_tree = read_tree(checkout(repo, repo.head, tmp_path / "head"))
    assert git_apply_tree(repo, diff, tmp_path / "oracle") == head_tree

    workspace = checkout(repo, repo.base, tmp_path / "ws")
    plan_and_materialise(workspace, diff)
    assert read_tree(workspace) == head_tree


def test_all_kinds_in_one_format_patch(tmp_path: Path) -> None:
    base, head = _all_in_one()
    repo = make_repo(tmp_path / "repo", base, head, message=MESSAGE)
    mail = format_patch(repo, "-M", "-C", "--find-copies-harder")
    assert mail.startswith(b"From ")
    assert b"Subject: [PATCH] Every kind of change at once" in mail
    head_tree = read_tree(checkout(repo, repo.head, tmp_path / "head"))
    assert git_apply_tree(repo, mail, tmp_path / "oracle") == head_tree

    workspace = checkout(repo, repo.base, tmp_path / "ws")
    plan_and_materialise(workspace, mail)
    assert read_tree(workspace) == head_tree


def test_planning_twice_is_stable_and_reads_a_git_checkout(tmp_path: Path) -> None:
    """A clone (with .git) plans to the same changes, and .git is left alone."""
    base, head = _all_in_one()
    repo = make_repo(tmp_path / "repo", base, head)
    diff = git_diff(repo, "-M", "-C")
    clone = tmp_path / "clone"
    run_git(tmp_path, "clone", "-q", "--no-checkout", str(repo.path), str(clone))
    run_git(clone, "checkout", "-q", "--detach", repo.base)
    git_dir_before = read_tree(clone / ".git", skip=())
    first = plan_bytes(clone, diff)
    second = plan_bytes(clone, diff)
    assert first.changeset == second.changeset
    assert first.plan_id == second.plan_id
    assert first.base.git_head == repo.base
    assert read_tree(clone / ".git", skip=()) == git_dir_before
    materialise(first, clone)
    assert read_tree(clone) == read_tree(checkout(repo, repo.head, tmp_path / "head"))


# -- GNU diffutils ---------------------------------------------------------------------------

needs_diff = pytest.mark.skipif(shutil.which("diff") is None, reason="GNU diff is not installed")


def _gnu_diff(cwd: Path, *args: str) -> bytes:
    proc = subprocess.run(["diff", *args], cwd=cwd, capture_output=True, check=False)
    assert proc.returncode in (0, 1), proc.stderr
    return proc.stdout


DIFF_OLD: Files = {
    "same.txt": "unchanged\n",
    "mod.txt": _lines("mod", 40),
    "gone.txt": "delete me\nplease\n",
    "sub/deep.txt": "deep\nold\n",
    "sub/noeol.txt": "no\nnewline",
    "spaced name.txt": "one\n",
}
DIFF_NEW: Files = {
    "same.txt": "unchanged\n",
    "mod.txt": _edit_lines(_lines("mod", 40), {1: "second\n", 38: "penultimate\n"}),
    "sub/deep.txt": "deep\nnew\n",
    "sub/noeol.txt": "no\nnewline\nnow",
    "sub/fresh.txt": "born\n",
    "spaced name.txt": "two\n",
}


@needs_diff
def test_gnu_diff_ruN_tree(tmp_path: Path) -> None:
    _write_files(tmp_path / "a", DIFF_OLD)
    _write_files(tmp_path / "b", DIFF_NEW)
    patch = _gnu_diff(tmp_path, "-ruN", "a", "b")
    assert b"1970-01-01 00:00:00" in patch  # -N marks absent sides with the epoch
    assert b"\\ No newline at end of file" in patch

    oracle = tmp_path / "oracle"
    shutil.copytree(tmp_path / "a", oracle)
    run_git(oracle, "apply", "-", input_bytes=patch)
    assert read_tree(oracle) == read_tree(tmp_path / "b")

    workspace = tmp_path / "ws"
    shutil.copytree(tmp_path / "a", workspace)
    plan = plan_and_materialise(workspace, patch)
    assert read_tree(workspace) == read_tree(tmp_path / "b")
    ops = {c.path: c.op for c in plan.changeset.changes}
    assert ops == {
        "mod.txt": "modify",
        "gone.txt": "delete",
        "sub/deep.txt": "modify",
        "sub/noeol.txt": "modify",
        "sub/fresh.txt": "create",
        "spaced name.txt": "modify",
    }


@needs_diff
@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("mod.txt", "mod.txt", "modify"),
        ("sub/noeol.txt", "sub/noeol.txt", "modify"),
    ],
)
def test_gnu_diff_u_single_file(tmp_path: Path, old: str, new: str, expected: str) -> None:
    _write_files(tmp_path / "a", DIFF_OLD)
    _write_files(tmp_path / "b", DIFF_NEW)
    patch = _gnu_diff(tmp_path, "-u", f"a/{old}", f"b/{new}")
    workspace = tmp_path / "ws"
    shutil.copytree(tmp_path / "a", workspace)
    plan = plan_and_materialise(workspace, patch)
    assert [c.op for c in plan.changeset.changes] == [expected]
    assert (workspace / new).read_bytes() == (tmp_path / "b" / new).read_bytes()


@needs_diff
def test_gnu_diff_u_new_and_deleted_with_epoch_timestamps(tmp_path: Path) -> None:
    """``diff -uN`` of a missing side writes the epoch, which marks creation and deletion."""
    _write_files(tmp_path / "a", {"old.txt": "bye\n"})
    _write_files(tmp_path / "b", {"new.txt": "hi\nthere\n"})
    (tmp_path / "empty").mkdir()
    created = _gnu_diff(tmp_path, "-uN", "empty/new.txt", "b/new.txt")
    deleted = _gnu_diff(tmp_path, "-uN", "a/old.txt", "empty/old.txt")
    assert created.startswith(b"--- empty/new.txt\t1970-01-01 00:00:00")
    assert b"+++ empty/old.txt\t1970-01-01 00:00:00" in deleted

    workspace = tmp_path / "ws"
    _write_files(workspace, {"old.txt": "bye\n"})
    plan = plan_bytes(workspace, created + deleted)
    assert {(c.op, c.path) for c in plan.changeset.changes} == {
        ("create", "new.txt"),
        ("delete", "old.txt"),
    }
    materialise(plan, workspace)
    assert read_tree(workspace) == {"new.txt": (b"hi\nthere\n", "100644")}


@needs_diff
def test_gnu_diff_u_plain_names_guess_strip_zero(tmp_path: Path) -> None:
    """Names without a slash mean ``-p0`` to git; ``diff -u old new`` patches the old name."""
    _write_files(tmp_path, {"f.txt": "1\n2\n3\n", "f.txt.new": "1\ntwo\n3\n"})
    patch = _gnu_diff(tmp_path, "-u", "f.txt", "f.txt.new")
    workspace = tmp_path / "ws"
    _write_files(workspace, {"f.txt": "1\n2\n3\n"})
    oracle = tmp_path / "oracle"
    _write_files(oracle, {"f.txt": "1\n2\n3\n"})
    run_git(oracle, "apply", "-", input_bytes=patch)
    plan = plan_and_materialise(workspace, patch)
    assert [c.path for c in plan.changeset.changes] == ["f.txt"]
    assert read_tree(workspace) == read_tree(oracle)


@needs_diff
def test_gnu_diff_binary_file_is_refused_not_dropped(tmp_path: Path) -> None:
    """``diff -ruN`` only says "Binary files ... differ"; git would skip the file silently."""
    _write_files(tmp_path / "a", {"t.txt": "1\n", "b.bin": b"\0old"})
    _write_files(tmp_path / "b", {"t.txt": "2\n", "b.bin": b"\0new"})
    patch = _gnu_diff(tmp_path, "-ruN", "a", "b")
    assert b"Binary files a/b.bin and b/b.bin differ" in patch
    workspace = tmp_path / "ws"
    shutil.copytree(tmp_path / "a", workspace)
    before = read_tree(workspace)
    with pytest.raises(AgentosError) as caught:
        plan_bytes(workspace, patch)
    assert caught.value.exit_code == 2
    assert "git diff --binary" in caught.value.message
    assert read_tree(workspace) == before
