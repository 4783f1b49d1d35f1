"""``agentos check`` / ``approve`` (and ``plan``'s preview) through the CLI.

Pinned: the ``--json`` result keys of ``check`` (with and without ``--explain``) and ``approve``,
the exit code of each decision, the human rendering of findings, and what the audit trail
keeps of each gate run (one ``gate.evaluated`` per run, never file contents nor messages).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agentos.governance.approvals import KEY_ENV
from helpers import CliResult, write_tree

Cli = Callable[..., CliResult]
Change = dict[str, Any]

AUTHOR = "ada"
GATE_KEYS = {
    "plan_id",
    "plan_file",
    "checksum",
    "decision",
    "verdict",
    "risk",
    "findings",
    "approvals",
    "policy",
}
CHECK_KEYS = GATE_KEYS | {"stale", "drifted"}
EXPLAIN_KEYS = CHECK_KEYS | {"explain"}
APPROVE_KEYS = GATE_KEYS | {"approval_file", "approval", "signed_ssh"}
FINDING_KEYS = {"rule", "path", "severity", "message", "pattern", "line"}
APPROVALS_KEYS = {"required", "approvers", "stale", "not_counted", "satisfied"}
NOT_COUNTED_KEYS = {"approval", "approver", "reasons"}
POLICY_KEYS = {"source", "digest"}
RISK_KEYS = {"level", "reasons"}
EXPLAIN_ROW_KEYS = {"path", "rules"}
EXPLAIN_RULE_KEYS = {"rule", "verdict", "detail"}
APPROVAL_KEYS = {
    "plan_id",
    "checksum",
    "plan_digest",
    "ssh_signature",
    "seal",
    "approver",
    "approved_at",
    "comment",
    "policy_digest",
    "signature",
}
# Planted in new contents: it must never reach the audit trail.
MARKER = "content-marker-7f3a9c"
TREE = {"src/a.py": "a = 1\n", "src/b.py": "b = 1\n", "README.md": "# demo\n"}
ALLOWED: list[Change] = [{"op": "modify", "path": "src/b.py", "content": f"b = '{MARKER}'\n"}]
# A deletion makes the plan MEDIUM risk: with the default policy that needs an approval.
NEEDS_APPROVAL: list[Change] = [{"op": "delete", "path": "src/a.py"}]
DENIED: list[Change] = [
    {"op": "create", "path": ".env", "content": f"TOKEN={MARKER}\n"},
    {"op": "create", "path": "src/new.py", "content": f"x = '{MARKER}'\n"},
]
CASES = {"ALLOW": (ALLOWED, 0), "NEED_APPROVAL": (NEEDS_APPROVAL, 4), "DENY": (DENIED, 3)}


@pytest.fixture
def ws(workspace: Path) -> Path:
    """A workspace with a few files, the packaged default policy, and no signing key."""
    write_tree(workspace, dict(TREE))
    return workspace


@pytest.fixture(autouse=True)
def _no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)


def plan_of(
    cli: Cli, root: Path, changes: list[Change], *, plan_id: str = "p1", expect: int | None = None
) -> Path:
    """Plan ``changes`` in ``root`` (author ``ada``); return the plan file."""
    manifest = root.parent / f"{root.name}-{plan_id}.json"
    manifest.write_text(json.dumps({"changes": changes}))
    result = cli("plan", manifest, "-C", root, "--author", AUTHOR, "--plan-id", plan_id, "--json")
    if expect is not None:
        assert result.code == expect, result.err
    return Path(result.json()["result"]["plan_file"])


def events(root: Path) -> list[dict[str, Any]]:
    """Every audit event of ``root``, oldest first."""
    trail = root / ".agentos" / "audit" / "audit.jsonl"
    return [json.loads(line) for line in trail.read_text().splitlines()]


def raw_events(root: Path) -> list[str]:
    """The audit trail's lines as stored."""
    return (root / ".agentos" / "audit" / "audit.jsonl").read_text().splitlines()


def assert_audit_verifies(cli: Cli, root: Path) -> None:
    """``agentos audit verify`` passes and counts every event."""
    result = cli("audit", "verify", "-C", root, "--json")
    assert result.code == 0, result.err
    assert result.json()["result"]["events"] == len(events(root))


def new_events(cli: Cli, root: Path, *args: str | Path) -> tuple[CliResult, list[dict[str, Any]]]:
    """Run ``agentos *args`` and return its result and the events it appended."""
    before = len(events(root)) if (root / ".agentos" / "audit" / "audit.jsonl").exists() else 0
    result = cli(*args)
    return result, events(root)[before:]


