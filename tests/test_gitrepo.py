"""``agentos.gitrepo``: the work tree ``apply --commit`` / ``--index`` use — its commands
name paths as written (unquoted), and the path lists git gives are NUL-separated, so they
need no quoting whatever the user's configuration says."""

from __future__ import annotations

from pathlib import Path

from agentos.gitrepo import index_changes, open_repo, stage_blobs, unclean_paths
from agentos.gitrun import GitOutput, run_git
from helpers import FakeGit, needs_git
from helpers import run_git as git


def test_apply_commit_names_paths_unquoted_in_every_command(tmp_path: Path) -> None:
    answer = GitOutput(0, f"true\n{tmp_path}/.git\n{tmp_path}\n\n".encode(), b"")
    runner = FakeGit({"rev-parse": answer})
    repo = open_repo(tmp_path, runner, option="--commit")
    unclean_paths(repo, ["a.txt"])
    assert set(runner.configs) == {("core.quotepath=off",)}


@needs_git
def test_nul_separated_lists_need_no_quoting(git_repo: Path) -> None:
    git(git_repo, "config", "core.quotepath", "true")
    (git_repo / "naïve.txt").write_text("changed\n")
    found = open_repo(git_repo, run_git, option="--index")
    assert unclean_paths(found, ["a.txt", "naïve.txt"]) == ["naïve.txt"]
    stage_blobs(found, {"naïve.txt": ("100644", b"staged\n")})
    assert list(index_changes(found)) == ["naïve.txt"]
