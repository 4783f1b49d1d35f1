"""What ``agentos mcp``'s tool calls share: the session (workspace, actor, the policy read
again before each call), the reply, and the lines replies are made of."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentos.pipeline import documents

if TYPE_CHECKING:
    from agentos.clock import Clock
    from agentos.governance.gate import GateResult
    from agentos.model import ChangePlan
    from agentos.pipeline.context import Context
    from agentos.pipeline.results import Applied


@dataclass(frozen=True)
class PendingApproval:
    """A plan the client's user could approve: what it is and what it still needs."""

    plan_id: str
    checksum: str
    required: int
    approvers: tuple[str, ...]
    risk: str
    reasons: tuple[str, ...]
    ask: bool  # whether the policy lets the client's user be asked (agents.mcp_approvals)


@dataclass(frozen=True)
class Reply:
    """What a tool call answers."""

    structured: dict[str, Any]
    text: str
    is_error: bool
    pending: PendingApproval | None = None


class ToolSession:
    """What every call of one server shares: the workspace, who acts, the policy (read again
    before each call, parsed again when it changed), the clock."""

    def __init__(
        self,
        workspace_dir: Path,
        *,
        policy: Path | None = None,
        actor: str = "mcp-client",
        clock: Clock | None = None,
    ) -> None:
        from agentos.clock import system_clock
        from agentos.governance.policyfile import PolicyCache
        from agentos.pipeline.context import open_context

        self.base = open_context(
            workspace_dir, policy=policy, actor=actor, clock=clock or system_clock
        )
        self.workspace = self.base.workspace
        self.clock = self.base.clock
        self.policies = PolicyCache(policy, self.workspace)

    def context(self) -> Context:
        """A context for one call, under the policy as its file reads now."""
        return replace(self.base, loaded_policy=self.policies.current())


def plan_ref(ctx: Context, ref: str) -> tuple[Path, ChangePlan]:
    """A plan named by id, or by a file (relative paths are inside the workspace)."""
    from agentos.pipeline import load_plan_ref

    return load_plan_ref(ctx, ref, base=ctx.workspace.root)


def applied_reply(ctx: Context, applied: Applied) -> Reply:
    last = applied.last
    result = documents.applied_result(applied)
    error = documents.applied_error(applied)
    text = f"{last.kind} {last.plan_id}: {last.status} ({last.execution_id}): {last.message}"
    if last.status == "committed" and last.kind == "apply":
        text += f"\nUndo it with rollback {{execution_id: {last.execution_id}}}"
    if last.status == "needs_approval":
        text += "\n" + approval_hint(ctx, last.plan_id)
    return Reply(result if error is None else {**result, "error": error}, text, error is not None)


def pending(ctx: Context, plan: ChangePlan, gate: GateResult) -> PendingApproval:
    """What the client's user is asked to approve: ``plan``, with what ``gate`` counted."""
    return PendingApproval(
        plan_id=plan.plan_id,
        checksum=plan.changeset.checksum,
        required=gate.approvals.required,
        approvers=tuple(gate.approvals.approvers),
        risk=plan.risk.level,
        reasons=tuple(r.reason for r in plan.risk.reasons),
        ask=ctx.policy.policy.agents.mcp_approvals != "never",
    )


def lock_timeout(ctx: Context) -> float:
    """An agent waits as long as a hook would: ``agents.lock_timeout``."""
    return float(ctx.policy.policy.agents.lock_timeout)


def planned_line(plan: ChangePlan) -> str:
    stats = plan.stats
    return (
        f"plan {plan.plan_id}: {stats.files} file(s), +{stats.added_lines} "
        f"-{stats.removed_lines}, risk {plan.risk.level}"
    )


def findings_text(result: dict[str, Any]) -> str:
    return "".join(
        f"\n  {f['severity']} {f['rule']}: {f['message']}" for f in result.get("findings", ())
    )


def approve_command(ctx: Context, plan_id: str) -> str:
    return f"agentos approve {plan_id} --by NAME -C {ctx.workspace.root}"


def approval_hint(ctx: Context, plan_id: str) -> str:
    return (
        f"Needs a person's approval: {approve_command(ctx, plan_id)}; then call apply "
        f"{{plan: {plan_id}}} (or repeat this call)."
    )


def error(kind: str, message: str, details: dict[str, Any] | None = None) -> Reply:
    error = {"type": kind, "message": message, "details": details or {}}
    return Reply({"error": error}, message, is_error=True)


def internal(session: ToolSession, name: str, exc: Exception) -> Reply:
    from agentos.errors import bug_message
    from agentos.statefs import save_traceback

    log = save_traceback(
        session.workspace.root, exc, at=session.clock(), header=f"agentos mcp: {name}"
    )
    return error("internal_error", bug_message(exc, log), {"log": str(log)})
