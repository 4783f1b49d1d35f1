"""Folds over the audit trail (event sourcing): executions and their timelines.

``history``, ``status`` and ``show EXECUTION_ID`` read the trail, not ``.agentos/executions/``,
so deleting that folder loses no history. The fold is one pure step per event
(``fold_event``) and one rule over all executions (``is_reverted``), shared by
``fold_executions`` (the whole trail in memory) and the snapshot of the folds
(``snapshot.py``), which must answer exactly what ``fold_executions`` does.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
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
    """One execution as the trail tells it; ``events`` is its timeline, which ``show`` reads
    (``status`` and ``history``, answered from the snapshot of the folds, leave it empty)."""

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


def new_row(execution_id: Any, plan_id: Any) -> dict[str, Any]:
    """An execution's fields (``ExecutionView`` without its timeline) before its first event."""
    return {
        "execution_id": execution_id,
        "plan_id": plan_id,
        "kind": "apply",
        "parent": None,
        "status": "started",
        "started_at": None,
        "finished_at": None,
        "attempts": 0,
        "files": 0,
        "reason": None,
    }


def fold_event(row: dict[str, Any], event: dict[str, Any]) -> None:
    """Fold one of an execution's events into its fields (``new_row``'s keys), in place.

    The status is the raw one: whether a later rollback *reverted* a committed execution is
    decided over all executions (``is_reverted``), not by its own events.
    """
    data = event.get("data") or {}
    name, ts = event["event"], event["ts"]
    if name == "apply.started":
        row.update(
            kind=data.get("kind", row["kind"]),
            parent=data.get("parent", row["parent"]),
            attempts=max(row["attempts"], int(data.get("attempt", 1))),
            files=int(data.get("files", row["files"])),
            started_at=ts,
            status="started",
            reason=None,
        )
    elif name == "agent.staged":
        # Allowed by the pre-write hook; the agent's own tool writes it (SPEC §13).
        row.update(kind="agent", status="staged", started_at=ts, attempts=1, reason=None)
    elif name in FINAL_EVENTS:
        if name == "apply.replayed" and row["status"] == "committed":
            return
        changes = {"status": FINAL_EVENTS[name], "finished_at": ts, "reason": data.get("reason")}
        if name == "apply.committed":
            changes.update(
                kind=data.get("kind", row["kind"]),
                parent=data.get("parent", row["parent"]),
                files=int(data.get("files", row["files"])),
            )
        row.update(changes)
    elif name == "apply.refused":
        row.update(status=str(data.get("status", "refused")), finished_at=ts)
    elif name == "recovery.finished":
        reason = "interrupted; rolled back by recovery"
        row.update(status="rolled_back", finished_at=ts, reason=reason)


def reverts(view: ExecutionView) -> bool:
    """Whether ``view`` is a committed rollback: it reverts its ``parent``."""
    return bool(view.kind == "rollback" and view.status == "committed" and view.parent)


def is_reverted(view: ExecutionView, reverted_at: str | None) -> bool:
    """Whether committed ``view`` counts as reverted by the rollback that finished at
    ``reverted_at`` ("" when unknown; None: no committed rollback names it)."""
    return (
        view.status == "committed"
        and reverted_at is not None
        and (view.finished_at or "") <= reverted_at
    )


def fold_executions(events: Iterable[dict[str, Any]]) -> list[ExecutionView]:
    """Every execution in the trail, in the order each was last touched, newest first."""
    folds: dict[Any, tuple[dict[str, Any], list[dict[str, Any]]]] = {}
    for event in events:
        execution_id = event.get("execution_id")
        if not execution_id:
            continue
        fold = folds.pop(execution_id, None) or (new_row(execution_id, event.get("plan_id")), [])
        folds[execution_id] = fold  # re-inserted: dicts keep the last-touched order
        fold[1].append(event)
        fold_event(fold[0], event)
    views = [ExecutionView(**row, events=tuple(events)) for row, events in reversed(folds.values())]
    # Of several committed rollbacks of one execution, the one touched longest ago decides.
    reverted_at = {v.parent: v.finished_at or "" for v in views if reverts(v)}
    return [
        replace(v, status="reverted") if is_reverted(v, reverted_at.get(v.execution_id)) else v
        for v in views
    ]
