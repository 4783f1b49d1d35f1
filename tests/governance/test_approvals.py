"""Approvals (SPEC §7): bound to a plan's exact bytes, its policy, its approvers and the key.

The pure parts (``sign``, ``approval_problem``, ``assess_approvals``, ``GateResult.verdict``)
are tested on plans built in-process; every refusal is then checked end to end through the
CLI, where it must surface as the exit code of SPEC §3 (6 invalid, 4 not enough, 3 denied,
2 usage) and never count towards ``min_approvals``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from agentos.errors import DeniedError, InvalidApprovalError, UsageError
from agentos.governance.approvalcount import ApprovalStatus, assess_approvals
from agentos.governance.approvals import (
    KEY_ENV,
    SEAL_PURPOSE,
    SIGNATURE_PREFIX,
    approval_path,
    approval_problem,
    make_approval,
    read_approval,
    save_approval,
    seal_approval,
    seal_payload,
    sign,
    signing_payload,
    stored_approvals,
)
from agentos.governance.gate import GateResult
from agentos.governance.policy import ApprovalRules, Policy
from agentos.governance.policyfile import LoadedPolicy
from agentos.model import (
    Approval,
    ChangePlan,
    Decision,
    DecisionKind,
    Risk,
    plan_digest_of,
    seal_plan,
)
from agentos.pipeline.context import Context
from agentos.pipeline.gating import approve, check
from agentos.planner.plan import PlanInput, PlanSpec, plan_changes
from agentos.planner.planfile import load_plan
from agentos.statekey import StateKey, state_key
from agentos.workspace import Workspace
from helpers import CliResult, read_tree, write_tree

Cli = Callable[..., CliResult]
Change = dict[str, Any]

AUTHOR = "ada"
KEY = b"approval-key-one"
OTHER_KEY = b"approval-key-two"
FIXED_CLOCK = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
TREE = {"src/a.py": "a = 1\n", "src/b.py": "b = 1\n", "src/c.py": "c = 1\n"}
# With the default policy a deletion is MEDIUM risk, which needs an approval (unverified-risk).
DELETE_A: list[Change] = [{"op": "delete", "path": "src/a.py"}]
DELETE_B: list[Change] = [{"op": "delete", "path": "src/b.py"}]
MODIFY_C: list[Change] = [{"op": "modify", "path": "src/c.py", "content": "c = 2\n"}]
DENIED: list[Change] = [{"op": "create", "path": ".env", "content": "A=1\n"}]
# Two workspace keys: this workspace's store, and another workspace where approvals were made.
HERE = StateKey(bytes(range(32)), "a" * 32)
ELSEWHERE = StateKey(bytes(range(32, 64)), "b" * 32)


# ---------------------------------------------------------------------------------------------
# building blocks


@pytest.fixture
def ws(workspace: Path) -> Path:
    """A workspace with three small source files and no policy of its own."""
    write_tree(workspace, dict(TREE))
    return workspace


def build_plan(root: Path, changes: list[Change], *, plan_id: str = "p1") -> ChangePlan:
    """A plan built in-process (nothing written) from a manifest of ``changes``."""
    data = json.dumps({"changes": changes}).encode()
    request = PlanSpec(
        workspace=Workspace.open(root),
        inputs=(PlanInput(name="changes.json", data=data, format="manifest"),),
        author=AUTHOR,
        plan_id=plan_id,
        clock=lambda: FIXED_CLOCK,
    )
    return plan_changes(request)


def loaded(policy: Policy) -> LoadedPolicy:
    """``policy`` as if loaded from a file."""
    return LoadedPolicy(policy, "(test policy)", policy.digest(), None)


def rules(**approvals: Any) -> Policy:
    """The default policy with its ``approvals`` section replaced."""
    return Policy(approvals=ApprovalRules(**approvals))


def approval_by(
    plan: ChangePlan, approver: str, *, policy: Policy | None = None, key: bytes | None = None
) -> Approval:
    """An approval of ``plan`` by ``approver`` under ``policy`` (default policy)."""
    digest = (policy or Policy()).digest()
    return make_approval(
        plan,
        approver=approver,
        comment="looks fine",
        policy_digest=digest,
        key=key,
        clock=lambda: FIXED_CLOCK,
    )


def write_policy(root: Path, approvals: dict[str, Any], **sections: Any) -> None:
    """Write ``<root>/agent/policies/default.yaml`` with these approval rules (and sections)."""
    path = root / "agent" / "policies" / "default.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"version": 1, "approvals": approvals, **sections}))


def cli_plan(
    cli: Cli, root: Path, changes: list[Change], *, plan_id: str = "p1", expect: int = 4
) -> Path:
    """Plan ``changes`` in ``root`` by ``AUTHOR`` under ``plan_id``; return the plan file."""
    text = json.dumps({"changes": changes})
    manifest = root.parent / f"manifest-{hashlib.sha256(text.encode()).hexdigest()[:12]}.json"
    manifest.write_text(text)
    result = cli("plan", manifest, "-C", root, "--author", AUTHOR, "--plan-id", plan_id, "--json")
    assert result.code == expect, result.err
    return Path(result.json()["result"]["plan_file"])


def cli_approve(cli: Cli, root: Path, plan: Path, by: str, *extra: str) -> CliResult:
    """``agentos approve PLAN --by NAME --json`` in ``root``."""
    return cli("approve", plan, "-C", root, "--by", by, "--json", *extra)


def cli_check(cli: Cli, root: Path, plan: Path, *extra: str | Path) -> CliResult:
    """``agentos check PLAN --json`` in ``root``."""
    return cli("check", plan, "-C", root, "--json", *extra)


def stored_files(root: Path) -> list[Path]:
    """Every approval file stored in ``root``'s ``.agentos/approvals/``."""
    folder = root / ".agentos" / "approvals"
    return sorted(folder.rglob("*.json")) if folder.is_dir() else []


