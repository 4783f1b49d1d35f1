"""One claimed job under its lease (``agentos worker``, SPEC §14): the settings a worker
runs with, how a front-end stops it (``WorkerControl``), the heartbeat (``Lease``), and
``work``: the attempt (``agentos.pipeline.jobrun``) and how its end is recorded in the queue
— done, stale, failed, aborted, back to the queue after a delay (``dead`` once
``max_attempts`` are spent), or given back untried when the worker is stopping.
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
from agentos.pipeline.jobstate import CHECKOUT_LEFT
from agentos.verify.retry import RetryPolicy, next_delay

if TYPE_CHECKING:
    from agentos.pipeline.runner import Checkout
    from agentos.store.postgres import PostgresStore
    from agentos.store.queue import Job, Payload


DEFAULT_RETRY = RetryPolicy(
    strategy="exponential", max_attempts=5, base_delay=1.0, max_delay=60.0, jitter="full"
)

# A worker gives up (exit 75) once the store has been out of reach this many seconds in a row.
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
    concurrency: int = 1


class WorkerControl:
    """How a front-end stops a worker and the slots it runs: ``stop(reason)`` (safe in a
    signal handler: it sets attributes, takes no lock) — no job is claimed after it, and the
    execution in flight is asked to stop through ``token``."""

    def __init__(self) -> None:
        from agentos.executor.abort import StopToken

        self.reason: str | None = None
        self.token = StopToken()

    def stop(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
            self.token.stop(reason)

    def stopping(self) -> bool:
        """Whether a stop was asked for."""
        return self.reason is not None

    def wait(self, seconds: float) -> None:
        """Sleep ``seconds``, cut short (within 0.1 s) once a stop is asked for."""
        end = time.monotonic() + seconds
        while self.reason is None:
            left = end - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, 0.1))


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
    control: WorkerControl | None = None,
) -> JobOutcome:
    """Apply one claimed job under its lease, and record how it ended. A worker that is
    stopping (``control``) gives the job back untried unless it ended for good."""
    from agentos.executor.abort import stop_token
    from agentos.pipeline.execution import abort as abort_local
    from agentos.pipeline.jobrun import attempt
    from agentos.store.queue import release

    control = control or WorkerControl()

    def on_abort(reason: str) -> None:
        abort_local(ctx, reason=reason or f"job {job.id} aborted")

    if control.stopping():
        return _give_back(store, job, control, None, sleep=sleep, on_outage=on_outage)
    try:
        with Lease(store, job, settings.lease, on_abort) as lease, stop_token(control.token):
            outcome = attempt(ctx, checkout, job, payload, lease, pause=sleep, rng=rng)
    except UsageError:
        _settle(lambda: release(store, job), sleep, on_outage)
        raise
    asked = job.abort_requested_at is not None or lease.abort_reason is not None
    if control.stopping() and not asked and _stopped_by_it(outcome):
        recorded = _give_back(store, job, control, outcome, sleep=sleep, on_outage=on_outage)
    else:
        recorded = _record(
            store, job, outcome, settings=settings, rng=rng, sleep=sleep, on_outage=on_outage
        )
    if outcome.kind == CHECKOUT_LEFT:
        from agentos.errors import RecoveryFailedError

        raise RecoveryFailedError(outcome.error or "the worker's checkout needs attention")
    return recorded


def _stopped_by_it(outcome: JobOutcome) -> bool:
    """Whether ``outcome`` may be the stop's doing — the execution aborted, a check or a git
    command killed with the worker's process group, a retry — rather than the plan's own
    end (done, stale, denied, needs approval, a plan that does not verify)."""
    return outcome.status in ("aborted", "retry") or outcome.kind == "rolled_back"


def _give_back(
    store: PostgresStore,
    job: Job,
    control: WorkerControl,
    outcome: JobOutcome | None,
    *,
    sleep: Callable[[float], None],
    on_outage: OnOutage | None,
) -> JobOutcome:
    """The worker is stopping: ``job`` goes back to the queue, its attempt not counted."""
    from dataclasses import replace

    from agentos.store.queue import release

    said = f"the worker stopped ({control.reason}); the job is back in the queue untried"
    if outcome is None:
        outcome = JobOutcome(job.id, job.plan_id, job.attempts, "released")
    if outcome.error:
        said += f" (it had ended: {outcome.error})"
    released = _settle(lambda: release(store, job), sleep, on_outage)
    status = "released" if released else "lost"
    return replace(outcome, status=status, error=said, kind="worker_stopped", commit=None)


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
