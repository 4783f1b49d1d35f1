"""Folds over the audit trail (event sourcing): executions, their attempts and timelines.

``history``, ``status`` and ``show EXECUTION_ID`` read the trail, not ``.agentos/executions/``,
so deleting that folder loses no history. An execution id names one plan's exact bytes, so
applying the same plan again after a rollback or a failure is another *attempt* of the same
execution: each attempt keeps its own status, start and finish. The fold is one pure step per
event (``fold_event``) and one rule over all executions (``settle``: which committed attempts
a later rollback reverted), shared by ``fold_executions`` (the whole trail in memory) and the
snapshot of the folds (``snapshot.py``), which must answer exactly what ``fold_executions``
does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

# The event that settles an attempt's status, and the status it settles on.
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


# Events that name the attempt they follow (a git commit of a committed attempt comes after
# it settled, and must not be taken for the start of the next one).
SETTLED_AFTER = ("apply.refused", "recovery.finished", "git.staged", "git.committed", "git.failed")


@dataclass(frozen=True)
class Attempt:
    """One attempt of an execution. ``first`` and ``last`` are the trail's line numbers of
    the event that opened it and of the last one that settled it (they order attempts of
    different executions, and tell which attempt a rollback undid)."""

    attempt: int
    status: str
    started_at: str | None
    finished_at: str | None
    files: int
    reason: str | None
    first: int
    last: int

    def fields(self) -> dict[str, Any]:
        """The stored form."""
        return dict(self.__dict__)


@dataclass(frozen=True)
class ExecutionView:
    """One execution as the trail tells it, shown at one of its attempts (``shown``, an
    index into ``attempts_list``; the latest by default): ``status``, ``started_at``,
    ``finished_at``, ``files`` and ``reason`` are that attempt's. ``events`` is the
    execution's timeline, which ``show`` reads (``status`` and ``history`` leave it empty)."""

    execution_id: Any
    plan_id: Any
    kind: str = "apply"
    parent: Any = None
    attempts: int = 0
    attempts_list: tuple[Attempt, ...] = ()
    # The line of its last event in the trail.
    touched: int = 0
    shown: int = -1
    events: tuple[dict[str, Any], ...] = ()

    @classmethod
    def of(cls, fields: dict[str, Any], events: tuple[dict[str, Any], ...] = ()) -> ExecutionView:
        """The view of stored fields (``new_row``'s keys); ``TypeError`` or ``ValueError``
        when they are not an execution's."""
        runs = tuple(Attempt(**run) for run in fields["runs"])
        numbers = [n for run in runs for n in (run.attempt, run.files, run.first, run.last)]
        if not all(type(n) is int for n in [*numbers, fields["touched"], fields["attempts"]]):
            raise TypeError("not an execution's attempts")
        base = {k: v for k, v in fields.items() if k != "runs"}
        return cls(**base, attempts_list=runs, events=events)

    def fields(self) -> dict[str, Any]:
        """The stored form (``new_row``'s keys)."""
        return {
            "execution_id": self.execution_id,
            "plan_id": self.plan_id,
            "kind": self.kind,
            "parent": self.parent,
            "attempts": self.attempts,
            "runs": [run.fields() for run in self.attempts_list],
            "touched": self.touched,
        }

    @property
    def current(self) -> Attempt | None:
        """The attempt shown (None before any)."""
        return self.attempts_list[self.shown] if self.attempts_list else None

    @property
    def attempt(self) -> int:
        current = self.current
        return current.attempt if current else 0

    @property
    def status(self) -> str:
        current = self.current
        return current.status if current else "started"

    @property
    def started_at(self) -> str | None:
        current = self.current
        return current.started_at if current else None

    @property
    def finished_at(self) -> str | None:
        current = self.current
        return current.finished_at if current else None

    @property
    def files(self) -> int:
        current = self.current
        return current.files if current else 0

    @property
    def reason(self) -> str | None:
        current = self.current
        return current.reason if current else None

    def at(self, index: int) -> ExecutionView:
        """The same execution shown at its attempt ``attempts_list[index]``."""
        return replace(self, shown=index, events=())

    def standing(self) -> Attempt | None:
        """Its newest committed attempt, unless a rollback reverted it (what ``rollback``
        undoes by default)."""
        committed = [run for run in self.attempts_list if run.status in ("committed", "reverted")]
        return committed[-1] if committed and committed[-1].status == "committed" else None

    def row(self) -> dict[str, Any]:
        """The ``--json`` form of the attempt shown (without the timeline)."""
        return {
            "execution_id": self.execution_id,
            "plan_id": self.plan_id,
            "kind": self.kind,
            "parent": self.parent,
            "attempt": self.attempt,
            "status": self.status,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "attempts": self.attempts,
            "files": self.files,
            "reason": self.reason,
        }


