"""The diff of a plan made from git (``plan --git ... --markdown``, ``show --diff``) where the
workspace no longer holds its pre-images — a pull request's checkout holds the new side —:
the old side is read from the plan's base commit, so the report shows git's own diff."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from helpers import PERMISSIVE_POLICY, CliResult, needs_git, run_git, write_tree

pytestmark = [needs_git, pytest.mark.git]

Cli = Callable[..., CliResult]
POLICY = ("--policy", PERMISSIVE_POLICY)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    """A repository whose ``main`` holds two files and whose checked-out ``feature`` renames
    one with an edit and modifies the other; returns it and main's commit."""
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    path = tmp_path / "repo"
    path.mkdir()
    run_git(path, "init", "-q", "-b", "main")
    write_tree(path, {"src/util.py": "def add(a, b):\n    return a + b\n", "app.txt": "v1\n"})
    run_git(path, "add", "-A")
    run_git(path, "commit", "-q", "-m", "base")
    base = run_git(path, "rev-parse", "HEAD").decode().strip()
    run_git(path, "checkout", "-q", "-b", "feature")
    run_git(path, "mv", "src/util.py", "src/helpers.py")
    (path / "src" / "helpers.py").write_text("def add(a, b):\n    return a + b\n\n\nX = 1\n")
    (path / "app.txt").write_text("v2\n")
    run_git(path, "commit", "-q", "-am", "feature")
    return path, base


def test_the_report_in_the_checkout_of_the_change_shows_gits_diff(
    cli: Cli, repo: tuple[Path, str], tmp_path: Path
) -> None:
    path, _ = repo
    plan_file = tmp_path / "plan.json"
    res = cli("plan", "--git", "main...HEAD", "-C", path, "-o", plan_file, *POLICY, "--markdown")
    assert res.code == 0, res.err
    assert "(no diff" not in res.out
    assert "already applied" not in res.out
    assert "-v1\n+v2\n" in res.out
    assert "rename from src/util.py\nrename to src/helpers.py\n" in res.out
    assert "+X = 1\n" in res.out
    shown = cli("show", plan_file, "--diff", "-C", path, *POLICY, "--json")
    assert "-v1\n+v2\n" in shown.json()["result"]["diff"]
    assert "(no diff" not in shown.json()["result"]["diff"]


def test_a_stale_file_says_its_old_side_is_from_the_base_commit(
    cli: Cli, repo: tuple[Path, str], tmp_path: Path
) -> None:
    path, base = repo
    plan_file = tmp_path / "plan.json"
    assert cli("plan", "--git", "main...HEAD", "-C", path, "-o", plan_file, *POLICY).code == 0
    run_git(path, "checkout", "-q", "main")
    (path / "app.txt").write_text("edited by hand\n")
    shown = cli("show", plan_file, "--diff", "-C", path, *POLICY, "--json")
    diff = shown.json()["result"]["diff"]
    assert (
        "(app.txt changed since this plan was made (the plan is stale); the old side is the "
        f"file in the plan's base commit {base[:12]})"
    ) in diff
    assert "-v1\n+v2\n" in diff


def test_without_the_base_commit_the_diff_says_so(
    cli: Cli, repo: tuple[Path, str], tmp_path: Path
) -> None:
    path, _ = repo
    plan_file = tmp_path / "plan.json"
    assert cli("plan", "--git", "main...HEAD", "-C", path, "-o", plan_file, *POLICY).code == 0
    # A shallow clone of the feature branch alone: git does not have the base commit.
    shallow = tmp_path / "shallow"
    url = path.as_uri()
    run_git(tmp_path, "clone", "-q", "--depth", "1", "--branch", "feature", url, str(shallow))
    res = cli("show", plan_file, "--diff", "-C", shallow, *POLICY, "--json")
    assert res.code == 0, res.err
    assert "(no diff: already applied" in res.json()["result"]["diff"]
