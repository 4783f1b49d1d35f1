"""``agentos worker``: take jobs from the queue and apply them on the shared remote
(SPEC §14, docs/scale.md)."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Annotated, get_args

import typer

from agentos.cli.context import GlobalOptions, command
from agentos.cli.render import Outcome

if TYPE_CHECKING:
    from agentos.errors import StoreUnavailableError
    from agentos.pipeline.jobrun import JobOutcome
    from agentos.pipeline.workerjob import WorkerControl

# Slots one worker process runs at most (each is a checkout and a connection).
MAX_CONCURRENCY = 64


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
    concurrency: Annotated[
        int,
        typer.Option(
            "--concurrency",
            metavar="K",
            min=1,
            max=MAX_CONCURRENCY,
            help="Jobs at once, each slot in a checkout of its own.",
        ),
    ] = 1,
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
    from agentos.pipeline.worker import run_worker
    from agentos.pipeline.workerjob import WorkerControl, WorkerSettings
    from agentos.verify.retry import JitterKind, RetryPolicy, Strategy

    if once and drain:
        raise UsageError("--once and --drain: pass one of them")
    if once and concurrency > 1:
        raise UsageError("--once takes one job: pass --max-jobs N to stop after N jobs instead")
    strategies, kinds = get_args(Strategy), get_args(JitterKind)
    if retry_strategy not in strategies:
        raise UsageError(f"--retry-strategy {retry_strategy!r}: use {_either(strategies)}")
    if jitter not in kinds:
        raise UsageError(f"--jitter {jitter!r}: use {_either(kinds)}")
    policy = RetryPolicy(
        strategy=retry_strategy,  # type: ignore[arg-type]
        max_attempts=5,
        base_delay=retry_delay,
        max_delay=max(retry_max_delay, retry_delay),
        jitter=jitter,  # type: ignore[arg-type]
    )
    settings = WorkerSettings(
        once=once, drain=drain, max_jobs=max_jobs, lease=lease, poll=poll, retry=policy,
        concurrency=concurrency,
    )  # fmt: skip

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

    control = WorkerControl()

    def stopping(reason: str) -> None:
        # Written straight to the descriptor: this runs in a signal handler, maybe while
        # the main thread is in the middle of printing.
        said = (
            f"agentos: warning: {reason}: the worker claims no more jobs and gives the ones "
            "in flight back (a second signal stops it at once)\n"
        )
        with contextlib.suppress(OSError):
            os.write(2, said.encode("utf-8", "replace"))

    with _stopped_by_signals(control, stopping):
        run = run_worker(
            opts.context(), settings, control=control, on_outcome=tell, on_outage=waiting
        )
    counts: dict[str, int] = {}
    for outcome in run.outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    result = {
        "worker": run.owner,
        "stopped": run.stopped,
        "jobs": [o.row() for o in run.outcomes],
        "counts": counts,
        "concurrency": concurrency,
        "slots": [slot.row() for slot in run.slots],
    }
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no job"
    warnings = [
        f"slot {slot.slot} ({slot.checkout}): rolled back execution {execution_id}, which a "
        "worker stopped in the middle of a job had left applied and not committed"
        for slot in run.slots
        for execution_id in slot.mended
    ]
    # SIGTERM is how a service manager stops a worker (exit 0, as a daemon does); SIGINT is
    # a person's Ctrl-C (exit 130, as a shell expects).
    interrupted = run.stopped == "signal" and control.reason == "SIGINT"
    return Outcome(
        result=result,
        exit_code=130 if interrupted else 0,
        warnings=warnings,
        human=lambda out: out.print(f"worker stopped ({run.stopped}): {summary}"),
    )


@contextlib.contextmanager
def _stopped_by_signals(control: WorkerControl, told: Callable[[str], None]) -> Iterator[None]:
    """SIGTERM or SIGINT stops the worker (``control``) the gentle way; a second one ends
    the process at once, as the signal would (what it was doing recovers like a crash)."""
    import signal

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    handled = (signal.SIGTERM, signal.SIGINT)

    def on_signal(signum: int, _frame: object) -> None:
        if control.stopping():
            for each in handled:
                signal.signal(each, signal.SIG_DFL)
            signal.raise_signal(signum)
            return
        name = signal.Signals(signum).name
        control.stop(name)
        told(name)

    previous = {number: signal.signal(number, on_signal) for number in handled}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _either(names: tuple[str, ...]) -> str:
    """``a, b or c``."""
    return f"{', '.join(names[:-1])} or {names[-1]}"
