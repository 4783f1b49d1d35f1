"""``apply --commit`` / ``--index`` and ``rollback --commit`` / ``--index`` with real git in
temporary repositories: what is committed (renames as renames, modes, deletions), the
trailers and the author, the refusals before anything is written, replays that commit
nothing new, and a commit that fails after the files were written.

Pinned: the keys of ``result.git`` (and of each ``executions[].git``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import PERMISSIVE_POLICY, CliResult, needs_git, read_tree, run_git, write_tree

pytestmark = needs_git

Cli = Callable[..., CliResult]
POLICY = ("--policy", PERMISSIVE_POLICY)
GIT_KEYS = {"mode", "commit", "staged", "found", "error"}
AUTHOR = "Alice Example <alice@example.com>"
START = {
    "a.txt": "one\ntwo\nthree\nfour\nfive\nsix\n",
    "b.sh": "echo b\n",
    "c.txt": "gone soon\n",
    "keep.txt": "untouched\n",
}
# Every kind of change: a rename with an edit, a modify that makes a file executable, a
# delete and a create in a new folder.
CHANGES: list[dict[str, Any]] = [
    {"op": "rename", "from": "a.txt", "path": "d.txt", "content": START["a.txt"] + "seven\n"},
    {"op": "modify", "path": "b.sh", "content": "echo b\necho c\n", "mode": "100755"},
    {"op": "delete", "path": "c.txt"},
    {"op": "create", "path": "new/e.txt", "content": "e\n"},
]
TOUCHED = {"a.txt", "d.txt", "b.sh", "c.txt", "new/e.txt"}


def git(ws: Path, *args: str) -> str:
    return run_git(ws, *args).decode().strip()


@pytest.fixture
def repo(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A workspace that is a git repository with one commit of ``START``."""
    # Never find a repository above the temporary directory.
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(workspace.parent))
    run_git(workspace, "init", "-q")
    write_tree(workspace, START)
    run_git(workspace, "add", "-A")
    run_git(workspace, "commit", "-q", "-m", "start")
    return workspace


def plan(
    cli: Cli,
    ws: Path,
    plan_id: str,
    changes: list[dict[str, Any]],
    *,
    author: str = AUTHOR,
    intent: str = "Rename a to d, make b executable",
    policy: Path = PERMISSIVE_POLICY,
) -> None:
    manifest = ws.parent / f"{plan_id}.json"
    manifest.write_text(json.dumps({"changes": changes}))
    extra = ("--intent", intent) if intent else ()
    res = cli(
        "plan", manifest, "-C", ws, "--plan-id", plan_id, "--author", author,
        "--policy", policy, "--json", *extra,
    )  # fmt: skip
    assert res.code in (0, 4), res.out + res.err


def run(cli: Cli, ws: Path, *argv: str | Path, code: int = 0, **kw: Any) -> dict[str, Any]:
    policy = kw.get("policy", PERMISSIVE_POLICY)
    res = cli(*argv, "-C", ws, "--policy", policy, "--json")
    assert "Traceback" not in res.err
    doc = res.json()
    assert res.code == code, res.out + res.err
    assert doc["exit_code"] == code
    return dict(doc)


def trailers(ws: Path, rev: str = "HEAD") -> list[str]:
    return git(ws, "log", "-1", "--format=%(trailers:only,unfold)", rev).splitlines()


def test_apply_commit_records_every_kind_of_change_as_one_commit(cli: Cli, repo: Path) -> None:
    start = git(repo, "rev-parse", "HEAD")
    plan(cli, repo, "p1", CHANGES)
    doc = run(cli, repo, "apply", "p1", "--commit")
    result = doc["result"]
    assert result["status"] == "committed"
    assert set(result["git"]) == GIT_KEYS
    assert all(set(row["git"]) == GIT_KEYS for row in result["executions"])
    head = git(repo, "rev-parse", "HEAD")
    assert result["git"] == {
        "mode": "commit",
        "commit": head,
        "staged": sorted(TOUCHED),
        "found": False,
        "error": None,
    }
    # Exactly one commit, on top of where HEAD was, and nothing left uncommitted.
    assert git(repo, "rev-parse", "HEAD~1") == start
    assert git(repo, "status", "--porcelain", "--", ".", ":!.agentos") == ""
    stat = git(repo, "show", "--stat", "-M", "--format=", "HEAD")
    assert "a.txt => d.txt" in stat
    summary = git(repo, "show", "--summary", "--format=", "-M", "HEAD")
    assert "mode change 100644 => 100755 b.sh" in summary
    assert "delete mode 100644 c.txt" in summary
    assert "create mode 100644 new/e.txt" in summary
    # What HEAD holds is what agentos wrote.
    assert git(repo, "show", "HEAD:d.txt") + "\n" == CHANGES[0]["content"]
    assert git(repo, "ls-tree", "HEAD", "b.sh").startswith("100755 ")


