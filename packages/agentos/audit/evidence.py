"""What a missing trail leaves behind: the executions still recorded beside it.

Deleting ``.agentos/audit`` whole would otherwise pass for a new workspace: no events, no
HEAD, nothing to verify. But every execution leaves sealed files in the state directory (its
journal, its backups, its execution and idempotency records), and each of them was recorded
in the trail before it was written. So a trail with no events, beside such files, was
deleted or moved: ``verify`` fails and no command appends to it.

The folders are named here rather than imported from the executor (``executor/journal.py``,
``executions.py``, ``idempotency.py``), so that the audit room stays below the executor.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from agentos import statefs
from agentos.errors import AgentosError, AuditChainError

# Folders whose ``<execution_id>.json`` files are executions' journals and records.
_RECORD_FOLDERS = ("executions", "journal", "journal/committed", "journal/agent")
_BACKUPS = "backups"
_IDEMPOTENCY = "idempotency"  # <plan_id>.json, each naming its execution
_RECORD_LIMIT = 1 << 16


def recorded_executions(state_dir: Path) -> int:
    """How many executions left files in ``state_dir`` (each counted once, whatever it left)."""
    found: set[str] = set()
    for folder in _RECORD_FOLDERS:
        found.update(name[:-5] for name in _names(state_dir / folder) if name.endswith(".json"))
    backups = state_dir / _BACKUPS
    found.update(name for name in _names(backups) if (backups / name).is_dir())
    for name in _names(state_dir / _IDEMPOTENCY):
        if name.endswith(".json"):
            found.add(_execution_of(state_dir / _IDEMPOTENCY / name))
    return len(found)


def missing_trail(path: Path, state_dir: Path) -> AuditChainError | None:
    """The error for a trail at ``path`` that holds no event and has no HEAD, when executions
    are recorded in ``state_dir``; None when there are none (a workspace not used yet)."""
    count = recorded_executions(state_dir)
    if not count:
        return None
    return AuditChainError(
        f"{path}: the audit trail is missing (no events, no HEAD) while {count} execution(s) "
        f"are recorded in {state_dir} (journals, backups, execution and idempotency "
        "records): it was deleted or moved",
        details={"missing": True, "executions": count},
    )


def _names(folder: Path) -> list[str]:
    try:
        with os.scandir(folder) as entries:
            return [entry.name for entry in entries]
    except (FileNotFoundError, NotADirectoryError):
        return []


def _execution_of(path: Path) -> str:
    """The execution an idempotency record names (its plan id when it cannot be read)."""
    try:
        value = json.loads(statefs.read_bytes(path, limit=_RECORD_LIMIT)).get("execution_id")
    except (OSError, ValueError, AttributeError, AgentosError):
        value = None
    return value if isinstance(value, str) else f"plan {path.name[:-5]}"
