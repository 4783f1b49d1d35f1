"""Counting approvals (SPEC §7): how many distinct people validly approved a plan, and why
each approval presented that does not count does not.

An invalid approval (``approval_problem``) stops the count (``InvalidApprovalError``, exit 6:
someone presented something false). Others are merely not counted, each with its reasons, so
that ``check`` and ``apply`` can say why a plan that "was approved" still waits: one given
under another policy (and what the policy in force would also hold against it), a second one
by a person already counted, one stored for another version of the plan.
"""

from __future__ import annotations

from dataclasses import dataclass

from agentos.errors import InvalidApprovalError
from agentos.governance.approvals import (
    AllowedSigners,
    approval_problem,
    policy_objections,
)
from agentos.governance.policy import Policy
from agentos.model import Approval, ChangePlan

# How much of a digest a reason shows: enough to tell two policies apart.
SHORT_DIGEST = len("sha256:") + 12


@dataclass(frozen=True)
class NotCounted:
    """An approval presented (a file) that does not count, by whom, and why."""

    source: str
    approver: str
    reasons: tuple[str, ...]

    def row(self) -> dict[str, object]:
        """As results show it."""
        return {"approval": self.source, "approver": self.approver, "reasons": list(self.reasons)}

    def line(self) -> str:
        """``<file> by 'bob': <reasons>``, for one-line messages."""
        return f"{self.source} by {self.approver!r}: {'; '.join(self.reasons)}"


@dataclass(frozen=True)
class ApprovalStatus:
    """How many distinct valid approvers a plan has, and whether that is enough.

    ``stale``: people whose only approvals were given under another policy;
    ``not_counted``: every approval presented that does not count, with its reasons.
    """

    required: int
    approvers: tuple[str, ...]
    stale: tuple[str, ...]
    not_counted: tuple[NotCounted, ...] = ()

    @property
    def satisfied(self) -> bool:
        """True when enough distinct people approved."""
        return len(self.approvers) >= self.required


def assess_approvals(
    plan: ChangePlan,
    policy: Policy,
    policy_digest: str,
    presented: list[tuple[str, Approval]],
    key: bytes | None,
    *,
    signers: AllowedSigners | None = None,
    other_versions: list[tuple[str, Approval]] | None = None,
) -> ApprovalStatus:
    """Count the distinct valid approvers; ``InvalidApprovalError`` on the first invalid one.

    ``other_versions``: approvals stored for other versions of the plan (never counted; named
    in ``not_counted`` with the difference).
    """
    approvers: list[str] = []
    stale: list[tuple[str, Approval]] = []
    repeated: list[tuple[str, Approval]] = []
    for source, approval in presented:
        problem = approval_problem(approval, plan, policy, key, signers=signers)
        if problem is not None:
            raise InvalidApprovalError(
                f"invalid approval {source} by {approval.approver!r}: {problem}",
                details={"approval": source, "approver": approval.approver, "reason": problem},
            )
        if approval.policy_digest != policy_digest:
            stale.append((source, approval))
        elif approval.approver not in approvers:
            approvers.append(approval.approver)
        else:
            repeated.append((source, approval))
    not_counted: list[NotCounted] = []
    for source, approval in other_versions or ():
        why = approval_problem(approval, plan, policy, None) or "it approves another version"
        not_counted.append(NotCounted(source, approval.approver, (why,)))
    for source, approval in stale:
        if approval.approver in approvers:
            repeated.append((source, approval))
            continue
        objections = policy_objections(approval, plan, policy)
        given = (
            f"it was given under another policy ({approval.policy_digest[:SHORT_DIGEST]}...; "
            f"the policy in force is {policy_digest[:SHORT_DIGEST]}...)"
        )
        reasons = [given if objections else f"{given}: approve again"]
        reasons += [f"under the policy in force it would not count either: {o}" for o in objections]
        not_counted.append(NotCounted(source, approval.approver, tuple(reasons)))
    for source, approval in repeated:
        why = f"{approval.approver!r} is already counted once (approvals count distinct people)"
        not_counted.append(NotCounted(source, approval.approver, (why,)))
    named = [a.approver for _, a in stale if a.approver not in approvers]
    return ApprovalStatus(
        required=policy.approvals.min_approvals,
        approvers=tuple(approvers),
        stale=tuple(dict.fromkeys(named)),
        not_counted=tuple(not_counted),
    )