def flip_one_byte_of_changes(plan_file: Path) -> None:
    """Change one hex digit of the first ``old_sha256`` in the file, leaving the checksum."""
    raw = plan_file.read_bytes()
    at = raw.index(b'"old_sha256": "') + len(b'"old_sha256": "')
    flipped = b"0" if raw[at : at + 1] != b"0" else b"1"
    plan_file.write_bytes(raw[:at] + flipped + raw[at + 1 :])


# ---------------------------------------------------------------------------------------------
# pinned JSON


def _assert_check_result(res: dict[str, Any], plan_file: Path) -> None:
    assert res["plan_id"] == "p1"
    assert Path(res["plan_file"]) == plan_file
    assert res["checksum"] == json.loads(plan_file.read_text())["changeset"]["checksum"]
    assert set(res["risk"]) == RISK_KEYS
    assert set(res["approvals"]) == APPROVALS_KEYS
    assert set(res["policy"]) == POLICY_KEYS
    assert res["policy"]["digest"].startswith("sha256:")
    assert res["findings"]
    assert all(set(f) == FINDING_KEYS for f in res["findings"])


def test_check_json_keys_are_pinned(cli: Cli, ws: Path) -> None:
    plan = plan_of(cli, ws, NEEDS_APPROVAL, expect=4)
    result = cli("check", plan, "-C", ws, "--json")
    assert result.code == 4
    doc = result.json()
    assert doc["command"] == "check"
    assert doc["exit_code"] == 4
    res = doc["result"]
    assert set(res) == CHECK_KEYS
    _assert_check_result(res, plan)
    assert (res["decision"], res["verdict"]) == ("NEED_APPROVAL", "NEED_APPROVAL")
    assert [f["rule"] for f in res["findings"]] == ["unverified-risk"]
    assert res["risk"]["level"] == "MEDIUM"
    assert res["approvals"] == {
        "required": 1,
        "approvers": [],
        "stale": [],
        "not_counted": [],
        "satisfied": False,
    }
    assert (res["stale"], res["drifted"]) == (False, [])


def test_check_explain_json_keys_are_pinned(cli: Cli, ws: Path) -> None:
    plan = plan_of(cli, ws, DENIED, expect=3)
    result = cli("check", plan, "-C", ws, "--json", "--explain")
    assert result.code == 3
    res = result.json()["result"]
    assert set(res) == EXPLAIN_KEYS
    _assert_check_result(res, plan)
    rows = res["explain"]
    assert all(set(row) == EXPLAIN_ROW_KEYS for row in rows)
    assert all(set(rule) == EXPLAIN_RULE_KEYS for row in rows for rule in row["rules"])
    by_path = {row["path"]: {r["rule"]: r["verdict"] for r in row["rules"]} for row in rows}
    assert {".env", "src/new.py"} <= set(by_path)
    assert by_path[".env"]["forbidden-path"] == "DENY"
    assert by_path["src/new.py"]["forbidden-path"] != "DENY"
    # Without --explain the key is absent.
    assert "explain" not in cli("check", plan, "-C", ws, "--json").json()["result"]


def test_approve_json_keys_are_pinned(cli: Cli, ws: Path) -> None:
    plan = plan_of(cli, ws, NEEDS_APPROVAL, expect=4)
    result = cli("approve", plan, "-C", ws, "--by", "bob", "--comment", "fine", "--json")
    assert result.code == 0, result.err
    doc = result.json()
    assert doc["command"] == "approve"
    res = doc["result"]
    assert set(res) == APPROVE_KEYS
    _assert_check_result(res, plan)
    assert res["verdict"] == "APPROVED"
    approval = res["approval"]
    assert set(approval) == APPROVAL_KEYS
    assert approval["plan_id"] == "p1"
    assert approval["checksum"] == res["checksum"]
    assert approval["approver"] == "bob"
    assert approval["comment"] == "fine"
    assert approval["policy_digest"] == res["policy"]["digest"]
    assert approval["signature"] is None
    assert approval["ssh_signature"] is None
    assert res["signed_ssh"] is False
    assert approval["plan_digest"] == json.loads(plan.read_text())["plan_digest"]
    # Sealed with the workspace key (a hand-made file in the store is refused).
    assert approval["seal"].startswith("hmac-sha256:")
    stored = Path(res["approval_file"])
    assert stored.is_relative_to(ws.resolve() / ".agentos" / "approvals")
    assert json.loads(stored.read_text()) == approval


