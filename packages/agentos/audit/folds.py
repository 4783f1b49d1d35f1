"""Folds over the audit trail (event sourcing): executions and their timelines.

``history``, ``status`` and ``show EXECUTION_ID`` read the trail, not ``.agentos/executions/``,
so deleting that folder loses no history.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

# The event that settles an execution's status, and the status it settles on.
FINAL_EVENTS = {
    "apply.committed": "committed",
    "apply.failed": "rolled_back",
    "apply.aborted": "aborted",
    "apply.replayed": "already_applied",
    # An agent's write that was allowed, but the tool wrote none of its files.
    "agent.discarded": "not_written",
    # Settled without its post-write event, its files not what was allowed: not recorded
    # (the sweep reports them as changed outside agentos).
    "agent.unconfirmed": "unconfirmed",
}


@dataclass(frozen=True)
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
    events: tuple[dict[str, Any], ...] = ()

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


@dataclass
class _Fold:
    """An execution while the trail is being folded: its view so far, and its events."""

    view: ExecutionView
    events: list[dict[str, Any]] = field(default_factory=list)

    def update(self, **changes: Any) -> None:
        self.view = replace(self.view, **changes)


def fold_executions(events: Iterable[dict[str, Any]]) -> list[ExecutionView]:
    """Every execution in the trail, in the order each was last touched, newest first."""
    folds: dict[str, _Fold] = {}
    for event in events:
        execution_id = event.get("execution_id")
        if not execution_id:
            continue
        fold = folds.pop(execution_id, None) or _Fold(
            ExecutionView(execution_id, event.get("plan_id"))
        )
        folds[execution_id] = fold  # re-inserted: dicts keep the last-touched order
        fold.events.append(event)
        data = event.get("data") or {}
        name, ts, view = event["event"], event["ts"], fold.view
        if name == "apply.started":
            fold.update(
                kind=data.get("kind", view.kind),
                parent=data.get("parent", view.parent),
                attempts=max(view.attempts, int(data.get("attempt", 1))),
                files=int(data.get("files", view.files)),
                started_at=ts,
                status="started",
                reason=None,
            )
        elif name == "agent.staged":
            # Allowed by the pre-write hook; the agent's own tool writes it (SPEC §13).
            fold.update(kind="agent", status="staged", started_at=ts, attempts=1, reason=None)
        elif name in FINAL_EVENTS:
            if name == "apply.replayed" and view.status == "committed":
                continue
            fold.update(status=FINAL_EVENTS[name], finished_at=ts, reason=data.get("reason"))
            if name == "apply.committed":
                fold.update(
                    kind=data.get("kind", view.kind),
                    parent=data.get("parent", view.parent),
                    files=int(data.get("files", view.files)),
                )
        elif name == "apply.refused":
            fold.update(status=str(data.get("status", "refused")), finished_at=ts)
        elif name == "recovery.finished":
            reason = "interrupted; rolled back by recovery"
            fold.update(status="rolled_back", finished_at=ts, reason=reason)
    views = [replace(f.view, events=tuple(f.events)) for f in reversed(folds.values())]
    reverted_at = {
        v.parent: v.finished_at or ""
        for v in views
        if v.kind == "rollback" and v.status == "committed" and v.parent
    }
    return [
        replace(v, status="reverted")
        if v.status == "committed"
        and v.execution_id in reverted_at
        and (v.finished_at or "") <= reverted_at[v.execution_id]
        else v
        for v in views
    ]
