"""Approvals (SPEC §7): records bound to a plan's exact bytes, checked against the policy.

An approval names the plan (``plan_id``), seals its bytes (``checksum``), the rest of the plan
(``plan_digest``: author, intent, risk, ...) and the policy it was given under
(``policy_digest``). It may carry two signatures over all of that: an HMAC-SHA256 keyed with
``AGENTOS_APPROVAL_KEY`` (``signature``, for CI tokens) and an SSH signature
(``ssh_signature``: ``agentos approve --sign KEY``, verified against the policy's
``approvals.allowed_signers`` the way git verifies SSH-signed commits).

``agentos approve`` stores approvals under ``.agentos/approvals/<plan_id>/``, one file per
checksum and approver (a re-approval by the same person replaces the earlier one), each
sealed with the workspace key (``agentos.statekey``): a file there that this workspace did
not seal was forged or altered, and is refused. Approvals brought with ``--approval FILE``
were made elsewhere: their seal (another workspace's, if any) is ignored, their signatures
judge them.

Validity is decided by ``approval_problem`` (``approvalcount`` counts approvals): an approval
that names other bytes, another version of the plan, a person the policy does not accept, the
plan's own author, or a signature that does not verify is *invalid* (exit 6: someone presented
something false). One given under another policy is *stale*: not counted, and the message
says to approve again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from agentos.clock import Clock, rfc3339, system_clock
from agentos.digest import canonical_json, sha256_hex
from agentos.errors import InvalidApprovalError, UsageError
from agentos.governance.policy import Policy
from agentos.model import Approval, ChangePlan
from agentos.statefs import write_atomic

if TYPE_CHECKING:
    import subprocess

    from agentos.statekey import StateKey

KEY_ENV = "AGENTOS_APPROVAL_KEY"
SIGNATURE_PREFIX = "hmac-sha256:"
SEAL_PURPOSE = "approval"
# The namespace of ``ssh-keygen -Y``: a signature made for git commits ("git") or anything
# else cannot be replayed as an approval, nor an approval's as anything else.
SSH_NAMESPACE = "agentos"
SSH_ARMOR = b"-----BEGIN SSH SIGNATURE-----"
# Long enough for a person to type a key's passphrase; ssh-keygen itself answers in ms.
SSH_TIMEOUT = 120.0
MAX_SAID_CHARS = 300
NOT_SSH_SIGNED = (
    "it is not signed with an SSH key, and approvals.allowed_signers is set; approve with "
    "--sign KEY"
)

# Runs ``ssh-keygen`` with these arguments and this standard input (injected for tests).
SshRunner = Callable[[list[str], bytes], "subprocess.CompletedProcess[bytes]"]


def signing_payload(approval: Approval) -> bytes:
    """The bytes a signature covers: the canonical record without its signatures and seal."""
    return canonical_json(
        approval.model_dump(mode="json", exclude={"signature", "ssh_signature", "seal"})
    )


def seal_payload(approval: Approval) -> bytes:
    """The bytes the workspace seal covers: the canonical record without ``seal``, its
    signatures included (so none can be stripped, added or swapped in the store)."""
    return canonical_json(approval.model_dump(mode="json", exclude={"seal"}))


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
    clock: Clock = system_clock,
) -> Approval:
    """A new approval of ``plan`` by ``approver``, signed when a key is given."""
    approval = Approval(
        plan_id=plan.plan_id,
        checksum=plan.changeset.checksum,
        plan_digest=plan.plan_digest,
        approver=approver,
        approved_at=rfc3339(clock()),
        comment=comment,
        policy_digest=policy_digest,
    )
    if key is None:
        return approval
    return approval.model_copy(update={"signature": sign(approval, key)})


def seal_approval(approval: Approval, key: StateKey) -> Approval:
    """``approval`` sealed with the workspace key, as ``agentos approve`` stores it."""
    return approval.model_copy(update={"seal": key.seal(SEAL_PURPOSE, seal_payload(approval))})


def approval_path(directory: Path, approval: Approval) -> Path:
    """Where ``approval`` is stored: one file per plan, checksum and approver."""
    checksum = approval.checksum.removeprefix("sha256:")[:16]
    who = sha256_hex(approval.approver.encode("utf-8"))[:12]
    return directory / approval.plan_id / f"{checksum}-{who}.json"


def save_approval(directory: Path, approval: Approval) -> Path:
    """Write ``approval`` durably as it is and return its file (a workspace's own store
    takes only approvals sealed with ``seal_approval``)."""
    path = approval_path(directory, approval)
    text = json.dumps(approval.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"
    write_atomic(path, text.encode("utf-8"))
    return path


def read_approval(path: Path) -> Approval:
    """A file of one approval (as stored), or ``InvalidApprovalError`` (not an approval)."""
    from agentos.governance.approvalfiles import parse_approval
    from agentos.statefs import STATE_DIR_NAME, read_bytes

    try:
        # Stored approvals are state: never read through a link or from a FIFO.
        raw = read_bytes(path) if STATE_DIR_NAME in path.parts else path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"approval file {str(path)!r} does not exist") from None
    except OSError as exc:
        raise UsageError(f"cannot read approval file {str(path)!r}: {exc.strerror}") from None
    return parse_approval(raw, str(path))


def stored_approvals(
    directory: Path,
    plan: ChangePlan,
    key: StateKey,
    *,
    others: list[tuple[str, Approval]] | None = None,
) -> list[tuple[str, Approval]]:
    """The approvals stored for this very plan (its checksum and plan_digest), with their
    file names.

    Every file in the plan's folder must carry ``key``'s seal, whichever version of the plan
    it approves: one that does not was put there by hand (``InvalidApprovalError``, naming
    it). Approvals of other versions (the plan was planned again) are not counted; they are
    added to ``others`` when it is given.
    """
    folder = directory / plan.plan_id
    if not folder.is_dir():
        return []
    found: list[tuple[str, Approval]] = []
    for path in sorted(folder.glob("*.json")):
        approval = read_approval(path)
        if not key.verify(SEAL_PURPOSE, seal_payload(approval), approval.seal):
            why = "it has no seal" if approval.seal is None else "its seal does not verify"
            reason = f"not sealed by this workspace: forged or altered ({why})"
            raise InvalidApprovalError(
                f"invalid approval {path} by {approval.approver!r}: {reason} — remove it and "
                "approve again with 'agentos approve' (an approval made elsewhere is "
                "presented with --approval FILE)",
                details={"approval": str(path), "approver": approval.approver, "reason": reason},
            )
        if (approval.checksum, approval.plan_digest) == (
            plan.changeset.checksum,
            plan.plan_digest,
        ):
            found.append((str(path), approval))
        elif others is not None:
            others.append((str(path), approval))
    return sorted(found, key=lambda item: (item[1].approved_at, item[0]))


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


# ---------------------------------------------------------------------------------------------
# SSH signatures (ssh-keygen -Y sign / verify, as git signs commits)


def run_ssh_keygen(argv: list[str], stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    """Run the installed ``ssh-keygen`` with ``argv``, ``stdin`` as its input, for at most
    ``SSH_TIMEOUT`` seconds; ``FileNotFoundError`` when there is none."""
    import shutil
    import subprocess

    program = shutil.which("ssh-keygen")
    if program is None:
        raise FileNotFoundError("ssh-keygen")
    return subprocess.run(  # noqa: S603 - a fixed program, our own arguments, no shell
        [program, *argv], input=stdin, capture_output=True, timeout=SSH_TIMEOUT, check=False
    )


@dataclass(frozen=True)
class AllowedSigners:
    """The policy's allowed-signers file (git's format), and how to run ``ssh-keygen``."""

    path: Path
    runner: SshRunner = run_ssh_keygen


def allowed_signers_of(
    policy: Policy, root: Path, runner: SshRunner = run_ssh_keygen
) -> AllowedSigners | None:
    """``approvals.allowed_signers`` (relative to the workspace ``root``), or None if unset."""
    name = policy.approvals.allowed_signers
    if name is None:
        return None
    return AllowedSigners(root / name, runner)


def sign_ssh(approval: Approval, key_file: Path, runner: SshRunner = run_ssh_keygen) -> Approval:
    """``approval`` signed with the SSH key ``key_file`` over ``signing_payload``
    (``ssh-keygen -Y sign -n agentos -f KEY``); ``UsageError`` naming the key if it cannot."""
    path = key_file.expanduser()
    try:
        path.open("rb").close()
    except OSError as exc:
        raise UsageError(
            f"--sign {key_file}: cannot read the SSH key ({exc.strerror or exc}); pass a key "
            "file such as ~/.ssh/id_ed25519"
        ) from None
    argv = ["-Y", "sign", "-n", SSH_NAMESPACE, "-f", str(path)]
    result = _ssh_keygen(runner, argv, signing_payload(approval), f"sign with {key_file}")
    signature = result.stdout.strip()
    if result.returncode != 0 or not signature.startswith(SSH_ARMOR):
        raise UsageError(
            f"--sign {key_file}: ssh-keygen could not sign with this key: {_said(result)}"
        )
    return approval.model_copy(
        update={"ssh_signature": signature.decode("ascii", "replace") + "\n"}
    )


def ssh_signature_problem(approval: Approval, signers: AllowedSigners) -> str | None:
    """Why ``approval`` is not SSH-signed by its ``approver`` as ``signers`` lists them
    (None when it is): ``ssh-keygen -Y verify -I <approver>``, the payload on stdin."""
    if approval.ssh_signature is None:
        return NOT_SSH_SIGNED
    try:
        signers.path.open("rb").close()
    except OSError as exc:
        raise UsageError(
            f"approvals.allowed_signers: cannot read {signers.path} ({exc.strerror or exc}); "
            "create it in git's allowed-signers format, or fix the policy"
        ) from None
    with tempfile.TemporaryDirectory(prefix="agentos-ssh-") as scratch:
        signature = Path(scratch) / "approval.sig"
        signature.write_text(approval.ssh_signature, encoding="utf-8")
        argv = ["-Y", "verify", "-f", str(signers.path), "-I", approval.approver]
        argv += ["-n", SSH_NAMESPACE, "-s", str(signature)]
        result = _ssh_keygen(
            signers.runner, argv, signing_payload(approval), "verify SSH-signed approvals"
        )
    if result.returncode == 0:
        return None
    return (
        f"its SSH signature does not verify for {approval.approver!r} with {signers.path} "
        f"(a key not listed for that principal, or altered after signing): {_said(result)}"
    )


def _ssh_keygen(
    runner: SshRunner, argv: list[str], stdin: bytes, doing: str
) -> subprocess.CompletedProcess[bytes]:
    """``runner``'s result; what keeps ssh-keygen from answering is a ``UsageError``."""
    import subprocess

    try:
        result = runner(argv, stdin)
    except FileNotFoundError:
        raise UsageError(
            f"ssh-keygen is not installed: install OpenSSH (8.2 or newer) to {doing}"
        ) from None
    except subprocess.TimeoutExpired:
        raise UsageError(
            f"ssh-keygen did not finish within {SSH_TIMEOUT:g}s; cannot {doing}"
        ) from None
    except OSError as exc:
        raise UsageError(f"cannot run ssh-keygen to {doing}: {exc.strerror or exc}") from None
    if result.returncode != 0 and b"illegal option" in result.stderr:
        raise UsageError(f"this ssh-keygen is too old to {doing}: install OpenSSH 8.2 or newer")
    return result


