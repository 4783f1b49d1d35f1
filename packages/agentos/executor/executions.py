"""Execution ids, the per-execution summary files, and the abort marker.

``.agentos/executions/<execution_id>.json`` is a convenience copy of what the audit trail
says about an execution (status, attempts, files); ``history`` and ``status`` fold the trail
itself, so deleting this folder loses nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agentos.digest import sha256_hex
from agentos.faults import fault_point
from agentos.statefs import write_atomic

ABORT_DIR = "abort"


def execution_id_for(plan_id: str, checksum: str) -> str:
    """The stable id of applying these exact bytes under this plan id."""
    return "exec-" + sha256_hex(f"{plan_id}\n{checksum}".encode())[:20]


def executions_dir(state_dir: Path) -> Path:
    """``.agentos/executions``."""
    return state_dir / "executions"


def write_execution(state_dir: Path, record: dict[str, Any], *, durable: bool) -> None:
    """Replace an execution's summary file."""
    data = json.dumps(record, sort_keys=True, indent=1).encode("utf-8") + b"\n"
    fault_point("execution.write.before")
    write_atomic(
        executions_dir(state_dir) / f"{record['execution_id']}.json", data, durable=durable
    )
    fault_point("execution.write.after")


def read_execution(state_dir: Path, execution_id: str) -> dict[str, Any] | None:
    """An execution's summary file (None when absent or unreadable)."""
    try:
        value = json.loads((executions_dir(state_dir) / f"{execution_id}.json").read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def abort_marker(state_dir: Path, execution_id: str) -> Path:
    """The file whose existence asks the running ``execution_id`` to stop."""
    return state_dir / ABORT_DIR / execution_id
