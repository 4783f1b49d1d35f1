"""Execution ids, the per-execution summary files, and the abort marker.

``.agentos/executions/<execution_id>.json`` is a convenience copy of what the audit trail
says about an execution (status, attempts, files); ``history`` and ``status`` fold the trail
itself, so deleting this folder loses nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import ValidationError

from agentos.digest import canonical_json, sha256_hex
from agentos.errors import StateIntegrityError
from agentos.executor.journal import ChangeRef, ExecutionKind
from agentos.faults import fault_point
from agentos.model import Frozen
from agentos.statefs import read_bytes, write_atomic

ABORT_DIR = "abort"
SEAL_PURPOSE = "execution"


class ExecutionRecord(Frozen):
    """``.agentos/executions/<execution_id>.json``: a committed execution, in short."""

    execution_id: str
    plan_id: str
    checksum: str
    kind: ExecutionKind
    parent: str | None
    status: Literal["committed"]
    attempt: int
    started_at: str
    committed_at: str
    files: tuple[ChangeRef, ...]
    # An agent write (kind ``agent``): the paths where the tool wrote something other than
    # what was planned (and allowed).
    diverged: tuple[str, ...] = ()


def execution_id_for(plan_id: str, checksum: str) -> str:
    """The stable id of applying these exact bytes under this plan id."""
    return "exec-" + sha256_hex(f"{plan_id}\n{checksum}".encode())[:20]


def executions_dir(state_dir: Path) -> Path:
    """``.agentos/executions``."""
    return state_dir / "executions"


def write_execution(state_dir: Path, record: ExecutionRecord, *, durable: bool) -> None:
    """Seal and replace an execution's summary file."""
    from agentos.statekey import state_key

    # ``diverged`` only where it says something: other records keep their earlier shape.
    body = record.model_dump(
        mode="json", by_alias=True, exclude=None if record.diverged else {"diverged"}
    )
    seal = state_key(state_dir).seal(SEAL_PURPOSE, canonical_json(body))
    data = json.dumps({**body, "seal": seal}, sort_keys=True, indent=1).encode("utf-8") + b"\n"
    fault_point("execution.write.before")
    write_atomic(executions_dir(state_dir) / f"{record.execution_id}.json", data, durable=durable)
    fault_point("execution.write.after")


def read_execution(state_dir: Path, execution_id: str) -> ExecutionRecord | None:
    """An execution's summary file (None when absent); ``StateIntegrityError`` when it is
    not sealed by this workspace's key."""
    from agentos.statekey import state_key

    path = executions_dir(state_dir) / f"{execution_id}.json"
    try:
        value = json.loads(read_bytes(path))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        value = None
    seal = value.pop("seal", None) if isinstance(value, dict) else None
    record = None
    body = canonical_json(value) if isinstance(value, dict) else b""
    if body and state_key(state_dir).verify(SEAL_PURPOSE, body, seal):
        try:
            record = ExecutionRecord.model_validate_json(body)
        except ValidationError:
            record = None
    if record is None or record.execution_id != execution_id:
        raise StateIntegrityError(
            f"{path}: the execution record is not sealed by this workspace's key for execution "
            f"{execution_id}: it was forged, edited or copied outside agentos (nothing was "
            "written) — remove it; the audit trail keeps the execution's history",
            details={"record": str(path)},
        )
    return record


def abort_marker(state_dir: Path, execution_id: str) -> Path:
    """The file whose existence asks the running ``execution_id`` to stop."""
    return state_dir / ABORT_DIR / execution_id


def request_abort(state_dir: Path, execution_id: str, *, reason: str, by: str, at: str) -> None:
    """Ask the running ``execution_id`` to stop: it sees the marker before its next write."""
    record = {"reason": reason, "by": by, "at": at}
    write_atomic(abort_marker(state_dir, execution_id), json.dumps(record).encode("utf-8"))