def new_row(execution_id: Any, plan_id: Any) -> dict[str, Any]:
    """An execution's stored fields before its first event."""
    return {
        "execution_id": execution_id,
        "plan_id": plan_id,
        "kind": "apply",
        "parent": None,
        "attempts": 0,
        "runs": [],
        "touched": 0,
    }


def _number(value: Any, default: int) -> int:
    """An attempt or file count from event data (``default`` when it is not a number)."""
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return default


def _open(row: dict[str, Any], number: int, ts: Any, line: int, **fields: Any) -> dict[str, Any]:
    """Start attempt ``number``; it replaces an earlier one of that number (a run refused
    before it wrote anything — dry run, stale, already applied — does not use up its
    number, so the next run takes it)."""
    run = {
        "attempt": number,
        "status": "started",
        "started_at": ts,
        "finished_at": None,
        "files": 0,
        "reason": None,
        "first": line,
        "last": line,
        **fields,
    }
    runs: list[dict[str, Any]] = row["runs"]
    runs[:] = [r for r in runs if r["attempt"] != number]
    runs.append(run)
    row["attempts"] = max(_number(row["attempts"], 0), number)
    return run


def _settling(row: dict[str, Any], data: dict[str, Any], line: int) -> dict[str, Any]:
    """The attempt a settling event is about: the one its data names, else the latest; one
    is opened when the trail holds no such attempt (its start is then unknown)."""
    runs: list[dict[str, Any]] = row["runs"]
    if "attempt" not in data and runs:
        return runs[-1]
    number = _number(data.get("attempt"), 1)
    found = [run for run in runs if run["attempt"] == number]
    return found[-1] if found else _open(row, number, None, line)


def fold_event(row: dict[str, Any], event: dict[str, Any], line: int) -> None:
    """Fold one of an execution's events, at line ``line`` of the trail, into its stored
    fields (``new_row``'s keys), in place.

    The statuses are the raw ones: whether a later rollback *reverted* a committed attempt
    is decided over all executions (``settle``), not by its own events.
    """
    data = event.get("data")
    data = data if isinstance(data, dict) else {}
    name, ts = event["event"], event["ts"]
    row["touched"] = line
    if name == "apply.started":
        row.update(kind=data.get("kind", row["kind"]), parent=data.get("parent", row["parent"]))
        files = _number(data.get("files"), 0)
        _open(row, _number(data.get("attempt"), 1), ts, line, files=files)
    elif name == "agent.staged":
        # Allowed by the pre-write hook; the agent's own tool writes it (SPEC §13).
        row.update(kind="agent")
        _open(row, 1, ts, line, status="staged")
    elif name in FINAL_EVENTS:
        run = _settling(row, data, line)
        if name == "apply.replayed" and run["status"] == "committed":
            return
        run.update(status=FINAL_EVENTS[name], finished_at=ts, reason=data.get("reason"), last=line)
        if name == "apply.committed":
            row.update(kind=data.get("kind", row["kind"]), parent=data.get("parent", row["parent"]))
            run["files"] = _number(data.get("files"), run["files"])
    elif name == "apply.refused":
        run = _settling(row, data, line)
        run.update(status=str(data.get("status", "refused")), finished_at=ts, last=line)
    elif name == "recovery.finished":
        run = _settling(row, data, line)
        reason = "interrupted; rolled back by recovery"
        run.update(status="rolled_back", finished_at=ts, reason=reason, last=line)


