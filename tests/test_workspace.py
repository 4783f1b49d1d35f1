"""Path normalisation and the string-only part of path safety."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentos.errors import PathSafetyError, UnsupportedFileError
from agentos.planner.tree import Baseline
from agentos.workspace import git_head, normalise_path, path_problems, path_problems_in_full
from pathaliases import aliased

GIT_INSIDE = "is inside a .git directory"
STATE_INSIDE = "is inside agentos's own .agentos directory"

HOSTILE = [
    "../x",
    "a/../../x",
    "a/..",
    "..",
    "/etc/passwd",
    "//server/share/x",
    "C:\\x",
    "C:x",
    "c:/windows/system32",
    "\\\\server\\share",
    "a\\b",
    "a\0b",
    "a\nb",
    "a\tb",
    "a\x7fb",
    "a\x1bb",
    ".git/config",
    "sub/.git/hooks/post-checkout",
    ".GIT/config",
    "x/.Git/HEAD",
    ".git",
    ".agentos/lock",
    ".AgentOS/plans/p.json",
    "a" * 256,
    "d/" + "b" * 300,
    "/".join(["d"] * 2100),
    "",
    ".",
    "./",
    "/",
]


@pytest.mark.parametrize("raw", HOSTILE)
def test_hostile_paths_are_refused(raw: str) -> None:
    assert path_problems(raw)
    with pytest.raises(PathSafetyError) as info:
        normalise_path(raw)
    assert info.value.exit_code == 3
    assert "path-safety" in info.value.message


def test_hostile_corpus_has_at_least_thirty_distinct_paths() -> None:
    assert len(set(HOSTILE)) >= 30


# Spellings macOS (HFS+) or Windows (NTFS) open as .git or .agentos, as git's is_hfs_dotgit
# and is_ntfs_dotgit see them.
ALIASES = {
    ".g\u200cit/config": GIT_INSIDE,
    ".gi\u200dt": GIT_INSIDE,
    ".git\ufeff": GIT_INSIDE,
    "\ufeff.GIT/HEAD": GIT_INSIDE,
    "sub/.g\u206ai\u206ft/hooks/x": GIT_INSIDE,
    ".git\u206c\u206d\u206e/x": GIT_INSIDE,
    ".g\u200cit. /config": GIT_INSIDE,
    ".git::$INDEX_ALLOCATION/config": GIT_INSIDE,
    ".git:stream": GIT_INSIDE,
    ".GIT. :x/y": GIT_INSIDE,
    "git~1::$INDEX_ALLOCATION/config": GIT_INSIDE,
    "GIT\u200c~1/config": GIT_INSIDE,
    ".agent\u200cos/lock": STATE_INSIDE,
    ".AGENTOS\ufeff/plans/p.json": STATE_INSIDE,
    ".agentos::$INDEX_ALLOCATION/lock": STATE_INSIDE,
    ".agentos:x": STATE_INSIDE,
    "AGENTO~1/journal.json": STATE_INSIDE,
    "sub/agento~2/x": STATE_INSIDE,
}


@pytest.mark.parametrize("raw", list(ALIASES))
def test_macos_and_windows_aliases_of_git_and_agentos_are_refused(raw: str) -> None:
    problems = path_problems(raw)
    assert ALIASES[raw] in problems
    assert all("\n" not in p for p in problems)
    with pytest.raises(PathSafetyError, match="path-safety"):
        normalise_path(raw)


@given(
    st.sampled_from(
        [(".git", GIT_INSIDE), (".agentos", STATE_INSIDE), ("git~1", GIT_INSIDE)]
    ).flatmap(lambda pair: st.tuples(aliased(pair[0]), st.just(pair[1]))),
    st.sampled_from(["", "sub/", "a/b/"]),
    st.sampled_from(["", "/config", "/x/y"]),
    st.sampled_from(["", ":stream", "::$INDEX_ALLOCATION"]),
)
def test_every_alias_of_git_and_agentos_is_refused(
    alias: tuple[str, str], prefix: str, suffix: str, stream: str
) -> None:
    name, problem = alias
    assert problem in path_problems(prefix + name + stream + suffix)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a.txt", "a.txt"),
        ("./a.txt", "a.txt"),
        ("a//b/./c", "a/b/c"),
        ("dir/", "dir"),
        ("naïve café.txt", "naïve café.txt"),
        (".github/workflows/ci.yml", ".github/workflows/ci.yml"),
        ("a.git/x", "a.git/x"),
        ("x/.gitignore", "x/.gitignore"),
        # Names that only look like aliases: ignorables and streams elsewhere, other names.
        (".github\u200c/ci.yml", ".github\u200c/ci.yml"),
        ("docs/family\u200d.md", "docs/family\u200d.md"),
        ("notes:.git", "notes:.git"),
        ("x/.git~1", "x/.git~1"),
        ("x/.git.d/y", "x/.git.d/y"),
        ("x/..git", "x/..git"),
        ("x/agento~5", "x/agento~5"),
        ("docs/.agentos-notes.md", "docs/.agentos-notes.md"),
    ],
)
def test_ordinary_paths_are_normalised(raw: str, expected: str) -> None:
    assert path_problems(raw) == []
    assert normalise_path(raw) == expected


def test_baseline_refuses_symlinks_as_target_and_as_parent(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    root = tmp_path / "ws"
    root.mkdir()
    (root / "link").symlink_to(outside)
    (root / "file-link").symlink_to(outside / "secret.txt")
    baseline = Baseline(root)
    with pytest.raises(PathSafetyError):
        baseline.get("link/secret.txt")
    with pytest.raises(PathSafetyError):
        baseline.get("file-link")


def test_baseline_refuses_fifos(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(UnsupportedFileError):
        Baseline(tmp_path).get("pipe")


def test_baseline_reads_modes_and_treats_paths_under_files_as_missing(tmp_path: Path) -> None:
    (tmp_path / "run.sh").write_text("#!/bin/sh\n")
    (tmp_path / "run.sh").chmod(0o755)
    baseline = Baseline(tmp_path)
    state = baseline.get("run.sh")
    assert state is not None
    assert state.mode == "100755"
    assert baseline.get("run.sh/inner") is None
    assert baseline.get("missing/inner") is None


def test_git_head_reads_refs_and_packed_refs(tmp_path: Path) -> None:
    git = tmp_path / ".git"
    (git / "refs" / "heads").mkdir(parents=True)
    (git / "HEAD").write_text("ref: refs/heads/main\n")
    assert git_head(tmp_path) is None
    (git / "packed-refs").write_text("# pack-refs\n" + "b" * 40 + " refs/heads/main\n")
    assert git_head(tmp_path) == "b" * 40
    (git / "refs" / "heads" / "main").write_text("c" * 40 + "\n")
    assert git_head(tmp_path) == "c" * 40
    (git / "HEAD").write_text("d" * 40 + "\n")
    assert git_head(tmp_path) == "d" * 40
    assert git_head(tmp_path / "nowhere") is None


# Names near every edge of the shortcut for plain paths: dots, '~', ':', case, ignorables,
# controls, separators, spaces, non-ASCII, and lengths around MAX_NAME_BYTES.
_EDGY_NAMES = st.one_of(
    st.text(alphabet="aZ09_-.~: /\\\u200c\u00e9\x00\n", max_size=6),
    st.sampled_from([".git", "GIT~1", ".agentos", "agento~1", "..", ".", "", "a" * 255]),
    st.sampled_from(["a" * 256, "\u00e9" * 128, "git.", ".git.", "x:y"]),
)


@given(st.lists(_EDGY_NAMES, min_size=1, max_size=5).map("/".join))
def test_the_shortcut_for_plain_paths_agrees_with_the_full_check(raw: str) -> None:
    assert path_problems(raw) == path_problems_in_full(raw)


@pytest.mark.parametrize("length", [4095, 4096, 4097])
def test_the_shortcut_keeps_the_length_limit(length: int) -> None:
    raw = "/".join(["a" * 200] * 30)[:length].rstrip("/")
    assert path_problems(raw) == path_problems_in_full(raw)
    assert bool(path_problems(raw)) == (len(raw) > 4096)
