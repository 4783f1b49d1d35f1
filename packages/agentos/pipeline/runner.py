"""A queue worker's git: its own checkout, whose ``origin`` is the shared remote (SPEC §14).

Git is the data plane: the worker fetches the target branch, moves its checkout to it,
applies the job's plan with ``--commit`` semantics, and pushes; a push is the
compare-and-swap (rejected when someone else pushed first). A job is known to be on the
remote by its commit's ``Agentos-Plan`` and ``Agentos-Checksum`` trailers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from agentos.errors import UsageError
from agentos.gitrepo import GitRepo
from agentos.gitrun import GitRunner, run_git
from agentos.pipeline.gitcommit import CHECKSUM_TRAILER, PLAN_TRAILER

REMOTE = "origin"
OPTION = "worker"


class RunnerGitError(Exception):
    """A git step of a job failed: ``kind`` names it, ``retryable`` whether to try again."""

    def __init__(self, message: str, *, kind: str, retryable: bool) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.retryable = retryable


@dataclass(frozen=True)
class Checkout:
    """The worker's checkout: its repository and its current branch (None: detached)."""

    repo: GitRepo
    branch: str | None


def open_checkout(root: Path, runner: GitRunner = run_git) -> Checkout:
    """The worker's checkout at ``root``; a ``UsageError`` when it is no git work tree or
    has no ``origin``."""
    from agentos.gitrepo import open_repo

    repo = open_repo(root, runner, option=OPTION)
    if repo.run("remote", "get-url", REMOTE).returncode != 0:
        raise UsageError(
            f"worker: the checkout at {root} has no remote {REMOTE!r}: a worker runs in a clone "
            "of the shared repository (git clone URL DIR; agentos -C DIR worker)"
        )
    done = repo.run("symbolic-ref", "-q", "--short", "HEAD")
    branch = done.stdout.decode("utf-8", "replace").strip() if done.returncode == 0 else ""
    return Checkout(repo, branch or None)


def remote_ref(branch: str) -> str:
    return f"refs/remotes/{REMOTE}/{branch}"


def fetch(repo: GitRepo, branch: str) -> str:
    """Fetch ``branch`` from the remote; the commit it is at there."""
    done = repo.run("fetch", "-q", REMOTE, f"+refs/heads/{branch}:{remote_ref(branch)}")
    if done.returncode != 0:
        reason = done.reason()
        missing = "couldn't find remote ref" in reason or "could not find remote ref" in reason
        raise RunnerGitError(
            f"git fetch {REMOTE} {branch}: {reason}"
            + (f" (there is no branch {branch!r} on {REMOTE})" if missing else ""),
            kind="no_branch" if missing else "fetch_failed",
            retryable=not missing,
        )
    return _rev(repo, remote_ref(branch))


def _rev(repo: GitRepo, ref: str) -> str:
    done = repo.run("rev-parse", "--verify", "-q", f"{ref}^{{commit}}")
    if done.returncode != 0:
        raise RunnerGitError(f"git rev-parse {ref}: {done.reason()}", kind="git", retryable=True)
    return done.stdout.decode("ascii").strip()


def plan_commits(
    repo: GitRepo, ref: str, plan_id: str, checksum: str
) -> tuple[str | None, str | None]:
    """What ``ref`` holds of plan ``plan_id``, from one ``git log``: the newest commit with
    its trailers and this ``checksum`` (the plan landed), and the newest with its plan id
    but another checksum (the plan id applied with other changes, e.g. by ``apply
    --commit`` outside the queue); None for each that is not there."""
    done = repo.run(
        "log", "-z", "--format=%H%n%B", "--extended-regexp",
        f"--grep=^{PLAN_TRAILER}: {_literal(plan_id)}$", ref, "--",
    )  # fmt: skip
    if done.returncode != 0:
        raise RunnerGitError(f"git log {ref}: {done.reason()}", kind="git", retryable=True)
    mine = f"{CHECKSUM_TRAILER}: {checksum}"
    landed: str | None = None
    other: str | None = None
    for entry in done.stdout.decode("utf-8", "replace").split("\0"):
        commit, *lines = entry.strip("\n").split("\n")
        if not commit:
            continue
        if mine in lines:
            landed = landed or commit
        else:
            other = other or commit
    return landed, other


def _literal(text: str) -> str:
    """``text`` as an extended regular expression matching only itself."""
    return "".join(f"\\{ch}" if ch in ".[]()*+?{}|^$\\" else ch for ch in text)


def changed_paths(repo: GitRepo) -> list[str]:
    """Tracked paths whose content differs from HEAD (staged or not)."""
    done = repo.run("status", "--porcelain", "-z", "--untracked-files=no")
    if done.returncode != 0:
        raise RunnerGitError(f"git status: {done.reason()}", kind="git", retryable=True)
    return [entry[3:] for entry in done.paths() if len(entry) > 3]