def _said(result: subprocess.CompletedProcess[bytes]) -> str:
    """What ssh-keygen said, on one line."""
    lines = (result.stderr + b"\n" + result.stdout).decode("utf-8", "replace").splitlines()
    kept = [
        line.strip() for line in lines if line.strip() and not line.startswith("Signing data on")
    ]
    text = "; ".join(kept) or f"exit status {result.returncode}"
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text if len(text) <= MAX_SAID_CHARS else text[: MAX_SAID_CHARS - 3] + "..."


# ---------------------------------------------------------------------------------------------
# validity


def approval_problem(
    approval: Approval,
    plan: ChangePlan,
    policy: Policy,
    key: bytes | None,
    *,
    signers: AllowedSigners | None = None,
) -> str | None:
    """Why ``approval`` is invalid for ``plan`` under ``policy`` (None when it is valid).

    What makes an approval false (other bytes, another version of the plan, an HMAC that does
    not verify with ``key``) counts whatever the policy; the policy's own rules (approvers,
    self-approval, signatures required, SSH signers) apply only to an approval given under
    this very policy — one given under another is stale, not false. ``signers`` is the
    policy's ``allowed_signers`` (required when the policy sets it).
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
            f"its plan_digest ({approval.plan_digest}) is not the plan's ({plan.plan_digest}): "
            "the plan's author, intent or other details changed after approval — approve it "
            "again"
        )
    if (
        approval.signature is not None
        and key is not None
        and not hmac.compare_digest(approval.signature, sign(approval, key))
    ):
        return f"its signature does not verify with {KEY_ENV} (forged, or altered after signing)"
    if approval.policy_digest != policy.digest():
        return None
    objections = policy_objections(approval, plan, policy)
    # A missing SSH signature is named below, where the signers are checked.
    if objections and objections[0] != NOT_SSH_SIGNED:
        return objections[0]
    rules = policy.approvals
    if rules.require_signature and key is None:
        raise UsageError(f"the policy requires signed approvals; set {KEY_ENV} to verify them")
    if rules.allowed_signers is not None:
        if signers is None:
            raise ValueError("approvals.allowed_signers is set: pass the allowed signers")
        return ssh_signature_problem(approval, signers)
    return None


def policy_objections(approval: Approval, plan: ChangePlan, policy: Policy) -> list[str]:
    """What ``policy``'s own approval rules hold against ``approval`` without verifying any
    signature: an approver it does not accept, the plan's author, a signature missing."""
    rules = policy.approvals
    found = []
    if rules.allowed_approvers and approval.approver not in rules.allowed_approvers:
        found.append(f"{approval.approver!r} is not in approvals.allowed_approvers")
    if rules.forbid_self_approval and approval.approver == plan.author:
        found.append(f"{approval.approver!r} is the plan's author, and self-approval is forbidden")
    if rules.require_signature and approval.signature is None:
        found.append("it is not signed, and approvals.require_signature is set")
    if rules.allowed_signers is not None and approval.ssh_signature is None:
        found.append(NOT_SSH_SIGNED)
    return found