def error_of(result: CliResult) -> dict[str, Any]:
    """The ``error`` object of a ``--json`` failure."""
    error: dict[str, Any] = result.json()["error"]
    return error


# ---------------------------------------------------------------------------------------------
# signatures, storage


def test_signature_round_trip(ws: Path) -> None:
    plan = build_plan(ws, DELETE_A)
    approval = approval_by(plan, "bob", key=KEY)
    assert approval.signature is not None
    assert approval.signature.startswith(SIGNATURE_PREFIX)
    assert approval.signature == sign(approval, KEY)
    assert approval.signature != sign(approval, OTHER_KEY)
    # The signature covers the record without itself, so signing is stable.
    assert b"signature" not in signing_payload(approval)
    unsigned = approval.model_copy(update={"signature": None})
    assert signing_payload(unsigned) == signing_payload(approval)
    policy = rules(require_signature=True)
    assert approval_problem(approval, plan, policy, KEY) is None


def test_make_approval_binds_plan_checksum_policy_and_utc_time(ws: Path) -> None:
    plan = build_plan(ws, DELETE_A)
    berlin = timezone(timedelta(hours=2))
    approval = make_approval(
        plan,
        approver="bob",
        comment="ok",
        policy_digest=Policy().digest(),
        key=None,
        clock=lambda: datetime(2024, 1, 2, 3, 4, 5, tzinfo=berlin),
    )
    assert approval.plan_id == "p1"
    assert approval.checksum == plan.changeset.checksum
    assert approval.policy_digest == Policy().digest()
    assert approval.approved_at == "2024-01-02T01:04:05.000000Z"
    assert approval.signature is None


def test_save_and_read_round_trip_one_file_per_approver(ws: Path, tmp_path: Path) -> None:
    plan = build_plan(ws, DELETE_A)
    store = tmp_path / "approvals"
    bob = seal_approval(approval_by(plan, "bob", key=KEY), HERE)
    path = save_approval(store, bob)
    assert path == approval_path(store, bob)
    assert path.parent == store / "p1"
    assert read_approval(path) == bob
    # The same person approving again replaces the record; another person gets their own.
    again = seal_approval(bob.model_copy(update={"comment": "second look"}), HERE)
    assert save_approval(store, again) == path
    carol = save_approval(store, seal_approval(approval_by(plan, "carol"), HERE))
    assert carol != path
    assert sorted(a.approver for _, a in stored_approvals(store, plan, HERE)) == ["bob", "carol"]
    assert read_approval(path).comment == "second look"


def test_stored_approvals_only_returns_this_checksum(ws: Path, tmp_path: Path) -> None:
    store = tmp_path / "approvals"
    old = build_plan(ws, DELETE_A)
    new = build_plan(ws, DELETE_B)
    assert old.plan_id == new.plan_id
    save_approval(store, seal_approval(approval_by(old, "bob"), HERE))
    assert stored_approvals(store, new, HERE) == []
    assert [a.approver for _, a in stored_approvals(store, old, HERE)] == ["bob"]


def test_stored_approvals_only_returns_this_version_of_the_plan(ws: Path, tmp_path: Path) -> None:
    """Same bytes, planned again (another intent): the old approval is not counted."""
    store = tmp_path / "approvals"
    old = build_plan(ws, DELETE_A)
    new = seal_plan(old, intent="the same change, explained otherwise")
    assert new.changeset.checksum == old.changeset.checksum
    assert new.plan_digest != old.plan_digest
    save_approval(store, seal_approval(approval_by(old, "bob"), HERE))
    assert stored_approvals(store, new, HERE) == []
    assert [a.approver for _, a in stored_approvals(store, old, HERE)] == ["bob"]


def test_the_seal_covers_everything_but_itself(ws: Path) -> None:
    plan = build_plan(ws, DELETE_A)
    approval = approval_by(plan, "bob", key=KEY)
    sealed = seal_approval(approval, HERE)
    assert sealed.seal is not None
    assert sealed.seal == HERE.seal(SEAL_PURPOSE, seal_payload(approval))
    assert seal_payload(sealed) == seal_payload(approval)
    assert HERE.verify(SEAL_PURPOSE, seal_payload(sealed), sealed.seal)
    assert not ELSEWHERE.verify(SEAL_PURPOSE, seal_payload(sealed), sealed.seal)
    # Unlike a signature, the seal covers the signatures: none can be stripped or added.
    for update in (
        {"signature": None},
        {"ssh_signature": "-----BEGIN SSH SIGNATURE-----\n"},
        {"comment": "edited"},
        {"approver": "carol"},
    ):
        altered = sealed.model_copy(update=update)
        assert not HERE.verify(SEAL_PURPOSE, seal_payload(altered), sealed.seal), update
    assert signing_payload(sealed) == signing_payload(approval)


