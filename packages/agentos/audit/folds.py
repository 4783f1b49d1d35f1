"""Folds over the audit trail (event sourcing): executions and their timelines.

``history``, ``status`` and ``show EXECUTION_ID`` read the trail, not ``.agentos/executions/``,
so deleting that folder loses no history.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

# The event that settles an execution's status, and the status it settles on.
FINAL_EVENTS = {
    "apply.committed": "committed",
    "apply.failed": "rolled_back",
    "apply.aborted": "aborted",
    "apply.replayed": "already_applied",
}


@dataclass
class ExecutionView:
    """One execution as the trail tells it."""

    execution_id: str
    plan_id: str | None
    kind: str = "apply"
    parent: str | None = None
    status: str = "started"
    started_at: str | None = None
    finished_at: str | None = None
    attempts: int = 0
    files: int = 0
    reason: str | None = None
    events: list[dict[str, Any]] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        """The ``--json`` form (without the timeline)."""
        return {
            "execution_id": self.execution_id,
            "plan_id": self.plan_id,
            "kind": self.kind,
            "parent": self.parent,
            "status": self.status,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "attempts": self.attempts,
            "files": self.files,
            "reason": self.reason,
        }


def fold_executions(events: Iterable[dict[str, Any]]) -> list[ExecutionView]:
    """Every execution in the trail, in the order each was last touched, newest first."""
    views: dict[str, ExecutionView] = {}
    for event in events:
        execution_id = event.get("execution_id")
        if not execution_id:
            continue
        view = views.pop(execution_id, None) or ExecutionView(execution_id, event.get("plan_id"))
        views[execution_id] = view  # re-inserted: dicts keep the last-touched order
        view.events.append(event)
        data = event.get("data") or {}
        name = event["event"]
        if name == "apply.started":
            view.kind = data.get("kind", view.kind)
            view.parent = data.get("parent", view.parent)
            view.attempts = max(view.attempts, int(data.get("attempt", 1)))
            view.files = int(data.get("files", view.files))
            view.started_at = event["ts"]
            view.status = "started"
            view.reason = None
        elif name in FINAL_EVENTS:
            if name == "apply.replayed" and view.status == "committed":
                continue
            view.status = FINAL_EVENTS[name]
            view.finished_at = event["ts"]
            view.reason = data.get("reason")
            if name == "apply.committed":
                view.kind = data.get("kind", view.kind)
                view.parent = data.get("parent", view.parent)
        elif name == "apply.refused":
            view.status = str(data.get("status", "refused"))
            view.finished_at = event["ts"]
        elif name == "recovery.finished":
            view.status = "rolled_back"
            view.finished_at = event["ts"]
            view.reason = "interrupted; rolled back by recovery"
    reverted_at = {
        v.parent: v.finished_at or ""
        for v in views.values()
        if v.kind == "rollback" and v.status == "committed" and v.parent
    }
    for view in views.values():
        undone = reverted_at.get(view.execution_id)
        if undone is not None and view.status == "committed" and (view.finished_at or "") <= undone:
            view.status = "reverted"
    return list(reversed(views.values()))
