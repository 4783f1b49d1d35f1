"""``agentos queue submit|list|show|retry|dead|abort`` and ``agentos worker``: the changeset
queue in the shared PostgreSQL store (SPEC §14, docs/scale.md)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from agentos.cli.context import GlobalOptions, command
from agentos.cli.render import Outcome

if TYPE_CHECKING:
    from rich.console import Console

    from agentos.store.queue import Job

JobId = Annotated[int, typer.Argument(metavar="ID", min=1, help="The job's id.")]


def _line(job: Job, width: int = 0) -> str:
    """One job on one line; ``width``: the plan id column's (the widest of a list)."""
    extra = f"  commit {job.commit[:12]}" if job.commit else ""
    if job.status == "running" and job.lease_owner:
        extra += f"  lease {job.lease_owner}" + ("  (expired)" if job.stuck else "")
    if job.last_error and job.status not in ("done", "running"):
        extra += f"  {job.error_kind or 'error'}: {job.last_error}"
    return (
        f"{job.id:>6}  {job.status:<8} {job.plan_id:<{width}}  attempts "
        f"{job.attempts}/{job.max_attempts}"
        f"{'  branch ' + job.branch if job.branch else ''}{extra}"
    )


def _jobs_outcome(jobs: list[Job], empty: str) -> Outcome:
    def human(out: Console) -> None:
        if not jobs:
            out.print(empty)
        width = max((len(job.plan_id) for job in jobs), default=0)
        for job in jobs:
            out.print(_line(job, width), highlight=False)

    return Outcome(result={"jobs": [j.row() for j in jobs]}, human=human)


@command("submit", group="queue")
def submit(
    opts: GlobalOptions,
    plan: Annotated[str, typer.Argument(metavar="PLAN", help="A plan file or a plan id.")],
    *,
    approval: Annotated[
        list[Path] | None,
        typer.Option(
            "--approval",
            metavar="FILE",
            help="An approval file of the plan, kept with the job; may be repeated.",
            show_default=False,
        ),
    ] = None,
    branch: Annotated[
        str | None,
        typer.Option(
            "--branch",
            metavar="BRANCH",
            help="The branch of the shared remote to apply it on (default: the worker "
            "checkout's current branch).",
            show_default=False,
        ),
    ] = None,
    max_attempts: Annotated[
        int | None,
        typer.Option(
            "--max-attempts",
            metavar="N",
            min=1,
            help="Attempts before a retryable failure goes to the dead letter (default 5).",
            show_default=False,
        ),
    ] = None,
) -> Outcome:
    """Queue a plan for the workers; the same plan submitted again is the same job."""
    from agentos.pipeline.queue import submit as submit_plan

    done = submit_plan(
        opts.context(),
        plan,
        approval_files=tuple(approval or ()),
        branch=branch,
        max_attempts=max_attempts,
    )
    job = done.job
    said = (
        f"queued plan {job.plan_id} as job {job.id}"
        if done.created
        else f"plan {job.plan_id} is job {job.id} already ({job.status})"
    )
    if done.approvals_added and not done.created:
        said += f"; {done.approvals_added} approval file(s) added"
    result = {"job": job.row(), "created": done.created, "approvals_added": done.approvals_added}
    return Outcome(result=result, human=lambda out: out.print(said, highlight=False))


@command("list", group="queue")
def list_jobs(
    opts: GlobalOptions,
    *,
    status: Annotated[
        list[str] | None,
        typer.Option(
            "--status",
            metavar="STATE",
            help="Only jobs in this state (pending, running, done, stale, failed, dead, "
            "aborted); may be repeated.",
            show_default=False,
        ),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", metavar="N", min=0, help="How many (0 = all).")
    ] = 0,
) -> Outcome:
    """The queue's jobs, oldest first."""
    from agentos.pipeline.queue import jobs

    found = jobs(opts.context(), tuple(status or ()), limit)
    return _jobs_outcome(found, "The queue is empty.")


@command("dead", group="queue")
def dead(opts: GlobalOptions) -> Outcome:
    """The dead letter: jobs whose retryable failures used up their attempts."""
    from agentos.pipeline.queue import jobs

    return _jobs_outcome(jobs(opts.context(), ("dead",)), "No dead letters.")


@command("show", group="queue")
def show(opts: GlobalOptions, job_id: JobId) -> Outcome:
    """One job: its state, attempts, lease, last error and commit."""
    from agentos.pipeline.queue import job

    found = job(opts.context(), job_id)
    return Outcome(
        result={"job": found.row()}, human=lambda out: out.print(_line(found), highlight=False)
    )


@command("retry", group="queue")
def retry(opts: GlobalOptions, job_id: JobId) -> Outcome:
    """Put a stale, failed, dead or aborted job back in the queue, its attempts reset."""
    from agentos.pipeline.queue import retry as requeue

    again = requeue(opts.context(), job_id)
    said = f"job {again.id} (plan {again.plan_id}) is pending again"
    return Outcome(result={"job": again.row()}, human=lambda out: out.print(said))


@command("abort", group="queue")
def abort(
    opts: GlobalOptions,
    job_id: Annotated[
        int | None, typer.Argument(metavar="ID", min=1, help="The job's id.", show_default=False)
    ] = None,
    *,
    all_jobs: Annotated[bool, typer.Option("--all", help="Every pending and running job.")] = False,
    reason: Annotated[
        str, typer.Option("--reason", metavar="WHY", help="Why (kept with the job and audited).")
    ] = "",
) -> Outcome:
    """Abort a job (or --all): a pending one at once; a running one's worker stops it and
    rolls it back."""
    from agentos.errors import UsageError
    from agentos.pipeline.queue import abort as abort_jobs

    if (job_id is None) == (not all_jobs):
        raise UsageError("pass a job ID or --all (one of them)")
    hit = abort_jobs(opts.context(), job_id, reason=reason)

    def human(out: Console) -> None:
        if not hit:
            out.print("No pending or running job to abort.")
        for job in hit:
            how = "aborted" if job.status == "aborted" else "abort requested (its worker stops it)"
            out.print(f"job {job.id} (plan {job.plan_id}): {how}")

    return Outcome(result={"jobs": [j.row() for j in hit]}, human=human)