def _unsealed(approval: Approval) -> Approval:
    return approval


def _sealed_elsewhere(approval: Approval) -> Approval:
    return seal_approval(approval, ELSEWHERE)


def _sealed_then_edited(approval: Approval) -> Approval:
    return seal_approval(approval, HERE).model_copy(update={"approver": "mallory"})


def _sealed_then_stripped(approval: Approval) -> Approval:
    return seal_approval(approval, HERE).model_copy(update={"signature": None})


@pytest.mark.parametrize(
    ("fiddle", "why"),
    [
        (_unsealed, "it has no seal"),
        (_sealed_elsewhere, "its seal does not verify"),
        (_sealed_then_edited, "its seal does not verify"),
        (_sealed_then_stripped, "its seal does not verify"),
    ],
)
def test_stored_approval_not_sealed_here_is_refused_naming_the_file(
    ws: Path, tmp_path: Path, fiddle: Callable[[Approval], Approval], why: str
) -> None:
    store = tmp_path / "approvals"
    plan = build_plan(ws, DELETE_A)
    save_approval(store, seal_approval(approval_by(plan, "carol"), HERE))
    forged = store / "p1" / "dropped-in.json"
    forged.write_text(json.dumps(fiddle(approval_by(plan, "bob", key=KEY)).model_dump()))
    with pytest.raises(InvalidApprovalError) as info:
        stored_approvals(store, plan, HERE)
    assert info.value.exit_code == 6
    assert info.value.details["approval"] == str(forged)
    assert str(forged) in info.value.message
    assert "not sealed by this workspace: forged or altered" in info.value.message
    assert why in info.value.message


def test_stored_approval_of_another_version_must_still_be_sealed(ws: Path, tmp_path: Path) -> None:
    """Every file in the plan's folder is checked, not only those of the current bytes."""
    store = tmp_path / "approvals"
    old = build_plan(ws, DELETE_A)
    new = build_plan(ws, DELETE_B)
    save_approval(store, approval_by(old, "bob"))
    with pytest.raises(InvalidApprovalError):
        stored_approvals(store, new, HERE)


def test_read_approval_refuses_a_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_text('{"plan_id": "p1"}')
    with pytest.raises(InvalidApprovalError) as info:
        read_approval(path)
    assert info.value.exit_code == 6
    assert str(path) in info.value.message
    with pytest.raises(UsageError):
        read_approval(tmp_path / "missing.json")


# ---------------------------------------------------------------------------------------------
# approval_problem / assess_approvals: every refusal


def _forged_field(approval: Approval) -> Approval:
    return approval.model_copy(update={"comment": "edited after signing"})


def _resigned(approval: Approval) -> Approval:
    return approval.model_copy(update={"signature": sign(approval, KEY)})


def _other_key(approval: Approval) -> Approval:
    return approval.model_copy(update={"signature": sign(approval, OTHER_KEY)})


@pytest.mark.parametrize(
    ("case", "policy", "fiddle", "reason"),
    [
        ("plan id", rules(), lambda a: a.model_copy(update={"plan_id": "p2"}), "not 'p1'"),
        (
            "checksum",
            rules(),
            lambda a: a.model_copy(update={"checksum": "sha256:" + "0" * 64}),
            "other bytes",
        ),
        (
            "plan digest",
            rules(),
            lambda a: a.model_copy(update={"plan_digest": "sha256:" + "0" * 64}),
            "plan_digest",
        ),
        ("unknown", rules(allowed_approvers=["carol"]), None, "allowed_approvers"),
        ("self", rules(), lambda a: _resigned(a.model_copy(update={"approver": AUTHOR})), "self"),
        (
            "unsigned",
            rules(require_signature=True),
            lambda a: a.model_copy(update={"signature": None}),
            "not signed",
        ),
        ("forged field", rules(require_signature=True), _forged_field, "does not verify"),
        ("other key", rules(require_signature=True), _other_key, "does not verify"),
        # A signature is checked whenever a key is set, required or not.
        ("forged, optional", rules(), _forged_field, "does not verify"),
    ],
)
def test_each_invalid_approval_is_refused_with_exit_6(
    ws: Path,
    case: str,
    policy: Policy,
    fiddle: Callable[[Approval], Approval] | None,
    reason: str,
) -> None:
    plan = build_plan(ws, DELETE_A)
    good = approval_by(plan, "bob", policy=policy, key=KEY)
    bad = fiddle(good) if fiddle is not None else good
    if case != "unknown":
        assert approval_problem(good, plan, policy, KEY) is None, case
    problem = approval_problem(bad, plan, policy, KEY)
    assert problem is not None, case
    assert reason in problem
    with pytest.raises(InvalidApprovalError) as info:
        assess_approvals(plan, policy, policy.digest(), [("given.json", bad)], KEY)
    assert info.value.exit_code == 6
    assert info.value.details["approval"] == "given.json"
    assert reason in info.value.message


