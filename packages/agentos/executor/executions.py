"""Execution ids, the per-execution summary files, and the abort marker.

``.agentos/executions/<execution_id>.json`` is a convenience copy of what the audit trail
says about an execution (status, attempts, files); ``history`` and ``status`` fold the trail
itself, so deleting this folder loses nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agentos.digest import canonical_json, sha256_hex
from agentos.errors import StateIntegrityError
from agentos.faults import fault_point
from agentos.statefs import read_bytes, write_atomic

ABORT_DIR = "abort"
SEAL_PURPOSE = "execution"


def execution_id_for(plan_id: str, checksum: str) -> str:
    """The stable id of applying these exact bytes under this plan id."""
    return "exec-" + sha256_hex(f"{plan_id}\n{checksum}".encode())[:20]


def executions_dir(state_dir: Path) -> Path:
    """``.agentos/executions``."""
    return state_dir / "executions"


def write_execution(state_dir: Path, record: dict[str, Any], *, durable: bool) -> None:
    """Seal and replace an execution's summary file."""
    from agentos.statekey import state_key

    seal = state_key(state_dir).seal(SEAL_PURPOSE, canonical_json(record))
    data = json.dumps({**record, "seal": seal}, sort_keys=True, indent=1).encode("utf-8") + b"\n"
    fault_point("execution.write.before")
    write_atomic(
        executions_dir(state_dir) / f"{record['execution_id']}.json", data, durable=durable
    )
    fault_point("execution.write.after")


def read_execution(state_dir: Path, execution_id: str) -> dict[str, Any] | None:
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
    if (
        not isinstance(value, dict)
        or value.get("execution_id") != execution_id
        or not state_key(state_dir).verify(SEAL_PURPOSE, canonical_json(value), seal)
    ):
        raise StateIntegrityError(
            f"{path}: the execution record is not sealed by this workspace's key for execution "
            f"{execution_id}: it was forged, edited or copied outside agentos (nothing was "
            "written) — remove it; the audit trail keeps the execution's history",
            details={"record": str(path)},
        )
    return value


def abort_marker(state_dir: Path, execution_id: str) -> Path:
    """The file whose existence asks the running ``execution_id`` to stop."""
    return state_dir / ABORT_DIR / execution_id
