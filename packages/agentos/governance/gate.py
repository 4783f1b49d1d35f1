"""The WriteGate against a workspace: facts, decision, the approvals presented, new approvals.

``evaluate`` (writegate) decides; this module gathers what it needs from the workspace,
counts the approvals presented and makes new ones. It records nothing: the pipeline appends
``gate.evaluated`` and ``approval.recorded`` to the audit trail.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from agentos.errors import DeniedError, InvalidApprovalError, UsageError
from agentos.governance.approvalcount import ApprovalStatus, assess_approvals
from agentos.governance.approvals import (
    KEY_ENV,
    SEAL_PURPOSE,
    SshRunner,
    allowed_signers_of,
    approval_problem,
    approver_name_problem,
    make_approval,
    run_ssh_keygen,
    seal_approval,
    seal_payload,
    sign_ssh,
    stored_approvals,
)
from agentos.governance.facts import gather_facts
from agentos.governance.policyfile import LoadedPolicy
from agentos.governance.writegate import evaluate
from agentos.model import Approval, ChangePlan, Decision
from agentos.workspace import Workspace

if TYPE_CHECKING:
    from agentos.statekey import StateKey

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


@dataclass(frozen=True)
class SharedApproval:
    """An approval a shared store holds (SPEC §14): ``source`` names it (``store:<runner>``),
    ``own`` says this very workspace recorded it (so it must carry this workspace's seal)."""

    source: str
    approval: Approval
    own: bool


def decide_plan(plan: ChangePlan, workspace: Workspace, loaded: LoadedPolicy) -> Decision:
    """The WriteGate's decision on ``plan`` against the workspace as it is now."""
    facts = gather_facts(plan, workspace.root, policy_file=loaded.path)
    return evaluate(plan, loaded.policy, facts)


def count_approvals(
    plan: ChangePlan,
    decision: Decision,
    workspace: Workspace,
    loaded: LoadedPolicy,
    *,
    approval_files: tuple[Path, ...] = (),
    key: bytes | None = None,
    ssh_runner: SshRunner = run_ssh_keygen,
    shared: Sequence[SharedApproval] = (),
) -> GateResult:
    """``decision`` with the approvals presented: those stored in the workspace, which must
    carry its seal, those of a ``shared`` store (``shared_presented``), and
    ``approval_files`` made elsewhere, judged by their signatures alone."""
    from agentos.governance.approvalfiles import read_approval_file
    from agentos.statekey import state_key

    others: list[tuple[str, Approval]] = []
    sealer = state_key(workspace.state_dir)
    presented = stored_approvals(workspace.approvals_dir, plan, sealer, others=others)
    presented += shared_presented(shared, plan, sealer, presented + others, others)
    # A file may hold several approvals: each is judged on its own (``FILE#N``).
    presented += [item for path in approval_files for item in read_approval_file(path)]
    signers = allowed_signers_of(loaded.policy, workspace.root, ssh_runner)
    status = assess_approvals(
        plan,
        loaded.policy,
        loaded.digest,
        presented,
        key,
        signers=signers,
        other_versions=others,
    )
    return GateResult(decision, status)


def shared_presented(
    shared: Sequence[SharedApproval],
    plan: ChangePlan,
    sealer: StateKey,
    local: list[tuple[str, Approval]],
    others: list[tuple[str, Approval]],
) -> list[tuple[str, Approval]]:
    """The approvals of ``plan``'s very version a shared store holds, to be counted with the
    workspace's own; approvals of other versions are added to ``others``.

    One that is also a file of this workspace (``local``) is that file: not presented twice.
    One recorded by this workspace must carry its seal, as its files do (else it was forged
    or altered in the database: ``InvalidApprovalError``); another runner's seal cannot be
    verified here, so its approvals are judged as ``--approval FILE`` ones are: by what they
    approve, the policy they were given under and their signatures.
    """
    mine = [approval for _, approval in local]
    found: list[tuple[str, Approval]] = []
    for item in shared:
        approval = item.approval
        if approval in mine:
            continue
        if item.own and not sealer.verify(SEAL_PURPOSE, seal_payload(approval), approval.seal):
            why = "it has no seal" if approval.seal is None else "its seal does not verify"
            reason = f"recorded by this workspace but not sealed by it: forged or altered ({why})"
            raise InvalidApprovalError(
                f"invalid approval {item.source} by {approval.approver!r}: {reason} — approve "
                "again with 'agentos approve' (it replaces the row)",
                details={"approval": item.source, "approver": approval.approver, "reason": reason},
            )
        version = (approval.checksum, approval.plan_digest)
        if version == (plan.changeset.checksum, plan.plan_digest):
            found.append((item.source, approval))
        else:
            others.append((item.source, approval))
    return found


def check_approver(approver: str) -> None:
    """``UsageError`` naming ``--by`` when ``approver`` is not a usable name."""
    problem = approver_name_problem(approver)
    if problem is not None:
        raise UsageError(f"--by {approver!r}: {problem}")


def new_approval(
    plan: ChangePlan,
    decision: Decision,
    workspace: Workspace,
    loaded: LoadedPolicy,
    *,
    approver: str,
    comment: str,
    key: bytes | None,
    ssh_key: Path | None = None,
    ssh_runner: SshRunner = run_ssh_keygen,
) -> Approval:
    """``approver``'s approval of ``plan``: signed (HMAC with ``key``, SSH with ``ssh_key``),
    checked as it will be counted, and sealed with the workspace key. Refuses a DENY plan
    (``DeniedError``) and an approval the policy would not count."""
    from agentos.statekey import state_key

    if decision.decision == "DENY":
        from agentos.governance.explain import denial_summary

        rules = sorted({f.rule for f in decision.findings if f.severity == "DENY"})
        raise DeniedError(
            f"plan {plan.plan_id} is denied by policy: {denial_summary(decision)}; a denied "
            f"plan cannot be approved — see 'agentos check {plan.plan_id}' and change the plan",
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
    return seal_approval(approval, state_key(workspace.state_dir))


def decision_summary(decision: Decision, *, command: str, policy: str) -> dict[str, Any]:
    """What the audit trail keeps of a decision (never file contents)."""
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
