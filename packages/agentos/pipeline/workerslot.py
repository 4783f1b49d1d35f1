"""One slot of a worker (``agentos worker``, SPEC §14): its checkout, its lease owner name,
and its loop — claim (``FOR UPDATE SKIP LOCKED``), work (``agentos.pipeline.workerjob``),
until it stops: ``once``, ``idle``, ``drained``, ``max_jobs`` (a ``Budget`` the slots of a
worker share) or ``signal`` (``WorkerControl``). While the store is out of reach the loop
waits with the retry strategy, and gives up after ``store_patience`` seconds in a row.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agentos.errors import StoreUnavailableError, UsageError
from agentos.faults import fault_point
from agentos.pipeline.context import Context
from agentos.pipeline.jobrun import JobOutcome
from agentos.pipeline.workerjob import OnOutage, WorkerControl, WorkerSettings, work
from agentos.verify.retry import RetryPolicy, next_delay

if TYPE_CHECKING:
    from agentos.pipeline.runner import Checkout
    from agentos.store.postgres import PostgresStore


# While the store cannot be reached, a worker waits between tries at least this long (also
# with ``--retry-delay 0``) and at most the retry strategy's ``max_delay`` (or this floor).
OUTAGE_FLOOR = 0.25
# How long a slot waits for the other slots' tickets of ``--max-jobs`` (one may come back).
BUDGET_WAIT = 0.05


@dataclass(frozen=True)
class SlotRun:
    """One slot of a worker: its checkout, its lease owner name, why it stopped."""

    slot: int
    checkout: str
    owner: str
    stopped: str
    mended: tuple[str, ...] = ()

    def row(self) -> dict[str, object]:
        return {"slot": self.slot, "checkout": self.checkout, "worker": self.owner,
                "stopped": self.stopped, "mended": list(self.mended)}  # fmt: skip


@dataclass(frozen=True)
class WorkerRun:
    """What a worker did before it stopped, and why it stopped; ``slots``: each slot's
    (one without ``concurrency``)."""

    owner: str
    outcomes: tuple[JobOutcome, ...]
    stopped: str  # once | drained | max_jobs | idle | signal
    slots: tuple[SlotRun, ...] = ()


class Budget:
    """The jobs a worker may still take, across its slots (``max_jobs``; None: no end). A
    slot takes a ticket before it claims, then spends it (a job claimed) or gives it back."""

    def __init__(self, jobs: int | None) -> None:
        self._left = jobs
        self._loaned = 0
        self._lock = threading.Lock()

    def take(self) -> bool | None:
        """True: claim; False: every job was taken; None: the rest are on loan to other
        slots now (look again soon: one may be given back)."""
        with self._lock:
            if self._left is None:
                return True
            if self._left == 0:
                return False
            if self._left - self._loaned <= 0:
                return None
            self._loaned += 1
            return True

    def spend(self) -> None:
        with self._lock:
            if self._left is not None:
                self._loaned -= 1
                self._left -= 1

    def give_back(self) -> None:
        with self._lock:
            if self._left is not None:
                self._loaned -= 1


@dataclass(frozen=True)
class Slot:
    """Where one slot works: its context, store, checkout and lease owner name."""

    index: int
    ctx: Context
    store: PostgresStore
    checkout: Checkout
    owner: str
    # Executions a worker killed mid-job left applied and uncommitted, rolled back at start.
    mended: tuple[str, ...] = ()


def open_slot(
    ctx: Context, settings: WorkerSettings, *, index: int = 0, like: Checkout | None = None
) -> Slot:
    """The slot working in ``ctx``'s checkout, which must be a clean clone with an
    ``origin`` (a ``UsageError`` says why not); ``like``: the checkout whose branch is this
    slot's default target (None, detached, included), else its own."""
    from agentos.executor.shared import share_records
    from agentos.pipeline.jobstate import mend
    from agentos.pipeline.runner import Checkout, changed_paths, open_checkout, refuse_changes
    from agentos.pipeline.store import postgres_store

    store = postgres_store(ctx, "'agentos worker'")
    checkout = open_checkout(ctx.workspace.root)
    # The queue decides across runners (one claimant, the trailer on the remote); the
    # shared idempotency record is written once the commit has landed. So is what the
    # start-up below rolls back: this checkout's own business.
    share_records(ctx.workspace.state_dir, None)
    if changed_paths(checkout.repo):
        # A worker killed in the middle of a job left its journal hot: roll that back first
        # (the files it wrote go back), then see whether anything else is changed.
        from agentos.pipeline.execution import recover

        recover(ctx)
    # ... or it was killed after its execution's commit point, before git committed it.
    mended, stuck = mend(ctx, checkout.repo)
    changed = changed_paths(checkout.repo)
    if stuck and not changed:  # put back by hand meanwhile: nothing left to mend
        from agentos.pipeline.runner import applying, clear_applying

        for execution_id, attempt in applying(checkout.repo):
            if any(execution_id == each for each, _ in stuck):
                clear_applying(checkout.repo, execution_id, attempt)
    if changed and stuck:
        execution_id, why = stuck[0]
        root = ctx.workspace.root
        raise UsageError(
            f"worker: the checkout at {root} holds the files of execution {execution_id}, "
            f"applied by a worker that stopped before git committed them, and rolling them "
            f"back failed ({why}); undo them with 'agentos -C {root} rollback {execution_id}', "
            "then start the worker again",
            details={"changed": changed, "execution_id": execution_id},
        )
    refuse_changes(changed, ctx.workspace.root)
    if like is not None:
        checkout = Checkout(checkout.repo, like.branch)
    owner = settings.owner or _owner(ctx)
    if settings.owner and index:
        owner = f"{settings.owner}#{index}"
    return Slot(index, ctx, store, checkout, owner, tuple(mended))


