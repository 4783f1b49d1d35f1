"""``agentos.pipeline.gitcommit`` as a library: the commit's author and message, and the git
runner a caller injects (a failure it reports after the files were written)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from agentos import pipeline
from agentos.errors import UsageError
from agentos.gitrun import GitOutput, run_git
from agentos.model import ChangePlan
from agentos.pipeline.gitcommit import GitRequest, commit_author, commit_message
from helpers import PERMISSIVE_POLICY, FakeGit, needs_git, read_tree, write_tree
from helpers import run_git as git


def planned(ws: Path, *, author: str = "alice", intent: str = "") -> ChangePlan:
    ctx = pipeline.open_context(ws, policy=PERMISSIVE_POLICY, actor="tester")
    data = json.dumps({"changes": [{"op": "modify", "path": "a.txt", "content": "b\n"}]})
    request = pipeline.PlanRequest(
        inputs=(pipeline.PlanInput(name="m.json", data=data.encode(), format="manifest"),),
        author=author,
        intent=intent,
        plan_id="p1",
    )
    return pipeline.plan(ctx, request).plan


@pytest.fixture
def ws(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(workspace.parent))
    write_tree(workspace, {"a.txt": "a\n"})
    return workspace


@pytest.mark.parametrize(
    ("author", "name", "email"),
    [
        ("Alice Example <alice@example.com>", "Alice Example", "alice@example.com"),
        ("  Bob <bob@example.org>  ", "Bob", "bob@example.org"),
        ("alice", "alice", "alice@agentos.invalid"),
        ("Build Bot", "Build Bot", "build-bot@agentos.invalid"),
        ("carol@example.com", "carol@example.com", "carol@example.com"),
        ("<nobody@example.com>", "nobody@example.com", "nobody@example.com"),
        ("Zoë Ünal", "Zoë Ünal", "zo-nal@agentos.invalid"),
    ],
)
def test_commit_author(ws: Path, author: str, name: str, email: str) -> None:
    found = commit_author(planned(ws, author=author))
    assert (found.name, found.email) == (name, email)
    assert found.date.startswith("@")
    assert found.date.endswith(" +0000")


def test_commit_message_default_subject_and_trailers(ws: Path) -> None:
    plan = planned(ws)
    ctx = pipeline.open_context(ws, policy=PERMISSIVE_POLICY, actor="tester")
    [result] = pipeline.apply(ctx, [plan]).results
    message = commit_message(plan, result, ("bob", "carol"), reverts=None)
    assert message == (
        "agentos: apply plan p1\n\n"
        "Agentos-Plan: p1\n"
        f"Agentos-Execution: {result.execution_id}\n"
        f"Agentos-Checksum: {plan.changeset.checksum}\n"
        "Agentos-Approved-By: bob\n"
        "Agentos-Approved-By: carol\n"
    )


def test_commit_message_keeps_an_intent_of_several_lines(ws: Path) -> None:
    plan = planned(ws, intent="#12: fix it\n\nBecause.")
    ctx = pipeline.open_context(ws, policy=PERMISSIVE_POLICY, actor="tester")
    [result] = pipeline.apply(ctx, [plan]).results
    message = commit_message(plan, result, (), reverts="abc123")
    assert message.startswith("#12: fix it\n\nBecause.\n\nThis reverts commit abc123.\n\n")


@needs_git
def test_the_injected_runner_runs_git_and_its_failure_is_in_the_record(ws: Path) -> None:
    git(ws, "init", "-q")
    git(ws, "add", "-A")
    git(ws, "commit", "-q", "-m", "start")
    plan = planned(ws)
    runner = FakeGit({"commit": GitOutput(1, b"", b"fatal: the disk is full\n")}, fallback=run_git)
    calls = runner.calls

    ctx = pipeline.open_context(ws, policy=PERMISSIVE_POLICY, actor="tester")
    applied = pipeline.apply(ctx, [plan], git=GitRequest("commit", runner=runner))
    [recorded] = applied.git
    assert applied.last.status == "committed"
    assert not applied.ok
    assert applied.git_error is recorded
    assert recorded.commit is None
    assert recorded.error is not None
    assert "git commit: the disk is full" in recorded.error
    assert read_tree(ws)["a.txt"] == (b"b\n", "100644")
    # Staged from the plan's bytes, then given back their HEAD entries when the commit failed.
    assert ("hash-object", "-w", "--stdin", "--path=a.txt") in calls
    assert ("update-index", "-z", "--add", "--index-info") in calls
    assert calls[-1][0] == "reset"
    assert git(ws, "diff", "--cached", "--name-only") == b""
    trail = (ws / ".agentos" / "audit" / "audit.jsonl").read_text().splitlines()
    failed: list[dict[str, Any]] = [json.loads(x) for x in trail if '"git.failed"' in x]
    assert failed[0]["data"]["error"] == "git commit: the disk is full"


def test_git_not_installed_is_a_usage_error(ws: Path) -> None:
    plan = planned(ws)

    def missing(args: Sequence[str], **_: object) -> GitOutput:
        raise FileNotFoundError("git")

    ctx = pipeline.open_context(ws, policy=PERMISSIVE_POLICY, actor="tester")
    with pytest.raises(UsageError, match="git is not installed"):
        pipeline.apply(ctx, [plan], git=GitRequest("index", runner=missing))
    assert read_tree(ws)["a.txt"] == (b"a\n", "100644")


@needs_git
def test_a_file_rewritten_after_the_write_is_not_what_gets_committed(ws: Path) -> None:
    git(ws, "init", "-q")
    git(ws, "add", "-A")
    git(ws, "commit", "-q", "-m", "start")
    plan = planned(ws)
    rewritten: list[str] = []

    def concurrent(args: Sequence[str], **kw: Any) -> GitOutput:
        # Another writer rewrites the file between the executor's write and git's staging.
        if args[0] in ("add", "hash-object", "update-index") and not rewritten:
            (ws / "a.txt").write_text("UNAPPROVED\n")
            rewritten.append(args[0])
        return run_git(args, **kw)

    ctx = pipeline.open_context(ws, policy=PERMISSIVE_POLICY, actor="tester")
    applied = pipeline.apply(ctx, [plan], git=GitRequest("commit", runner=concurrent))
    assert applied.ok, applied.git_error
    assert rewritten
    assert git(ws, "show", "HEAD:a.txt") == b"b\n"


@needs_git
def test_something_else_staged_before_the_commit_is_refused(ws: Path) -> None:
    write_tree(ws, {"other.txt": "o\n"})
    git(ws, "init", "-q")
    git(ws, "add", "-A")
    git(ws, "commit", "-q", "-m", "start")
    start = git(ws, "rev-parse", "HEAD")
    plan = planned(ws)

    def concurrent(args: Sequence[str], **kw: Any) -> GitOutput:
        done = run_git(args, **kw)
        # Another git stages a file of its own after agentos staged the plan's.
        if args[0] in ("add", "update-index") and "--refresh" not in args:
            (ws / "other.txt").write_text("EVIL\n")
            run_git(["add", "other.txt"], cwd=ws)
        return done

    ctx = pipeline.open_context(ws, policy=PERMISSIVE_POLICY, actor="tester")
    applied = pipeline.apply(ctx, [plan], git=GitRequest("commit", runner=concurrent))
    [recorded] = applied.git
    assert recorded.error is not None
    assert "other.txt" in recorded.error
    assert "not exactly the plan's" in recorded.error
    assert git(ws, "rev-parse", "HEAD") == start
    assert git(ws, "diff", "--cached", "--name-only") == b"other.txt\n"


@needs_git
def test_a_commit_that_holds_more_than_the_plan_is_withdrawn(ws: Path) -> None:
    write_tree(ws, {"other.txt": "o\n"})
    git(ws, "init", "-q")
    git(ws, "add", "-A")
    git(ws, "commit", "-q", "-m", "start")
    start = git(ws, "rev-parse", "HEAD")
    plan = planned(ws)

    def sneaky(args: Sequence[str], **kw: Any) -> GitOutput:
        # Something stages a file of its own while git commit runs (as a pre-commit hook
        # could): the commit git makes holds more than the plan.
        if args[0] == "commit":
            (ws / "other.txt").write_text("EVIL\n")
            run_git(["add", "other.txt"], cwd=ws)
        return run_git(args, **kw)

    ctx = pipeline.open_context(ws, policy=PERMISSIVE_POLICY, actor="tester")
    applied = pipeline.apply(ctx, [plan], git=GitRequest("commit", runner=sneaky))
    [recorded] = applied.git
    assert recorded.error is not None
    assert "HEAD moved back" in recorded.error
    assert recorded.commit is None
    assert git(ws, "rev-parse", "HEAD") == start
    assert git(ws, "diff", "--cached", "--name-only") == b"other.txt\n"
    assert read_tree(ws)["a.txt"] == (b"b\n", "100644")