def test_self_approval_is_allowed_when_not_forbidden(ws: Path) -> None:
    plan = build_plan(ws, DELETE_A)
    policy = rules(forbid_self_approval=False)
    own = approval_by(plan, AUTHOR, policy=policy)
    status = assess_approvals(plan, policy, policy.digest(), [("own", own)], None)
    assert status.approvers == (AUTHOR,)
    assert status.satisfied


def test_signed_approval_without_key_is_a_usage_error_when_signatures_required(
    ws: Path,
) -> None:
    plan = build_plan(ws, DELETE_A)
    policy = rules(require_signature=True)
    signed = approval_by(plan, "bob", policy=policy, key=KEY)
    with pytest.raises(UsageError) as info:
        approval_problem(signed, plan, policy, None)
    assert info.value.exit_code == 2
    assert KEY_ENV in info.value.message


def test_same_person_twice_counts_once(ws: Path) -> None:
    plan = build_plan(ws, DELETE_A)
    policy = rules(min_approvals=2)
    first = approval_by(plan, "bob", policy=policy)
    second = first.model_copy(update={"comment": "really"})
    status = assess_approvals(plan, policy, policy.digest(), [("1", first), ("2", second)], None)
    assert status.approvers == ("bob",)
    assert status.required == 2
    assert not status.satisfied


def test_two_distinct_approvers_satisfy_min_approvals_2(ws: Path) -> None:
    plan = build_plan(ws, DELETE_A)
    policy = rules(min_approvals=2)
    presented = [(name, approval_by(plan, name, policy=policy)) for name in ("bob", "carol")]
    status = assess_approvals(plan, policy, policy.digest(), presented, None)
    assert status.approvers == ("bob", "carol")
    assert status.satisfied


def test_approval_under_another_policy_is_stale_not_counted(ws: Path) -> None:
    plan = build_plan(ws, DELETE_A)
    before = Policy()
    after = before.model_copy(update={"approvals": ApprovalRules(allowed_approvers=["bob"])})
    assert after.digest() != before.digest()
    old = approval_by(plan, "bob", policy=before)
    status = assess_approvals(plan, after, after.digest(), [("old", old)], None)
    assert status.approvers == ()
    assert status.stale == ("bob",)
    assert not status.satisfied
    # A fresh approval under the current policy counts, and the name leaves ``stale``.
    fresh = approval_by(plan, "bob", policy=after)
    status = assess_approvals(plan, after, after.digest(), [("old", old), ("new", fresh)], None)
    assert status.approvers == ("bob",)
    assert status.stale == ()


def test_stale_lists_each_person_once(ws: Path) -> None:
    plan = build_plan(ws, DELETE_A)
    before = Policy()
    after = rules(min_approvals=2)
    old = approval_by(plan, "bob", policy=before)
    copy = old.model_copy(update={"comment": "the CI artifact"})
    status = assess_approvals(plan, after, after.digest(), [("a", old), ("b", copy)], None)
    assert status.stale == ("bob",)


@pytest.mark.parametrize(
    ("decision", "approvers", "verdict"),
    [
        ("ALLOW", (), "ALLOW"),
        ("NEED_APPROVAL", (), "NEED_APPROVAL"),
        ("NEED_APPROVAL", ("bob",), "APPROVED"),
        ("DENY", ("bob",), "DENY"),
    ],
)
def test_gate_verdict(decision: DecisionKind, approvers: tuple[str, ...], verdict: str) -> None:
    made = Decision(
        decision=decision,
        findings=(),
        risk=Risk(level="LOW"),
        plan_id="p1",
        checksum="sha256:" + "0" * 64,
        policy_digest="sha256:" + "1" * 64,
    )
    gate = GateResult(made, ApprovalStatus(required=1, approvers=approvers, stale=()))
    assert gate.verdict == verdict


# ---------------------------------------------------------------------------------------------
# the pipeline's check / approve, in-process


def context(root: Path, policy: LoadedPolicy, *, key: bytes | None = None) -> Context:
    """A pipeline context for ``root`` under ``policy``, acting as ``ci``."""
    return Context(
        workspace=Workspace.open(root), actor="ci", loaded_policy=policy, approval_key=key
    )


def test_approve_plan_then_run_gate_is_approved(ws: Path) -> None:
    plan = build_plan(ws, DELETE_A)
    ctx = context(ws, loaded(Policy()))
    recorded = approve(ctx, plan, approver="bob", comment="ok")
    assert recorded.approval_file.is_file()
    assert read_approval(recorded.approval_file) == recorded.approval
    assert recorded.gate.verdict == "APPROVED"
    gate = check(ctx, plan).gate
    assert gate.decision.decision == "NEED_APPROVAL"
    assert gate.approvals.approvers == ("bob",)
    assert gate.verdict == "APPROVED"