def test_commit_message_trailers_and_author_come_from_the_plan(cli: Cli, repo: Path) -> None:
    plan(cli, repo, "p1", CHANGES)
    result = run(cli, repo, "apply", "p1", "--commit")["result"]
    assert git(repo, "log", "-1", "--format=%s") == "Rename a to d, make b executable"
    assert trailers(repo) == [
        "Agentos-Plan: p1",
        f"Agentos-Execution: {result['execution_id']}",
        f"Agentos-Checksum: {result['checksum']}",
    ]
    assert git(repo, "log", "-1", "--format=%an <%ae>") == AUTHOR
    # The committer is git's own (the environment's identity), not the plan's author.
    assert git(repo, "log", "-1", "--format=%cn <%ce>") == "agentos tests <tests@agentos.invalid>"
    # The author date is when the plan was made.
    made = json.loads((repo / ".agentos" / "plans" / "p1.json").read_text())["created_at"]
    assert git(repo, "log", "-1", "--format=%aI").replace("+00:00", "") == made[:19]


def test_an_author_without_an_email_gets_the_documented_fallback(cli: Cli, repo: Path) -> None:
    plan(cli, repo, "p1", CHANGES, author="Build Bot", intent="")
    run(cli, repo, "apply", "p1", "--commit")
    assert git(repo, "log", "-1", "--format=%an <%ae>") == "Build Bot <build-bot@agentos.invalid>"
    # No intent: the documented default subject.
    assert git(repo, "log", "-1", "--format=%s") == "agentos: apply plan p1"


def test_each_counted_approver_gets_a_trailer(cli: Cli, repo: Path, tmp_path: Path) -> None:
    policy = yaml.safe_load(PERMISSIVE_POLICY.read_text())
    policy["writegate"]["require_approval_for_risk"] = ["LOW", "MEDIUM", "HIGH", "CRITICAL"]
    policy["approvals"] = {"min_approvals": 2}
    strict = tmp_path / "strict.yaml"
    strict.write_text(yaml.safe_dump(policy))
    plan(cli, repo, "p1", CHANGES, policy=strict)
    run(cli, repo, "apply", "p1", "--commit", code=4, policy=strict)
    assert git(repo, "log", "--format=%s") == "start"  # refused by the gate: no commit
    for who in ("bob", "carol"):
        run(cli, repo, "approve", "p1", "--by", who, policy=strict)
    run(cli, repo, "apply", "p1", "--commit", policy=strict)
    approved = [t for t in trailers(repo) if t.startswith("Agentos-Approved-By:")]
    assert sorted(approved) == ["Agentos-Approved-By: bob", "Agentos-Approved-By: carol"]


def test_staged_changes_refuse_the_apply_before_anything_is_written(cli: Cli, repo: Path) -> None:
    plan(cli, repo, "p1", CHANGES)
    (repo / "keep.txt").write_text("staged by hand\n")
    run_git(repo, "add", "keep.txt")
    before = read_tree(repo)
    for mode in ("--commit", "--index"):
        doc = run(cli, repo, "apply", "p1", mode, code=2)
        assert doc["error"]["type"] == "usage_error"
        assert "staged changes (keep.txt)" in doc["error"]["message"]
        assert doc["error"]["details"]["staged"] == ["keep.txt"]
    assert read_tree(repo) == before
    assert git(repo, "diff", "--cached", "--name-only") == "keep.txt"
    assert git(repo, "log", "--format=%s") == "start"