# ---------------------------------------------------------------------------------------------
# exit codes and human output


@pytest.mark.parametrize("decision", list(CASES))
def test_check_and_plan_exit_with_the_decision_code(cli: Cli, ws: Path, decision: str) -> None:
    changes, code = CASES[decision]
    planned = cli(
        "plan",
        _manifest(ws, changes),
        "-C",
        ws,
        "--author",
        AUTHOR,
        "--plan-id",
        "p1",
        "--json",
    )
    assert planned.code == code, planned.err
    assert planned.json()["result"]["decision"] == decision
    # The plan file is written whatever the decision, DENY included, and it loads.
    plan_file = Path(planned.json()["result"]["plan_file"])
    assert plan_file.is_file()
    checked = cli("check", plan_file, "-C", ws, "--json")
    assert checked.code == code
    assert checked.json()["result"]["decision"] == decision
    assert checked.json()["result"]["checksum"] == planned.json()["result"]["checksum"]
    assert cli("check", "p1", "-C", ws).code == code


def _manifest(root: Path, changes: list[Change]) -> Path:
    path = root.parent / "manifest.json"
    path.write_text(json.dumps({"changes": changes}))
    return path


@pytest.mark.parametrize("decision", ["NEED_APPROVAL", "DENY"])
def test_check_human_output_names_every_rule_and_message(cli: Cli, ws: Path, decision: str) -> None:
    plan = plan_of(cli, ws, CASES[decision][0])
    findings = cli("check", plan, "-C", ws, "--json").json()["result"]["findings"]
    assert len(findings) >= (2 if decision == "DENY" else 1)
    human = cli("check", plan, "-C", ws)
    assert human.code == CASES[decision][1]
    assert f"Decision: {decision}" in human.out
    for finding in findings:
        assert finding["rule"] in human.out
        assert finding["message"] in human.out


def test_check_human_output_after_approval_says_approved(cli: Cli, ws: Path) -> None:
    plan = plan_of(cli, ws, NEEDS_APPROVAL, expect=4)
    assert "agentos approve p1" in cli("check", plan, "-C", ws).out
    assert cli("approve", plan, "-C", ws, "--by", "bob").code == 0
    human = cli("check", plan, "-C", ws)
    assert human.code == 0
    assert "Decision: APPROVED" in human.out
    assert "1 of 1 (bob)" in human.out


# ---------------------------------------------------------------------------------------------
# the audit trail


def test_each_gate_run_appends_one_gate_evaluated_without_contents(cli: Cli, ws: Path) -> None:
    for decision, (changes, code) in CASES.items():
        plan_id = decision.lower().replace("_", "-")
        manifest = _manifest(ws, changes)
        planned, appended = new_events(
            cli, ws, "plan", manifest, "-C", ws, "--author", AUTHOR, "--plan-id", plan_id
        )
        assert planned.code == code
        assert [e["event"] for e in appended] == ["plan.created", "gate.evaluated"]
        for args in (("check",), ("check", "--explain")):
            result, appended = new_events(cli, ws, *args, plan_id, "-C", ws, "--json")
            assert result.code == code
            assert [e["event"] for e in appended] == ["gate.evaluated"]
            res = result.json()["result"]
            data = appended[0]["data"]
            assert appended[0]["plan_id"] == plan_id
            assert data["decision"] == decision
            assert data["checksum"] == res["checksum"]
            assert data["policy_digest"] == res["policy"]["digest"]
            assert [(f["rule"], f.get("path")) for f in data["findings"]] == [
                (f["rule"], f["path"]) for f in res["findings"]
            ]
            assert all("message" not in f for f in data["findings"])
    lines = [line for line in raw_events(ws) if '"gate.evaluated"' in line]
    assert len(lines) == 3 * 3
    every_message = {
        f["message"]
        for plan_id in ("allow", "need-approval", "deny")
        for f in cli("check", plan_id, "-C", ws, "--json").json()["result"]["findings"]
    }
    assert every_message
    for line in raw_events(ws):
        assert MARKER not in line
        for message in every_message:
            assert message not in line
            assert json.dumps(message)[1:-1] not in line
    assert_audit_verifies(cli, ws)