def test_approve_plan_refuses_deny_and_self_without_writing(ws: Path) -> None:
    ctx = context(ws, loaded(Policy()))
    with pytest.raises(DeniedError):
        approve(ctx, build_plan(ws, DENIED), approver="bob", comment="")
    with pytest.raises(InvalidApprovalError):
        approve(ctx, build_plan(ws, DELETE_A), approver=AUTHOR, comment="")
    assert stored_files(ws) == []


def test_run_gate_counts_presented_files(ws: Path, tmp_path: Path) -> None:
    plan = build_plan(ws, DELETE_A)
    policy = loaded(Policy())
    elsewhere = save_approval(tmp_path / "artifact", approval_by(plan, "bob"))
    ctx = context(ws, policy)
    assert check(ctx, plan).gate.verdict == "NEED_APPROVAL"
    gate = check(ctx, plan, approval_files=(elsewhere,)).gate
    assert gate.verdict == "APPROVED"


def test_presented_files_need_no_seal_of_this_workspace(ws: Path, tmp_path: Path) -> None:
    """An approval made elsewhere carries that workspace's seal (or none): it is ignored."""
    plan = build_plan(ws, DELETE_A)
    policy = loaded(rules(min_approvals=3))
    artifacts = tmp_path / "artifact"
    files = (
        save_approval(artifacts, approval_by(plan, "bob", policy=policy.policy)),
        save_approval(
            artifacts, seal_approval(approval_by(plan, "carol", policy=policy.policy), ELSEWHERE)
        ),
        save_approval(
            artifacts,
            approval_by(plan, "dana", policy=policy.policy).model_copy(
                update={"seal": "hmac-sha256:" + "0" * 64}
            ),
        ),
    )
    gate = check(context(ws, policy), plan, approval_files=files).gate
    assert gate.approvals.approvers == ("bob", "carol", "dana")
    assert gate.verdict == "APPROVED"


def test_approve_plan_stores_a_sealed_approval(ws: Path) -> None:
    plan = build_plan(ws, DELETE_A)
    workspace = Workspace.open(ws)
    recorded = approve(context(ws, loaded(Policy()), key=KEY), plan, approver="bob", comment="")
    stored = read_approval(recorded.approval_file)
    assert stored == recorded.approval
    assert stored.signature is not None
    own_key = state_key(workspace.state_dir)
    assert stored.seal == own_key.seal(SEAL_PURPOSE, seal_payload(stored))


# ---------------------------------------------------------------------------------------------
# end to end: exit codes


def test_valid_approval_makes_check_exit_0(cli: Cli, ws: Path) -> None:
    plan = cli_plan(cli, ws, DELETE_A)
    assert cli_check(cli, ws, plan).code == 4
    approved = cli_approve(cli, ws, plan, "bob")
    assert approved.code == 0, approved.err
    result = cli_check(cli, ws, plan)
    assert result.code == 0, result.err
    doc = result.json()["result"]
    assert (doc["decision"], doc["verdict"]) == ("NEED_APPROVAL", "APPROVED")
    assert doc["approvals"] == {
        "required": 1,
        "approvers": ["bob"],
        "stale": [],
        "not_counted": [],
        "satisfied": True,
    }


def test_self_approval_refused(cli: Cli, ws: Path) -> None:
    plan = cli_plan(cli, ws, DELETE_A)
    result = cli_approve(cli, ws, plan, AUTHOR)
    assert result.code == 6
    assert error_of(result)["type"] == "invalid_approval"
    assert "self-approval" in result.err
    assert stored_files(ws) == []
    assert cli_check(cli, ws, plan).code == 4


def test_self_approval_presented_as_file_refused(cli: Cli, ws: Path, tmp_path: Path) -> None:
    plan = cli_plan(cli, ws, DELETE_A)
    # Made for the very plan file (its plan_digest), so only the self-approval rule refuses it.
    own = approval_by(load_plan(plan), AUTHOR)
    path = save_approval(tmp_path / "artifact", own)
    result = cli_check(cli, ws, plan, "--approval", path)
    assert result.code == 6
    assert "self-approval" in result.err


def test_unknown_approver_refused(cli: Cli, ws: Path) -> None:
    write_policy(ws, {"allowed_approvers": ["carol"]})
    plan = cli_plan(cli, ws, DELETE_A)
    result = cli_approve(cli, ws, plan, "bob")
    assert result.code == 6
    assert "allowed_approvers" in result.err
    assert stored_files(ws) == []
    assert cli_approve(cli, ws, plan, "carol").code == 0
    assert cli_check(cli, ws, plan).code == 0


