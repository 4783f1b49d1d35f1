"""Plans made from git (``read_git_change`` + ``GitBaseline``): every kind of change git can
describe plans, from the repository itself, to exactly the tree of the range's end.

The repository's working tree is left at the head commit (or made dirty): the pre-images
must come from the base commit's blobs all the same. ``git apply`` of the very diff agentos
read is the oracle.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_git_tree import CASES, Repo, checkout, make_repo

from agentos.errors import AgentosError, UsageError
from agentos.gitrun import GitOutput, run_git
from agentos.model import Base, ChangePlan
from agentos.planner.gitbaseline import GitBaseline
from agentos.planner.gitdiff import DIFF_CONFIG as GIT_OPTIONS
from agentos.planner.gitdiff import GitChange, parse_selection, read_git_change
from agentos.planner.plan import PlanSpec, plan_changes
from agentos.workspace import Workspace
from helpers import FakeGit, materialise, needs_git, read_tree
from helpers import run_git as git

pytestmark = [needs_git, pytest.mark.git]


def read_change(root: Path, spec: str | None, *, staged: bool = False) -> GitChange:
    selection = parse_selection(spec, staged=staged)
    return read_git_change(selection, root=root, runner=run_git, max_input_bytes=1 << 30)


def plan_from(root: Path, change: GitChange) -> ChangePlan:
    spec = PlanSpec(
        workspace=Workspace(root),
        inputs=(change.input,),
        author="t",
        strip=1,
        baseline=change.baseline,
        base=Base(commit=change.base, pre_images="commit"),
    )
    return plan_changes(spec)


def oracle(repo: Repo, diff: bytes, target: Path) -> dict[str, tuple[bytes, str]]:
    checkout(repo, repo.base, target)
    git(target, "apply", "--whitespace=nowarn", "-", input_bytes=diff)
    return read_tree(target)


@pytest.mark.parametrize("kind", sorted(CASES))
def test_each_kind_of_change_plans_from_git_to_the_head_tree(tmp_path: Path, kind: str) -> None:
    case = CASES[kind]
    repo = make_repo(tmp_path / "repo", case.base, case.head)
    # Unrelated to the range: the working tree's own state must not leak into the plan.
    (repo.path / "untracked-noise.txt").write_text("noise\n")
    before = read_tree(repo.path, skip=())
    change = read_change(repo.path, f"{repo.base}..{repo.head}")
    assert change.base == repo.base
    if case.refused is not None:
        code, words = case.refused
        with pytest.raises(AgentosError) as caught:
            plan_from(repo.path, change)
        assert caught.value.exit_code == code
        assert words in caught.value.message
        return
    plan = plan_from(repo.path, change)
    assert read_tree(repo.path, skip=()) == before, "planning changed the repository"
    head_tree = read_tree(checkout(repo, repo.head, tmp_path / "head"))
    assert oracle(repo, change.input.data, tmp_path / "oracle") == head_tree
    workspace = checkout(repo, repo.base, tmp_path / "ws")
    materialise(plan, workspace)
    assert read_tree(workspace) == head_tree


def test_pre_images_come_from_the_base_commit_not_the_working_tree(tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path / "repo",
        {"a.txt": "one\ntwo\n", "b.txt": "keep\n"},
        {"a.txt": "one\nTWO\n", "b.txt": "keep\n"},
    )
    clean = plan_from(repo.path, read_change(repo.path, f"{repo.base}..{repo.head}"))
    # The working tree holds head's a.txt with an uncommitted edit, and b.txt is gone.
    (repo.path / "a.txt").write_text("one\nTWO\nthree\n")
    (repo.path / "b.txt").unlink()
    dirty = plan_from(repo.path, read_change(repo.path, f"{repo.base}..{repo.head}"))
    assert dirty.changeset == clean.changeset
    (change,) = dirty.changeset.changes
    assert change.op == "modify"
    assert change.content.to_bytes() == b"one\nTWO\n"


def test_three_dots_start_at_the_merge_base(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"a.txt": "a\n"}, {"a.txt": "a\nfeature\n"})
    git(repo.path, "checkout", "-q", "-b", "other", repo.base)
    (repo.path / "other.txt").write_text("main moved on\n")
    git(repo.path, "add", "-A")
    git(repo.path, "commit", "-qm", "other")
    other = git(repo.path, "rev-parse", "HEAD").decode().strip()
    change = read_change(repo.path, f"{other}...{repo.head}")
    assert change.base == repo.base
    plan = plan_from(repo.path, change)
    assert [(c.op, c.path) for c in plan.changeset.changes] == [("modify", "a.txt")]
    # Two dots compare the ends: the other branch's file would be deleted.
    two = plan_from(repo.path, read_change(repo.path, f"{other}..{repo.head}"))
    assert {(c.op, c.path) for c in two.changeset.changes} == {
        ("modify", "a.txt"),
        ("delete", "other.txt"),
    }


def test_a_folder_of_the_repository_plans_with_paths_relative_to_it(tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path / "repo",
        {"sub/x.txt": "x\n", "top.txt": "t\n"},
        {"sub/x.txt": "x2\n", "sub/new/y.txt": "y\n", "top.txt": "t2\n"},
    )
    root = repo.path / "sub"
    plan = plan_from(root, read_change(root, f"{repo.base}..{repo.head}"))
    assert [(c.op, c.path) for c in plan.changeset.changes] == [
        ("create", "new/y.txt"),
        ("modify", "x.txt"),
    ]


@pytest.mark.parametrize(
    ("spec", "staged", "expected"),
    [
        ("main..topic", False, ("range", "main", "topic", False)),
        ("main...topic", False, ("range", "main", "topic", True)),
        ("main..", False, ("range", "main", "HEAD", False)),
        ("..topic", False, ("range", "HEAD", "topic", False)),
        ("v1.2", False, ("worktree", "v1.2", None, False)),
        (None, True, ("staged", "HEAD", None, False)),
    ],
)
def test_selections(
    spec: str | None, staged: bool, expected: tuple[str, str, str | None, bool]
) -> None:
    selection = parse_selection(spec, staged=staged)
    assert (selection.mode, selection.old, selection.new, selection.merge_base) == expected


@pytest.mark.parametrize(
    ("spec", "staged"), [("..", False), ("", False), (None, False), ("a", True)]
)
def test_bad_selections_are_usage_errors(spec: str | None, staged: bool) -> None:
    with pytest.raises(UsageError):
        parse_selection(spec, staged=staged)


def test_the_diff_is_asked_for_with_a_fixed_configuration(tmp_path: Path) -> None:
    oid = "a" * 40
    runner = FakeGit(
        {
            "rev-parse": GitOutput(0, oid.encode() + b"\n", b""),
            "diff-tree": GitOutput(0, b"diff --git a/x b/x\n", b""),
        }
    )
    change = read_git_change(
        parse_selection("HEAD~1..HEAD", staged=False),
        root=tmp_path,
        runner=runner,
        max_input_bytes=100,
    )
    diff = next(call for call in runner.calls if call[0] == "diff-tree")
    for flag in ("--no-ext-diff", "--no-textconv", "--no-color", "--binary", "--full-index"):
        assert flag in diff
    assert "-M" in diff
    assert "-r" in diff
    assert diff[-2:] == (oid, oid)
    assert change.input.name == f"git diff {oid} {oid}"
    assert change.input.format == "diff"
    assert "core.quotepath=true" in GIT_OPTIONS
    assert "diff.noprefix=false" in GIT_OPTIONS


def test_only_the_diff_command_gets_the_diff_settings(tmp_path: Path) -> None:
    oid = "a" * 40
    runner = FakeGit(
        {
            "rev-parse": GitOutput(0, oid.encode() + b"\n", b""),
            "diff-index": GitOutput(0, b"diff --git a/x b/x\n", b""),
        }
    )
    read_git_change(
        parse_selection("HEAD", staged=False), root=tmp_path, runner=runner, max_input_bytes=99
    )
    settings = {args[0]: config for args, config in zip(runner.calls, runner.configs, strict=True)}
    assert settings == {"rev-parse": (), "diff-index": GIT_OPTIONS}


def test_a_diff_past_the_input_limit_is_refused(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"a.txt": "a\n"}, {"a.txt": "b" * 5000 + "\n"})
    selection = parse_selection(f"{repo.base}..{repo.head}", staged=False)
    with pytest.raises(AgentosError) as caught:
        read_git_change(selection, root=repo.path, runner=run_git, max_input_bytes=1000)
    assert caught.value.exit_code == 3
    assert "max_input_bytes" in caught.value.message


def test_a_link_in_the_base_commit_is_refused(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"a.txt": "a\n"}, {"a.txt": "a\n"})
    (repo.path / "link").symlink_to("a.txt")
    git(repo.path, "add", "-A")
    git(repo.path, "commit", "-qm", "link")
    head = git(repo.path, "rev-parse", "HEAD").decode().strip()
    baseline = GitBaseline(repo.path, head, run_git)
    assert baseline.kind("a.txt") == "file"
    assert baseline.kind("nowhere/x") == "missing"
    with pytest.raises(AgentosError, match="symbolic link"):
        baseline.kind("link")
