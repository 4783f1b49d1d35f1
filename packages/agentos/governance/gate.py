"""Running the WriteGate for a command: facts, decision, approvals, audit event.

``evaluate`` (writegate) decides; this module gathers what it needs from the workspace, counts
the approvals presented, and records a ``gate.evaluated`` event every time it runs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from agentos.errors import DeniedError, InvalidApprovalError, UsageError
from agentos.governance.approvals import (
    KEY_ENV,
    ApprovalStatus,
    SshRunner,
    allowed_signers_of,
    approval_problem,
    approver_name_problem,
    assess_approvals,
    make_approval,
    read_approval,
    run_ssh_keygen,
    save_approval,
    seal_approval,
    sign_ssh,
    stored_approvals,
)
from agentos.governance.facts import gather_facts
from agentos.governance.policyfile import LoadedPolicy
from agentos.governance.writegate import evaluate
from agentos.model import Approval, ChangePlan, Decision
from agentos.workspace import Workspace

Verdict = Literal["ALLOW", "APPROVED", "NEED_APPROVAL", "DENY"]


@dataclass(frozen=True)
class GateResult:
    """The decision and the approvals: together, whether the plan may be applied."""

    decision: Decision
    approvals: ApprovalStatus

    @property
    def verdict(self) -> Verdict:
        """ALLOW / DENY as decided; NEED_APPROVAL becomes APPROVED once enough approved."""
        if self.decision.decision == "NEED_APPROVAL" and self.approvals.satisfied:
            return "APPROVED"
        return self.decision.decision


def approval_key() -> bytes | None:
    """The HMAC key for approvals, from ``AGENTOS_APPROVAL_KEY`` (None when unset or empty)."""
    value = os.environ.get(KEY_ENV)
    return value.encode("utf-8") if value else None


def decide_plan(plan: ChangePlan, workspace: Workspace, loaded: LoadedPolicy) -> Decision:
    """The WriteGate's decision on ``plan`` against the workspace as it is now."""
    facts = gather_facts(plan, workspace.root, policy_file=loaded.path)
    return evaluate(plan, loaded.policy, facts)


def run_gate(
    plan: ChangePlan,
    workspace: Workspace,
    loaded: LoadedPolicy,
    *,
    approval_files: tuple[Path, ...] = (),
    actor: str,
    command: str,
    key: bytes | None = None,
    ssh_runner: SshRunner = run_ssh_keygen,
) -> GateResult:
    """Decide, count approvals (stored and ``approval_files``), record ``gate.evaluated``.

    Stored approvals must carry this workspace's seal; ``approval_files`` were made
    elsewhere and are judged by their signatures alone.
    """
    from agentos.statekey import state_key

    decision = decide_plan(plan, workspace, loaded)
    try:
        presented: list[tuple[str, Approval]] = stored_approvals(
            workspace.approvals_dir, plan, state_key(workspace.state_dir)
        )
        presented += [(str(path), read_approval(path)) for path in approval_files]
        signers = allowed_signers_of(loaded.policy, workspace.root, ssh_runner)
        status = assess_approvals(
            plan, loaded.policy, loaded.digest, presented, key, signers=signers
        )
    finally:
        record_decision(workspace, decision, actor=actor, command=command, policy=loaded)
    return GateResult(decision, status)


@dataclass(frozen=True)
class RecordedApproval:
    """An approval just recorded, its file, and the gate's verdict with it counted."""

    approval: Approval
    path: Path
    gate: GateResult


def approve_plan(
    plan: ChangePlan,
    workspace: Workspace,
    loaded: LoadedPolicy,
    *,
    approver: str,
    comment: str,
    key: bytes | None,
    ssh_key: Path | None = None,
    ssh_runner: SshRunner = run_ssh_keygen,
) -> RecordedApproval:
    """Record ``approver``'s approval of ``plan``, signed with the SSH key ``ssh_key`` when
    given, sealed with the workspace key; refuse DENY plans and invalid approvals."""
    from agentos.audit.trail import AuditTrail
    from agentos.statekey import state_key

    problem = approver_name_problem(approver)
    if problem is not None:
        raise UsageError(f"--by {approver!r}: {problem}")
    decision = decide_plan(plan, workspace, loaded)
    record_decision(workspace, decision, actor=approver, command="approve", policy=loaded)
    if decision.decision == "DENY":
        rules = sorted({f.rule for f in decision.findings if f.severity == "DENY"})
        raise DeniedError(
            f"plan {plan.plan_id} is denied by policy ({', '.join(rules)}); a denied plan "
            f"cannot be approved — see 'agentos check {plan.plan_id}' and change the plan",
            details={"plan_id": plan.plan_id, "rules": rules},
        )
    if loaded.policy.approvals.require_signature and key is None:
        raise UsageError(f"the policy requires signed approvals; set {KEY_ENV} to sign them")
    signers = allowed_signers_of(loaded.policy, workspace.root, ssh_runner)
    if signers is not None and ssh_key is None:
        raise UsageError(
            f"the policy requires SSH-signed approvals (approvals.allowed_signers: "
            f"{signers.path}); approve with --sign KEYFILE, a key listed there for {approver!r}"
        )
    approval = make_approval(
        plan, approver=approver, comment=comment, policy_digest=loaded.digest, key=key
    )
    if ssh_key is not None:
        approval = sign_ssh(approval, ssh_key, ssh_runner)
    problem = approval_problem(approval, plan, loaded.policy, key, signers=signers)
    if problem is not None:
        raise InvalidApprovalError(
            f"approval of {plan.plan_id} refused: {problem}",
            details={"plan_id": plan.plan_id, "approver": approver, "reason": problem},
        )
    seal_key = state_key(workspace.state_dir)
    approval = seal_approval(approval, seal_key)
    path = save_approval(workspace.approvals_dir, approval)
    AuditTrail(workspace.audit_dir).append(
        "approval.recorded",
        actor=approver,
        plan_id=plan.plan_id,
        data={
            "checksum": approval.checksum,
            "approver": approver,
            "policy_digest": approval.policy_digest,
            "signed": approval.signature is not None,
            "signed_ssh": approval.ssh_signature is not None,
            "comment": comment,
            "approval_file": str(path),
        },
    )
    presented = stored_approvals(workspace.approvals_dir, plan, seal_key)
    status = assess_approvals(plan, loaded.policy, loaded.digest, presented, key, signers=signers)
    return RecordedApproval(approval, path, GateResult(decision, status))


def record_decision(
    workspace: Workspace,
    decision: Decision,
    *,
    actor: str,
    command: str,
    policy: LoadedPolicy,
) -> None:
    """Append ``gate.evaluated``: the decision and its findings (never file contents)."""
    from agentos.audit.trail import AuditTrail
    from agentos.workspace import ensure_state_dir

    ensure_state_dir(workspace)
    AuditTrail(workspace.audit_dir).append(
        "gate.evaluated",
        actor=actor,
        plan_id=decision.plan_id,
        data=decision_summary(decision, command=command, policy=policy.source),
    )


def decision_summary(decision: Decision, *, command: str, policy: str) -> dict[str, Any]:
    """What the audit trail keeps of a decision."""
    return {
        "command": command,
        "decision": decision.decision,
        "checksum": decision.checksum,
        "policy": policy,
        "policy_digest": decision.policy_digest,
        "risk": decision.risk.level,
        "findings": [
            f.model_dump(mode="json", exclude={"message"}, exclude_none=True)
            for f in decision.findings
        ],
    }
