"""One attempt at one job on a worker's checkout (``agentos.pipeline.worker``): fetch, look
for the job's commit on the remote, apply with ``--commit`` semantics, push (rebasing past
other runners' pushes while the plan's paths did not change there). Returns how it ended;
the worker records it."""

from __future__ import annotations

import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from agentos.errors import AgentosError
from agentos.faults import fault_point
from agentos.pipeline.context import Context
from agentos.pipeline.jobstate import CHECKOUT_LEFT
from agentos.pipeline.runner import RunnerGitError

if TYPE_CHECKING:
    from agentos.gitrepo import GitRepo
    from agentos.model import ChangePlan
    from agentos.pipeline.runner import Checkout
    from agentos.store.queue import Job, Payload

# A push rejected because another runner's push landed first is the queue making progress,
# not a failure: such races are tried again (after a short random wait that grows, so that
# many runners do not retry in step) up to this many times in one attempt.
PUSH_RACES = 30
RACE_WAIT_BASE = 0.05
RACE_WAIT_MAX = 2.0
# Exit codes (SPEC §3) a job is retried for: busy, or a store out of reach.
RETRYABLE_EXITS = frozenset({75})


class Lease(Protocol):
    """What an attempt needs to know of its lease while it works."""

    @property
    def lost(self) -> bool:
        """Another worker took the job over (this lease expired)."""
        ...

    @property
    def abort_reason(self) -> str | None:
        """Why an abort was asked (None: none was)."""
        ...


@dataclass(frozen=True)
class JobOutcome:
    """How one claim of a job ended: ``done``, ``stale``, ``failed``, ``aborted``,
    ``retry`` (back in the queue), ``dead`` or ``lost`` (its lease was taken over)."""

    job_id: int
    plan_id: str
    attempt: int
    status: str
    commit: str | None = None
    found: bool = False
    error: str | None = None
    kind: str | None = None

    def row(self) -> dict[str, Any]:
        return {
            "job": self.job_id,
            "plan_id": self.plan_id,
            "attempt": self.attempt,
            "status": self.status,
            "commit": self.commit,
            "found": self.found,
            "error": self.error,
            "error_kind": self.kind,
        }


# Apply statuses that end a job for good, and the job state each gives.
REFUSED = {
    "stale": "stale",
    "denied": "failed",
    "needs_approval": "failed",
    "rolled_back": "failed",
    "aborted": "aborted",
}


