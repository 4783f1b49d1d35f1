"""Apply, rollback, recover and abort: the pipeline from the WriteGate to the disk.

``apply`` runs each plan through the gate with the current policy, then (when it may go on)
through the executor's transaction; ``rollback`` applies the inverse of a committed
execution through the same path, gated once. Recovery and abort act on the workspace's
state under the same policy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from agentos.clock import rfc3339
from agentos.errors import AgentosError, BusyError, UsageError
from agentos.pipeline.context import Context
from agentos.pipeline.gating import PlanRequest, gate_plan, make_plan, record_decision
from agentos.pipeline.results import SUCCESS, AbortRequest, Applied, Proposed, Recovered
from agentos.planner.inputs import PlanInput

if TYPE_CHECKING:
    from agentos.executor.journal import ExecutionKind
    from agentos.executor.options import ApplyResult, Status
    from agentos.executor.recovery import RecoveryOutcome
    from agentos.governance.gate import GateResult
    from agentos.model import ChangePlan, Decision
    from agentos.pipeline.gitcommit import GitRequest, GitSession
    from agentos.pipeline.results import GitRecorded


def apply(
    ctx: Context,
    plans: Sequence[ChangePlan],
    *,
    dry_run: bool = False,
    lock_timeout: float | None = None,
    approval_files: tuple[Path, ...] = (),
    git: GitRequest | None = None,
) -> Applied:
    """Apply ``plans`` in order, each its own transaction; the first that does not succeed
    ends the run (the plans after it are not tried). ``git``: record each in git
    (``agentos.pipeline.gitcommit``), checked for every plan before the first is applied."""
    if not plans:
        raise UsageError("no plan given; pass one or more plans to apply")
    session = _git_session(ctx, git)
    notes = [session.admit(plan) if session else () for plan in plans]
    results: list[ApplyResult] = []
    records: list[GitRecorded] = []
    for plan, noted in zip(plans, notes, strict=True):
        result, gate = _transact(
            ctx, plan, dry_run=dry_run, lock_timeout=lock_timeout, approval_files=approval_files
        )
        results.append(result)
        if session is not None:
            approvers = gate.approvals.approvers
            records.append(session.record(ctx, plan, result, approvers=approvers, notes=noted))
        if result.status not in SUCCESS or (records and records[-1].error is not None):
            break
    return Applied(tuple(results), git=tuple(records))


def propose(
    ctx: Context,
    inputs: tuple[PlanInput, ...],
    *,
    command: str,
    intent: str | None = None,
    dry_run: bool = False,
    lock_timeout: float | None = None,
) -> Proposed:
    """Plan, gate and (unless ``dry_run``) apply in one step, as an agent's write tool does.

    The plan is attributed to the context's actor and kept when the very same change is
    proposed again, so an approval given in between makes the retry go through. The diff is
    taken before anything is written.
    """
    from agentos.planner.preview import plan_diff
    from agentos.planner.tree import Baseline

    request = PlanRequest(inputs=inputs, intent=intent, keep_stored=True)
    planned = make_plan(ctx, request)
    plan = planned.plan
    gate = gate_plan(ctx, plan, command=command, decision=planned.decision)
    diff = tuple(plan_diff(plan, Baseline(ctx.workspace.root)))
    if dry_run:
        return Proposed(planned=planned, gate=gate, diff=diff, applied=None)
    result, _ = _transact(ctx, plan, dry_run=False, lock_timeout=lock_timeout, gate=gate)
    return Proposed(planned=planned, gate=gate, diff=diff, applied=Applied((result,)))


def rollback(
    ctx: Context,
    execution_id: str,
    *,
    attempt: int | None = None,
    dry_run: bool = False,
    lock_timeout: float | None = None,
    git: GitRequest | None = None,
    approval_files: tuple[Path, ...] = (),
) -> Applied:
    """Undo a committed execution with its inverse plan, through the same pipeline
    (``last_undoable`` names the newest one still standing). ``attempt``: the attempt meant,
    which must be the execution's latest applied one, still standing (a ``UsageError``
    says why not); None: whichever that is. ``git``: record the rollback in git, checked
    before recovery writes anything. ``approval_files``: approvals of the inverse plan made
    elsewhere (``executor.rollback.require_approval``)."""
    from agentos.executor.inverse import inverse_modes, inverse_plan, load_committed
    from agentos.governance.gate import decide_plan
    from agentos.governance.policyfile import policy_use
    from agentos.model import seal_plan
    from agentos.pipeline.queries import check_attempt
    from agentos.pipeline.refs import resolve_execution_id
    from agentos.planner.planfile import write_plan

    execution_id = resolve_execution_id(ctx.audit, execution_id)
    workspace = ctx.workspace
    policy_use(ctx.policy, workspace, command="rollback")
    session = _git_session(ctx, git)
    # Recovery first: an execution whose commit a crash interrupted is finished (archived).
    try:
        _recover(ctx, lock_timeout=lock_timeout, journal_rules=False)
    except BusyError as busy:
        untouched = (session.untouched(),) if session else ()
        return Applied((_busy_rollback(ctx, execution_id, busy),), git=untouched)
    if attempt is not None:
        check_attempt(ctx, execution_id, attempt)
        kept = load_committed(workspace, execution_id).attempt
        if kept != attempt:
            raise UsageError(
                f"the backups kept for {execution_id} are those of attempt {kept}, not of "
                f"attempt {attempt}; roll back attempt {kept}, or undo the change with a new plan"
            )
    plan = inverse_plan(workspace, execution_id, author=ctx.actor)
    decision = decide_plan(plan, workspace, ctx.policy)
    plan = seal_plan(plan, risk=decision.risk)
    write_plan(plan, workspace.plans_dir / f"{plan.plan_id}.json")
    noted = session.admit(plan) if session else ()
    result, gate = _transact(
        ctx,
        plan,
        dry_run=dry_run,
        lock_timeout=lock_timeout,
        kind="rollback",
        parent=execution_id,
        exact_modes=inverse_modes(workspace, execution_id),
        decision=decision,
        approval_files=approval_files,
    )
    if session is None:
        return Applied((result,))
    approvers = gate.approvals.approvers
    recorded = session.record(ctx, plan, result, approvers=approvers, notes=noted)
    return Applied((result,), git=(recorded,))


def _git_session(ctx: Context, git: GitRequest | None) -> GitSession | None:
    """The git work tree checked for ``git`` (None when git was not asked for)."""
    if git is None:
        return None
    from agentos.pipeline.gitcommit import open_session

    return open_session(ctx, git)


def _busy_rollback(ctx: Context, execution_id: str, busy: BusyError) -> ApplyResult:
    """The full result of a rollback that waited for the lock in vain (``busy``, exit 75):
    the inverse plan it would have applied and the lock's holder; nothing was written. When
    that plan cannot be made from what is on disk now, the busy error itself."""
    from dataclasses import replace

    from agentos.executor.inverse import inverse_plan
    from agentos.executor.options import refused
    from agentos.governance.gate import decide_plan
    from agentos.governance.policyfile import policy_use
    from agentos.model import seal_plan

    try:
        plan = inverse_plan(ctx.workspace, execution_id, author=ctx.actor)
        decision = decide_plan(plan, ctx.workspace, ctx.policy)
    except AgentosError:
        raise busy from None
    plan = seal_plan(plan, risk=decision.risk)
    use = policy_use(ctx.policy, ctx.workspace, command="rollback")
    error = {"type": busy.kind, "message": busy.message, "details": busy.details}
    result = refused(
        plan,
        kind="rollback",
        parent=execution_id,
        status="busy",
        message=busy.message,
        decision=decision,
        policy=use.row(),
        error=error,
    )
    holder = busy.details.get("holder")
    return replace(result, holder=holder if isinstance(holder, dict) else None)


def recover(
    ctx: Context, *, lock_timeout: float | None = None, journal_rules: bool = False
) -> Recovered:
    """Roll back interrupted executions and finish interrupted commits, where the current
    policy allows (or, with ``journal_rules``, where the journals' own rules allow)."""
    from agentos.governance.policyfile import policy_use

    use = policy_use(ctx.policy, ctx.workspace, command="recover")
    outcomes = _recover(ctx, lock_timeout=lock_timeout, journal_rules=journal_rules)
    return Recovered(outcomes=tuple(outcomes), policy=use.row())


def abort(ctx: Context, *, reason: str = "") -> AbortRequest:
    """Ask the execution running in this workspace to stop; it rolls back and exits 130."""
    from agentos.executor.executions import request_abort
    from agentos.executor.lock import lock_is_held, read_holder

    workspace = ctx.workspace
    holder = read_holder(workspace) if lock_is_held(workspace) else None
    execution_id = holder.get("execution_id") if holder else None
    if not holder or not execution_id:
        return AbortRequest(requested=False)
    plan_id = holder.get("plan_id")
    pid = holder.get("pid")
    # Recorded before it takes effect, so the trail never shows the abort before its request.
    ctx.audit.append(
        "abort.requested",
        actor=ctx.actor,
        execution_id=str(execution_id),
        plan_id=plan_id,
        data={"reason": reason, "pid": pid},
    )
    request_abort(
        workspace.state_dir, str(execution_id), reason=reason, by=ctx.actor, at=rfc3339(ctx.clock())
    )
    return AbortRequest(
        requested=True,
        execution_id=str(execution_id),
        plan_id=None if plan_id is None else str(plan_id),
        pid=pid if isinstance(pid, int) else None,
    )


def _recover(
    ctx: Context, *, lock_timeout: float | None, journal_rules: bool
) -> list[RecoveryOutcome]:
    from agentos.executor.recovery import recover as recover_workspace
    from agentos.governance.settings import policy_guard

    policy = ctx.policy.policy
    timeout = lock_timeout if lock_timeout is not None else policy.executor.concurrency.lock_timeout
    return recover_workspace(
        ctx.workspace,
        actor=ctx.actor,
        timeout=timeout,
        clock=ctx.clock,
        on_wait=ctx.on_wait,
        guard=None if journal_rules else policy_guard(policy),
    )


def _transact(
    ctx: Context,
    plan: ChangePlan,
    *,
    dry_run: bool,
    lock_timeout: float | None,
    approval_files: tuple[Path, ...] = (),
    kind: ExecutionKind = "apply",
    parent: str | None = None,
    exact_modes: Mapping[str, int] | None = None,
    decision: Decision | None = None,
    gate: GateResult | None = None,
) -> tuple[ApplyResult, GateResult]:
    """The WriteGate with the current policy, then (if it lets the plan through) the
    executor; the result, and the gate's verdict with the approvals it counted.
    ``decision``: the gate's decision when the caller already made it; ``gate``: that
    decision with the approvals already counted (it is recorded again for the apply)."""
    from agentos.executor.options import ApplyOptions, refused
    from agentos.executor.transaction import apply_plan
    from agentos.governance.facts import plan_paths
    from agentos.governance.policyfile import policy_use
    from agentos.governance.settings import applicable_checks, executor_settings

    workspace, loaded = ctx.workspace, ctx.policy
    policy = loaded.policy
    use = policy_use(loaded, workspace, command=kind)
    if gate is None:
        gate = gate_plan(ctx, plan, command=kind, approval_files=approval_files, decision=decision)
    else:
        record_decision(ctx, gate.decision, command=kind)
    decision = gate.decision
    waived = kind == "rollback" and not policy.executor.rollback.require_approval
    if gate.verdict == "DENY" or (gate.verdict == "NEED_APPROVAL" and not waived):
        status: Status = "denied" if gate.verdict == "DENY" else "needs_approval"
        message, details = _refusal(plan, gate)
        stopped = refused(
            plan,
            kind=kind,
            parent=parent,
            status=status,
            message=message,
            decision=decision,
            policy=use.row(),
            error={"type": status, "message": message, "details": details},
        )
        return stopped, gate
    options = ApplyOptions(
        actor=ctx.actor,
        lock_timeout=lock_timeout,
        dry_run=dry_run,
        kind=kind,
        parent=parent,
        on_wait=ctx.on_wait,
        progress=ctx.progress,
        on_check=ctx.on_check,
        exact_modes=dict(exact_modes or {}),
        checks=tuple(applicable_checks(policy, plan_paths(plan))),
        syntax_checks=policy.verification.syntax_checks
        and decision.risk.level in policy.executor.require_verification_for_risk,
        clock=ctx.clock,
        policy=use.row(),
        decision=decision,
    )
    result = apply_plan(workspace, plan, executor_settings(policy), options)
    if result.status == "committed":
        _note_written(ctx, plan)
    if plan.base.commit is not None:
        from agentos.pipeline.gitplans import with_base_note

        result = with_base_note(workspace.root, plan, result)
    return result, gate


def _refusal(plan: ChangePlan, gate: GateResult) -> tuple[str, dict[str, object]]:
    """Why the WriteGate stops ``plan``, in one line and as ``error.details``: the DENY
    findings by rule and path, or the approvals counted and each one that does not count."""
    from agentos.governance.explain import denial_summary
    from agentos.pipeline.documents import approvals_row, finding_row

    decision = gate.decision
    if gate.verdict == "DENY":
        message = (
            f"denied by policy: {denial_summary(decision)}; nothing written — "
            f"'agentos check {plan.plan_id}' explains every finding"
        )
        denied = [finding_row(f) for f in decision.findings if f.severity == "DENY"]
        return message, {"findings": denied}
    needed = gate.approvals
    counted = ", ".join(needed.approvers)
    message = f"needs {needed.required} approval(s), has {len(needed.approvers)}"
    message += f" ({counted})" if counted else ""
    if needed.not_counted:
        message += "; not counted: " + "; ".join(item.line() for item in needed.not_counted)
    message += f"; run 'agentos approve {plan.plan_id} --by <name>'; nothing written"
    return message, {"approvals": approvals_row(needed)}


def _note_written(ctx: Context, plan: ChangePlan) -> None:
    """The sweep's baseline takes what agentos just wrote (a change, not a bypass)."""
    from agentos.sweep import note_written

    before: dict[str, str | None] = {}
    for change in plan.changeset.changes:
        if change.op == "rename":
            before[change.from_path] = change.old_sha256
            before[change.path] = None
        else:
            before[change.path] = None if change.op == "create" else change.old_sha256
    note_written(ctx.workspace, before)