def test_index_stages_the_plan_and_commits_nothing(cli: Cli, repo: Path) -> None:
    start = git(repo, "rev-parse", "HEAD")
    plan(cli, repo, "p1", CHANGES)
    result = run(cli, repo, "apply", "p1", "--index")["result"]
    assert result["git"]["mode"] == "index"
    assert result["git"]["commit"] is None
    assert set(result["git"]["staged"]) == TOUCHED
    assert git(repo, "rev-parse", "HEAD") == start
    staged = git(repo, "diff", "--cached", "-M", "--name-status").splitlines()
    assert sorted(line.split("\t")[0][0] for line in staged) == ["A", "D", "M", "R"]
    # Nothing outside the plan is staged.
    assert git(repo, "diff", "--name-only", "--", ".", ":!.agentos") == ""


def test_rollback_commit_makes_the_inverse_commit(cli: Cli, repo: Path) -> None:
    start_tree = git(repo, "rev-parse", "HEAD^{tree}")
    plan(cli, repo, "p1", CHANGES)
    applied = run(cli, repo, "apply", "p1", "--commit")["result"]
    undone = run(cli, repo, "rollback", applied["execution_id"], "--commit")["result"]
    assert undone["status"] == "committed"
    assert undone["git"]["commit"] == git(repo, "rev-parse", "HEAD")
    assert git(repo, "rev-parse", "HEAD~1") == applied["git"]["commit"]
    assert git(repo, "rev-parse", "HEAD^{tree}") == start_tree
    body = git(repo, "log", "-1", "--format=%B")
    assert f"This reverts commit {applied['git']['commit']}." in body
    assert f"Agentos-Execution: {undone['execution_id']}" in trailers(repo)
    assert "d.txt => a.txt" in git(repo, "show", "--stat", "-M", "--format=", "HEAD")


def test_rollback_index_stages_the_inverse(cli: Cli, repo: Path) -> None:
    plan(cli, repo, "p1", CHANGES)
    applied = run(cli, repo, "apply", "p1", "--commit")["result"]
    undone = run(cli, repo, "rollback", applied["execution_id"], "--index")["result"]
    assert set(undone["git"]["staged"]) == TOUCHED
    assert git(repo, "rev-parse", "HEAD") == applied["git"]["commit"]
    assert git(repo, "write-tree") == git(repo, "rev-parse", "HEAD~1^{tree}")


def test_a_rerun_makes_no_new_commit_and_names_the_first(cli: Cli, repo: Path) -> None:
    plan(cli, repo, "p1", CHANGES)
    first = run(cli, repo, "apply", "p1", "--commit")["result"]
    again = run(cli, repo, "apply", "p1", "--commit")["result"]
    assert again["status"] == "already_applied"
    assert again["git"] == {
        "mode": "commit",
        "commit": first["git"]["commit"],
        "staged": [],
        "found": True,
        "error": None,
    }
    assert git(repo, "rev-parse", "HEAD") == first["git"]["commit"]
    assert len(git(repo, "log", "--format=%H").splitlines()) == 2
    human = cli("apply", "p1", "--commit", "-C", repo, *POLICY)
    assert f"git commit {first['git']['commit']} (made by an earlier run)" in human.out


def test_human_output_prints_the_commit_id(cli: Cli, repo: Path) -> None:
    plan(cli, repo, "p1", CHANGES)
    res = cli("apply", "p1", "--commit", "-C", repo, *POLICY)
    assert res.code == 0, res.err
    head = git(repo, "rev-parse", "HEAD")
    assert f"git commit {head} (5 path(s))" in res.out
    assert "--commit" in res.out.splitlines()[-1]  # the undo hint keeps recording in git


def test_not_a_git_work_tree_is_a_usage_error(
    cli: Cli, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(workspace.parent))
    write_tree(workspace, START)
    plan(cli, workspace, "p1", CHANGES)
    before = read_tree(workspace)
    for argv in (("apply", "p1", "--commit"), ("apply", "p1", "--index")):
        doc = run(cli, workspace, *argv, code=2)
        assert "is not in a git work tree" in doc["error"]["message"]
        assert "\n" not in doc["error"]["message"]
    assert read_tree(workspace) == before
    applied = run(cli, workspace, "apply", "p1")["result"]
    assert applied["git"] is None
    doc = run(cli, workspace, "rollback", applied["execution_id"], "--commit", code=2)
    assert "--commit: the workspace" in doc["error"]["message"]


def test_commit_and_index_together_are_a_usage_error(cli: Cli, repo: Path) -> None:
    plan(cli, repo, "p1", CHANGES)
    doc = run(cli, repo, "apply", "p1", "--commit", "--index", code=2)
    assert "--commit and --index" in doc["error"]["message"]


