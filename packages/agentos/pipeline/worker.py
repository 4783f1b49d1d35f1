"""``agentos worker``: take jobs from the queue and apply them on the shared remote (SPEC §14).

One job at a time: claim it (``store.queue.claim``: ``FOR UPDATE SKIP LOCKED``, a lease),
renew the lease from a heartbeat thread while working, and end the job once:

- its commit is found on the remote branch (``done``, also when an earlier claimant pushed
  it and stopped before recording it: the plan is never applied twice);
- else the plan is applied through the pipeline with ``--commit`` semantics and pushed; a
  rejected push fetches again: a plan whose paths changed there is ``stale``, else its
  commit is rebased onto the new head and pushed again (``PUSH_RACES`` in all, after a
  short random wait that grows);
- a retryable failure (busy, a push race lost too often, git or the store out of reach)
  goes back to the queue after a delay of the retry strategy, ``dead`` after
  ``max_attempts``; a refusal no retry changes (stale 5, denied 3, needs approval 4,
  integrity 6, a failed check) ends it at once (``stale`` or ``failed``) with its reason;
- an abort (``queue abort``) stops it: before it starts, or while it runs (the local
  execution is asked to stop and rolls back), or before its push.

A front-end stops a worker with ``WorkerControl.stop`` (``agentos worker`` on SIGTERM or
SIGINT): it claims nothing more, and the job in flight is asked to stop (its execution rolls
back before its commit point) and is given back to the queue untried — unless its commit is
on the remote already (``done``) or it ended for good (``stale``). ``concurrency`` above 1
runs that many slots, each in a checkout of its own:

A git work tree holds one job at a time, so each slot has a checkout of its own: slot 0
works in the worker's checkout; slot ``n`` in a clone of it kept at
``.agentos/workers/slot-n`` (made on first use with ``git clone``, objects hard-linked where
the file system allows; reused afterwards, with the state of the executions it ran), whose
``origin`` is the worker's ``origin``. Every slot is a worker of its own for the queue (its
lease owner name, its claims, its heartbeats, a context of its own under the same policy),
and all of them share ``max_jobs`` and the stop: once one is asked for, or a slot fails,
no slot claims another job and the jobs in flight are given back (``run_slot``).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from pathlib import Path

from agentos.errors import UsageError
from agentos.pipeline.context import Context, open_context
from agentos.pipeline.jobrun import JobOutcome
from agentos.pipeline.workerjob import OnOutage, WorkerControl, WorkerSettings
from agentos.pipeline.workerslot import Budget, Slot, SlotRun, WorkerRun, open_slot, run_slot

SLOTS_DIR = "workers"
# How often the main thread looks whether the slots ended (it stays free for signals).
JOIN_SECONDS = 0.2


def run_worker(
    ctx: Context,
    settings: WorkerSettings,
    *,
    control: WorkerControl | None = None,
    sleep: Callable[[float], None] | None = None,
    rng: random.Random | None = None,
    on_outcome: Callable[[JobOutcome], None] | None = None,
    on_outage: OnOutage | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> WorkerRun:
    """Take and apply jobs as ``settings`` say, in the workspace's git checkout (and, with
    ``concurrency`` above 1, in as many slots, each in a checkout of its own); the first
    error of a slot is raised once all of them stopped (the others were stopped by it).

    While the store is out of reach (a server restart, a network cut) the worker waits with
    its retry strategy (``OUTAGE_FLOOR`` at least), telling ``on_outage`` the error, the
    count of failed tries and the delay; it gives up (the error) once the store has been
    away ``settings.store_patience`` seconds in a row. ``control`` stops it from outside."""
    control = control or WorkerControl()
    first = open_slot(ctx, settings)
    slots = [first]
    if settings.concurrency > 1:
        # ``--policy`` holds for every slot; else each slot reads the policy of its own
        # checkout (a tracked file: the one of the commit the slot applies on).
        policy = ctx.policy_path
        if policy is None and ctx.workspace.policy_path.is_file() and not _tracked(ctx):
            policy = ctx.workspace.policy_path  # not in git: the slots' clones lack it
        for index in range(1, settings.concurrency):
            each = open_context(
                slot_checkout(ctx, index), policy=policy, actor=ctx.actor, clock=ctx.clock,
                approval_key=ctx.approval_key, on_wait=ctx.on_wait,
            )  # fmt: skip
            slots.append(open_slot(each, settings, index=index, like=first.checkout))
    seeds = rng or random.Random()  # noqa: S311 - spreads retries; nothing secret
    budget = Budget(settings.max_jobs)
    outcomes: list[JobOutcome] = []
    stopped = [""] * len(slots)
    errors: list[BaseException] = []
    told = threading.Lock()

    def tell(outcome: JobOutcome) -> None:
        if on_outcome is not None:
            with told:
                on_outcome(outcome)

    def run(slot: Slot, seed: float) -> None:
        spread = random.Random(seed)  # noqa: S311 - spreads retries; nothing secret
        try:
            stopped[slot.index] = run_slot(
                slot, settings, control=control, budget=budget, outcomes=outcomes,
                sleep=sleep, rng=spread, on_outcome=tell, on_outage=on_outage,
                clock=clock,
            )  # fmt: skip
        except BaseException as exc:  # raised again by the main thread once all stopped
            errors.append(exc)
            stopped[slot.index] = "error"
            control.stop(f"slot {slot.index} failed")

    # Every slot in a thread of its own: the main thread stays free for signal handlers.
    threads = [
        threading.Thread(target=run, args=(s, seeds.random()), name=f"worker-slot-{s.index}")
        for s in slots
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():
            thread.join(JOIN_SECONDS)
    if errors:
        raise errors[0]
    ran = tuple(
        SlotRun(s.index, str(s.ctx.workspace.root), s.owner, stopped[s.index], s.mended)
        for s in slots
    )
    return WorkerRun(first.owner, tuple(outcomes), _why(stopped, control), ran)


def slot_dir(ctx: Context, index: int) -> Path:
    """Where slot ``index`` (1 and up) keeps its checkout."""
    return ctx.workspace.state_dir / SLOTS_DIR / f"slot-{index}"


def slot_checkout(ctx: Context, index: int) -> Path:
    """The checkout of slot ``index``: made by cloning the worker's checkout the first time
    (into a scratch name, then renamed: a half-made clone is never taken for one), its
    ``origin`` set to the worker's and its committer to the worker's."""
    from agentos.gitrun import run_git
    from agentos.statefs import ensure_dir, remove_tree, rename
    from agentos.workspace import ensure_state_dir

    root = ctx.workspace.root
    url = _absolute_url(root, _config(root, "remote.origin.url"))
    target = slot_dir(ctx, index)
    if not (target / ".git").is_dir():
        ensure_state_dir(ctx.workspace)
        ensure_dir(target.parent)
        scratch = target.with_name(f".{target.name}.making")
        remove_tree(scratch)
        remove_tree(target)
        done = run_git(["clone", "-q", "--", str(root), str(scratch)], cwd=target.parent)
        if done.returncode != 0:
            remove_tree(scratch)
            raise UsageError(
                f"worker --concurrency: could not make slot {index}'s checkout at {target} "
                f"(git clone: {done.reason()}); mend that, or run fewer slots"
            )
        rename(scratch, target)
    _sync_config(root, target, url)
    return target


# The settings of the worker's checkout a slot's clone takes over: who commits and signs,
# and how the remote is reached (push URL, ssh command, URL rewrites, credentials, http).
SYNCED_SECTIONS = ("user.", "url.", "credential.", "http.", "gpg.", "commit.", "push.")
SYNCED_KEYS = ("remote.origin.pushurl", "core.sshcommand")


def _sync_config(root: Path, target: Path, url: str) -> None:
    """Give the slot's clone ``url`` as its origin and the worker's own settings that decide
    how it commits and reaches the remote (its repository config; global config is shared)."""
    from agentos.gitrun import run_git

    def synced(key: str) -> bool:
        return key.startswith(SYNCED_SECTIONS) or key in SYNCED_KEYS

    wanted: dict[str, list[str]] = {"remote.origin.url": [url]}
    for key, value in _local_config(root):
        if synced(key):
            reached = _absolute_url(root, value) if key == "remote.origin.pushurl" else value
            wanted.setdefault(key, []).append(reached)
    held: dict[str, list[str]] = {}
    for key, value in _local_config(target):
        held.setdefault(key, []).append(value)
    for key in held:
        if synced(key) and key not in wanted:  # gone from the worker's checkout
            run_git(["config", "--local", "--unset-all", key], cwd=target)
    for key, values in wanted.items():
        if held.get(key) == values:
            continue
        run_git(["config", "--local", "--unset-all", key], cwd=target)
        for value in values:
            run_git(["config", "--local", "--add", key, value], cwd=target)


def _local_config(where: Path) -> list[tuple[str, str]]:
    """The repository's own config entries (key lower-cased as git gives it, value)."""
    from agentos.gitrun import run_git

    done = run_git(["config", "--local", "--list", "-z"], cwd=where)
    if done.returncode != 0:
        return []
    entries = []
    for entry in done.stdout.decode("utf-8", "replace").split("\0"):
        key, newline, value = entry.partition("\n")
        if key:
            # A key with no "=" at all is a boolean that is true; an empty value is false.
            entries.append((key, value if newline else "true"))
    return entries


