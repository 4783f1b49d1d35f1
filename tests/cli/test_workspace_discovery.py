"""Which workspace a command runs on: ``-C DIR`` as given, else the one found up from the
working directory, as git finds its repository."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agentos.errors import UsageError
from agentos.workspace import discover, locate
from helpers import PERMISSIVE_POLICY, agentos, run_git, write_tree

MANIFEST = 'changes:\n  - {op: modify, path: src/a.txt, content: "two\\n"}\n'


def test_discover_takes_the_nearest_workspace_or_repository_top(tmp_path: Path) -> None:
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    (tmp_path / "repo" / "svc" / "agent" / "policies").mkdir(parents=True)
    (tmp_path / "repo" / "svc" / "agent" / "policies" / "default.yaml").write_text("x")
    (tmp_path / "repo" / "svc" / "src" / "deep").mkdir(parents=True)
    (tmp_path / "repo" / "docs").mkdir()
    (tmp_path / "plain").mkdir()

    assert discover(tmp_path / "repo" / "svc" / "src" / "deep") == tmp_path / "repo" / "svc"
    assert discover(tmp_path / "repo" / "docs") == tmp_path / "repo"
    assert discover(tmp_path / "repo") == tmp_path / "repo"
    assert discover(tmp_path / "plain") is None
    (tmp_path / "repo" / "docs" / ".agentos").mkdir()
    assert discover(tmp_path / "repo" / "docs") == tmp_path / "repo" / "docs"


def test_a_repository_is_a_boundary_a_workspace_above_it_never_claims_it(tmp_path: Path) -> None:
    # A parent folder set up for agentos, and a repository inside it with nothing of its own.
    (tmp_path / "parent" / ".agentos").mkdir(parents=True)
    (tmp_path / "parent" / "proj" / ".git").mkdir(parents=True)
    (tmp_path / "parent" / "proj" / "src").mkdir()
    assert discover(tmp_path / "parent" / "proj" / "src") == tmp_path / "parent" / "proj"
    # Outside any repository the parent's state still counts.
    (tmp_path / "parent" / "notes").mkdir()
    assert discover(tmp_path / "parent" / "notes") == tmp_path / "parent"


def test_the_search_stops_below_the_home_directory(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".agentos").mkdir(parents=True)
    (home / "agent" / "policies").mkdir(parents=True)
    (home / "agent" / "policies" / "default.yaml").write_text("x")
    (home / "proj" / "src").mkdir(parents=True)
    assert discover(home / "proj" / "src", home=home) is None
    assert discover(home, home=home) == home  # run in the home folder itself: it is the one
    (home / "proj" / ".git").mkdir()
    assert discover(home / "proj" / "src", home=home) == home / "proj"


def test_markers_of_the_wrong_kind_or_owner_do_not_count(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / ".agentos").write_text("a file, not agentos's state")
    assert discover(tmp_path / "a" / "b", home=tmp_path / "nowhere") is None
    if os.geteuid() != 0:
        return  # making a folder another user's takes root
    (tmp_path / "c" / "d").mkdir(parents=True)
    (tmp_path / "c" / ".agentos").mkdir()
    os.chown(tmp_path / "c" / ".agentos", 12345, 12345)
    assert discover(tmp_path / "c" / "d", home=tmp_path / "nowhere") is None


def test_a_file_named_like_the_state_folder_above_is_no_crash(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / ".agentos").write_text("not a folder")
    run = agentos("init", cwd=tmp_path / "a" / "b")
    assert run.code == 0, run.doc
    assert (tmp_path / "a" / "b" / ".agentos").is_dir()


def test_locate_takes_C_as_given_and_refuses_nowhere(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    assert locate(tmp_path / "sub", here=tmp_path) == tmp_path / "sub"
    assert locate(None, here=tmp_path / "sub", or_here=True) == (tmp_path / "sub").resolve()
    with pytest.raises(UsageError, match=r"run 'agentos init'.*-C DIR"):
        locate(None, here=tmp_path / "sub")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository with a workspace set up at its top and a nested source folder."""
    root = tmp_path / "repo"
    write_tree(root, {"src/a.txt": "one\n", "src/pkg/b.txt": "bee\n"})
    run_git(root, "init", "-q")
    policy = root / "agent" / "policies" / "default.yaml"
    policy.parent.mkdir(parents=True)
    policy.write_bytes(PERMISSIVE_POLICY.read_bytes())
    return root


def test_a_command_in_a_subfolder_runs_on_the_workspace_above(repo: Path) -> None:
    (repo / "m.yaml").write_text(MANIFEST)
    sub = repo / "src" / "pkg"

    planned = agentos("plan", "../../m.yaml", "--plan-id", "p1", cwd=sub)
    assert planned.code == 0, planned.doc
    assert Path(planned.result["plan_file"]).parent == repo / ".agentos" / "plans"
    applied = agentos("apply", "p1", cwd=sub)
    assert applied.code == 0, applied.doc
    assert (repo / "src" / "a.txt").read_text() == "two\n"

    # No second workspace was made below the first one.
    assert not (sub / ".agentos").exists()
    assert not (repo / "src" / ".agentos").exists()
    history = agentos("history", cwd=sub)
    assert [e["plan_id"] for e in history.result["executions"]] == ["p1"]


def test_the_git_top_level_is_the_workspace_without_agentos_files(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    write_tree(root, {"src/a.txt": "one\n", "m.yaml": MANIFEST})
    run_git(root, "init", "-q")

    planned = agentos("plan", "../m.yaml", "--policy", PERMISSIVE_POLICY, cwd=root / "src")
    assert planned.code == 0, planned.doc
    assert Path(planned.result["plan_file"]).parent == root / ".agentos" / "plans"
    assert not (root / "src" / ".agentos").exists()


def test_init_in_a_subfolder_of_a_repository_sets_up_its_top(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    write_tree(root, {"src/a.txt": "one\n"})
    run_git(root, "init", "-q")

    done = agentos("init", cwd=root / "src")
    assert done.code == 0, done.doc
    assert (root / "agent" / "policies" / "default.yaml").is_file()
    assert (root / ".agentos").is_dir()
    assert not (root / "src" / ".agentos").exists()


def test_outside_any_workspace_a_command_says_so_and_writes_nothing(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    write_tree(plain, {"m.yaml": MANIFEST, "src/a.txt": "one\n"})

    for command in (["status"], ["plan", "m.yaml"], ["audit", "verify"], ["history"]):
        run = agentos(*command, cwd=plain)
        assert run.code == 2, (command, run.doc)
        message = run.doc["error"]["message"]
        assert f"no agentos workspace in {str(plain)!r}" in message
        assert "agentos init" in message and "-C DIR" in message
    assert sorted(p.name for p in plain.iterdir()) == ["m.yaml", "src"]

    # init makes the folder a workspace; then the same commands run.
    assert agentos("init", cwd=plain).code == 0
    assert agentos("status", cwd=plain).code == 0


def test_C_names_the_workspace_exactly(repo: Path) -> None:
    # -C is the workspace itself (like terraform -chdir), not a place to search up from.
    sub = repo / "src"
    write_tree(sub, {"m.yaml": MANIFEST.replace("src/a.txt", "a.txt")})
    planned = agentos("plan", sub / "m.yaml", "-C", sub, "--policy", PERMISSIVE_POLICY, cwd=repo)
    assert planned.code == 0, planned.doc
    assert Path(planned.result["plan_file"]).parent == sub / ".agentos" / "plans"
