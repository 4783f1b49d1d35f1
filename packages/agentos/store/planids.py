"""One changeset per plan id in the queue (SPEC §8): the error when a plan id is held by a
pending, running or done job with another checksum (``agentos.store.queue`` finds it; a
unique index of schema version 3 decides races)."""

from __future__ import annotations

from typing import Protocol

from agentos.errors import BusyError, PlanIdConflictError

SHOWN_CHECKSUM = len("sha256:") + 12


class Holder(Protocol):
    """What the error names of the job holding a plan id (an ``agentos.store.queue.Job``)."""

    @property
    def id(self) -> int: ...
    @property
    def plan_id(self) -> str: ...
    @property
    def checksum(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def commit(self) -> str | None: ...


def plan_id_taken(
    other: Holder, checksum: str, *, retried: int | None = None
) -> PlanIdConflictError:
    """The one error for a plan id that ``other`` (pending, running or done) holds with
    another checksum, refusing to queue ``checksum`` (or to retry job ``retried``)."""
    if other.status == "done":
        state = f"done: commit {(other.commit or '?')[:12]} is on the remote"
        todo = "plan the new changes under another id (agentos plan --plan-id ID)"
    else:
        state = other.status
        todo = (
            "plan the new changes under another id (agentos plan --plan-id ID), or abort job "
            f"{other.id} ('agentos queue abort {other.id}') or wait until it ends stale, "
            "failed, dead or aborted, then try again"
        )
    head = f"job {retried} cannot be retried: " if retried is not None else ""
    tail = "nothing changed" if retried is not None else "nothing queued"
    return PlanIdConflictError(
        f"{head}plan {other.plan_id} is job {other.id} already ({state}) with another checksum "
        f"({other.checksum[:SHOWN_CHECKSUM]}...); a plan id names one changeset: {todo}; {tail}",
        details={
            "plan_id": other.plan_id,
            "checksum": checksum,
            "job": {
                "id": other.id,
                "status": other.status,
                "checksum": other.checksum,
                "commit": other.commit,
            },
        },
    )


def changing_hands(what: str) -> BusyError:
    """The plan id's jobs kept ending and starting while ``what`` (exit 75: try again)."""
    return BusyError(f"the jobs of one plan id kept changing while {what}; try again")