def _config(where: Path, key: str) -> str | None:
    from agentos.gitrun import run_git

    done = run_git(["config", "--get", key], cwd=where)
    return done.stdout.decode("utf-8", "replace").strip() or None if done.returncode == 0 else None


def _absolute_url(root: Path, url: str | None) -> str:
    """``url`` as a clone elsewhere reaches it: a relative path is taken from ``root``."""
    if url is None:
        raise UsageError(
            f"worker: the checkout at {root} has no remote 'origin': a worker runs in a clone "
            "of the shared repository (git clone URL DIR; agentos -C DIR worker)"
        )
    scp_like = ":" in url.split("/", 1)[0]
    if "://" in url or scp_like or Path(url).is_absolute():
        return url
    return str((root / url).resolve())


def _tracked(ctx: Context) -> bool:
    """Whether git tracks the workspace's policy file (so each slot's clone has its own)."""
    from agentos.gitrun import run_git

    path = ctx.workspace.policy_path
    done = run_git(["ls-files", "--error-unmatch", "--", path.name], cwd=path.parent)
    return done.returncode == 0


def _why(stopped: list[str], control: WorkerControl) -> str:
    """Why the whole worker stopped, from its slots'."""
    if control.stopping():
        return "signal"
    if "max_jobs" in stopped:
        return "max_jobs"
    return "drained" if all(s == "drained" for s in stopped) else stopped[0]
