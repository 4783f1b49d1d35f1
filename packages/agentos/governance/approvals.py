"""Approvals (SPEC §7): records bound to a plan's exact bytes, checked against the policy.

An approval names the plan (``plan_id``), seals its bytes (``checksum``) and the policy it was
given under (``policy_digest``). With a key (``AGENTOS_APPROVAL_KEY``) it carries an
HMAC-SHA256 over all of that. Stored under ``.agentos/approvals/<plan_id>/``, one file per
checksum and approver, so a re-approval by the same person replaces the earlier one.

Validity is decided by ``assess_approvals``: an approval that names other bytes, a person the
policy does not accept, the plan's own author, or a signature that does not verify is
*invalid* (exit 6: someone presented something false). One given under another policy is
*stale*: not counted, and the message says to approve again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from agentos.digest import canonical_json, sha256_hex
from agentos.errors import IntegrityError, UsageError
from agentos.governance.policy import Policy
from agentos.model import Approval, ChangePlan
from agentos.statefs import write_atomic

KEY_ENV = "AGENTOS_APPROVAL_KEY"
SIGNATURE_PREFIX = "hmac-sha256:"


class InvalidApprovalError(IntegrityError):
    """An approval was presented that is forged, for other bytes, or not allowed (exit 6)."""

    kind = "invalid_approval"


def signing_payload(approval: Approval) -> bytes:
    """The bytes a signature covers: the canonical record without its signature."""
    return canonical_json(
        approval.model_dump(mode="json", exclude={"signature", "ssh_signature", "seal"})
    )


def sign(approval: Approval, key: bytes) -> str:
    """``hmac-sha256:<hex>`` over ``signing_payload``."""
    return SIGNATURE_PREFIX + hmac.new(key, signing_payload(approval), hashlib.sha256).hexdigest()


def make_approval(
    plan: ChangePlan,
    *,
    approver: str,
    comment: str,
    policy_digest: str,
    key: bytes | None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Approval:
    """A new approval of ``plan`` by ``approver``, signed when a key is given."""
    approval = Approval(
        plan_id=plan.plan_id,
        checksum=plan.changeset.checksum,
        plan_digest=plan.plan_digest,
        approver=approver,
        approved_at=clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        comment=comment,
        policy_digest=policy_digest,
    )
    if key is None:
        return approval
    return approval.model_copy(update={"signature": sign(approval, key)})


def approval_path(directory: Path, approval: Approval) -> Path:
    """Where ``approval`` is stored: one file per plan, checksum and approver."""
    checksum = approval.checksum.removeprefix("sha256:")[:16]
    who = sha256_hex(approval.approver.encode("utf-8"))[:12]
    return directory / approval.plan_id / f"{checksum}-{who}.json"


def save_approval(directory: Path, approval: Approval) -> Path:
    """Write ``approval`` durably and return its file."""
    path = approval_path(directory, approval)
    text = json.dumps(approval.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"
    write_atomic(path, text.encode("utf-8"))
    return path


def read_approval(path: Path) -> Approval:
    """An approval file, or ``InvalidApprovalError`` (unreadable, not an approval)."""
    from pydantic import ValidationError

    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"approval file {str(path)!r} does not exist") from None
    except OSError as exc:
        raise UsageError(f"cannot read approval file {str(path)!r}: {exc.strerror}") from None
    try:
        return Approval.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top)"
        raise InvalidApprovalError(
            f"{path}: not a valid approval ({where}: {first['msg']}); it was altered or is "
            "not an agentos approval — remove it and approve again",
            details={"approval": str(path)},
        ) from None


def stored_approvals(directory: Path, plan: ChangePlan) -> list[tuple[str, Approval]]:
    """The approvals stored for this plan's exact checksum, with their file names."""
    folder = directory / plan.plan_id
    prefix = plan.changeset.checksum.removeprefix("sha256:")[:16] + "-"
    if not folder.is_dir():
        return []
    found = [(str(path), read_approval(path)) for path in folder.glob(f"{prefix}*.json")]
    return sorted(found, key=lambda item: (item[1].approved_at, item[0]))


@dataclass(frozen=True)
class ApprovalStatus:
    """How many distinct valid approvers a plan has, and whether that is enough."""

    required: int
    approvers: tuple[str, ...]
    stale: tuple[str, ...]

    @property
    def satisfied(self) -> bool:
        """True when enough distinct people approved."""
        return len(self.approvers) >= self.required


MAX_APPROVER_CHARS = 200


def approver_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be an approver's name (None when it can)."""
    if not name.strip():
        return "an approver needs a name"
    if len(name) > MAX_APPROVER_CHARS:
        return f"names are at most {MAX_APPROVER_CHARS} characters"
    if not name.isprintable():
        return "names cannot hold control characters or line breaks"
    return None


def approval_problem(
    approval: Approval, plan: ChangePlan, policy: Policy, key: bytes | None
) -> str | None:
    """Why ``approval`` is invalid for ``plan`` under ``policy`` (None when it is valid).

    What makes an approval false (other bytes, a signature that does not verify) counts
    whatever the policy; the policy's own rules (approvers, self-approval, signatures
    required) apply only to an approval given under this very policy — one given under
    another is stale, not false.
    """
    if approval.plan_id != plan.plan_id:
        return f"it approves plan {approval.plan_id!r}, not {plan.plan_id!r}"
    if approval.checksum != plan.changeset.checksum:
        return (
            f"it approves other bytes ({approval.checksum}); the plan is now "
            f"{plan.changeset.checksum} — the plan changed after approval, approve it again"
        )
    if approval.plan_digest != plan.plan_digest:
        return (
            f"it approves another version of the plan ({approval.plan_digest}): its author, "
            "intent or other details changed after approval — approve it again"
        )
    if (
        approval.signature is not None
        and key is not None
        and not hmac.compare_digest(approval.signature, sign(approval, key))
    ):
        return f"its signature does not verify with {KEY_ENV} (forged, or altered after signing)"
    if approval.policy_digest != policy.digest():
        return None
    rules = policy.approvals
    if rules.allowed_approvers and approval.approver not in rules.allowed_approvers:
        return f"{approval.approver!r} is not in approvals.allowed_approvers"
    if rules.forbid_self_approval and approval.approver == plan.author:
        return f"{approval.approver!r} is the plan's author, and self-approval is forbidden"
    if rules.require_signature:
        if approval.signature is None:
            return "it is not signed, and approvals.require_signature is set"
        if key is None:
            raise UsageError(f"the policy requires signed approvals; set {KEY_ENV} to verify them")
    return None


def assess_approvals(
    plan: ChangePlan,
    policy: Policy,
    policy_digest: str,
    presented: list[tuple[str, Approval]],
    key: bytes | None,
) -> ApprovalStatus:
    """Count the distinct valid approvers; ``InvalidApprovalError`` on the first invalid one."""
    approvers: list[str] = []
    stale: list[str] = []
    for source, approval in presented:
        problem = approval_problem(approval, plan, policy, key)
        if problem is not None:
            raise InvalidApprovalError(
                f"invalid approval {source} by {approval.approver!r}: {problem}",
                details={"approval": source, "approver": approval.approver, "reason": problem},
            )
        if approval.policy_digest != policy_digest:
            if approval.approver not in stale:
                stale.append(approval.approver)
        elif approval.approver not in approvers:
            approvers.append(approval.approver)
    return ApprovalStatus(
        required=policy.approvals.min_approvals,
        approvers=tuple(approvers),
        stale=tuple(a for a in stale if a not in approvers),
    )
