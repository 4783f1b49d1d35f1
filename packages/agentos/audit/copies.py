"""Where appended audit events are also copied: a shared store's copy (SPEC §14).

The pipeline registers a copier for a trail's directory when it opens a context; every
append to that trail hands the new event to it, under the trail's lock (so the copies are
made in the trail's order). A copy never fails an append: the trail is the record, and the
store makes up for a lost copy at the next one (``agentos.store.auditcopy``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Called as (trail, event) after the event is in the trail and HEAD names it.
EventCopier = Callable[[Any, dict[str, Any]], None]
_COPIERS: dict[Path, EventCopier] = {}


def copy_events(directory: Path, copier: EventCopier | None) -> None:
    """Copy every event appended to the trail in ``directory`` with ``copier`` (None: stop)."""
    if copier is None:
        _COPIERS.pop(directory, None)
    else:
        _COPIERS[directory] = copier


def copy_appended(directory: Path, trail: object, record: dict[str, Any]) -> None:
    """Hand ``record`` to the copier of ``directory``, if any; whatever it raises is dropped."""
    copier = _COPIERS.get(directory)
    if copier is not None:
        with contextlib.suppress(Exception):
            copier(trail, record)
