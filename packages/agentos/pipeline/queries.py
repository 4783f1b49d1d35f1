"""Use cases that read more than they write: status, history, the audit trail, init and the
policy author's tools."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentos.audit.folds import ExecutionView
from agentos.errors import UsageError
from agentos.pipeline.context import Context
from agentos.pipeline.results import (
    History,
    Initialised,
    PolicyChecked,
    PolicyTested,
    WorkspaceStatus,
)

if TYPE_CHECKING:
    from agentos.verify.breaker import Breaker

# How many executions ``status`` lists.
STATUS_LIMIT = 5
# Where ``policy test`` finds cases by default.
TESTS_RELPATH = "agent/policies/tests"


def status(ctx: Context) -> WorkspaceStatus:
    """The lock holder, interrupted executions, circuit breakers, the last executions and
    the trail's repair."""
    from agentos.audit.repairs import first_repair
    from agentos.executor.journal import load_journals
    from agentos.executor.lock import lock_is_held, read_holder
    from agentos.sweep import read_last

    workspace = ctx.workspace
    held = lock_is_held(workspace)
    holder = read_holder(workspace) if held else None
    # The journal of the execution that holds the lock is a running one, not interrupted.
    running = holder.get("execution_id") if holder else None
    journals = load_journals(workspace.state_dir)
    repaired = first_repair(ctx.audit.path)  # the newest repair: a repair starts the chain
    return WorkspaceStatus(
        lock_held=held,
        holder=holder,
        interrupted=tuple(j for j in journals if running is None or j.execution_id != running),
        breakers=tuple(sorted(_breakers(ctx).items())),
        executions=tuple(_newest(ctx, STATUS_LIMIT)),
        sweep=read_last(workspace.state_dir),
        repaired=None if repaired is None else repaired[0],
    )


def _breakers(ctx: Context) -> dict[str, Breaker]:
    """The breakers: the workspace's file, overridden by a shared store's (out of reach: the
    file alone; ``status`` warns of the store through its queue)."""
    from agentos.errors import AgentosError
    from agentos.verify.breaker import load_breakers

    breakers = load_breakers(ctx.workspace.state_dir)
    if not ctx.may_share:
        return breakers  # the files (the policy is not parsed for that: status stays light)
    with contextlib.suppress(AgentosError):
        shared = ctx.shared_records()
        if shared is not None:
            breakers.update(shared.breakers())
    return breakers


def history(ctx: Context, *, limit: int = 20) -> History:
    """Executions folded from the audit trail, newest first (``limit`` 0: all of them)."""
    from agentos.audit.snapshot import answer

    return answer(
        ctx.audit, lambda folds: History(executions=tuple(folds.newest(limit)), total=folds.total())
    )


def execution(ctx: Context, execution_id: str) -> ExecutionView:
    """One execution's view, with its timeline, folded from the audit trail (``execution_id``
    may be a unique prefix, ``agentos.pipeline.refs``)."""
    from agentos.audit.snapshot import find_execution
    from agentos.pipeline.refs import resolve_execution_id

    execution_id = resolve_execution_id(ctx.audit, execution_id)
    view = find_execution(ctx.audit, execution_id)
    if view is None:
        raise UsageError(
            f"no execution {execution_id!r} in this workspace's audit trail; see 'agentos history'"
        )
    return view


def audit_events(
    ctx: Context,
    *,
    event: str | None = None,
    plan_id: str | None = None,
    execution_id: str | None = None,
) -> list[dict[str, Any]]:
    """The trail's events, oldest first; ``event`` matches a type or a prefix (``apply``)."""
    selected = []
    for record in ctx.audit.events():
        if event and record["event"] != event and not record["event"].startswith(event + "."):
            continue
        if plan_id and record.get("plan_id") != plan_id:
            continue
        if execution_id and record.get("execution_id") != execution_id:
            continue
        selected.append(record)
    return selected


def init(ctx: Context) -> Initialised:
    """Write the workspace's policy, create ``.agentos/`` and its key (idempotent)."""
    from agentos.bootstrap import init_workspace
    from agentos.statekey import key_file

    workspace = ctx.workspace
    report = init_workspace(workspace)
    # The key that seals .agentos/ lives outside the workspace; made here if it is new.
    key = key_file(workspace.state_dir)
    if report.created:
        ctx.audit.append(
            "workspace.initialised",
            actor=ctx.actor,
            data={"created": list(report.created), "allowed_paths": list(report.allowed_paths)},
        )
    return Initialised(report=report, key_file=key, root=workspace.root)


def validate_policy(ctx: Context | None, file: Path | None) -> PolicyChecked:
    """Validate ``file`` (else the context's policy) and lint it."""
    from agentos.governance.policyfile import load_policy
    from agentos.governance.policylint import lint_policy

    loaded = load_policy(file, None) if file is not None or ctx is None else ctx.policy
    warnings = tuple((w.key, w.message) for w in lint_policy(loaded.policy))
    return PolicyChecked(source=loaded.source, digest=loaded.digest, warnings=warnings)


def run_policy_cases(ctx: Context, target: Path | None = None) -> PolicyTested:
    """Run the policy's test cases (a directory of YAML cases, or one case file)."""
    from agentos.governance.policytest import run_policy_tests

    loaded = ctx.policy
    where = target or ctx.workspace.root / TESTS_RELPATH
    return PolicyTested(source=loaded.source, cases=tuple(run_policy_tests(where, loaded.policy)))


def _newest(ctx: Context, limit: int) -> list[ExecutionView]:
    from agentos.audit.snapshot import answer

    return answer(ctx.audit, lambda folds: folds.newest(limit))


def last_undoable(ctx: Context) -> str:
    """The newest committed execution not rolled back yet, and not itself a rollback
    (``agentos rollback --last``); a ``UsageError`` when there is none."""
    from agentos.audit.snapshot import answer

    view = answer(ctx.audit, lambda folds: folds.undoable())
    if view is not None:
        return str(view.execution_id)
    raise UsageError("no committed execution to roll back in this workspace; see 'agentos history'")


def check_attempt(ctx: Context, execution_id: str, attempt: int) -> None:
    """Refuse (``UsageError``) to roll back ``attempt`` of ``execution_id`` unless it is the
    execution's latest applied attempt and no rollback undid it yet."""
    from agentos.audit.snapshot import answer

    view = answer(ctx.audit, lambda folds: folds.get(execution_id))
    if view is None:
        raise UsageError(
            f"no execution {execution_id!r} in this workspace's audit trail; see 'agentos history'"
        )
    runs = {run.attempt: run for run in view.attempts_list}
    run = runs.get(attempt)
    named = f"attempt {attempt} of {execution_id}"
    if run is None:
        known = ", ".join(str(n) for n in sorted(runs)) or "none"
        raise UsageError(
            f"{execution_id} has no attempt {attempt} (its attempts: {known}); see "
            "'agentos history'"
        )
    if run.status == "reverted":
        raise UsageError(f"{named} was already rolled back; there is nothing left to undo")
    if run.status != "committed":
        raise UsageError(
            f"{named} did not commit ({run.status}): it changed nothing, so there is nothing "
            "to roll back"
        )
    standing = view.standing()
    if standing is None or standing.attempt != attempt:
        latest = f"attempt {standing.attempt}" if standing else "a later attempt"
        raise UsageError(
            f"{named} is not the latest applied attempt ({latest} is); only that one can be "
            "rolled back"
        )