def test_approve_appends_gate_evaluated_and_approval_recorded(cli: Cli, ws: Path) -> None:
    plan = plan_of(cli, ws, NEEDS_APPROVAL, expect=4)
    result, appended = new_events(
        cli, ws, "approve", plan, "-C", ws, "--by", "bob", "--comment", "ok", "--json"
    )
    assert result.code == 0
    res = result.json()["result"]
    assert [e["event"] for e in appended] == ["gate.evaluated", "approval.recorded"]
    recorded = appended[1]
    assert recorded["plan_id"] == "p1"
    assert recorded["actor"] == "bob"
    assert recorded["data"]["approver"] == "bob"
    assert recorded["data"]["checksum"] == res["checksum"]
    assert recorded["data"]["policy_digest"] == res["policy"]["digest"]
    assert recorded["data"]["signed"] is False
    assert recorded["data"]["signed_ssh"] is False
    assert appended[0]["data"]["decision"] == "NEED_APPROVAL"
    assert_audit_verifies(cli, ws)


def test_invalid_presented_approval_still_records_the_gate_run(
    cli: Cli, ws: Path, tmp_path: Path
) -> None:
    plan = plan_of(cli, ws, NEEDS_APPROVAL, expect=4)
    approval = cli("approve", plan, "-C", ws, "--by", "bob", "--json").json()["result"]
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps({**approval["approval"], "checksum": "sha256:" + "e" * 64}))
    result, appended = new_events(cli, ws, "check", plan, "-C", ws, "--approval", forged)
    assert result.code == 6
    assert [e["event"] for e in appended] == ["gate.evaluated"]
    assert_audit_verifies(cli, ws)


# ---------------------------------------------------------------------------------------------
# approvals carried between workspaces, tampered plans


@pytest.mark.file_store(
    "with files an approval made in another workspace counts only when presented; a shared "
    "store shares it (tests/store/test_shared_state.py)"
)
def test_check_counts_an_approval_made_in_another_workspace(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, "shared-ci-key")
    developer, ci = tmp_path / "dev", tmp_path / "ci"
    for root in (developer, ci):
        root.mkdir()
        write_tree(root, dict(TREE))
    plan = plan_of(cli, developer, NEEDS_APPROVAL, expect=4)
    # The CI job has the same plan bytes, approved there; the artifact travels back.
    carried = ci / "plan-p1.json"
    shutil.copyfile(plan, carried)
    approved = cli("approve", carried, "-C", ci, "--by", "bob", "--json")
    assert approved.code == 0, approved.err
    artifact = Path(approved.json()["result"]["approval_file"])
    assert approved.json()["result"]["approval"]["signature"] is not None
    assert not (developer / ".agentos" / "approvals").exists()
    assert cli("check", plan, "-C", developer).code == 4
    result = cli("check", plan, "-C", developer, "--approval", artifact, "--json")
    assert result.code == 0, result.err
    assert result.json()["result"]["verdict"] == "APPROVED"
    assert result.json()["result"]["approvals"]["approvers"] == ["bob"]
    assert_audit_verifies(cli, developer)
    assert_audit_verifies(cli, ci)


def test_tampered_plan_is_refused_by_check_and_approve(cli: Cli, ws: Path) -> None:
    plan = plan_of(cli, ws, NEEDS_APPROVAL, expect=4)
    flip_one_byte_of_changes(plan)
    checked = cli("check", plan, "-C", ws, "--json")
    assert checked.code == 6
    assert checked.json()["error"]["type"] == "checksum_mismatch"
    approved = cli("approve", plan, "-C", ws, "--by", "bob")
    assert approved.code == 6
    assert str(plan) in approved.err
    assert not (ws / ".agentos" / "approvals").exists()
    assert "approval.recorded" not in {e["event"] for e in events(ws)}


def test_tampered_plan_does_not_reuse_its_approval(cli: Cli, ws: Path) -> None:
    plan = plan_of(cli, ws, NEEDS_APPROVAL, expect=4)
    assert cli("approve", plan, "-C", ws, "--by", "bob").code == 0
    assert cli("check", plan, "-C", ws).code == 0
    flip_one_byte_of_changes(plan)
    assert cli("check", plan, "-C", ws).code == 6


@pytest.mark.parametrize("name", ["", "x" * 201])
def test_approve_with_an_unusable_name_is_a_usage_error(cli: Cli, ws: Path, name: str) -> None:
    plan = plan_of(cli, ws, NEEDS_APPROVAL, expect=4)
    result = cli("approve", plan, "-C", ws, "--by", name)
    assert result.code == 2
    assert len(result.err.strip().splitlines()) == 1
