"""What a worker's checkout keeps of its jobs beyond git's branch (SPEC §14), and how a
worker puts it right: an execution whose files git did not commit (rolled back, at once or
when the next worker starts there), and a commit made here that will never land (the
workspace's record of its plan is abandoned, so that the plan id can be applied again).

The marks are git refs in the worker's checkout: ``refs/agentos/applying/<execution>``
while a job's plan is applied and committed (``agentos.pipeline.runner``), and
``refs/agentos/unpushed/<execution>`` for a commit that did not land yet.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentos.errors import AgentosError
from agentos.pipeline.context import Context

if TYPE_CHECKING:
    from agentos.gitrepo import GitRepo
    from agentos.model import ChangePlan

# An attempt's ``kind`` when it left the checkout changed (applied, not committed, and not
# rolled back): the worker stops; its checkout needs a person.
CHECKOUT_LEFT = "checkout_left"


def undo_uncommitted(ctx: Context, plan_id: str, execution_id: str, said: str) -> tuple[str, str]:
    """The plan was applied here but git could not commit it: roll its files back, so that
    the checkout is clean for the next job, and try the job again later: the retry's kind
    and error — ``git_failed``, or, when the rollback fails too and the checkout is left
    changed, ``CHECKOUT_LEFT`` (the worker stops, and says how to put it right)."""
    why = _rolled_back(ctx, execution_id)
    if why is None:
        return "git_failed", f"{said} (rolled back here: the job is tried again)"
    root = ctx.workspace.root
    return (
        CHECKOUT_LEFT,
        f"worker: the checkout at {root} holds plan {plan_id}'s files, applied (execution "
        f"{execution_id}) but not committed, and rolling them back failed ({why}); the job is "
        f"back in the queue — undo them with 'agentos -C {root} rollback {execution_id}' (or "
        "discard them with git), then start the worker again",
    )


def _rolled_back(ctx: Context, execution_id: str) -> str | None:
    """Roll ``execution_id`` back; None when that committed, else why not."""
    from agentos.executor.abort import StopToken, stop_token
    from agentos.pipeline.execution import rollback

    try:
        # Under a token of its own: a stop asked of the worker (which may be why git failed:
        # Ctrl-C reaches git too) must not stop the rollback that cleans the checkout.
        with stop_token(StopToken()):
            undone = rollback(ctx, execution_id).last
    except AgentosError as exc:
        return exc.message
    return None if undone.status == "committed" else undone.message


def mend(ctx: Context, repo: GitRepo) -> tuple[list[str], list[tuple[str, str]]]:
    """Roll back each execution marked as being applied here that still stands (this
    workspace's record of its plan is committed with it) and whose commit git never made
    (a worker killed between the commit point and ``git commit``: the plan's files are
    written, created ones included, and maybe staged; both are put back). Only a job's own
    execution carries the mark: a person's ``agentos apply`` here is left as it is (and
    refused as an uncommitted change). The executions rolled back, and those that could
    not be (with why: still marked, for the caller to name)."""
    from agentos.gitrepo import find_commit
    from agentos.pipeline.gitcommit import EXECUTION_TRAILER
    from agentos.pipeline.runner import applying, clear_applying

    mended: list[str] = []
    stuck: list[tuple[str, str]] = []
    for execution_id, attempt in applying(repo):
        paths = _standing_paths(ctx, execution_id, attempt)
        if paths is not None and find_commit(repo, EXECUTION_TRAILER, execution_id) is None:
            why = _rolled_back(ctx, execution_id)
            if why is not None:
                stuck.append((execution_id, why))
                continue
            from agentos.gitrepo import unstage

            unstage(repo, [repo.full(p) for p in paths])
            mended.append(execution_id)
        clear_applying(repo, execution_id, attempt)
    return mended, stuck


def _standing_paths(ctx: Context, execution_id: str, attempt: int) -> list[str] | None:
    """The paths of ``execution_id`` when its ``attempt`` still stands here — the
    workspace's record of its plan is committed with this very execution, and that attempt
    is the one committed (not rolled back, not applied again since by someone else) —
    else None."""
    from agentos.executor.executions import read_execution
    from agentos.executor.idempotency import read_record

    state = ctx.workspace.state_dir
    try:
        execution = read_execution(state, execution_id)
        record = None if execution is None else read_record(state, execution.plan_id)
    except AgentosError:
        return None
    if execution is None or record is None:
        return None
    if record.status != "committed" or record.execution_id != execution_id:
        return None
    if execution.attempt != attempt:
        return None
    return sorted({p for f in execution.files for p in (f.path, f.from_path) if p})


def next_attempt(ctx: Context, plan: ChangePlan) -> int:
    """The attempt number the executor will give ``plan``'s next apply here."""
    from agentos.executor.idempotency import attempts_so_far, read_record

    try:
        record = read_record(ctx.workspace.state_dir, plan.plan_id)
    except AgentosError:
        record = None
    return attempts_so_far(record, plan.changeset.checksum) + 1


def abandon_commit(ctx: Context, repo: GitRepo, plan_id: str, checksum: str, why: str) -> None:
    """The commit made here for plan ``plan_id`` (``checksum``) will never land: forget it,
    and let this workspace's record of the plan say so, so that a corrected plan under the
    same id (or the same plan queued again) can be applied here later; the audit trail
    says why. Best effort: a record that cannot be changed stays as it was."""
    from agentos.clock import rfc3339
    from agentos.executor.executions import execution_id_for
    from agentos.executor.idempotency import abandon
    from agentos.pipeline.runner import forget_unpushed

    execution_id = execution_id_for(plan_id, checksum)
    forget_unpushed(repo, execution_id)
    try:
        if abandon(ctx.workspace.state_dir, plan_id, checksum, at=rfc3339(ctx.clock())):
            ctx.audit.append(
                "queue.commit_abandoned",
                actor=ctx.actor,
                plan_id=plan_id,
                execution_id=execution_id,
                data={"reason": why},
            )
    except AgentosError:
        return


def abandon_other_version(ctx: Context, repo: GitRepo, plan: ChangePlan) -> None:
    """This workspace recorded another version of ``plan``'s id as applied, and its commit
    never landed (the caller checked the remote: no commit has this plan id): abandon it.
    The queue holds one live or landed job per plan id, so that version's job ended."""
    from agentos.executor.executions import execution_id_for
    from agentos.executor.idempotency import read_record
    from agentos.pipeline.runner import unpushed

    try:
        record = read_record(ctx.workspace.state_dir, plan.plan_id)
    except AgentosError:
        return
    if record is None or record.status != "committed":
        return
    if record.checksum == plan.changeset.checksum:
        return
    # Only a version a job committed here and kept unpushed: one a person applied here is
    # theirs, and the plan id conflict stands (exit 5).
    if unpushed(repo, execution_id_for(plan.plan_id, record.checksum)) is None:
        return
    why = f"plan {plan.plan_id} was queued again with other content ({plan.changeset.checksum})"
    abandon_commit(ctx, repo, plan.plan_id, record.checksum, why)