def test_a_path_git_ignores_is_committed_when_the_plan_names_it(cli: Cli, repo: Path) -> None:
    # The plan itself starts ignoring *.log and creates build.log: git add would refuse it
    # after the write; staged from the plan's bytes, the approved path is committed.
    plan(
        cli, repo, "p1",
        [
            {"op": "create", "path": ".gitignore", "content": "*.log\n"},
            {"op": "create", "path": "build.log", "content": "x\n"},
        ],
    )  # fmt: skip
    res = cli("apply", "p1", "--commit", "-C", repo, *POLICY, "--json")
    assert res.code == 0, res.out + res.err
    assert "git ignores (build.log)" in res.err
    assert git(repo, "show", "HEAD:build.log") == "x"
    assert git(repo, "show", "--name-only", "--format=", "HEAD").split() == [
        ".gitignore",
        "build.log",
    ]


def test_a_path_inside_a_submodule_is_refused_before_writing(cli: Cli, repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD")
    run_git(repo, "update-index", "--add", "--cacheinfo", f"160000,{head},sub")
    run_git(repo, "commit", "-q", "-m", "a submodule")
    (repo / "sub").mkdir()
    write_tree(repo / "nested", {"x.txt": "x\n"})
    run_git(repo / "nested", "init", "-q")  # a repository of its own, not a submodule
    for plan_id, target, holder in (("p1", "sub/new.txt", "sub"), ("p2", "nested/y.txt", "nested")):
        plan(cli, repo, plan_id, [{"op": "create", "path": target, "content": "n\n"}])
        before = read_tree(repo)
        for mode in ("--commit", "--index"):
            doc = run(cli, repo, "apply", plan_id, mode, code=2)
            message = doc["error"]["message"]
            assert f"{target} inside the git repository {holder}" in message
            assert "\n" not in message
            assert "nothing written" in message
            assert doc["error"]["details"]["submodule"] == [target]
        assert read_tree(repo) == before
        assert not (repo / target).exists()


def test_a_merge_in_progress_refuses_commit(cli: Cli, repo: Path) -> None:
    plan(cli, repo, "p1", CHANGES)
    git_dir = Path(git(repo, "rev-parse", "--absolute-git-dir"))
    (git_dir / "MERGE_HEAD").write_text(git(repo, "rev-parse", "HEAD") + "\n")
    doc = run(cli, repo, "apply", "p1", "--commit", code=2)
    assert "in the middle of a merge" in doc["error"]["message"]
    assert (repo / "a.txt").exists()


def test_an_unknown_committer_is_refused_before_writing(
    cli: Cli, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan(cli, repo, "p1", CHANGES)
    for key in ("GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):
        monkeypatch.delenv(key)
    run_git(repo, "config", "user.useConfigOnly", "true")
    monkeypatch.setenv("EMAIL", "")
    doc = run(cli, repo, "apply", "p1", "--commit", code=2)
    assert "git cannot name the committer" in doc["error"]["message"]
    assert (repo / "a.txt").exists()


def test_hooks_that_would_reject_the_commit_do_not_run(cli: Cli, repo: Path) -> None:
    hooks = Path(git(repo, "rev-parse", "--absolute-git-dir")) / "hooks"
    for name in ("pre-commit", "commit-msg"):
        write_tree(hooks, {name: ("#!/bin/sh\nexit 1\n", "100755")})
    plan(cli, repo, "p1", CHANGES)
    result = run(cli, repo, "apply", "p1", "--commit")["result"]
    assert result["git"]["commit"] == git(repo, "rev-parse", "HEAD")


def test_a_failed_commit_is_reported_and_a_rerun_makes_it(cli: Cli, repo: Path) -> None:
    # prepare-commit-msg runs even with --no-verify: here it fails the commit.
    hooks = Path(git(repo, "rev-parse", "--absolute-git-dir")) / "hooks"
    write_tree(hooks, {"prepare-commit-msg": ("#!/bin/sh\necho no >&2\nexit 1\n", "100755")})
    start = git(repo, "rev-parse", "HEAD")
    plan(cli, repo, "p1", CHANGES)
    doc = run(cli, repo, "apply", "p1", "--commit", code=1)
    result, error = doc["result"], doc["error"]
    assert result["status"] == "committed"  # agentos's own transaction did commit
    assert result["git"]["commit"] is None
    assert result["git"]["error"] == error["message"]
    assert error["type"] == "git_failed"
    assert error["details"]["execution_id"] == result["execution_id"]
    assert "its files are written and unstaged again" in error["message"]
    assert "run the same command again" in error["message"]
    # The files are written; git's index and HEAD are as they were.
    assert (repo / "d.txt").exists()
    assert not (repo / "a.txt").exists()
    assert git(repo, "rev-parse", "HEAD") == start
    assert git(repo, "diff", "--cached", "--name-only") == ""
    # Fixed, the same command again makes the commit (once).
    (hooks / "prepare-commit-msg").unlink()
    again = run(cli, repo, "apply", "p1", "--commit")["result"]
    assert again["status"] == "already_applied"
    assert again["git"]["found"] is False
    assert again["git"]["commit"] == git(repo, "rev-parse", "HEAD")
    assert git(repo, "rev-parse", "HEAD~1") == start
    assert f"Agentos-Execution: {result['execution_id']}" in trailers(repo)
    third = run(cli, repo, "apply", "p1", "--commit")["result"]
    assert (third["git"]["commit"], third["git"]["found"]) == (again["git"]["commit"], True)


def test_git_events_belong_to_their_attempt(cli: Cli, repo: Path) -> None:
    plan(cli, repo, "p1", CHANGES)
    first = run(cli, repo, "apply", "p1", "--commit")["result"]
    execution = first["execution_id"]
    run(cli, repo, "rollback", execution, "--commit")
    second = run(cli, repo, "apply", "p1", "--commit")["result"]
    assert second["attempt"] == 2
    timeline = run(cli, repo, "show", execution)["result"]["timeline"]
    committed = [(e["event"], e["attempt"]) for e in timeline if e["event"].startswith("git.")]
    assert committed == [("git.committed", 1), ("git.committed", 2)]
    events = [
        json.loads(line)
        for line in (repo / ".agentos" / "audit" / "audit.jsonl").read_text().splitlines()
    ]
    made = [e["data"]["commit"] for e in events if e["event"] == "git.committed"]
    assert first["git"]["commit"] in made
    assert second["git"]["commit"] in made


def test_a_workspace_in_a_subfolder_of_the_repository(
    cli: Cli, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sub = repo / "pkg"
    write_tree(sub, {"x.txt": "x\n"})
    run_git(repo, "add", "-A")
    run_git(repo, "commit", "-q", "-m", "pkg")
    monkeypatch.chdir(os.fspath(repo))
    plan(cli, sub, "p1", [{"op": "rename", "from": "x.txt", "path": "y.txt", "content": "x\n"}])
    result = run(cli, sub, "apply", "p1", "--commit")["result"]
    assert result["git"]["staged"] == ["x.txt", "y.txt"]
    assert "pkg/{x.txt => y.txt}" in git(repo, "show", "--stat", "-M", "--format=", "HEAD")


def test_uncommitted_changes_in_a_planned_file_are_named(cli: Cli, repo: Path) -> None:
    (repo / "keep.txt").write_text("edited, not committed\n")
    plan(cli, repo, "p1", [{"op": "modify", "path": "keep.txt", "content": "planned\n"}])
    res = cli("apply", "p1", "--commit", "-C", repo, *POLICY, "--json")
    assert res.code == 0, res.err
    assert "keep.txt held changes not committed to git" in res.err
    assert git(repo, "show", "HEAD:keep.txt") == "planned"


def test_staged_changes_hidden_from_porcelain_diff_still_refuse(cli: Cli, repo: Path) -> None:
    # diff.relative hides a change staged outside the workspace's folder from 'git diff
    # --cached'; a submodule with 'ignore = all' hides a staged gitlink bump.
    ws = repo / "ws"
    write_tree(repo, {"ws/w.txt": "w\n", "other/o.txt": "o\n"})
    head = git(repo, "rev-parse", "HEAD")
    (repo / ".gitmodules").write_text('[submodule "sub"]\n\tpath = sub\n\tignore = all\n')
    run_git(repo, "add", "-A")
    run_git(repo, "update-index", "--add", "--cacheinfo", f"160000,{head},sub")
    run_git(repo, "commit", "-q", "-m", "more")
    plan(cli, ws, "p1", [{"op": "modify", "path": "w.txt", "content": "planned\n"}])
    (repo / "other" / "o.txt").write_text("EVIL\n")
    run_git(repo, "add", "other/o.txt")
    run_git(repo, "config", "diff.relative", "true")
    doc = run(cli, ws, "apply", "p1", "--commit", code=2)
    assert doc["error"]["details"]["staged"] == ["other/o.txt"]
    run_git(repo, "reset", "-q")
    bumped = git(repo, "rev-parse", "HEAD")  # "more": sub names "start"
    run_git(repo, "update-index", "--cacheinfo", f"160000,{bumped},sub")
    doc = run(cli, ws, "apply", "p1", "--commit", code=2)
    assert doc["error"]["details"]["staged"] == ["sub"]
    assert (ws / "w.txt").read_text() == "w\n"
    assert git(repo, "log", "--format=%s") == "more\nstart"


def test_the_commit_holds_the_plan_and_leaves_git_status_clean(cli: Cli, repo: Path) -> None:
    plan(cli, repo, "p1", CHANGES)
    run(cli, repo, "apply", "p1", "--index")
    # Plumbing that does not refresh the index: its stat info was refreshed after staging.
    assert git(repo, "diff-files", "--name-only") == ""
    run_git(repo, "commit", "-q", "-m", "mine")
    run(cli, repo, "rollback", "--last", "--commit")
    assert git(repo, "diff-files", "--name-only") == ""
    assert git(repo, "diff-index", "--cached", "--name-only", "HEAD") == ""


def test_a_hook_that_stages_more_does_not_get_it_committed(cli: Cli, repo: Path) -> None:
    hooks = Path(git(repo, "rev-parse", "--absolute-git-dir")) / "hooks"
    hook = "#!/bin/sh\necho sneaked > keep.txt && git add keep.txt\n"
    write_tree(hooks, {"prepare-commit-msg": (hook, "100755")})
    plan(cli, repo, "p1", CHANGES)
    run(cli, repo, "apply", "p1", "--commit")
    committed = git(repo, "show", "--name-only", "--no-renames", "--format=", "HEAD")
    assert set(committed.split()) == TOUCHED
    assert git(repo, "diff", "--cached", "--name-only") == "keep.txt"


def test_the_undo_hint_after_index_works_and_none_after_a_git_failure(cli: Cli, repo: Path) -> None:
    plan(cli, repo, "p1", [{"op": "modify", "path": "keep.txt", "content": "planned\n"}])
    res = cli("apply", "p1", "--index", "-C", repo, *POLICY)
    assert res.code == 0, res.err
    hint = res.out.splitlines()[-1]
    assert hint.startswith("Undo it with: git restore --staged -- keep.txt && agentos rollback ")
    execution = hint.split()[-1]
    run_git(repo, "restore", "--staged", "--", "keep.txt")
    run(cli, repo, "rollback", execution)
    assert (repo / "keep.txt").read_text() == START["keep.txt"]
    assert git(repo, "status", "--porcelain", "--", ".", ":!.agentos") == ""
    # A failed commit: the error says how to undo it; no hint that would say otherwise.
    hooks = Path(git(repo, "rev-parse", "--absolute-git-dir")) / "hooks"
    write_tree(hooks, {"prepare-commit-msg": ("#!/bin/sh\nexit 1\n", "100755")})
    plan(cli, repo, "p2", [{"op": "modify", "path": "keep.txt", "content": "again\n"}])
    res = cli("apply", "p2", "--commit", "-C", repo, *POLICY)
    assert res.code == 1
    assert "Undo it with" not in res.out


def test_a_rerun_after_a_locked_index_gives_no_false_warning(cli: Cli, repo: Path) -> None:
    lock = Path(git(repo, "rev-parse", "--absolute-git-dir")) / "index.lock"
    plan(cli, repo, "p1", CHANGES)
    lock.write_text("")
    doc = run(cli, repo, "apply", "p1", "--commit", code=1)
    assert doc["error"]["type"] == "git_failed"
    lock.unlink()
    res = cli("apply", "p1", "--commit", "-C", repo, *POLICY, "--json")
    assert res.code == 0, res.out + res.err
    assert "held changes not committed" not in res.err
    assert git(repo, "show", "HEAD:d.txt") + "\n" == CHANGES[0]["content"]
