"""``agentos plan --git A..B | --git REV | --staged``, and ``apply`` of such plans, with real git
in temporary repositories (``git apply`` as the oracle)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from helpers import PERMISSIVE_POLICY, CliResult, needs_git, read_tree, run_git, write_tree

pytestmark = [needs_git, pytest.mark.git]

Cli = Callable[..., CliResult]

NAME_TXT = "".join(f"line {n}\n" for n in range(1, 21))
BASE_FILES: dict[str, bytes | str | tuple[bytes | str, str]] = {
    "src/app.py": "def main():\n    return 1\n",
    "old/name.txt": NAME_TXT,
    "gone.txt": "going away\n",
    "run.sh": "#!/bin/sh\necho hi\n",
    "img/logo.bin": b"\x89PNG\r\n\x1a\n\0" + bytes(range(200)),
    "dir with space/naïve café.txt": "bonjour\n",
    "unrelated.txt": "nobody plans this\n",
}


def _head_files() -> dict[str, bytes | str | tuple[bytes | str, str]]:
    files: dict[str, bytes | str | tuple[bytes | str, str]] = dict(BASE_FILES)
    files["src/app.py"] = "def main():\n    return 2\n"
    del files["gone.txt"]
    del files["old/name.txt"]
    files["new/place/name.txt"] = NAME_TXT.replace("line 7\n", "line seven\n")
    files["run.sh"] = ("#!/bin/sh\necho hi\n", "100755")
    files["img/logo.bin"] = b"\x89PNG\r\n\x1a\n\0" + bytes(range(200, 0, -1))
    files["dir with space/naïve café.txt"] = "bonjour tout le monde\n"
    files["src/new.py"] = "print('new')\n"
    return files


def _commit(repo: Path, message: str) -> str:
    run_git(repo, "add", "-A")
    run_git(repo, "commit", "-q", "--allow-empty", "-m", message)
    return run_git(repo, "rev-parse", "HEAD").decode().strip()


def _clear(repo: Path) -> None:
    for path in repo.rglob("*"):
        if path.is_file() and ".git" not in path.relative_to(repo).parts:
            path.unlink()


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, str, str]:
    """A repository whose first commit holds ``BASE_FILES`` and second every kind of change."""
    path = tmp_path / "repo"
    path.mkdir()
    run_git(path, "init", "-q", "-b", "main")
    write_tree(path, BASE_FILES)
    base = _commit(path, "base")
    _clear(path)
    write_tree(path, _head_files())
    head = _commit(path, "head")
    return path, base, head


def _clone_at(repo: Path, commit: str, target: Path) -> Path:
    run_git(repo.parent, "clone", "-q", str(repo), str(target))
    run_git(target, "checkout", "-q", "--detach", commit)
    return target


def _plan(cli: Cli, repo: Path, *args: str | Path) -> CliResult:
    return cli("plan", *args, "-C", repo, "--policy", PERMISSIVE_POLICY, "--json")


def _apply(cli: Cli, ws: Path, plan: Path, *args: str) -> CliResult:
    return cli("apply", plan, "-C", ws, "--policy", PERMISSIVE_POLICY, "--json", *args)


def _one_line(result: CliResult) -> str:
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert "Traceback" not in result.err
    return lines[0]


def test_a_range_plan_applied_to_a_checkout_of_its_base_gives_the_head_tree(
    cli: Cli, repo: tuple[Path, str, str], tmp_path: Path
) -> None:
    path, base, head = repo
    plan_file = tmp_path / "range.json"
    planned = _plan(cli, path, "--git", f"{base[:10]}..HEAD", "-o", plan_file)
    assert planned.code == 0, planned.out + planned.err
    ops = {(c["op"], c["path"]) for c in planned.json()["result"]["changes"]}
    assert ops == {
        ("modify", "src/app.py"),
        ("create", "src/new.py"),
        ("delete", "gone.txt"),
        ("rename", "new/place/name.txt"),
        ("modify", "run.sh"),
        ("modify", "img/logo.bin"),
        ("modify", "dir with space/naïve café.txt"),
    }
    (source,) = planned.json()["result"]["sources"]
    assert source["name"] == f"git diff {base} {head}"
    assert source["format"] == "diff"
    doc = json.loads(plan_file.read_text())
    assert doc["base"] == {"git_head": head, "commit": base, "pre_images": "commit"}
    shown = cli("show", plan_file, "-C", path, "--policy", PERMISSIVE_POLICY, "--json")
    assert shown.json()["result"]["base"] == {
        "git_head": head,
        "commit": base,
        "pre_images": "commit",
    }

    oracle = _clone_at(path, base, tmp_path / "oracle")
    diff = run_git(path, "diff", "--binary", "--full-index", "-M", base, head)
    run_git(oracle, "apply", "-", input_bytes=diff)
    ws = _clone_at(path, base, tmp_path / "ws")
    applied = _apply(cli, ws, plan_file)
    assert applied.code == 0, applied.out
    result = applied.json()["result"]
    assert result["status"] == "committed"
    assert result["warnings"] == []
    assert read_tree(ws) == read_tree(oracle)
    assert read_tree(ws) == read_tree(_clone_at(path, head, tmp_path / "head"))
    # Applying it again where it already is: nothing to do.
    again = _apply(cli, path, plan_file)
    assert again.json()["result"]["status"] == "already_applied"


@pytest.mark.file_store(
    "applies one plan in two clones as two separate runners; with a shared store the first "
    "commit counts for the second (already_applied: tests/store/test_audit_copy.py)"
)
def test_uncommitted_changes_to_other_files_do_not_matter_but_to_planned_ones_are_stale(
    cli: Cli, repo: tuple[Path, str, str], tmp_path: Path
) -> None:
    path, base, _ = repo
    plan_file = tmp_path / "range.json"
    assert _plan(cli, path, "--git", f"{base}..HEAD", "-o", plan_file).code == 0

    ws = _clone_at(path, base, tmp_path / "ws")
    (ws / "unrelated.txt").write_text("my own edit\n")
    applied = _apply(cli, ws, plan_file)
    assert applied.json()["result"]["status"] == "committed"
    assert (ws / "unrelated.txt").read_text() == "my own edit\n"

    dirty = _clone_at(path, base, tmp_path / "dirty")
    (dirty / "src/app.py").write_text("def main():\n    return 99\n")
    before = read_tree(dirty)
    stale = _apply(cli, dirty, plan_file)
    assert stale.code == 5
    assert stale.json()["result"]["status"] == "stale"
    assert stale.json()["result"]["drifted"] == ["src/app.py: it changed since the plan was made"]
    assert read_tree(dirty) == before


def test_a_workspace_at_another_commit_applies_when_every_pre_image_matches_and_says_so(
    cli: Cli, repo: tuple[Path, str, str], tmp_path: Path
) -> None:
    path, base, _ = repo
    plan_file = tmp_path / "range.json"
    assert _plan(cli, path, "--git", f"{base}..HEAD", "-o", plan_file).code == 0
    ws = _clone_at(path, base, tmp_path / "ws")
    (ws / "unrelated.txt").write_text("committed elsewhere\n")
    other = _commit(ws, "another line of work")

    dry = _apply(cli, ws, plan_file, "--dry-run")
    assert dry.json()["result"]["status"] == "dry_run"
    (warning,) = dry.json()["result"]["warnings"]
    assert other in warning
    assert base in warning
    assert "would apply" in warning

    applied = _apply(cli, ws, plan_file)
    result = applied.json()["result"]
    assert result["status"] == "committed"
    (warning,) = result["warnings"]
    assert f"the workspace is at commit {other}, not at the plan's base {base}" in warning
    assert "per file" in warning


def test_a_stale_plan_at_another_commit_names_both_commits(
    cli: Cli, repo: tuple[Path, str, str], tmp_path: Path
) -> None:
    path, base, _ = repo
    plan_file = tmp_path / "range.json"
    assert _plan(cli, path, "--git", f"{base}..HEAD", "-o", plan_file).code == 0
    ws = _clone_at(path, base, tmp_path / "ws")
    (ws / "gone.txt").write_text("edited on another branch\n")
    other = _commit(ws, "edit")
    stale = _apply(cli, ws, plan_file)
    assert stale.code == 5
    (warning,) = stale.json()["result"]["warnings"]
    assert other in warning
    assert base in warning


def test_outside_a_git_repository_the_base_is_only_recorded(
    cli: Cli, repo: tuple[Path, str, str], tmp_path: Path
) -> None:
    path, base, head = repo
    plan_file = tmp_path / "range.json"
    assert _plan(cli, path, "--git", f"{base}..{head}", "-o", plan_file).code == 0
    ws = tmp_path / "plain"
    ws.mkdir()
    write_tree(ws, BASE_FILES)
    applied = _apply(cli, ws, plan_file)
    assert applied.json()["result"]["status"] == "committed"
    assert applied.json()["result"]["warnings"] == []
    assert read_tree(ws) == read_tree(_clone_at(path, head, tmp_path / "head"))


def test_a_revision_against_the_working_tree(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "repo"
    path.mkdir()
    run_git(path, "init", "-q", "-b", "main")
    write_tree(path, {"a.txt": "a\n", "b.txt": "b\n", "tool": "#!/bin/sh\n", "same.txt": "s\n"})
    base = _commit(path, "base")
    # Rewritten with the same bytes: git would refresh its index entry, if it took the lock.
    os.utime(path / "same.txt", (2_000_000_000, 2_000_000_000))
    index = (path / ".git" / "index").read_bytes()
    (path / "a.txt").write_text("a, edited\n")
    (path / "b.txt").unlink()
    (path / "tool").chmod(0o755)
    (path / "untracked.txt").write_text("git diff does not show me\n")
    worktree = read_tree(path)
    del worktree["untracked.txt"]

    plan_file = tmp_path / "wt.json"
    planned = _plan(cli, path, "--git", "HEAD", "-o", plan_file)
    assert planned.code == 0, planned.err
    assert json.loads(plan_file.read_text())["base"]["commit"] == base
    assert (path / ".git" / "index").read_bytes() == index
    assert {(c["op"], c["path"]) for c in planned.json()["result"]["changes"]} == {
        ("modify", "a.txt"),
        ("delete", "b.txt"),
        ("modify", "tool"),
    }
    # Where the working tree already holds the change, there is nothing to apply.
    assert _apply(cli, path, plan_file).json()["result"]["status"] == "already_applied"
    ws = _clone_at(path, base, tmp_path / "ws")
    assert _apply(cli, ws, plan_file).json()["result"]["status"] == "committed"
    assert read_tree(ws) == worktree


def test_staged_plans_the_index_against_head(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "repo"
    path.mkdir()
    run_git(path, "init", "-q", "-b", "main")
    write_tree(path, {"a.txt": "a\n"})
    head = _commit(path, "base")
    (path / "a.txt").write_text("a, staged\n")
    (path / "new.txt").write_text("new, staged\n")
    run_git(path, "add", "a.txt", "new.txt")
    (path / "a.txt").write_text("a, staged, then edited again\n")

    plan_file = tmp_path / "staged.json"
    planned = _plan(cli, path, "--staged", "-o", plan_file)
    assert planned.code == 0, planned.err
    doc = json.loads(plan_file.read_text())
    assert doc["base"]["commit"] == head
    assert doc["sources"][0]["name"] == f"git diff --staged {head}"
    contents = {c["path"]: c["content"]["data"] for c in doc["changeset"]["changes"]}
    assert contents == {"a.txt": "a, staged\n", "new.txt": "new, staged\n"}


def test_an_unknown_revision_is_one_line_naming_it(
    cli: Cli, repo: tuple[Path, str, str], tmp_path: Path
) -> None:
    path, _, _ = repo
    before = read_tree(path, skip=(".git",))
    result = cli("plan", "--git", "main..no-such-branch", "-C", path)
    assert result.code == 2
    line = _one_line(result)
    assert "unknown revision 'no-such-branch'" in line
    assert read_tree(path, skip=(".git",)) == before
    assert not (path / ".agentos" / "plans").exists()


def test_outside_a_git_repository_plan_git_is_a_usage_error(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    ws = tmp_path / "plain"
    ws.mkdir()
    write_tree(ws, {"a.txt": "a\n"})
    for args in (("--git", "HEAD~1..HEAD"), ("--staged",)):
        result = cli("plan", *args, "-C", ws)
        assert result.code == 2
        assert "is not in a git repository" in _one_line(result)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--git", "HEAD", "x.diff"), "INPUT arguments cannot be given"),
        (("--staged", "-"), "INPUT arguments cannot be given"),
        (("--git", "HEAD", "--staged"), "cannot be combined"),
        (("--git", "HEAD", "--strip", "0"), "--strip applies to patch files"),
        (("--git", "HEAD", "--format", "manifest"), "--format manifest"),
        (("--git", ".."), "name at least one side"),
    ],
)
def test_git_options_and_inputs_do_not_mix(
    cli: Cli, repo: tuple[Path, str, str], args: tuple[str, ...], words: str
) -> None:
    path, _, _ = repo
    result = cli("plan", *args, "-C", path)
    assert result.code == 2
    assert words in _one_line(result)


def test_a_range_without_changes_is_a_usage_error(cli: Cli, repo: tuple[Path, str, str]) -> None:
    path, _, head = repo
    result = cli("plan", "--git", f"{head}..{head}", "-C", path)
    assert result.code == 2
    assert "git shows no difference" in _one_line(result)


def test_the_repository_configuration_does_not_change_the_plan(
    cli: Cli, repo: tuple[Path, str, str], tmp_path: Path
) -> None:
    path, base, head = repo
    plain = tmp_path / "plain.json"
    assert _plan(cli, path, "--git", f"{base}..{head}", "-o", plain).code == 0
    for key, value in (
        ("diff.noprefix", "true"),
        ("diff.mnemonicPrefix", "true"),
        ("diff.external", "false"),
        ("color.ui", "always"),
        ("color.diff", "always"),
        ("core.quotepath", "false"),
        ("diff.renames", "false"),
        ("diff.context", "0"),
        ("diff.relative", "true"),
    ):
        run_git(path, "config", key, value)
    configured = tmp_path / "configured.json"
    assert _plan(cli, path, "--git", f"{base}..{head}", "-o", configured).code == 0
    first, second = json.loads(plain.read_text()), json.loads(configured.read_text())
    assert first["changeset"] == second["changeset"]
    assert first["sources"] == second["sources"]


def test_a_plan_from_inputs_keeps_its_base_as_before(cli: Cli, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    write_tree(ws, {"a.txt": "a\n"})
    patch = tmp_path / "change.diff"
    patch.write_text("--- a/a.txt\n+++ b/a.txt\n@@ -1 +1 @@\n-a\n+b\n")
    plan_file = tmp_path / "plain.json"
    assert _plan(cli, ws, patch, "-o", plan_file).code == 0
    assert json.loads(plan_file.read_text())["base"] == {"git_head": None}


def test_the_plan_digest_seals_the_base_commit(
    cli: Cli, repo: tuple[Path, str, str], tmp_path: Path
) -> None:
    path, base, head = repo
    plan_file = tmp_path / "range.json"
    assert _plan(cli, path, "--git", f"{base}..{head}", "-o", plan_file).code == 0
    doc = json.loads(plan_file.read_text())
    doc["base"]["commit"] = head
    plan_file.write_text(json.dumps(doc))
    result = cli("show", plan_file, "-C", path)
    assert result.code == 6
    assert "plan_digest mismatch" in _one_line(result)


def test_a_base_with_commit_pre_images_names_its_commit() -> None:
    from pydantic import ValidationError

    from agentos.model import Base

    with pytest.raises(ValidationError, match="needs the commit id"):
        Base.model_validate({"git_head": None, "pre_images": "commit"})
    with pytest.raises(ValidationError):
        Base.model_validate({"commit": "not-a-commit-id", "pre_images": "commit"})


def test_show_names_the_base_commit(cli: Cli, repo: tuple[Path, str, str], tmp_path: Path) -> None:
    path, base, head = repo
    plan_file = tmp_path / "range.json"
    assert _plan(cli, path, "--git", f"{base}..{head}", "-o", plan_file).code == 0
    shown = cli("show", plan_file, "-C", path, "--policy", PERMISSIVE_POLICY)
    assert f"base:     commit {base} (pre-images from git)" in shown.out
