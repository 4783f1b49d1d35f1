"""The changeset queue's use cases (SPEC §14, docs/scale.md): submit, list, show, retry,
abort, and the summary ``status`` shows. Workers (``agentos.pipeline.worker``) take the jobs.

Every one needs the PostgreSQL store (``AGENTOS_STORE`` or the policy's ``store.url``). A
job holds the plan file's bytes and the approval files' bytes, so that any runner can take
it; both are verified here before anything is queued.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from agentos.errors import UsageError
from agentos.pipeline.context import Context, resolve_plan_file
from agentos.pipeline.store import postgres_store

if TYPE_CHECKING:
    from agentos.store.queue import Job

# How many stuck jobs and dead letters ``status`` names (the counts are always whole).
SHOWN = 20


@dataclass(frozen=True)
class Submitted:
    """A job as ``queue submit`` left it: ``created`` False when the plan was queued
    already (the same job); ``approvals_added``: approval files new to it."""

    job: Job
    created: bool
    approvals_added: int


@dataclass(frozen=True)
class QueueSummary:
    """The queue at a glance: jobs per state, running (with lease ages), stuck, dead."""

    counts: dict[str, int]
    running: tuple[Job, ...]
    stuck: tuple[Job, ...]
    dead: tuple[Job, ...]

    def row(self) -> dict[str, object]:
        """As ``status --json`` shows it under ``queue``."""
        return {
            "counts": self.counts,
            "backlog": self.counts.get("pending", 0),
            "running": [_lease_row(j) for j in self.running],
            "stuck": [_lease_row(j) for j in self.stuck],
            "dead": [
                {"id": j.id, "plan_id": j.plan_id, "attempts": j.attempts, "error": j.last_error}
                for j in self.dead
            ],
        }


def _lease_row(job: Job) -> dict[str, object]:
    return {
        "id": job.id,
        "plan_id": job.plan_id,
        "owner": job.lease_owner,
        "attempt": job.attempts,
        "heartbeat_age": job.heartbeat_age,
        "lease_left": job.lease_left,
    }


def submit(
    ctx: Context,
    plan_ref: str,
    *,
    approval_files: tuple[Path, ...] = (),
    branch: str | None = None,
    max_attempts: int | None = None,
) -> Submitted:
    """Queue a plan (file or id), verified, with approval files of that plan; submitting the
    same plan again gives the same job (new approval files are added to it)."""
    from agentos.governance.approvalfiles import approval_file_bytes, parse_approvals
    from agentos.planner.planfile import read_plan_bytes
    from agentos.store import queue

    store = postgres_store(ctx, "'agentos queue submit'")
    path = resolve_plan_file(ctx.workspace, plan_ref)
    raw = read_plan_bytes(path)
    from agentos.planner.planfile import parse_plan

    plan = parse_plan(raw, name=str(path))
    approvals: list[tuple[str, bytes]] = []
    for file in approval_files:
        data = approval_file_bytes(file)
        others = sorted({a.plan_id for _, a in parse_approvals(data, file)} - {plan.plan_id})
        if others:
            raise UsageError(
                f"approval file {str(file)!r} approves plan {others[0]!r}, not "
                f"{plan.plan_id!r}; pass the approvals of the plan submitted; nothing queued"
            )
        approvals.append((file.name, data))
    if branch is not None and not _branch_name_ok(branch):
        raise UsageError(f"--branch {branch!r} is not a branch name; nothing queued")
    job, created, added = queue.submit(
        store,
        plan_id=plan.plan_id,
        checksum=plan.changeset.checksum,
        plan=raw,
        approvals=approvals,
        branch=branch,
        max_attempts=max_attempts or queue.DEFAULT_MAX_ATTEMPTS,
        submitted_by=ctx.actor,
    )
    if not created and branch is not None and job.branch != branch:
        queued_for = f"branch {job.branch!r}" if job.branch else "the worker's branch"
        raise UsageError(
            f"plan {plan.plan_id} is queued already as job {job.id} for {queued_for}, not "
            f"{branch!r}; a plan is queued once — plan it again for another branch"
        )
    ctx.audit.append(
        "queue.submitted",
        actor=ctx.actor,
        plan_id=plan.plan_id,
        data={"job": job.id, "created": created, "approvals_added": added, "branch": branch},
    )
    return Submitted(job, created, added)


def _branch_name_ok(name: str) -> bool:
    bad = (" ", "~", "^", ":", "?", "*", "[", "\\", "..", "@{")
    return bool(name) and not name.startswith(("-", "/")) and not any(b in name for b in bad)


def jobs(ctx: Context, statuses: tuple[str, ...] = (), limit: int = 0) -> list[Job]:
    """The queue's jobs in ``statuses`` (all without), oldest first."""
    from agentos.store import queue

    unknown = sorted(set(statuses) - set(queue.STATES))
    if unknown:
        raise UsageError(
            f"--status {unknown[0]!r} is not a job state; use one of {', '.join(queue.STATES)}"
        )
    return queue.listed(postgres_store(ctx, "'agentos queue'"), statuses, limit)


def job(ctx: Context, job_id: int) -> Job:
    """The job ``job_id`` (a ``UsageError`` when there is none)."""
    from agentos.store import queue

    found = queue.get(postgres_store(ctx, "'agentos queue show'"), job_id)
    if found is None:
        raise UsageError(f"there is no job {job_id} in the queue; 'agentos queue list' lists them")
    return found


def retry(ctx: Context, job_id: int) -> Job:
    """Put an ended job back in the queue, its attempts reset (not a ``done`` one)."""
    from agentos.store import queue

    store = postgres_store(ctx, "'agentos queue retry'")
    again = queue.requeue(store, job_id)
    if again is None:
        found = job(ctx, job_id)
        raise UsageError(
            f"job {job_id} is {found.status}: only a stale, failed, dead or aborted job can be "
            "retried" + (" (its commit is on the remote)" if found.status == "done" else "")
        )
    ctx.audit.append("queue.retried", actor=ctx.actor, plan_id=again.plan_id, data={"job": job_id})
    return again


def abort(ctx: Context, job_id: int | None, *, reason: str = "") -> list[Job]:
    """Abort one job (or, ``job_id`` None, every pending and running one): pending ones end
    ``aborted`` at once; a running one's worker stops it, rolls it back and ends it."""
    from agentos.store import queue

    store = postgres_store(ctx, "'agentos queue abort'")
    if job_id is not None:
        found = job(ctx, job_id)
        if found.status not in ("pending", "running"):
            raise UsageError(f"job {job_id} is {found.status} already: nothing to abort")
    hit = queue.request_abort(store, job_id, reason)
    for each in hit:
        ctx.audit.append(
            "queue.abort_requested",
            actor=ctx.actor,
            plan_id=each.plan_id,
            data={"job": each.id, "reason": reason, "status": each.status},
        )
    return hit


def summary(ctx: Context) -> QueueSummary | None:
    """The queue at a glance, when the PostgreSQL store is selected (None for the files)."""
    from agentos.store import queue
    from agentos.store.postgres import PostgresStore

    if not ctx.may_share:
        return None
    store = ctx.store
    if not isinstance(store, PostgresStore):
        return None
    running = queue.listed(store, ("running",))
    dead = queue.listed(store, ("dead",))
    return QueueSummary(
        counts=queue.counts(store),
        running=tuple(j for j in running if not j.stuck),
        stuck=tuple(j for j in running if j.stuck)[:SHOWN],
        dead=tuple(dead[-SHOWN:]),
    )
