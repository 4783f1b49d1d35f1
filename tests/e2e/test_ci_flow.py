"""The CI flow end to end, through the installed ``agentos`` and real git (docs/ci.md): a pull
request is planned from git where CI checks it out, the plan file travels as an artifact, is
approved in another place (another clone, another workspace key) with ``approve -o``, and is
applied by the CI job on ``main`` with ``--approval FILE --commit``, then pushed to a bare
remote. The commit carries the agentos trailers and records the rename as a rename; a re-run
of the job changes nothing; a push to ``main`` in between makes the apply stale when it
touches a planned file, and otherwise lets it through on the new base, saying so.

Every place has its own workspace key directory (``AGENTOS_KEY_DIR``), as separate CI runners
and the reviewer's machine would.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from cirepos import (
    HELPERS,
    PLANNED,
    TITLE,
    Project,
    clone,
    git,
    git_code,
    make_project,
    push_to_main,
)
from helpers import Run, agentos, needs_agentos, needs_git

pytestmark = [needs_agentos, needs_git, pytest.mark.git]


@dataclass(frozen=True)
class Place:
    """A checkout where agentos runs, with a workspace key directory of its own."""

    path: Path
    keys: Path

    def agentos(self, *args: str | Path) -> Run:
        return agentos(*args, cwd=self.path, AGENTOS_KEY_DIR=str(self.keys))

    def git(self, *args: str) -> str:
        return git(self.path, *args)


def place(project: Project, root: Path, name: str) -> Place:
    return Place(clone(project.remote, root / name), root / f"keys-{name}")


def plan_job(project: Project, root: Path, artifacts: Path, name: str = "ci-plan") -> Run:
    """The pull request's plan job: check out the pull request's head and plan what it
    changes against main (from their merge base); the plan file is the artifact."""
    ci = place(project, root, name)
    ci.git("checkout", "-q", "--detach", project.feature)
    artifacts.mkdir(exist_ok=True)
    return ci.agentos(
        "plan", "--git", "origin/main...HEAD", "--author", "alice", "--intent", TITLE,
        "-o", artifacts / "plan.json",
    )  # fmt: skip


def approve_elsewhere(project: Project, root: Path, artifacts: Path) -> Run:
    """The reviewer approves the artifact in a checkout of main of their own."""
    reviewer = place(project, root, "review")
    return reviewer.agentos(
        "approve", artifacts / "plan.json", "--by", "bob", "-o", artifacts / "approval.json"
    )


def apply_job(ci: Place, artifacts: Path) -> Run:
    """The apply job: main checked out, the plan and its approval presented, one commit."""
    return ci.agentos(
        "apply", artifacts / "plan.json", "--approval", artifacts / "approval.json", "--commit"
    )


def remote_git(project: Project, *args: str) -> str:
    return git(project.remote, *args)


@pytest.fixture
def planned(tmp_path: Path) -> tuple[Project, Path]:
    """A project whose pull request is planned and approved: (project, artifacts folder)."""
    project = make_project(tmp_path)
    artifacts = tmp_path / "artifacts"
    run = plan_job(project, tmp_path, artifacts)
    assert run.code == 4, run.doc  # NEED_APPROVAL: it changes src/security/
    approved = approve_elsewhere(project, tmp_path, artifacts)
    assert approved.code == 0, approved.doc
    return project, artifacts


def test_planned_approved_elsewhere_applied_as_a_commit_pushed_and_rerun(
    tmp_path: Path, planned: tuple[Project, Path]
) -> None:
    project, artifacts = planned
    plan = json.loads((artifacts / "plan.json").read_text())
    assert plan["base"]["commit"] == project.main
    assert plan["base"]["pre_images"] == "commit"
    approval = json.loads((artifacts / "approval.json").read_text())
    assert approval["approver"] == "bob"
    # The reviewer's workspace is not the CI job's: another id, another key.
    review_id = (tmp_path / "review" / ".agentos" / "workspace.id").read_text()
    assert not (tmp_path / "keys-ci-apply").exists()

    ci = place(project, tmp_path, "ci-apply")
    checked = ci.agentos(
        "check", artifacts / "plan.json", "--approval", artifacts / "approval.json"
    )
    assert checked.code == 0, checked.doc
    assert checked.result["verdict"] == "APPROVED"
    assert checked.result["approvals"]["approvers"] == ["bob"]
    digest = checked.result["policy"]["digest"]
    assert digest == approval["policy_digest"]

    applied = apply_job(ci, artifacts)
    assert applied.code == 0, applied.doc
    result = applied.result
    assert result["status"] == "committed"
    assert result["warnings"] == []  # main has not moved: the workspace is at the plan's base
    assert result["policy"] == {
        "source": str(ci.path / "agent" / "policies" / "default.yaml"),
        "digest": digest,
        "override": False,
    }
    assert (ci.path / ".agentos" / "workspace.id").read_text() != review_id
    commit = result["git"]["commit"]
    assert commit == ci.git("rev-parse", "HEAD")
    assert result["git"]["staged"] == sorted(PLANNED)
    assert ci.git("status", "--porcelain", "--untracked-files=no") == ""
    ci.git("push", "-q", "origin", "HEAD:main")

    assert remote_git(project, "rev-parse", "main") == commit
    assert remote_git(project, "rev-parse", "main^") == project.main
    # Exactly the pull request's tree: the plan, applied to its base, gives the head.
    assert remote_git(project, "rev-parse", "main^{tree}") == remote_git(
        project, "rev-parse", "feature^{tree}"
    )
    trailers = remote_git(project, "log", "-1", "--format=%(trailers:only)", "main")
    assert trailers.splitlines() == [
        f"Agentos-Plan: {plan['plan_id']}",
        f"Agentos-Execution: {result['execution_id']}",
        f"Agentos-Checksum: {plan['changeset']['checksum']}",
        "Agentos-Approved-By: bob",
    ]
    assert remote_git(project, "log", "-1", "--format=%s", "main") == TITLE
    assert remote_git(project, "log", "-1", "--format=%an <%ae>", "main") == (
        "alice <alice@agentos.invalid>"
    )
    stat = remote_git(project, "show", "--stat", "-M", "--format=", "main")
    assert "src/{util.py => helpers.py}" in stat
    assert "3 files changed" in stat
    assert remote_git(project, "show", "main:src/helpers.py") + "\n" == HELPERS

    # The job run again where it ran: already applied, the same commit, nothing new.
    again = apply_job(ci, artifacts)
    assert again.code == 0, again.doc
    assert again.result["status"] == "already_applied"
    assert again.result["git"] == {
        "mode": "commit", "commit": commit, "staged": [], "found": True, "error": None,
    }  # fmt: skip
    assert ci.git("rev-parse", "HEAD") == commit

    # Re-run on a fresh runner: a new checkout of main, a new workspace key.
    rerun = place(project, tmp_path, "ci-rerun")
    replay = apply_job(rerun, artifacts)
    assert replay.code == 0, replay.doc
    assert replay.result["status"] == "already_applied"
    assert replay.result["git"]["commit"] == commit
    assert replay.result["git"]["found"] is True
    assert rerun.git("rev-parse", "HEAD") == commit
    rerun.git("push", "-q", "origin", "HEAD:main")  # nothing to push
    assert remote_git(project, "rev-parse", "main") == commit
    assert remote_git(project, "rev-list", "--count", "main") == "2"


@pytest.mark.file_store(
    "a second checkout applies a plan another already committed; with a shared store that "
    "commit counts (already_applied) — the queue lands it (docs/scale.md)"
)
def test_a_push_to_main_touching_a_planned_file_makes_the_apply_stale(
    tmp_path: Path, planned: tuple[Project, Path]
) -> None:
    project, artifacts = planned
    ci = place(project, tmp_path, "ci-apply")  # the job checked out main before the push
    theirs = push_to_main(
        project, tmp_path, {"src/main.py": "from src.util import add\n\nprint(add(2, 2))\n"},
        "Print another sum",
    )  # fmt: skip
    applied = apply_job(ci, artifacts)
    assert applied.code == 0, applied.doc
    assert git_code(ci.path, "push", "-q", "origin", "HEAD:main") != 0  # rejected: main moved
    assert remote_git(project, "rev-parse", "main") == theirs

    # The job re-run on a fresh checkout of the new main: stale, nothing written, no commit.
    rerun = place(project, tmp_path, "ci-rerun")
    stale = apply_job(rerun, artifacts)
    assert stale.code == 5, stale.doc
    assert stale.result["status"] == "stale"
    assert stale.doc["error"]["type"] == "stale"
    assert any(d.startswith("src/main.py") for d in stale.result["drifted"])
    assert stale.result["git"]["commit"] is None
    assert any(project.main in w and theirs in w for w in stale.result["warnings"])
    assert rerun.git("rev-parse", "HEAD") == theirs
    assert rerun.git("status", "--porcelain", "--untracked-files=no") == ""

    # Planned again from the unchanged pull request (its merge base is the old main): still
    # stale where main is now, so the pull request has to take main's change first.
    replanned = plan_job(project, tmp_path, tmp_path / "artifacts-2", "ci-plan-2")
    assert replanned.code == 4, replanned.doc
    checked = rerun.agentos("check", tmp_path / "artifacts-2" / "plan.json")
    assert checked.code == 5, checked.doc
    assert checked.result["stale"] is True


def test_a_push_to_main_touching_other_files_lets_the_apply_through_on_the_new_base(
    tmp_path: Path, planned: tuple[Project, Path]
) -> None:
    project, artifacts = planned
    theirs = push_to_main(project, tmp_path, {"docs/notes.md": "# Notes\n\nMore.\n"}, "Notes")
    ci = place(project, tmp_path, "ci-apply")
    applied = apply_job(ci, artifacts)
    assert applied.code == 0, applied.doc
    assert applied.result["status"] == "committed"
    [warning] = applied.result["warnings"]
    assert warning.startswith(
        f"the workspace is at commit {theirs}, not at the plan's base {project.main}; every "
        "file the plan touches holds its pinned pre-image, so it was applied"
    )
    ci.git("push", "-q", "origin", "HEAD:main")
    commit = applied.result["git"]["commit"]
    assert remote_git(project, "rev-parse", "main") == commit
    assert remote_git(project, "rev-parse", "main^") == theirs
    assert remote_git(project, "show", "main:docs/notes.md") == "# Notes\n\nMore."
    stat = remote_git(project, "show", "--stat", "-M", "--format=", "main")
    assert "src/{util.py => helpers.py}" in stat
    assert "docs/notes.md" not in stat