def run_slot(
    slot: Slot,
    settings: WorkerSettings,
    *,
    control: WorkerControl,
    budget: Budget,
    outcomes: list[JobOutcome],
    sleep: Callable[[float], None] | None = None,
    rng: random.Random | None = None,
    on_outcome: Callable[[JobOutcome], None] | None = None,
    on_outage: OnOutage | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> str:
    """One slot's loop: claim, work, record, until it stops; each outcome is appended to
    ``outcomes``; why it stopped (``once``, ``idle``, ``drained``, ``max_jobs``, ``signal``)."""
    from agentos.store import queue

    pause = sleep or control.wait
    rng = rng or random.Random()  # noqa: S311 - spreads retries; nothing secret
    outages = 0
    away_since = 0.0
    while True:
        if control.stopping():
            return "signal"
        ticket = budget.take()
        if ticket is None:  # other slots hold the jobs left: one of them may come back
            pause(BUDGET_WAIT)
            continue
        if not ticket:
            return "max_jobs"
        try:
            fault_point("worker.claim.before")
            claimed = queue.claim(slot.store, slot.owner, settings.lease)
            left = queue.unfinished(slot.store) if claimed is None and settings.drain else 1
        except StoreUnavailableError as away:
            budget.give_back()
            now = clock()
            outages += 1
            away_since = now if outages == 1 else away_since
            if now - away_since >= settings.store_patience:
                raise
            delay = _outage_delay(settings.retry, outages, rng)
            if on_outage is not None:
                on_outage(away, outages, delay)
            pause(delay)
            continue
        outages = 0
        if claimed is None:
            budget.give_back()
            if settings.once:
                return "idle"
            if settings.drain and left == 0:
                return "drained"
            pause(settings.poll)
            continue
        budget.spend()
        fault_point("worker.claim.after")
        # Recording an outcome, or a push race, waits for real also when a stop was asked.
        outcome = work(
            slot.ctx, slot.store, slot.checkout, claimed[0], claimed[1], settings=settings,
            rng=rng, sleep=sleep or time.sleep, on_outage=on_outage, control=control,
        )  # fmt: skip
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)
        if settings.once:
            return "once"


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
