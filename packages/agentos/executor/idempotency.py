"""Idempotency records, with Stripe's semantics (SPEC §8).

One record per plan id, ``.agentos/idempotency/<plan_id>.json``, keyed by the plan's checksum:

- committed, same checksum, not expired -> replay: exit 0, "already applied", no writes;
- committed, another checksum, not expired -> the plan id was reused for other content: exit 5;
- failed or rolled back -> a new attempt is allowed, and attempts are counted;
- reverted (``agentos rollback`` undid it) -> applying again is a new attempt;
- expired (older than ``cached_result_ttl``) -> ignored; the drift check then recognises a
  workspace that already holds the post-images as already applied.

Records are sealed with the workspace key: a hand-written or edited record is refused
(exit 6), so it can never make a plan count as applied.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from agentos.clock import parse_rfc3339
from agentos.digest import canonical_json
from agentos.errors import ConflictError, StateIntegrityError
from agentos.faults import fault_point
from agentos.statefs import read_bytes, write_atomic

RecordStatus = Literal["committed", "failed", "rolled_back", "reverted"]
SEAL_PURPOSE = "idempotency"


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
    """The plan id's record (None when there is none); ``StateIntegrityError`` (exit 6) when
    it is not one agentos wrote here (unreadable, or its seal does not verify)."""
    from agentos.statekey import state_key

    path = record_path(state_dir, plan_id)
    try:
        raw = json.loads(read_bytes(path))
        seal = raw.pop("seal", None)
        record = IdempotencyRecord(**raw)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        raise _forged(path, f"it is not an idempotency record ({exc})") from None
    if not state_key(state_dir).verify(SEAL_PURPOSE, _payload(record), seal):
        raise _forged(path, "it is not sealed by this workspace's key")
    if record.plan_id != plan_id:
        raise _forged(path, f"it is the record of plan {record.plan_id!r}, not of {plan_id!r}")
    return record


def _forged(path: Path, why: str) -> StateIntegrityError:
    return StateIntegrityError(
        f"{path}: {why}: it was forged or edited outside agentos, so it cannot say whether the "
        "plan was applied (nothing was written) — remove it and apply again; the drift check "
        "recognises files that already hold the plan's result",
        details={"record": str(path)},
    )


def _payload(record: IdempotencyRecord) -> bytes:
    return canonical_json(record.to_json())


def write_record(state_dir: Path, record: IdempotencyRecord, *, durable: bool) -> None:
    """Seal and replace the plan id's record atomically."""
    from agentos.statekey import state_key

    stored = {**record.to_json(), "seal": state_key(state_dir).seal(SEAL_PURPOSE, _payload(record))}
    data = json.dumps(stored, sort_keys=True, indent=1).encode("utf-8") + b"\n"
    fault_point("idempotency.write.before")
    write_atomic(record_path(state_dir, record.plan_id), data, durable=durable)
    fault_point("idempotency.write.after")


def is_live(record: IdempotencyRecord, *, now: datetime, ttl: float) -> bool:
    """A committed record that has not expired."""
    if record.status != "committed" or record.committed_at is None:
        return False
    committed = parse_rfc3339(record.committed_at)
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


def abandon(state_dir: Path, plan_id: str, checksum: str, *, at: str) -> bool:
    """Mark the committed record of ``plan_id`` with ``checksum`` rolled back: its
    execution's git commit was dropped without landing anywhere (a queue worker's job that
    ended stale), and the checkout no longer holds it, so applying that plan id again — a
    corrected plan included — is a new attempt. False when the record is not that one."""
    from dataclasses import replace

    record = read_record(state_dir, plan_id)
    if record is None or record.status != "committed" or record.checksum != checksum:
        return False
    write_record(state_dir, replace(record, status="rolled_back", updated_at=at), durable=True)
    return True
