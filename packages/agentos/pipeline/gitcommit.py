"""Applies recorded in git: ``apply --commit`` / ``--index`` and ``rollback`` likewise.

Before anything is written (``open_session``, ``admit``): the workspace must be in a git
work tree whose index holds no staged change against HEAD (read with plumbing from the top,
so neither ``diff.relative`` nor a submodule's ``ignore`` hides one), with ``--commit`` no
merge, cherry-pick or revert waiting for its commit and a committer git can name, and no
path of the plan may lie in a submodule (or a repository of its own). After the executor's
commit point (``record``): the plan's paths — both of a rename, so git sees the rename — are
staged from the plan's own bytes and modes (never from what the files hold by then), the
index's tree is checked to hold exactly them (and, for a commit, nothing else that differs
from HEAD) and, with ``--commit``, committed as one commit whose message is the plan's
intent followed by ``Agentos-*`` trailers, authored by the plan's author; a commit that
turns out to hold anything else is withdrawn. The executor never learns of git; a replay
(``already_applied``) commits nothing new and names the commit an earlier run made, found by
its ``Agentos-Execution`` trailer.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from agentos.errors import UsageError
from agentos.gitrepo import GitFailed, named
from agentos.gitrun import GitRunner, run_git
from agentos.pipeline.results import GitRecorded

if TYPE_CHECKING:
    from pathlib import Path

    from agentos.executor.options import ApplyResult
    from agentos.gitrepo import Author, Entry, GitRepo
    from agentos.model import ChangePlan, FileChange
    from agentos.pipeline.context import Context

GitMode = Literal["commit", "index"]
PLAN_TRAILER = "Agentos-Plan"
EXECUTION_TRAILER = "Agentos-Execution"
CHECKSUM_TRAILER = "Agentos-Checksum"
APPROVER_TRAILER = "Agentos-Approved-By"
# The email of an author named without one ("alice" commits as alice <alice@agentos.invalid>):
# a reserved domain (RFC 2606) that no mail can reach, so nobody is impersonated.
FALLBACK_DOMAIN = "agentos.invalid"
_NAME_EMAIL = re.compile(r"\s*([^<>]*?)\s*<([^<>\s]+)>\s*")


@dataclass(frozen=True)
class GitRequest:
    """Record each transaction in git: ``commit`` (one commit per plan) or ``index`` (only
    stage the plan's paths); ``runner`` runs git (tests inject one)."""

    mode: GitMode
    runner: GitRunner = run_git

    @property
    def option(self) -> str:
        """The command-line option that asked for it."""
        return f"--{self.mode}"


@dataclass
class GitSession:
    """The work tree checked before anything was written, and what this run staged."""

    request: GitRequest
    repo: GitRepo
    # Paths this run staged (with --index, a later plan of the same run may find them).
    ours: set[str] = field(default_factory=set)

    def untouched(self, notes: tuple[str, ...] = ()) -> GitRecorded:
        """The record of a transaction that left git as it was."""
        return GitRecorded(mode=self.request.mode, warnings=notes)

    def admit(self, plan: ChangePlan) -> tuple[str, ...]:
        """``admit(self, plan)``."""
        return admit(self, plan)

    def record(
        self,
        ctx: Context,
        plan: ChangePlan,
        result: ApplyResult,
        *,
        approvers: Sequence[str],
        notes: tuple[str, ...] = (),
    ) -> GitRecorded:
        """``record(ctx, self, ...)``."""
        return record(ctx, self, plan, result, approvers=approvers, notes=notes)


def open_session(ctx: Context, request: GitRequest) -> GitSession:
    """The workspace's git work tree, checked as ``request`` needs it; a ``UsageError``
    (nothing written) when it is no work tree, its index holds staged changes, or (for a
    commit) git waits to conclude an operation or cannot name a committer."""
    from agentos.gitrepo import committer_problem, open_repo, pending_operation, staged_changes

    option = request.option
    repo = open_repo(ctx.workspace.root, request.runner, option=option)
    staged = staged_changes(repo)
    if staged:
        raise UsageError(
            f"{option}: git's index holds staged changes ({named(staged)}) that would be "
            f"{'committed' if request.mode == 'commit' else 'mixed'} with the plan's; commit "
            "them, or unstage them with 'git restore --staged <path>', then run again; "
            "nothing written",
            details={"staged": staged},
        )
    if request.mode == "commit":
        pending = pending_operation(repo)
        if pending is not None:
            raise UsageError(
                f"--commit: git is in the middle of {pending}; conclude or abort it first, "
                "then run again; nothing written"
            )
        problem = committer_problem(repo)
        if problem is not None:
            raise UsageError(
                f"--commit: git cannot name the committer ({problem}); set user.name and "
                "user.email (or GIT_COMMITTER_NAME / GIT_COMMITTER_EMAIL), then run again; "
                "nothing written"
            )
    return GitSession(request=request, repo=repo)


def admit(session: GitSession, plan: ChangePlan) -> tuple[str, ...]:
    """Refuse ``plan`` (``UsageError``, nothing written) when it writes inside a repository
    of its own (a submodule: git could not record the file here); else the warnings to give
    with its record: the paths git ignores (staged all the same: the plan names them) and,
    for a commit, the paths whose files held changes not committed to git."""
    from agentos.gitrepo import nested_repositories, unclean_paths

    repo, option = session.repo, session.request.option
    changes = plan.changeset.changes
    inside = nested_repositories(repo, [repo.full(p) for p in touched_paths(plan)])
    if inside:
        where = [
            f"{repo.local(p)} inside the git repository {repo.local(f)}" for p, f in inside.items()
        ]
        raise UsageError(
            f"{option}: plan {plan.plan_id} writes {named(where)} (a submodule, or a "
            "repository of its own): git records it as a commit of that repository, not its "
            f"files; apply the plan there, or run without {option}; nothing written",
            details={"submodule": [repo.local(p) for p in inside]},
        )
    if session.request.mode != "commit":
        return ()
    root = session.repo.git.root
    before = [c for c in changes if c.op != "create" and not _already_done(root, repo, c)]
    names = [repo.full(c.from_path if c.op == "rename" else c.path) for c in before]
    unclean = [repo.local(p) for p in unclean_paths(repo, names)]
    unclean = [p for p in unclean if p not in session.ours]
    if not unclean:
        return ()
    return (
        f"plan {plan.plan_id}: {named(unclean)} held changes not committed to git; the commit "
        "records them together with the plan's",
    )


def _already_done(top: Path, repo: GitRepo, change: FileChange) -> bool:
    """Whether the file ``change`` acts on already holds what the plan makes of it (a
    re-run): its changes then are the plan's own, not changes held before."""
    from agentos.digest import sha256_hex

    if change.op == "create":
        return False
    path = top / repo.full(change.from_path if change.op == "rename" else change.path)
    if change.op != "modify":  # a delete or a rename: the file is gone
        return not os.path.lexists(path)
    try:
        return sha256_hex(path.read_bytes()) == change.sha256
    except OSError:
        return False


def record(
    ctx: Context,
    session: GitSession,
    plan: ChangePlan,
    result: ApplyResult,
    *,
    approvers: Sequence[str],
    notes: tuple[str, ...] = (),
) -> GitRecorded:
    """Stage (and commit) what ``result`` wrote; for a replay, name the earlier commit, or
    make the one an earlier run could not make. Nothing for a transaction that wrote
    nothing. A git failure here is in the record (``error``), never raised: the files are
    written whatever git says."""
    from agentos.gitrepo import find_commit

    if result.status == "already_applied":
        earlier = find_commit(session.repo, EXECUTION_TRAILER, result.execution_id)
        if earlier is not None:
            return GitRecorded(session.request.mode, commit=earlier, found=True, warnings=notes)
        if result.changed_since:
            why = (
                f"plan {plan.plan_id} is already applied, but {named(result.changed_since)} "
                "changed since: not staged"
            )
            return session.untouched((*notes, why))
    elif result.status != "committed":
        return session.untouched(notes)
    return _stage_and_commit(ctx, session, plan, result, approvers=approvers, notes=notes)


def _stage_and_commit(
    ctx: Context,
    session: GitSession,
    plan: ChangePlan,
    result: ApplyResult,
    *,
    approvers: Sequence[str],
    notes: tuple[str, ...],
) -> GitRecorded:
    from agentos.gitrepo import commit, find_commit, head_commit, stage_blobs, unstage

    repo, mode = session.repo, session.request.mode
    wanted = post_images(plan)
    paths = [repo.full(p) for p in wanted]
    notes = (*notes, *_ignored(session, plan, wanted))
    try:
        parent = head_commit(repo)
        expected = stage_blobs(repo, {repo.full(p): post for p, post in wanted.items()})
        tree, staged = _verified(session, expected)
    except GitFailed as failed:
        left = unstage(repo, paths)
        return _failed(ctx, session, result, f"{failed}", left=left, notes=notes)
    session.ours.update(staged)
    if mode == "index" or not staged:
        if staged:
            _audit(ctx, "git.staged", result, {"mode": mode, "staged": staged})
        return GitRecorded(mode, staged=tuple(staged), warnings=notes)
    reverts = None
    if result.kind == "rollback" and result.parent:
        reverts = find_commit(repo, EXECUTION_TRAILER, result.parent)
    message = commit_message(plan, result, approvers, reverts=reverts)
    try:
        made = commit(repo, message, commit_author(plan))
        _check_commit(repo, made, parent=parent, tree=tree)
    except GitFailed as failed:
        left = unstage(repo, paths)
        return _failed(ctx, session, result, f"{failed}", left=left, notes=notes)
    _audit(ctx, "git.committed", result, {"mode": mode, "commit": made, "staged": staged})
    return GitRecorded(mode, commit=made, staged=tuple(staged), warnings=notes)


def _ignored(
    session: GitSession, plan: ChangePlan, wanted: dict[str, tuple[str, bytes] | None]
) -> tuple[str, ...]:
    """The warning that names the plan's paths git ignores (and does not track yet), which
    are staged all the same: the approved plan names them."""
    from agentos.gitrepo import ignored_paths

    repo = session.repo
    written = [repo.full(p) for p, post in wanted.items() if post is not None]
    ignored = [repo.local(p) for p in ignored_paths(repo, written)]
    if not ignored:
        return ()
    return (
        f"plan {plan.plan_id} writes paths git ignores ({named(ignored)}): staged all the "
        "same, as the plan names them",
    )


def _verified(session: GitSession, expected: dict[str, Entry]) -> tuple[str, list[str]]:
    """The tree the index holds, checked against HEAD: the plan's paths hold exactly the
    ``expected`` entries and (for a commit) no other path differs; and the plan's paths
    (workspace-relative, sorted) that differ from HEAD. ``GitFailed`` naming what is not
    the plan's otherwise (another git, a hook, changed the index meanwhile)."""
    from agentos.gitrepo import head_tree, tree_changes, tree_entries, write_tree

    repo = session.repo
    tree = write_tree(repo)
    held = tree_entries(repo, tree, list(expected))
    changed = tree_changes(repo, head_tree(repo), tree)
    wrong = [p for p, entry in held.items() if entry != expected[p]]
    if session.request.mode == "commit":
        wrong += [p for p in changed if p not in expected]
    if wrong:
        raise GitFailed(
            f"git's index holds what is not exactly the plan's ({named(wrong)}): another "
            "git command changed it meanwhile; nothing committed"
        )
    return tree, sorted(repo.local(p) for p in changed if p in expected)


def _check_commit(repo: GitRepo, made: str, *, parent: str | None, tree: str) -> None:
    """``GitFailed`` when the commit ``made`` is not the verified ``tree`` on ``parent`` (a
    hook changed the index meanwhile); HEAD is moved back to ``parent`` first."""
    from agentos.gitrepo import move_head_back

    got = repo.must("rev-parse", f"{made}^{{tree}}").decode("ascii").strip()
    if got == tree:
        return
    left = move_head_back(repo, made, parent)
    back = "HEAD moved back" if left is None else f"HEAD not moved back ({left})"
    raise GitFailed(
        f"git commit: the commit {made} holds what is not exactly the plan's (a hook changed "
        f"git's index); {back}"
    )


def _failed(
    ctx: Context,
    session: GitSession,
    result: ApplyResult,
    said: str,
    *,
    left: str | None,
    notes: tuple[str, ...],
) -> GitRecorded:
    """The record of a git step that failed after the files were written."""
    mode, option = session.request.mode, session.request.option
    done = "committed" if mode == "commit" else "staged"
    kept = "unstaged again" if left is None else f"maybe still staged (git reset: {left})"
    error = (
        f"{result.kind} of plan {result.plan_id} is done (execution {result.execution_id}), "
        f"but not {done} in git: {said}; its files are written and {kept} — fix that and run "
        f"the same command again (with {option}) to record them, or undo them with "
        f"'agentos rollback {result.execution_id}'"
    )
    _audit(ctx, "git.failed", result, {"mode": mode, "error": said})
    return GitRecorded(mode, error=error, warnings=notes)


def _audit(ctx: Context, event: str, result: ApplyResult, data: dict[str, object]) -> None:
    """Record what git did in the audit trail (paths and commit ids, never contents)."""
    ctx.audit.append(
        event,
        actor=ctx.actor,
        execution_id=result.execution_id,
        plan_id=result.plan_id,
        data={**data, "attempt": result.attempt} if result.attempt else data,
    )


def touched_paths(plan: ChangePlan) -> list[str]:
    """Every path the plan writes or removes (a rename's both), once, in the plan's order."""
    paths: dict[str, None] = {}
    for change in plan.changeset.changes:
        if change.op == "rename":
            paths[change.from_path] = None
        paths[change.path] = None
    return list(paths)


def post_images(plan: ChangePlan) -> dict[str, tuple[str, bytes] | None]:
    """Every path the plan writes or removes (a rename's both), in the plan's order, with
    its mode and bytes after the plan (None: removed)."""
    paths: dict[str, tuple[str, bytes] | None] = {}
    for change in plan.changeset.changes:
        if change.op == "rename":
            paths[change.from_path] = None
        if change.op == "delete":
            paths[change.path] = None
        else:
            paths[change.path] = (change.mode, change.content.to_bytes())
    return paths


def commit_message(
    plan: ChangePlan, result: ApplyResult, approvers: Sequence[str], *, reverts: str | None
) -> str:
    """The plan's intent (default ``agentos: apply plan <id>``), for a rollback the commit
    it reverts, then the trailers: plan, execution, checksum, one per approver counted."""
    intent = (plan.intent or "").strip()
    if not intent:
        intent = (
            f"agentos: roll back {result.parent}"
            if result.kind == "rollback"
            else f"agentos: apply plan {plan.plan_id}"
        )
    body = f"{intent}\n\nThis reverts commit {reverts}." if reverts else intent
    trailers = [
        f"{PLAN_TRAILER}: {plan.plan_id}",
        f"{EXECUTION_TRAILER}: {result.execution_id}",
        f"{CHECKSUM_TRAILER}: {plan.changeset.checksum}",
        *(f"{APPROVER_TRAILER}: {name}" for name in approvers),
    ]
    return body + "\n\n" + "\n".join(trailers) + "\n"


def commit_author(plan: ChangePlan) -> Author:
    """The plan's author as git's author: ``Name <email>`` as written; a bare name gets the
    unreachable ``<name@agentos.invalid>``; dated when the plan was made."""
    from agentos.clock import parse_rfc3339
    from agentos.gitrepo import Author

    author = plan.author.strip()
    match = _NAME_EMAIL.fullmatch(author)
    if match and match.group(1):
        name, email = match.group(1), match.group(2)
    else:
        name = "".join(ch for ch in author if ch not in "<>").strip() or "agentos"
        local = re.sub(r"[^A-Za-z0-9._+-]+", "-", name).strip(".-").lower() or "agentos"
        email = name if re.fullmatch(r"[^@\s]+@[^@\s]+", name) else f"{local}@{FALLBACK_DOMAIN}"
    try:
        date = f"@{int(parse_rfc3339(plan.created_at).timestamp())} +0000"
    except ValueError:
        date = ""
    return Author(name=name, email=email, date=date)