def attempt(
    ctx: Context,
    checkout: Checkout,
    job: Job,
    payload: Payload,
    lease: Lease,
    *,
    pause: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> JobOutcome:
    """Try ``job`` once; every failure becomes an outcome, never an exception (but a
    ``UsageError`` about the checkout itself, which stops the worker)."""
    from agentos.pipeline.jobstate import abandon_commit, abandon_other_version
    from agentos.pipeline.runner import (
        changed_paths,
        fetch,
        forget_unpushed,
        head,
        keep_unpushed,
        move_to,
        refuse_changes,
    )

    def ended(status: str, error: str | None = None, kind: str | None = None) -> JobOutcome:
        return JobOutcome(job.id, job.plan_id, job.attempts, status, error=error, kind=kind)

    if job.abort_requested_at is not None or lease.abort_reason is not None:
        return ended("aborted", _aborted(job, lease), "aborted")
    branch = job.branch or checkout.branch
    if branch is None:
        return ended(
            "failed",
            "the job names no branch and the worker's checkout is on none (detached HEAD); "
            "submit with --branch, or check out a branch in the worker's checkout",
            "no_branch",
        )
    repo = checkout.repo
    try:
        base = fetch(repo, branch)
        there = _on_branch(ctx, repo, base, job, branch)
        if there is not None:
            return there
        if job.attempts > job.max_attempts:
            return ended(
                "dead",
                f"{job.attempts - 1} attempt(s) ended without a result (last: "
                f"{job.last_error or 'the worker stopped; its lease expired'})",
                job.error_kind or "lease_expired",
            )
        refuse_changes(changed_paths(repo), ctx.workspace.root)
        move_to(repo, branch)
        plan = _plan(payload, job)
        if plan is None:
            return ended("failed", f"job {job.id}: the queued plan does not verify", "integrity")
        # Another version of this plan id committed here that never landed (a job that
        # ended without its push): this checkout no longer holds it.
        abandon_other_version(ctx, repo, plan)
        outcome, execution_id = _apply(ctx, repo, job, payload, plan)
        if outcome is not None and outcome.kind == "applied_here":
            outcome = _repick(repo, job, plan, execution_id, base)
            if outcome is not None and outcome.status == "stale":
                abandon_commit(
                    ctx, repo, plan.plan_id, plan.changeset.checksum, outcome.error or "stale"
                )
        if outcome is not None:
            return outcome
        made = head(repo)
    except RunnerGitError as failed:
        return ended("retry" if failed.retryable else "failed", failed.message, failed.kind)
    try:
        done = _push(
            ctx, checkout, job, plan, branch=branch, base=base, lease=lease, pause=pause,
            rng=rng or random.Random(),  # noqa: S311 - spreads retries; nothing secret
        )  # fmt: skip
    except RunnerGitError as failed:
        done = ended("retry" if failed.retryable else "failed", failed.message, failed.kind)
    if done.status == "done":
        forget_unpushed(repo, execution_id)
    elif done.status != "stale":
        keep_unpushed(repo, execution_id, made)
    else:
        why = done.error or "stale"
        abandon_commit(ctx, repo, plan.plan_id, plan.changeset.checksum, why)
    return done


def _on_branch(ctx: Context, repo: GitRepo, ref: str, job: Job, branch: str) -> JobOutcome | None:
    """How the job ends when ``ref`` decides it already: ``done`` when its commit is there
    (found by its trailers: a claimant that pushed and stopped before recording), ``stale``
    when a commit has its plan id with another checksum (a plan id names one changeset);
    None when the plan is not on the branch."""
    from agentos.pipeline.runner import plan_commits

    found, other = plan_commits(repo, ref, job.plan_id, job.checksum)
    if found is not None:
        return _landed(ctx, job, found, found=True)
    if other is None:
        return None
    return JobOutcome(
        job.id,
        job.plan_id,
        job.attempts,
        "stale",
        error=f"plan {job.plan_id} is on {branch} already with other changes (commit "
        f"{other[:12]} has its Agentos-Plan trailer, another checksum); a plan id names one "
        "changeset: plan these changes under another id; not applied",
        kind="plan_id_conflict",
    )


def _repick(
    repo: GitRepo, job: Job, plan: ChangePlan, execution_id: str, base: str
) -> JobOutcome | None:
    """This workspace applied the plan in an earlier attempt whose commit did not land:
    put that commit on the new head (stale when the plan's paths changed there)."""
    from agentos.pipeline.gitcommit import touched_paths
    from agentos.pipeline.runner import drifted, pick, unpushed

    kept = unpushed(repo, execution_id)
    if kept is None:
        return JobOutcome(
            job.id,
            job.plan_id,
            job.attempts,
            "failed",
            error=f"this runner recorded plan {job.plan_id} as applied (execution "
            f"{execution_id}), but its commit is neither on the remote nor kept here; retry "
            "the job on another runner",
            kind="applied_here",
        )
    moved = drifted(repo, f"{kept}^", base, touched_paths(plan))
    if moved:
        return JobOutcome(
            job.id,
            job.plan_id,
            job.attempts,
            "stale",
            error=f"plan {job.plan_id} is stale: {', '.join(moved[:5])} changed on the "
            "remote since it was applied here",
            kind="stale",
        )
    pick(repo, kept)
    return None


def _aborted(job: Job, lease: Lease) -> str:
    reason = lease.abort_reason if lease.abort_reason is not None else job.abort_reason
    return f"aborted: {reason}" if reason else "aborted"


def _plan(payload: Payload, job: Job) -> ChangePlan | None:
    from agentos.planner.planfile import parse_plan

    try:
        return parse_plan(payload.plan, name=f"job {job.id} ({job.plan_id})")
    except AgentosError:
        return None


def _apply(
    ctx: Context, repo: GitRepo, job: Job, payload: Payload, plan: ChangePlan
) -> tuple[JobOutcome | None, str]:
    """Apply ``plan`` with ``--commit``: no outcome when it committed (push next), else
    how it ended; and the execution's id."""
    from agentos.executor.executions import execution_id_for
    from agentos.pipeline.jobstate import next_attempt
    from agentos.pipeline.runner import clear_applying, mark_applying

    execution_id = execution_id_for(plan.plan_id, plan.changeset.checksum)
    # Marked in git while it applies (with the attempt it will be): a worker killed between
    # the commit point and git's commit leaves the mark, and the next worker there rolls
    # that very attempt back.
    attempt = next_attempt(ctx, plan)
    mark_applying(repo, execution_id, attempt)
    outcome = _applied(ctx, job, payload, plan)
    if outcome is None or outcome.kind != CHECKOUT_LEFT:
        clear_applying(repo, execution_id, attempt)
    return outcome, execution_id


def _applied(ctx: Context, job: Job, payload: Payload, plan: ChangePlan) -> JobOutcome | None:
    from agentos.pipeline.execution import apply
    from agentos.pipeline.gitcommit import GitRequest

    def ended(status: str, error: str | None, kind: str | None) -> JobOutcome:
        return JobOutcome(job.id, job.plan_id, job.attempts, status, error=error, kind=kind)

    with tempfile.TemporaryDirectory(prefix="agentos-job-") as scratch:
        files = []
        for number, (name, data) in enumerate(payload.approvals):
            path = Path(scratch) / f"{number}-{Path(name).name or 'approval.json'}"
            path.write_bytes(data)
            files.append(path)
        try:
            applied = apply(ctx, [plan], approval_files=tuple(files), git=GitRequest("commit"))
        except AgentosError as exc:
            if exc.exit_code in RETRYABLE_EXITS:
                return ended("retry", exc.message, exc.kind)
            return ended("stale" if exc.exit_code == 5 else "failed", exc.message, exc.kind)
    result = applied.last
    git = applied.git_of(0)
    if git is not None and git.error is not None:
        from agentos.pipeline.jobstate import undo_uncommitted

        kind, error = undo_uncommitted(ctx, job.plan_id, result.execution_id, git.error)
        return ended("retry", error, kind)
    if result.status == "committed" and git is not None and git.commit is not None:
        return None
    if result.status == "already_applied":
        return ended(
            "retry",
            f"this runner recorded plan {job.plan_id} as applied (execution "
            f"{result.execution_id}), but its commit is not on the remote; another runner "
            "may apply it",
            "applied_here",
        )
    if result.status in RETRYABLE_STATUSES:
        return ended("retry", result.message, result.status)
    status = REFUSED.get(result.status, "failed")
    error = result.message
    if result.status == "stale" and result.drifted:
        error = f"{error} ({', '.join(result.drifted[:5])})"
    return ended(status, error, result.status)


RETRYABLE_STATUSES = ("busy",)


def _push(
    ctx: Context,
    checkout: Checkout,
    job: Job,
    plan: ChangePlan,
    *,
    branch: str,
    base: str,
    lease: Lease,
    pause: Callable[[float], None],
    rng: random.Random,
) -> JobOutcome:
    """Push the commit just made; on a rejection fetch, check drift, rebase, push again."""
    from agentos.pipeline.gitcommit import touched_paths
    from agentos.pipeline.runner import drifted, fetch, head, push, rebase_onto

    repo = checkout.repo

    def ended(status: str, error: str, kind: str) -> JobOutcome:
        return JobOutcome(job.id, job.plan_id, job.attempts, status, error=error, kind=kind)

    said = ""
    for race in range(PUSH_RACES):
        if race:
            pause(race_wait(race, rng))
        fault_point("worker.push.before")
        if lease.lost:
            return ended("lost", "the lease was taken over before the push", "lease_lost")
        if lease.abort_reason is not None:
            return ended("aborted", _aborted(job, lease) + " (before its push)", "aborted")
        rejected = push(repo, branch)
        if rejected is None:
            fault_point("worker.push.after")
            return _landed(ctx, job, head(repo), found=False)
        said = rejected
        new = fetch(repo, branch)
        there = _on_branch(ctx, repo, new, job, branch)
        if there is not None:
            return there
        if new == base:
            # Rejected while nobody else moved the branch: a hook, permissions, a full disk.
            return ended("retry", f"git push: {rejected}", "push_failed")
        moved = drifted(repo, base, new, touched_paths(plan))
        if moved:
            return ended(
                "stale",
                f"plan {job.plan_id} is stale: {', '.join(moved[:5])} changed on "
                f"{branch} since it was applied here (another runner's push)",
                "stale",
            )
        rebase_onto(repo, base, new)
        base = new
    return ended("retry", f"git push lost the race {PUSH_RACES} times: {said}", "push_rejected")


def race_wait(race: int, rng: random.Random) -> float:
    """How long to wait before push ``race`` (1 and up) of one attempt: full jitter over a
    window that doubles from ``RACE_WAIT_BASE`` up to ``RACE_WAIT_MAX`` seconds."""
    return rng.uniform(0.0, min(RACE_WAIT_MAX, RACE_WAIT_BASE * 2 ** min(race - 1, 16)))


def _landed(ctx: Context, job: Job, commit: str, *, found: bool) -> JobOutcome:
    """The job's commit is on the remote: done; the shared idempotency record follows."""
    from agentos.executor.idempotency import read_record
    from agentos.pipeline.store import postgres_store

    if not found:
        try:
            record = read_record(ctx.workspace.state_dir, job.plan_id)
            if record is not None and record.status == "committed":
                postgres_store(ctx, "'agentos worker'").put_idempotency(record)
        except AgentosError:
            pass  # the job is done all the same: its commit is on the remote
    return JobOutcome(job.id, job.plan_id, job.attempts, "done", commit=commit, found=found)
