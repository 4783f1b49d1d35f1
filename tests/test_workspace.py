"""Path normalisation and the string-only part of path safety."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agentos.errors import PathSafetyError, UnsupportedFileError
from agentos.planner.tree import Baseline
from agentos.workspace import git_head, normalise_path, path_problems

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