def committed_line(view: ExecutionView) -> int | None:
    """Where its newest committed attempt settled (None: it has none)."""
    lines = [run.last for run in view.attempts_list if run.status == "committed"]
    return lines[-1] if lines else None


def reverting_line(view: ExecutionView) -> int | None:
    """For a committed rollback, where it committed: it reverts an attempt of its parent."""
    if view.kind != "rollback" or not view.parent:
        return None
    return committed_line(view)


def settle(view: ExecutionView, rollbacks: Sequence[int]) -> ExecutionView:
    """``view`` with each committed attempt that a committed rollback of it (committed at
    the lines ``rollbacks``) undid marked ``reverted``: the rollback committed after that
    attempt did and before the next attempt started."""
    runs = list(view.attempts_list)
    changed = False
    for index, run in enumerate(runs):
        if run.status != "committed":
            continue
        until = runs[index + 1].first if index + 1 < len(runs) else None
        if any(run.last < at and (until is None or at < until) for at in rollbacks):
            runs[index] = replace(run, status="reverted")
            changed = True
    return replace(view, attempts_list=tuple(runs)) if changed else view


def newest_attempts(views: Iterable[ExecutionView]) -> list[ExecutionView]:
    """Every attempt of ``views`` as its own entry, newest first (an execution with no
    attempt yet is one entry)."""
    entries = [
        (run.last, view.at(index)) for view in views for index, run in enumerate(view.attempts_list)
    ]
    entries += [(view.touched, view.at(-1)) for view in views if not view.attempts_list]
    entries.sort(key=lambda entry: entry[0], reverse=True)
    return [entry for _, entry in entries]


def fold_executions(events: Iterable[dict[str, Any]]) -> list[ExecutionView]:
    """Every execution in the trail, in the order each was last touched, newest first."""
    folds: dict[Any, tuple[dict[str, Any], list[dict[str, Any]]]] = {}
    for line, event in enumerate(events, start=1):
        execution_id = event.get("execution_id")
        if not execution_id:
            continue
        fold = folds.pop(execution_id, None) or (new_row(execution_id, event.get("plan_id")), [])
        folds[execution_id] = fold  # re-inserted: dicts keep the last-touched order
        fold[1].append(event)
        fold_event(fold[0], event, line)
    views = [ExecutionView.of(row, tuple(events)) for row, events in reversed(folds.values())]
    rollbacks: dict[Any, list[int]] = {}
    for view in views:
        at = reverting_line(view)
        if at is not None:
            rollbacks.setdefault(view.parent, []).append(at)
    return [settle(v, rollbacks.get(v.execution_id, ())) for v in views]


def timeline_attempts(events: Sequence[dict[str, Any]]) -> list[int]:
    """The attempt each of an execution's events belongs to (0: none yet). The events that
    lead up to an ``apply.started`` (taking the lock, recovery) belong to the attempt it
    starts; a replay of a committed result, to the attempt whose result it is."""
    numbers: list[int] = []
    pending = 0
    current = 0
    for event in events:
        pending += 1
        name = event.get("event")
        data = event.get("data")
        data = data if isinstance(data, dict) else {}
        if name in ("apply.started", "agent.staged"):
            current = _number(data.get("attempt"), 1) if name == "apply.started" else 1
            numbers.extend([current] * pending)
            pending = 0
        elif name in FINAL_EVENTS or name in SETTLED_AFTER:
            settled = _number(data["attempt"], 1) if "attempt" in data else current or 1
            numbers.extend([settled] * pending)
            pending = 0
    numbers.extend([current] * pending)
    return numbers
