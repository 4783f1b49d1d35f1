"""SSH-signed approvals: ``approve --sign KEY`` and ``approvals.allowed_signers``.

Like git's SSH commit signing: ``ssh-keygen -Y sign -n agentos`` over the approval's signing
payload, ``ssh-keygen -Y verify -f ALLOWED_SIGNERS -I <approver> -n agentos`` to check it.
The decision logic is tested with an injected runner (argv, stdin, each failure of
ssh-keygen); the flows run the real ssh-keygen on keys made in ``tmp_path`` and are skipped
where it is not installed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from agentos.errors import UsageError
from agentos.governance.approvals import (
    KEY_ENV,
    SSH_NAMESPACE,
    AllowedSigners,
    approval_problem,
    make_approval,
    save_approval,
    sign_ssh,
    signing_payload,
    ssh_signature_problem,
)
from agentos.governance.policy import ApprovalRules, Policy
from agentos.governance.policyfile import LoadedPolicy
from agentos.model import Approval, ChangePlan
from agentos.pipeline import gating
from agentos.pipeline.context import Context
from agentos.planner.planfile import load_plan
from agentos.workspace import Workspace
from helpers import PERMISSIVE_POLICY, CliResult, read_tree, write_tree

Cli = Callable[..., CliResult]
Completed = subprocess.CompletedProcess[bytes]

AUTHOR = "ada"
DANA = "dana@example.com"
CAROL = "carol@example.com"
ARMOR = "-----BEGIN SSH SIGNATURE-----"
SIGNERS_FILE = "agent/policies/allowed_signers"
TREE = {"src/a.py": "a = 1\n", "src/b.py": "b = 1\n"}
CHANGE = {"changes": [{"op": "modify", "path": "src/a.py", "content": "a = 2\n"}]}
FAKE_SIGNATURE = f"{ARMOR}\nU1NIU0lH\n-----END SSH SIGNATURE-----\n"

needs_ssh_keygen = pytest.mark.skipif(
    shutil.which("ssh-keygen") is None, reason="ssh-keygen (OpenSSH) is not installed"
)


# ---------------------------------------------------------------------------------------------
# building blocks


@dataclass(frozen=True)
class Keys:
    """Private key files: dana and carol are listed in allowed_signers, eve is not."""

    dana: Path
    carol: Path
    eve: Path


def make_key(directory: Path, name: str) -> Path:
    """A new ed25519 key pair without a passphrase; returns the private key file."""
    path = directory / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(path)],
        check=True,
        capture_output=True,
    )
    return path


def signers_line(principal: str, key: Path) -> str:
    """One allowed-signers line: ``principal namespaces="agentos" ssh-ed25519 AAAA...``."""
    public = key.with_name(key.name + ".pub").read_text().split()
    return f'{principal} namespaces="{SSH_NAMESPACE}" {public[0]} {public[1]}\n'


def write_policy(root: Path, **approvals: Any) -> None:
    """The permissive policy, where ``src/**`` needs approval, with these approval rules."""
    policy = yaml.safe_load(PERMISSIVE_POLICY.read_text())
    policy["executor"]["always_review_categories"] = ["src/**"]
    policy["approvals"] = approvals
    path = root / "agent" / "policies" / "default.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(policy))


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    """Three key pairs outside the workspace."""
    folder = tmp_path / "keys"
    folder.mkdir()
    return Keys(*(make_key(folder, name) for name in ("dana", "carol", "eve")))


@pytest.fixture
def ws(workspace: Path, keys: Keys) -> Path:
    """A workspace whose policy accepts only approvals SSH-signed by dana or carol."""
    write_tree(workspace, dict(TREE))
    write_policy(workspace, allowed_signers=SIGNERS_FILE)
    (workspace / SIGNERS_FILE).write_text(
        signers_line(DANA, keys.dana) + signers_line(CAROL, keys.carol)
    )
    return workspace


@pytest.fixture(autouse=True)
def _no_hmac_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)


def plan_in(cli: Cli, root: Path) -> Path:
    """Plan ``CHANGE`` in ``root`` (author ada, needs approval); return the plan file."""
    manifest = root.parent / "change.json"
    manifest.write_text(json.dumps(CHANGE))
    result = cli("plan", manifest, "-C", root, "--author", AUTHOR, "--plan-id", "p1", "--json")
    assert result.code == 4, result.err
    return Path(result.json()["result"]["plan_file"])


def approve(cli: Cli, root: Path, plan: Path, by: str, *extra: str | Path) -> CliResult:
    """``agentos approve PLAN --by NAME --json ...``."""
    return cli("approve", plan, "-C", root, "--by", by, "--json", *extra)


def policy_digest(cli: Cli, root: Path, plan: Path) -> str:
    """The digest of the policy in force in ``root``."""
    digest: str = cli("check", plan, "-C", root, "--json").json()["result"]["policy"]["digest"]
    return digest


def approval_for(cli: Cli, root: Path, plan: Path, approver: str) -> Approval:
    """An unsigned approval of the plan file by ``approver`` under the policy in force."""
    return make_approval(
        load_plan(plan),
        approver=approver,
        comment="ok",
        policy_digest=policy_digest(cli, root, plan),
        key=None,
    )


def error_of(result: CliResult) -> dict[str, Any]:
    """The ``error`` object of a ``--json`` failure."""
    error: dict[str, Any] = result.json()["error"]
    return error


def stored_files(root: Path) -> list[Path]:
    """Every approval file in ``root``'s store."""
    folder = root / ".agentos" / "approvals"
    return sorted(folder.rglob("*.json")) if folder.is_dir() else []


# ---------------------------------------------------------------------------------------------
# the decision logic, with an injected ssh-keygen


@dataclass
class FakeKeygen:
    """Records each call; answers with ``returncode``, ``stdout`` and ``stderr``."""

    returncode: int = 0
    stdout: bytes = FAKE_SIGNATURE.encode()
    stderr: bytes = b""
    raises: BaseException | None = None

    def __post_init__(self) -> None:
        self.calls: list[tuple[list[str], bytes, str | None]] = []

    def __call__(self, argv: list[str], stdin: bytes) -> Completed:
        signature = None
        if "-s" in argv:
            signature = Path(argv[argv.index("-s") + 1]).read_text()
        self.calls.append((argv, stdin, signature))
        if self.raises is not None:
            raise self.raises
        return subprocess.CompletedProcess(argv, self.returncode, self.stdout, self.stderr)


def unsigned(approver: str = DANA) -> Approval:
    """An approval of a made-up plan (only its signing is under test)."""
    return Approval(
        plan_id="p1",
        checksum="sha256:" + "1" * 64,
        plan_digest="sha256:" + "2" * 64,
        approver=approver,
        approved_at="2024-05-06T07:08:09Z",
        comment="ok",
        policy_digest="sha256:" + "3" * 64,
    )


def test_sign_runs_ssh_keygen_sign_over_the_signing_payload(tmp_path: Path) -> None:
    key = tmp_path / "id_ed25519"
    key.write_text("not read by agentos, only by ssh-keygen\n")
    fake = FakeKeygen()
    approval = unsigned()
    signed = sign_ssh(approval, key, fake)
    assert fake.calls == [
        (["-Y", "sign", "-n", "agentos", "-f", str(key)], signing_payload(approval), None)
    ]
    assert signed.ssh_signature == FAKE_SIGNATURE
    # The signature does not cover itself: verifying sees the bytes that were signed.
    assert signing_payload(signed) == signing_payload(approval)


def test_verify_runs_ssh_keygen_verify_for_the_approver(tmp_path: Path) -> None:
    allowed = tmp_path / "allowed_signers"
    allowed.write_text("")
    approval = unsigned().model_copy(update={"ssh_signature": FAKE_SIGNATURE})
    fake = FakeKeygen(stdout=b'Good "agentos" signature for dana@example.com\n')
    assert ssh_signature_problem(approval, AllowedSigners(allowed, fake)) is None
    [(argv, stdin, signature)] = fake.calls
    assert argv[:8] == ["-Y", "verify", "-f", str(allowed), "-I", DANA, "-n", "agentos"]
    assert argv[8] == "-s"
    assert stdin == signing_payload(approval)
    assert signature == FAKE_SIGNATURE
    # The signature's temporary file is gone afterwards.
    assert not Path(argv[9]).exists()


def test_a_signature_that_does_not_verify_is_a_problem_naming_why(tmp_path: Path) -> None:
    allowed = tmp_path / "allowed_signers"
    allowed.write_text("")
    approval = unsigned().model_copy(update={"ssh_signature": FAKE_SIGNATURE})
    fake = FakeKeygen(
        returncode=255,
        stdout=b"Could not verify signature.\n",
        stderr=b"Signature verification failed: incorrect signature\n",
    )
    problem = ssh_signature_problem(approval, AllowedSigners(allowed, fake))
    assert problem is not None
    assert f"does not verify for {DANA!r}" in problem
    assert str(allowed) in problem
    assert "incorrect signature" in problem
    assert "\n" not in problem


def test_an_unsigned_approval_is_a_problem_without_running_ssh_keygen(tmp_path: Path) -> None:
    fake = FakeKeygen()
    problem = ssh_signature_problem(unsigned(), AllowedSigners(tmp_path / "missing", fake))
    assert problem is not None
    assert "not signed with an SSH key" in problem
    assert fake.calls == []


@pytest.mark.parametrize(
    ("fake", "says"),
    [
        (FakeKeygen(raises=FileNotFoundError("ssh-keygen")), "install OpenSSH"),
        (FakeKeygen(raises=subprocess.TimeoutExpired("ssh-keygen", 1.0)), "did not finish"),
        (FakeKeygen(returncode=1, stderr=b"ssh-keygen: illegal option -- Y\n"), "too old"),
    ],
)
def test_when_ssh_keygen_cannot_answer_it_is_a_usage_error(
    tmp_path: Path, fake: FakeKeygen, says: str
) -> None:
    key = tmp_path / "id_ed25519"
    key.write_text("key\n")
    allowed = tmp_path / "allowed_signers"
    allowed.write_text("")
    with pytest.raises(UsageError) as signing:
        sign_ssh(unsigned(), key, fake)
    assert says in signing.value.message
    assert str(key) in signing.value.message
    signed = unsigned().model_copy(update={"ssh_signature": FAKE_SIGNATURE})
    with pytest.raises(UsageError) as verifying:
        ssh_signature_problem(signed, AllowedSigners(allowed, fake))
    assert says in verifying.value.message


def test_a_missing_key_or_a_failing_sign_is_a_usage_error_naming_the_key(tmp_path: Path) -> None:
    fake = FakeKeygen()
    missing = tmp_path / "nowhere" / "id_ed25519"
    with pytest.raises(UsageError) as info:
        sign_ssh(unsigned(), missing, fake)
    assert str(missing) in info.value.message
    assert fake.calls == []
    key = tmp_path / "id_ed25519"
    key.write_text("key\n")
    failing = FakeKeygen(returncode=255, stdout=b"", stderr=b'Load key "x": invalid format\n')
    with pytest.raises(UsageError) as info:
        sign_ssh(unsigned(), key, failing)
    assert str(key) in info.value.message
    assert "invalid format" in info.value.message
    assert "\n" not in info.value.message


def test_a_missing_allowed_signers_file_is_a_usage_error_naming_it(tmp_path: Path) -> None:
    signed = unsigned().model_copy(update={"ssh_signature": FAKE_SIGNATURE})
    missing = tmp_path / "allowed_signers"
    fake = FakeKeygen()
    with pytest.raises(UsageError) as info:
        ssh_signature_problem(signed, AllowedSigners(missing, fake))
    assert str(missing) in info.value.message
    assert fake.calls == []


def test_signers_are_judged_only_under_the_policy_that_names_them(workspace: Path) -> None:
    """An approval given under another policy is stale: its SSH signature is not checked."""
    write_tree(workspace, dict(TREE))
    plan = _plan_in_process(workspace)
    policy = Policy(approvals=ApprovalRules(allowed_signers="signers"))
    fake = FakeKeygen(returncode=255)
    signers = AllowedSigners(workspace / "signers", fake)
    other = make_approval(
        plan, approver=DANA, comment="", policy_digest=Policy().digest(), key=None
    )
    assert approval_problem(other, plan, policy, None, signers=signers) is None
    assert fake.calls == []
    this = other.model_copy(update={"policy_digest": policy.digest()})
    problem = approval_problem(this, plan, policy, None, signers=signers)
    assert problem is not None
    assert "not signed with an SSH key" in problem
    with pytest.raises(ValueError, match="allowed_signers"):
        approval_problem(this, plan, policy, None)


def test_approve_plan_signs_with_the_injected_runner(workspace: Path) -> None:
    write_tree(workspace, dict(TREE))
    (workspace / "signers").write_text("")
    plan = _plan_in_process(workspace)
    policy = Policy(approvals=ApprovalRules(allowed_signers="signers"))
    key = workspace.parent / "id_ed25519"
    key.write_text("key\n")
    fake = FakeKeygen()
    ctx = Context(
        workspace=Workspace.open(workspace),
        actor=DANA,
        loaded_policy=LoadedPolicy(policy, "(test)", policy.digest(), None),
        ssh_runner=fake,
    )
    recorded = gating.approve(ctx, plan, approver=DANA, comment="", ssh_key=key)
    assert recorded.approval.ssh_signature == FAKE_SIGNATURE
    # Signed, verified before it is stored, verified again when the approvals are counted.
    assert [argv[1] for argv, _, _ in fake.calls] == ["sign", "verify", "verify"]
    assert recorded.gate.approvals.approvers == (DANA,)


def _plan_in_process(root: Path) -> ChangePlan:
    from agentos.planner.plan import PlanInput, PlanSpec, plan_changes

    request = PlanSpec(
        workspace=Workspace.open(root),
        inputs=(PlanInput(name="c.json", data=json.dumps(CHANGE).encode(), format="manifest"),),
        author=AUTHOR,
        plan_id="p1",
    )
    return plan_changes(request)


# ---------------------------------------------------------------------------------------------
# end to end with the real ssh-keygen


@needs_ssh_keygen
def test_ssh_signed_approval_lets_the_plan_apply(
    cli: Cli, ws: Path, keys: Keys, tmp_path: Path
) -> None:
    plan = plan_in(cli, ws)
    assert cli("apply", plan, "-C", ws, "--json").code == 4
    approved = approve(cli, ws, plan, DANA, "--sign", keys.dana)
    assert approved.code == 0, approved.err
    res = approved.json()["result"]
    assert res["signed_ssh"] is True
    assert res["verdict"] == "APPROVED"
    approval = Approval.model_validate(res["approval"])
    assert approval.ssh_signature is not None
    assert approval.ssh_signature.startswith(ARMOR)
    # Anyone can check it with ssh-keygen alone, as docs/policy.md shows.
    signature = tmp_path / "approval.sig"
    signature.write_text(approval.ssh_signature)
    argv = ["ssh-keygen", "-Y", "verify", "-f", str(ws / SIGNERS_FILE), "-I", DANA]
    verified = subprocess.run(
        [*argv, "-n", "agentos", "-s", str(signature)],
        input=signing_payload(approval),
        capture_output=True,
        check=False,
    )
    assert verified.returncode == 0, verified.stderr
    assert cli("check", plan, "-C", ws).code == 0
    applied = cli("apply", plan, "-C", ws, "--json")
    assert applied.code == 0, applied.err
    assert applied.json()["result"]["status"] == "committed"
    assert (ws / "src" / "a.py").read_text() == "a = 2\n"


@needs_ssh_keygen
def test_approve_human_output_says_it_was_signed(cli: Cli, ws: Path, keys: Keys) -> None:
    plan = plan_in(cli, ws)
    result = cli("approve", plan, "-C", ws, "--by", DANA, "--sign", keys.dana)
    assert result.code == 0, result.err
    assert f"signed with the SSH key {keys.dana}" in result.out


def _by_unlisted_key(approval: Approval, keys: Keys) -> Approval:
    return sign_ssh(approval, keys.eve)


def _by_another_principals_key(approval: Approval, keys: Keys) -> Approval:
    return sign_ssh(approval, keys.carol)


def _altered_after_signing(approval: Approval, keys: Keys) -> Approval:
    return sign_ssh(approval, keys.dana).model_copy(update={"comment": "ok, and more"})


def _not_signed(approval: Approval, keys: Keys) -> Approval:
    return approval


def _signed_for_git(approval: Approval, keys: Keys) -> Approval:
    """Dana's signature of the same bytes, made for another namespace (a git commit's)."""
    signed = subprocess.run(
        ["ssh-keygen", "-Y", "sign", "-n", "git", "-f", str(keys.dana)],
        input=signing_payload(approval),
        capture_output=True,
        check=True,
    )
    return approval.model_copy(update={"ssh_signature": signed.stdout.decode()})


@needs_ssh_keygen
@pytest.mark.parametrize(
    ("forge", "why"),
    [
        (_by_unlisted_key, "does not verify for 'dana@example.com'"),
        (_by_another_principals_key, "does not verify for 'dana@example.com'"),
        (_altered_after_signing, "does not verify for 'dana@example.com'"),
        (_signed_for_git, "does not verify for 'dana@example.com'"),
        (_not_signed, "not signed with an SSH key"),
    ],
)
def test_each_bad_ssh_approval_exits_6_and_applies_nothing(
    cli: Cli,
    ws: Path,
    keys: Keys,
    forge: Callable[[Approval, Keys], Approval],
    why: str,
) -> None:
    plan = plan_in(cli, ws)
    good = save_approval(ws.parent / "good", sign_ssh(approval_for(cli, ws, plan, DANA), keys.dana))
    assert cli("check", plan, "-C", ws, "--approval", good).code == 0
    bad = save_approval(ws.parent / "bad", forge(approval_for(cli, ws, plan, DANA), keys))
    before = read_tree(ws)
    for command in ("check", "apply"):
        result = cli(command, plan, "-C", ws, "--json", "--approval", bad)
        assert result.code == 6, (command, result.err)
        assert error_of(result)["type"] == "invalid_approval"
        assert error_of(result)["details"]["approval"] == str(bad)
        assert why in result.err
    assert read_tree(ws) == before


@needs_ssh_keygen
@pytest.mark.parametrize(("by", "key"), [(DANA, "eve"), (CAROL, "dana")])
def test_approve_refuses_a_key_not_listed_for_the_approver(
    cli: Cli, ws: Path, keys: Keys, by: str, key: str
) -> None:
    plan = plan_in(cli, ws)
    result = approve(cli, ws, plan, by, "--sign", getattr(keys, key))
    assert result.code == 6, result.err
    assert error_of(result)["type"] == "invalid_approval"
    assert f"does not verify for {by!r}" in result.err
    assert stored_files(ws) == []
    assert cli("apply", plan, "-C", ws).code == 4


@needs_ssh_keygen
def test_approve_without_sign_under_allowed_signers_is_a_usage_error(cli: Cli, ws: Path) -> None:
    plan = plan_in(cli, ws)
    result = approve(cli, ws, plan, DANA)
    assert result.code == 2
    assert "--sign" in result.err
    assert SIGNERS_FILE in result.err
    assert stored_files(ws) == []


@needs_ssh_keygen
def test_a_signer_removed_from_allowed_signers_no_longer_counts(
    cli: Cli, ws: Path, keys: Keys
) -> None:
    """The policy's digest does not cover the file: a revoked signer's approval is refused."""
    plan = plan_in(cli, ws)
    approved = approve(cli, ws, plan, DANA, "--sign", keys.dana)
    assert approved.code == 0, approved.err
    (ws / SIGNERS_FILE).write_text(signers_line(CAROL, keys.carol))
    before = read_tree(ws)
    result = cli("apply", plan, "-C", ws, "--json")
    assert result.code == 6
    assert error_of(result)["details"]["approval"] == approved.json()["result"]["approval_file"]
    assert read_tree(ws) == before


@needs_ssh_keygen
def test_unsigned_approvals_go_stale_when_allowed_signers_is_set(
    cli: Cli, workspace: Path, keys: Keys
) -> None:
    """Tightening the policy voids earlier approvals without calling them false (exit 4)."""
    write_tree(workspace, dict(TREE))
    write_policy(workspace)
    plan = plan_in(cli, workspace)
    assert approve(cli, workspace, plan, DANA).code == 0
    write_policy(workspace, allowed_signers=SIGNERS_FILE)
    (workspace / SIGNERS_FILE).write_text(signers_line(DANA, keys.dana))
    result = cli("check", plan, "-C", workspace, "--json")
    assert result.code == 4, result.err
    assert result.json()["result"]["approvals"]["stale"] == [DANA]
    assert approve(cli, workspace, plan, DANA, "--sign", keys.dana).code == 0
    assert cli("check", plan, "-C", workspace).code == 0


@needs_ssh_keygen
def test_hmac_and_ssh_signatures_together(
    cli: Cli, workspace: Path, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_tree(workspace, dict(TREE))
    write_policy(workspace, require_signature=True, allowed_signers=SIGNERS_FILE)
    (workspace / SIGNERS_FILE).write_text(signers_line(DANA, keys.dana))
    monkeypatch.setenv(KEY_ENV, "ci-token")
    plan = plan_in(cli, workspace)
    approved = approve(cli, workspace, plan, DANA, "--sign", keys.dana)
    assert approved.code == 0, approved.err
    approval = approved.json()["result"]["approval"]
    assert approval["signature"].startswith("hmac-sha256:")
    assert approval["ssh_signature"].startswith(ARMOR)
    assert cli("check", plan, "-C", workspace).code == 0
    monkeypatch.setenv(KEY_ENV, "another-token")
    assert cli("check", plan, "-C", workspace).code == 6


@needs_ssh_keygen
def test_a_missing_allowed_signers_file_is_a_usage_error(
    cli: Cli, ws: Path, keys: Keys, tmp_path: Path
) -> None:
    plan = plan_in(cli, ws)
    signed = save_approval(
        tmp_path / "artifact", sign_ssh(approval_for(cli, ws, plan, DANA), keys.dana)
    )
    (ws / SIGNERS_FILE).unlink()
    for args in (("approve", "--by", DANA, "--sign", keys.dana), ("check", "--approval", signed)):
        result = cli(args[0], plan, "-C", ws, *args[1:])
        assert result.code == 2, (args, result.err)
        assert SIGNERS_FILE in result.err
        assert len(result.err.strip().splitlines()) == 1
    assert stored_files(ws) == []


@needs_ssh_keygen
def test_an_unusable_key_file_is_a_one_line_usage_error(cli: Cli, ws: Path) -> None:
    plan = plan_in(cli, ws)
    not_a_key = ws.parent / "not-a-key"
    not_a_key.write_text("hello\n")
    for key in (ws.parent / "missing-key", not_a_key):
        result = approve(cli, ws, plan, DANA, "--sign", key)
        assert result.code == 2, result.err
        assert str(key) in result.err
        assert len(result.err.strip().splitlines()) == 1
    assert stored_files(ws) == []


def test_without_ssh_keygen_it_says_to_install_openssh(
    cli: Cli, workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_tree(workspace, dict(TREE))
    write_policy(workspace, allowed_signers=SIGNERS_FILE)
    (workspace / SIGNERS_FILE).write_text("")
    plan = plan_in(cli, workspace)
    key = tmp_path / "id_ed25519"
    key.write_text("a key\n")
    artifact = save_approval(
        tmp_path / "artifact",
        approval_for(cli, workspace, plan, DANA).model_copy(
            update={"ssh_signature": FAKE_SIGNATURE}
        ),
    )
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    for args in (("approve", "--by", DANA, "--sign", key), ("apply", "--approval", artifact)):
        result = cli(args[0], plan, "-C", workspace, *args[1:])
        assert result.code == 2, (args, result.err)
        assert "install OpenSSH" in result.err
        assert len(result.err.strip().splitlines()) == 1
    assert (workspace / "src" / "a.py").read_text() == "a = 1\n"
