"""Idempotency records, with Stripe's semantics (SPEC §8).

One record per plan id, ``.agentos/idempotency/<plan_id>.json``, keyed by the plan's checksum:

- committed, same checksum, not expired -> replay: exit 0, "already applied", no writes;
- committed, another checksum, not expired -> the plan id was reused for other content: exit 5;
- failed or rolled back -> a new attempt is allowed, and attempts are counted;
- reverted (``agentos rollback`` undid it) -> applying again is a new attempt;
- expired (older than ``cached_result_ttl``) -> ignored; the drift check then recognises a
  workspace that already holds the post-images as already applied.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from agentos.errors import ConflictError
from agentos.faults import fault_point
from agentos.statefs import write_atomic

RecordStatus = Literal["committed", "failed", "rolled_back", "reverted"]


@dataclass(frozen=True)
class IdempotencyRecord:
    """What happened last to one plan id."""

    plan_id: str
    checksum: str
    execution_id: str
    status: RecordStatus
    attempts: int
    updated_at: str
    committed_at: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The stored form."""
        return dict(self.__dict__)


def record_path(state_dir: Path, plan_id: str) -> Path:
    """Where a plan id's record lives."""
    return state_dir / "idempotency" / f"{plan_id}.json"


def read_record(state_dir: Path, plan_id: str) -> IdempotencyRecord | None:
    """The plan id's record (None when there is none or it is unreadable)."""
    try:
        raw = json.loads(record_path(state_dir, plan_id).read_text("utf-8"))
        return IdempotencyRecord(**raw)
    except (OSError, ValueError, TypeError):
        return None


def write_record(state_dir: Path, record: IdempotencyRecord, *, durable: bool) -> None:
    """Replace the plan id's record atomically."""
    data = json.dumps(record.to_json(), sort_keys=True, indent=1).encode("utf-8") + b"\n"
    fault_point("idempotency.write.before")
    write_atomic(record_path(state_dir, record.plan_id), data, durable=durable)
    fault_point("idempotency.write.after")


def is_live(record: IdempotencyRecord, *, now: datetime, ttl: float) -> bool:
    """A committed record that has not expired."""
    if record.status != "committed" or record.committed_at is None:
        return False
    committed = datetime.fromisoformat(record.committed_at)
    return (now - committed).total_seconds() < ttl


Lookup = Literal["replay", "proceed"]


def lookup(record: IdempotencyRecord | None, *, checksum: str, now: datetime, ttl: float) -> Lookup:
    """``replay`` for a live committed record of the same bytes; ``ConflictError`` (exit 5)
    for a live one of other bytes; otherwise ``proceed``."""
    if record is None or not is_live(record, now=now, ttl=ttl):
        return "proceed"
    if record.checksum == checksum:
        return "replay"
    raise ConflictError(
        f"plan id {record.plan_id!r} was already applied with other content "
        f"({record.checksum}, execution {record.execution_id}); a plan id names one change — "
        "plan this one under another --plan-id, or roll the first back",
        details={
            "plan_id": record.plan_id,
            "committed_checksum": record.checksum,
            "execution_id": record.execution_id,
        },
    )


def attempts_so_far(record: IdempotencyRecord | None, checksum: str) -> int:
    """How many times these exact bytes were attempted before."""
    if record is None or record.checksum != checksum:
        return 0
    return record.attempts
