"""``agentos worker``: take jobs from the queue and apply them on the shared remote
(SPEC §14, docs/scale.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from agentos.cli.context import GlobalOptions, command
from agentos.cli.render import Outcome

if TYPE_CHECKING:
    from agentos.errors import StoreUnavailableError
    from agentos.pipeline.jobrun import JobOutcome


@command("worker")
def worker(
    opts: GlobalOptions,
    *,
    once: Annotated[bool, typer.Option("--once", help="One job at most, then exit.")] = False,
    drain: Annotated[
        bool, typer.Option("--drain", help="Until no job is pending or running, then exit.")
    ] = False,
    max_jobs: Annotated[
        int | None,
        typer.Option(
            "--max-jobs", metavar="N", min=1, help="Exit after N jobs.", show_default=False
        ),
    ] = None,
    lease: Annotated[
        float,
        typer.Option(
            "--lease",
            metavar="SECONDS",
            min=0.5,
            help="Lease of a job, renewed by a heartbeat every third of it.",
        ),
    ] = 60.0,
    poll: Annotated[
        float,
        typer.Option(
            "--poll", metavar="SECONDS", min=0.0, help="Wait between looks at an empty queue."
        ),
    ] = 2.0,
    retry_strategy: Annotated[
        str,
        typer.Option(
            "--retry-strategy", metavar="NAME", help="fixed, linear, exponential or fibonacci."
        ),
    ] = "exponential",
    retry_delay: Annotated[
        float,
        typer.Option(
            "--retry-delay", metavar="SECONDS", min=0.0, help="Base delay before a job is retried."
        ),
    ] = 1.0,
    retry_max_delay: Annotated[
        float,
        typer.Option(
            "--retry-max-delay", metavar="SECONDS", min=0.0, help="Longest delay before a retry."
        ),
    ] = 60.0,
    jitter: Annotated[
        str,
        typer.Option("--jitter", metavar="KIND", help="none, full, equal or decorrelated."),
    ] = "full",
) -> Outcome:
    """Take jobs from the queue and apply them in this checkout, pushing to its origin."""
    from agentos.cli.render import print_info, print_warning
    from agentos.errors import UsageError
    from agentos.pipeline.worker import WorkerSettings, run_worker
    from agentos.verify.retry import RetryPolicy

    if once and drain:
        raise UsageError("--once and --drain: pass one of them")
    if retry_strategy not in ("fixed", "linear", "exponential", "fibonacci"):
        raise UsageError(
            f"--retry-strategy {retry_strategy!r}: use fixed, linear, exponential or fibonacci"
        )
    if jitter not in ("none", "full", "equal", "decorrelated"):
        raise UsageError(f"--jitter {jitter!r}: use none, full, equal or decorrelated")
    policy = RetryPolicy(
        strategy=retry_strategy,  # type: ignore[arg-type]
        max_attempts=5,
        base_delay=retry_delay,
        max_delay=max(retry_max_delay, retry_delay),
        jitter=jitter,  # type: ignore[arg-type]
    )
    settings = WorkerSettings(
        once=once, drain=drain, max_jobs=max_jobs, lease=lease, poll=poll, retry=policy
    )

    def tell(outcome: JobOutcome) -> None:
        if not opts.quiet and not opts.json:
            said = f"job {outcome.job_id} ({outcome.plan_id}): {outcome.status}"
            said += f" {outcome.commit[:12]}" if outcome.commit else ""
            said += f" — {outcome.error}" if outcome.error and outcome.status != "done" else ""
            print_info(said)

    def waiting(away: StoreUnavailableError, tries: int, delay: float) -> None:
        # Also under --json and --quiet: a worker that waits says why, on stderr.
        said = away.message.partition(" — ")[0]
        print_warning(f"{said}; the worker tries again in {delay:.1f}s (try {tries})")

    run = run_worker(opts.context(), settings, on_outcome=tell, on_outage=waiting)
    counts: dict[str, int] = {}
    for outcome in run.outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    result = {
        "worker": run.owner,
        "stopped": run.stopped,
        "jobs": [o.row() for o in run.outcomes],
        "counts": counts,
    }
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no job"
    return Outcome(
        result=result,
        human=lambda out: out.print(f"worker stopped ({run.stopped}): {summary}"),
    )