def test_approval_with_wrong_checksum_or_plan_id_refused(
    cli: Cli, ws: Path, tmp_path: Path
) -> None:
    plan = cli_plan(cli, ws, DELETE_A)
    # The approval of the plan file itself: a plan built apart has another created_at, so
    # another plan_digest, and an approval of it would be refused for that alone.
    good = approval_by(load_plan(plan), "bob")
    wrong_sum = tmp_path / "wrong-sum.json"
    wrong_sum.write_text(
        json.dumps(good.model_copy(update={"checksum": "sha256:" + "f" * 64}).model_dump())
    )
    wrong_id = tmp_path / "wrong-id.json"
    wrong_id.write_text(json.dumps(good.model_copy(update={"plan_id": "p2"}).model_dump()))
    right = tmp_path / "right.json"
    right.write_text(json.dumps(good.model_dump()))
    for path, reason in ((wrong_sum, "other bytes"), (wrong_id, "'p2'")):
        result = cli_check(cli, ws, plan, "--approval", path)
        assert result.code == 6, path
        assert reason in result.err
        assert error_of(result)["details"]["approval"] == str(path)
    assert cli_check(cli, ws, plan, "--approval", right).code == 0


def test_approval_does_not_survive_a_changed_plan(cli: Cli, ws: Path, tmp_path: Path) -> None:
    plan = cli_plan(cli, ws, DELETE_A)
    approved = cli_approve(cli, ws, plan, "bob")
    assert approved.code == 0
    kept = tmp_path / "old-approval.json"
    kept.write_bytes(Path(approved.json()["result"]["approval_file"]).read_bytes())
    assert cli_check(cli, ws, plan).code == 0
    # Same plan id, other changes: the old approval must not count, and presenting it is false.
    replanned = cli_plan(cli, ws, DELETE_B)
    assert replanned == plan
    result = cli_check(cli, ws, replanned)
    assert result.code == 4
    assert result.json()["result"]["approvals"]["approvers"] == []
    presented = cli_check(cli, ws, replanned, "--approval", kept)
    assert presented.code == 6
    assert "other bytes" in presented.err