def move_to(repo: GitRepo, branch: str) -> None:
    """Check out ``branch`` at the remote's commit (the worker's own commits that did not
    land are left behind)."""
    done = repo.run("checkout", "-q", "-B", branch, remote_ref(branch))
    if done.returncode != 0:
        raise RunnerGitError(
            f"git checkout {branch}: {done.reason()}", kind="checkout_failed", retryable=True
        )


def head(repo: GitRepo) -> str:
    return _rev(repo, "HEAD")


def push(repo: GitRepo, branch: str) -> str | None:
    """Push HEAD to ``branch``; None when it landed, else git's reason."""
    done = repo.run("push", "-q", "--porcelain", REMOTE, f"HEAD:refs/heads/{branch}")
    if done.returncode == 0:
        return None
    # --porcelain: "!<TAB>ref<TAB>[rejected] (why)"; the remote's own words on stderr.
    refused = [
        line.split("\t")[-1].strip()
        for line in done.stdout.decode("utf-8", "replace").splitlines()
        if line.startswith("!")
    ]
    remote = [
        line.split(":", 1)[1].strip()
        for line in done.stderr.decode("utf-8", "replace").splitlines()
        if line.startswith("remote:") and line.split(":", 1)[1].strip()
    ]
    said = "; ".join(refused + remote)
    return said or done.reason()


def drifted(repo: GitRepo, old: str, new: str, paths: list[str]) -> list[str]:
    """Which of ``paths`` changed between commits ``old`` and ``new``."""
    done = repo.run("diff", "--name-only", "-z", "--no-renames", old, new, "--", *paths)
    if done.returncode != 0:
        raise RunnerGitError(f"git diff: {done.reason()}", kind="git", retryable=True)
    return done.paths()


def rebase_onto(repo: GitRepo, base: str, onto: str) -> None:
    """Move the commits after ``base`` onto ``onto`` (aborted and raised when it fails)."""
    done = repo.run("rebase", "-q", "--onto", onto, base)
    if done.returncode != 0:
        repo.run("rebase", "--abort")
        raise RunnerGitError(
            f"git rebase onto {onto[:12]}: {done.reason()}", kind="rebase_failed", retryable=True
        )


def refuse_changes(changed: list[str], root: Path) -> None:
    """A ``UsageError`` (the worker stops) when the checkout holds changes not committed."""
    if changed:
        from agentos.gitrepo import named

        raise UsageError(
            f"worker: the checkout at {root} has changes not committed ({named(changed)}); a "
            "worker's checkout is its own — commit or discard them (git stash), then start "
            "the worker again",
            details={"changed": changed},
        )


def unpushed_ref(execution_id: str) -> str:
    """Where a worker keeps its commit of ``execution_id`` that did not land (yet)."""
    return f"refs/agentos/unpushed/{execution_id}"


def keep_unpushed(repo: GitRepo, execution_id: str, commit: str) -> None:
    """Remember the commit of an attempt that did not land: the next attempt on this
    checkout lands that commit (the workspace recorded the plan as applied)."""
    repo.run("update-ref", unpushed_ref(execution_id), commit)


def unpushed(repo: GitRepo, execution_id: str) -> str | None:
    done = repo.run("rev-parse", "--verify", "-q", f"{unpushed_ref(execution_id)}^{{commit}}")
    return done.stdout.decode("ascii").strip() or None if done.returncode == 0 else None


APPLYING = "refs/agentos/applying/"


def mark_applying(repo: GitRepo, execution_id: str, attempt: int) -> None:
    """Note in git that ``attempt`` of ``execution_id`` is being applied here (cleared once
    git committed it, or it was undone): what a worker killed in between leaves behind."""
    repo.run("update-ref", f"{APPLYING}{execution_id}.{attempt}", "HEAD")


def clear_applying(repo: GitRepo, execution_id: str, attempt: int) -> None:
    repo.run("update-ref", "-d", f"{APPLYING}{execution_id}.{attempt}")


def applying(repo: GitRepo) -> list[tuple[str, int]]:
    """The attempts of executions marked as being applied here."""
    done = repo.run("for-each-ref", "--format=%(refname)", APPLYING)
    names = done.stdout.decode("ascii", "replace").split() if done.returncode == 0 else []
    marks = []
    for name in names:
        execution_id, _, attempt = name[len(APPLYING) :].rpartition(".")
        if execution_id and attempt.isdigit():
            marks.append((execution_id, int(attempt)))
    return marks


def forget_unpushed(repo: GitRepo, execution_id: str) -> None:
    repo.run("update-ref", "-d", unpushed_ref(execution_id))


def pick(repo: GitRepo, commit: str) -> None:
    """Put ``commit`` (message, trailers and author kept) on top of HEAD."""
    done = repo.run("cherry-pick", "--allow-empty", commit)
    if done.returncode != 0:
        repo.run("cherry-pick", "--abort")
        raise RunnerGitError(
            f"git cherry-pick {commit[:12]}: {done.reason()}", kind="pick_failed", retryable=True
        )
