"""``agentos worker``: take jobs from the queue and apply them on the shared remote (SPEC §14).

One job at a time: claim it (``store.queue.claim``: ``FOR UPDATE SKIP LOCKED``, a lease),
renew the lease from a heartbeat thread while working, and end the job once:

- its commit is found on the remote branch (``done``, also when an earlier claimant pushed
  it and stopped before recording it: the plan is never applied twice);
- else the plan is applied through the pipeline with ``--commit`` semantics and pushed; a
  rejected push fetches again: a plan whose paths changed there is ``stale``, else its
  commit is rebased onto the new head and pushed again (``PUSH_TRIES`` in all);
- a retryable failure (busy, a push race lost too often, git or the store out of reach)
  goes back to the queue after a delay of the retry strategy, ``dead`` after
  ``max_attempts``; a refusal no retry changes (stale 5, denied 3, needs approval 4,
  integrity 6, a failed check) ends it at once (``stale`` or ``failed``) with its reason;
- an abort (``queue abort``) stops it: before it starts, or while it runs (the local
  execution is asked to stop and rolls back), or before its push.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agentos.errors import AgentosError, StoreUnavailableError, UsageError
from agentos.faults import fault_point
from agentos.pipeline.context import Context
from agentos.pipeline.jobrun import JobOutcome
from agentos.verify.retry import RetryPolicy, next_delay

if TYPE_CHECKING:
    from agentos.pipeline.runner import Checkout
    from agentos.store.postgres import PostgresStore
    from agentos.store.queue import Job, Payload

DEFAULT_RETRY = RetryPolicy(
    strategy="exponential", max_attempts=5, base_delay=1.0, max_delay=60.0, jitter="full"
)
# While the store cannot be reached, a worker waits between tries at least this long (also
# with ``--retry-delay 0``) and at most the retry strategy's ``max_delay`` (or this floor).
OUTAGE_FLOOR = 0.25
# ... and gives up (exit 75) once it has been out of reach this many seconds in a row.
STORE_PATIENCE = 300.0


# Told each time the store could not be reached: the error, the tries so far, the delay.
OnOutage = Callable[[StoreUnavailableError, int, float], None]


@dataclass(frozen=True)
class WorkerSettings:
    """How a worker runs: ``once`` (one job at most), ``drain`` (until nothing is pending
    or running), ``max_jobs`` (then stop), the lease and poll intervals in seconds, the
    retry strategy (its ``max_attempts`` is not used: each job has its own)."""

    once: bool = False
    drain: bool = False
    max_jobs: int | None = None
    lease: float = 60.0
    poll: float = 2.0
    retry: RetryPolicy = DEFAULT_RETRY
    owner: str | None = None
    store_patience: float = STORE_PATIENCE


@dataclass(frozen=True)
class WorkerRun:
    """What a worker did before it stopped, and why it stopped."""

    owner: str
    outcomes: tuple[JobOutcome, ...]
    stopped: str  # once | drained | max_jobs | idle


@dataclass
class Lease:
    """The heartbeat of one job: renews its lease; notes a lost lease or an abort asked."""

    store: PostgresStore
    job: Job
    seconds: float
    on_abort: Callable[[str], None]
    lost: bool = False
    abort_reason: str | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Lease:
        self._thread = threading.Thread(target=self._beat, name=f"lease-{self.job.id}")
        self._thread.daemon = True
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _beat(self) -> None:
        from agentos.store.queue import renew

        while not self._stop.wait(max(self.seconds / 3, 0.05)):
            try:
                beat = renew(self.store, self.job, self.seconds)
            except AgentosError:
                continue  # the store is away: try again at the next beat
            if not beat.held:
                self.lost = True
                return
            if beat.abort_requested and self.abort_reason is None:
                self.abort_reason = beat.abort_reason or ""
                self.on_abort(self.abort_reason)


def run_worker(
    ctx: Context,
    settings: WorkerSettings,
    *,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
    on_outcome: Callable[[JobOutcome], None] | None = None,
    on_outage: OnOutage | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> WorkerRun:
    """Take and apply jobs as ``settings`` say, in the workspace's git checkout.

    While the store is out of reach (a server restart, a network cut) the worker waits with
    its retry strategy (``OUTAGE_FLOOR`` at least), telling ``on_outage`` the error, the
    count of failed tries and the delay; it gives up (the error) once the store has been
    away ``settings.store_patience`` seconds in a row."""
    from agentos.executor.shared import share_records
    from agentos.pipeline.runner import changed_paths, open_checkout, refuse_changes
    from agentos.pipeline.store import postgres_store
    from agentos.store import queue

    store = postgres_store(ctx, "'agentos worker'")
    checkout = open_checkout(ctx.workspace.root)
    refuse_changes(changed_paths(checkout.repo), ctx.workspace.root)
    # The queue decides across runners (one claimant, the trailer on the remote); the
    # shared idempotency record is written once the commit has landed.
    share_records(ctx.workspace.state_dir, None)
    rng = rng or random.Random()  # noqa: S311 - spreads retries; nothing secret
    owner = settings.owner or _owner(ctx)
    outcomes: list[JobOutcome] = []
    outages = 0
    away_since = 0.0
    while True:
        if settings.max_jobs is not None and len(outcomes) >= settings.max_jobs:
            return WorkerRun(owner, tuple(outcomes), "max_jobs")
        try:
            fault_point("worker.claim.before")
            claimed = queue.claim(store, owner, settings.lease)
            left = queue.unfinished(store) if claimed is None and settings.drain else 1
        except StoreUnavailableError as away:
            now = clock()
            outages += 1
            away_since = now if outages == 1 else away_since
            if now - away_since >= settings.store_patience:
                raise
            delay = _outage_delay(settings.retry, outages, rng)
            if on_outage is not None:
                on_outage(away, outages, delay)
            sleep(delay)
            continue
        outages = 0
        if claimed is None:
            if settings.once:
                return WorkerRun(owner, tuple(outcomes), "idle")
            if settings.drain and left == 0:
                return WorkerRun(owner, tuple(outcomes), "drained")
            sleep(settings.poll)
            continue
        fault_point("worker.claim.after")
        outcome = work(
            ctx,
            store,
            checkout,
            claimed[0],
            claimed[1],
            settings=settings,
            rng=rng,
            sleep=sleep,
            on_outage=on_outage,
        )
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)
        if settings.once:
            return WorkerRun(owner, tuple(outcomes), "once")


def _outage_delay(policy: RetryPolicy, outages: int, rng: random.Random) -> float:
    """How long to wait before trying an unreachable store again."""
    from dataclasses import replace

    floor = max(policy.base_delay, OUTAGE_FLOOR)
    waiting = replace(policy, base_delay=floor, max_delay=max(policy.max_delay, floor))
    return max(next_delay(waiting, outages, rng), OUTAGE_FLOOR)


def _owner(ctx: Context) -> str:
    import os
    import secrets
    import socket

    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}:{ctx.workspace.root}"


def work(
    ctx: Context,
    store: PostgresStore,
    checkout: Checkout,
    job: Job,
    payload: Payload,
    *,
    settings: WorkerSettings,
    rng: random.Random,
    sleep: Callable[[float], None],
    on_outage: OnOutage | None = None,
) -> JobOutcome:
    """Apply one claimed job under its lease, and record how it ended."""
    from agentos.pipeline.execution import abort as abort_local
    from agentos.pipeline.jobrun import attempt

    def on_abort(reason: str) -> None:
        abort_local(ctx, reason=reason or f"job {job.id} aborted")

    try:
        with Lease(store, job, settings.lease, on_abort) as lease:
            outcome = attempt(ctx, checkout, job, payload, lease)
    except UsageError:
        _settle(lambda: _release(store, job), sleep, on_outage)
        raise
    return _record(
        store, job, outcome, settings=settings, rng=rng, sleep=sleep, on_outage=on_outage
    )


def _release(store: PostgresStore, job: Job) -> bool:
    from agentos.store.queue import release

    return release(store, job)


def _record(
    store: PostgresStore,
    job: Job,
    outcome: JobOutcome,
    *,
    settings: WorkerSettings,
    rng: random.Random,
    sleep: Callable[[float], None],
    on_outage: OnOutage | None = None,
) -> JobOutcome:
    """Write how the job ended (retrying while the store is away); ``lost`` when another
    worker holds its lease now."""
    from dataclasses import replace

    from agentos.store import queue

    if outcome.status == "lost":
        return outcome
    fault_point("worker.record.before")
    if outcome.status == "retry":
        delay = next_delay(settings.retry, job.attempts, rng)
        went = _settle(
            lambda: queue.retry_later(
                store, job, delay, outcome.error or "", outcome.kind or "error"
            ),
            sleep,
            on_outage,
        )
        return replace(outcome, status="lost" if went is None else str(went))
    result = {"commit": outcome.commit, "found": outcome.found}
    ok = _settle(
        lambda: queue.finish(
            store,
            job,
            outcome.status,
            error=outcome.error,
            kind=outcome.kind,
            commit=outcome.commit,
            result=result,
        ),
        sleep,
        on_outage,
    )
    return outcome if ok else replace(outcome, status="lost")


def _settle(
    write: Callable[[], Any], sleep: Callable[[float], None], on_outage: OnOutage | None = None
) -> Any:
    """``write()``, tried again while the store cannot be reached (a minute at most)."""
    waited = 0.0
    delay = 0.2
    tries = 0
    while True:
        try:
            return write()
        except StoreUnavailableError as away:
            if waited > 60:
                raise
            tries += 1
            if on_outage is not None:
                on_outage(away, tries, delay)
            sleep(delay)
            waited += delay
            delay = min(delay * 2, 5.0)