def test_signature_required_flow(cli: Cli, ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_policy(ws, {"require_signature": True})
    plan = cli_plan(cli, ws, DELETE_A)
    monkeypatch.delenv(KEY_ENV, raising=False)
    unsigned = cli_approve(cli, ws, plan, "bob")
    assert unsigned.code == 2
    assert KEY_ENV in unsigned.err
    assert stored_files(ws) == []
    monkeypatch.setenv(KEY_ENV, KEY.decode())
    signed = cli_approve(cli, ws, plan, "bob")
    assert signed.code == 0, signed.err
    assert signed.json()["result"]["approval"]["signature"].startswith(SIGNATURE_PREFIX)
    assert cli_check(cli, ws, plan).code == 0
    # Presented without the key, a signature cannot be verified: a usage error, not a pass.
    monkeypatch.delenv(KEY_ENV)
    without = cli_check(cli, ws, plan)
    assert without.code == 2
    assert KEY_ENV in without.err
    monkeypatch.setenv(KEY_ENV, OTHER_KEY.decode())
    forged = cli_check(cli, ws, plan)
    assert forged.code == 6
    assert "signature" in forged.err


def test_approval_edited_after_signing_refused(
    cli: Cli, ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_policy(ws, {"require_signature": True})
    monkeypatch.setenv(KEY_ENV, KEY.decode())
    plan = cli_plan(cli, ws, DELETE_A)
    path = Path(cli_approve(cli, ws, plan, "bob").json()["result"]["approval_file"])
    assert cli_check(cli, ws, plan).code == 0
    doc = json.loads(path.read_text())
    doc["comment"] = "approved, honest"
    path.write_text(json.dumps(doc))
    result = cli_check(cli, ws, plan)
    assert result.code == 6
    assert str(path) in result.err
    assert "does not verify" in result.err


def test_unsigned_approval_goes_stale_once_signatures_are_required(
    cli: Cli, ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tightening the policy voids earlier approvals without calling them false (exit 4)."""
    monkeypatch.delenv(KEY_ENV, raising=False)
    plan = cli_plan(cli, ws, DELETE_A)
    assert cli_approve(cli, ws, plan, "bob").code == 0
    write_policy(ws, {"require_signature": True})
    monkeypatch.setenv(KEY_ENV, KEY.decode())
    result = cli_check(cli, ws, plan)
    assert result.code == 4, result.err
    assert result.json()["result"]["approvals"]["stale"] == ["bob"]
    assert cli_approve(cli, ws, plan, "bob").code == 0
    assert cli_check(cli, ws, plan).code == 0


def test_same_person_twice_still_needs_approval(cli: Cli, ws: Path, tmp_path: Path) -> None:
    write_policy(ws, {"min_approvals": 2})
    plan = cli_plan(cli, ws, DELETE_A)
    first = cli_approve(cli, ws, plan, "bob", "--comment", "one")
    second = cli_approve(cli, ws, plan, "bob", "--comment", "two")
    assert (first.code, second.code) == (0, 0)
    copy = tmp_path / "bob-again.json"
    doc = second.json()["result"]["approval"]
    copy.write_text(json.dumps({**doc, "comment": "three"}))
    result = cli_check(cli, ws, plan, "--approval", copy)
    assert result.code == 4
    assert result.json()["result"]["approvals"] == {
        "required": 2,
        "approvers": ["bob"],
        "stale": [],
        "not_counted": [
            {
                "approval": str(copy),
                "approver": "bob",
                "reasons": ["'bob' is already counted once (approvals count distinct people)"],
            }
        ],
        "satisfied": False,
    }
    assert result.json()["result"]["verdict"] == "NEED_APPROVAL"


def test_two_distinct_approvers_approve(cli: Cli, ws: Path) -> None:
    write_policy(ws, {"min_approvals": 2})
    plan = cli_plan(cli, ws, DELETE_A)
    assert cli_approve(cli, ws, plan, "bob").code == 0
    assert cli_check(cli, ws, plan).code == 4
    assert cli_approve(cli, ws, plan, "carol").code == 0
    result = cli_check(cli, ws, plan)
    assert result.code == 0
    assert sorted(result.json()["result"]["approvals"]["approvers"]) == ["bob", "carol"]
    assert result.json()["result"]["verdict"] == "APPROVED"


def test_policy_edited_after_approval_makes_it_stale(cli: Cli, ws: Path) -> None:
    write_policy(ws, {"min_approvals": 1})
    plan = cli_plan(cli, ws, DELETE_A)
    assert cli_approve(cli, ws, plan, "bob").code == 0
    assert cli_check(cli, ws, plan).code == 0
    write_policy(ws, {"min_approvals": 1}, writegate={"size_risk": {"medium_files": 11}})
    result = cli_check(cli, ws, plan)
    assert result.code == 4
    approvals = result.json()["result"]["approvals"]
    assert approvals["approvers"] == []
    assert approvals["stale"] == ["bob"]
    human = cli("check", plan, "-C", ws)
    assert "another policy" in human.out
    assert "bob" in human.out
    # Approving again under the edited policy replaces the stale record.
    assert cli_approve(cli, ws, plan, "bob").code == 0
    again = cli_check(cli, ws, plan)
    assert again.code == 0
    assert again.json()["result"]["approvals"]["stale"] == []


def test_denied_plan_cannot_be_approved(cli: Cli, ws: Path) -> None:
    plan = cli_plan(cli, ws, DENIED, expect=3)
    result = cli_approve(cli, ws, plan, "bob")
    assert result.code == 3
    assert error_of(result)["type"] == "denied"
    assert "forbidden-path" in result.err
    assert stored_files(ws) == []
    events = (ws / ".agentos" / "audit" / "audit.jsonl").read_text().splitlines()
    assert not any(json.loads(e)["event"] == "approval.recorded" for e in events)


def test_corrupt_stored_approval_exits_6_naming_the_file(cli: Cli, ws: Path) -> None:
    plan = cli_plan(cli, ws, DELETE_A)
    path = Path(cli_approve(cli, ws, plan, "bob").json()["result"]["approval_file"])
    path.write_text(path.read_text()[:-20])
    result = cli_check(cli, ws, plan)
    assert result.code == 6
    assert str(path) in result.err
    assert error_of(result)["details"]["approval"] == str(path)


def test_corrupt_stored_approval_still_records_the_decision(cli: Cli, ws: Path) -> None:
    plan = cli_plan(cli, ws, DELETE_A)
    path = Path(cli_approve(cli, ws, plan, "bob").json()["result"]["approval_file"])
    path.write_text("{}")
    trail = ws / ".agentos" / "audit" / "audit.jsonl"
    before = len(trail.read_text().splitlines())
    assert cli_check(cli, ws, plan).code == 6
    after = [json.loads(line) for line in trail.read_text().splitlines()]
    assert [e["event"] for e in after[before:]] == ["gate.evaluated"]


# ---------------------------------------------------------------------------------------------
# plan_digest: approvals bound to the whole plan, author and intent included


def forge_plan(plan_file: Path, *, recompute: bool, **fields: str) -> None:
    """Edit ``fields`` of a plan file as a forger would, recomputing its plan_digest or not."""
    doc = json.loads(plan_file.read_text())
    doc.update(fields)
    if recompute:
        doc["plan_digest"] = plan_digest_of(doc)
    plan_file.write_text(json.dumps(doc, indent=2))


def kept_copy(result: CliResult, path: Path) -> Path:
    """A copy of the approval file ``approve`` wrote (a CI artifact of it)."""
    assert result.code == 0, result.err
    path.write_bytes(Path(result.json()["result"]["approval_file"]).read_bytes())
    return path


@pytest.mark.parametrize(
    ("field", "value"), [("author", "zed"), ("intent", "a harmless cleanup, nothing else")]
)
def test_approval_given_before_the_plan_was_edited_is_refused_naming_plan_digest(
    cli: Cli, ws: Path, tmp_path: Path, field: str, value: str
) -> None:
    plan = cli_plan(cli, ws, DELETE_A)
    bob = kept_copy(cli_approve(cli, ws, plan, "bob"), tmp_path / "bob.json")
    assert cli_check(cli, ws, plan, "--approval", bob).code == 0
    forge_plan(plan, recompute=True, **{field: value})
    assert getattr(load_plan(plan), field) == value
    before = read_tree(ws)
    # Stored, it approves another version of the plan: not counted.
    checked = cli_check(cli, ws, plan)
    assert checked.code == 4, checked.err
    assert checked.json()["result"]["approvals"]["approvers"] == []
    # Presented, it is false: exit 6, naming the file and plan_digest.
    for command in ("check", "apply"):
        result = cli(command, plan, "-C", ws, "--json", "--approval", bob)
        assert result.code == 6, (command, result.err)
        assert error_of(result)["type"] == "invalid_approval"
        assert error_of(result)["details"]["approval"] == str(bob)
        assert "plan_digest" in result.err
    assert cli("apply", plan, "-C", ws, "--json").code == 4
    assert read_tree(ws) == before


def test_forbid_self_approval_cannot_be_defeated_by_editing_the_author(
    cli: Cli, ws: Path, tmp_path: Path
) -> None:
    plan = cli_plan(cli, ws, DELETE_A)
    original = plan.read_bytes()
    assert cli_approve(cli, ws, plan, AUTHOR).code == 6
    bob = kept_copy(cli_approve(cli, ws, plan, "bob"), tmp_path / "bob.json")
    stored_before = stored_files(ws)
    before = read_tree(ws)

    # The author edited, the digest left alone: the plan itself is refused, whatever the command.
    forge_plan(plan, recompute=False, author="zed")
    for args in (("check",), ("apply",), ("approve", "--by", AUTHOR)):
        result = cli(args[0], plan, "-C", ws, "--json", *args[1:])
        assert result.code == 6, (args, result.err)
        assert "plan_digest mismatch" in result.err
    assert stored_files(ws) == stored_before

    # The digest recomputed too: approvals made for the original plan no longer count.
    forge_plan(plan, recompute=True, author="zed")
    assert cli_check(cli, ws, plan).code == 4
    presented = cli_check(cli, ws, plan, "--approval", bob)
    assert presented.code == 6
    assert "plan_digest" in presented.err
    # And an approval by the real author, made for the forged copy, cannot be carried back
    # to the original plan.
    own = save_approval(tmp_path / "own", approval_by(load_plan(plan), AUTHOR))
    plan.write_bytes(original)
    carried = cli_check(cli, ws, plan, "--approval", own)
    assert carried.code == 6
    assert "plan_digest" in carried.err
    assert read_tree(ws) == before
    assert cli_check(cli, ws, plan).code == 0


# ---------------------------------------------------------------------------------------------
# the approvals store: only what this workspace sealed


def _policy_digest(cli: Cli, root: Path, plan: Path) -> str:
    digest: str = cli_check(cli, root, plan).json()["result"]["policy"]["digest"]
    return digest


@pytest.mark.parametrize("how", ["unsealed", "sealed elsewhere", "edited after sealing"])
def test_forged_approval_dropped_into_the_store_is_refused_by_check_and_apply(
    cli: Cli, ws: Path, how: str
) -> None:
    plan_file = cli_plan(cli, ws, DELETE_A)
    store = ws / ".agentos" / "approvals"
    forged = make_approval(
        load_plan(plan_file),
        approver="mallory",
        comment="lgtm",
        policy_digest=_policy_digest(cli, ws, plan_file),
        key=None,
    )
    if how == "unsealed":
        path = save_approval(store, forged)
    elif how == "sealed elsewhere":
        # Any name will do: every file in the plan's folder is read.
        path = store / "p1" / "zz-from-another-workspace.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(seal_approval(forged, ELSEWHERE).model_dump()))
    else:
        approved = cli_approve(cli, ws, plan_file, "bob")
        assert approved.code == 0, approved.err
        path = Path(approved.json()["result"]["approval_file"])
        doc = json.loads(path.read_text())
        path.write_text(json.dumps({**doc, "approver": "mallory"}))
    before = read_tree(ws)
    for command in ("check", "apply"):
        result = cli(command, plan_file, "-C", ws, "--json")
        assert result.code == 6, (command, result.err)
        assert error_of(result)["type"] == "invalid_approval"
        assert error_of(result)["details"]["approval"] == str(path)
        assert "not sealed by this workspace: forged or altered" in result.err
    assert read_tree(ws) == before
    events = (ws / ".agentos" / "audit" / "audit.jsonl").read_text().splitlines()
    assert not any(json.loads(e)["event"] == "apply.committed" for e in events)


def test_an_approval_sealed_with_this_workspaces_key_counts(cli: Cli, ws: Path) -> None:
    """The control for the test above: the same record, sealed here, is accepted — so the
    refusal is the seal's doing. (Whoever can read the key can do this too: the key lives
    outside the workspace for that reason.)"""
    plan_file = cli_plan(cli, ws, DELETE_A)
    approval = make_approval(
        load_plan(plan_file),
        approver="mallory",
        comment="lgtm",
        policy_digest=_policy_digest(cli, ws, plan_file),
        key=None,
    )
    own_key = state_key(Workspace.open(ws).state_dir)
    save_approval(ws / ".agentos" / "approvals", seal_approval(approval, own_key))
    result = cli_check(cli, ws, plan_file)
    assert result.code == 0, result.err
    assert result.json()["result"]["approvals"]["approvers"] == ["mallory"]
