"""What ``apply`` and ``check`` say when the WriteGate stops a plan, or the plan is stale.

Pinned: a denied apply names the rules and the paths (the first few, then "and N more") and
lists the DENY findings in ``error.details.findings``; an apply that waits for approvals says
why each approval presented does not count (``error.details.approvals.not_counted``, the
same rows ``check`` gives); ``check`` on a stale plan exits 5 listing the drifted files
(``stale``, ``drifted[]``); an apply that is not busy has ``holder: null``; messages name
policy keys in full; a health check written as a string gets the argv list to write.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from agentos.errors import PolicyError
from agentos.governance.approvals import KEY_ENV
from agentos.governance.facts import WorkspaceFacts
from agentos.governance.policy import Policy
from agentos.governance.policyfile import packaged_policy_text, parse_policy
from agentos.governance.policytest import PolicyCase, case_plan
from agentos.governance.writegate import evaluate
from helpers import PERMISSIVE_POLICY, CliResult, write_tree

Cli = Callable[..., CliResult]
Change = dict[str, Any]

AUTHOR = "ada"
FINDING_KEYS = {"rule", "path", "severity", "message", "pattern", "line"}
APPROVALS_KEYS = {"required", "approvers", "stale", "not_counted", "satisfied"}
NOT_COUNTED_KEYS = {"approval", "approver", "reasons"}
# A deletion makes the plan MEDIUM risk: with the default policy that needs an approval.
DELETE_A: list[Change] = [{"op": "delete", "path": "src/a.py"}]


@pytest.fixture(autouse=True)
def _no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)


@pytest.fixture
def ws(workspace: Path) -> Path:
    write_tree(workspace, {"src/a.py": "a = 1\n", "src/b.py": "b = 1\n", "README.md": "# d\n"})
    return workspace


def plan_of(
    cli: Cli, root: Path, changes: list[Change], *extra: str | Path, plan_id: str = "p1"
) -> tuple[CliResult, Path]:
    """Plan ``changes`` (author ``ada``); the result and the plan file."""
    manifest = root.parent / f"{plan_id}-{len(list(root.parent.glob('*.json')))}.json"
    manifest.write_text(json.dumps({"changes": changes}))
    result = cli(
        "plan", manifest, "-C", root, "--author", AUTHOR, "--plan-id", plan_id, "--json", *extra
    )
    return result, Path(result.json()["result"]["plan_file"])


def policy_file(tmp_path: Path, name: str, **approvals: Any) -> Path:
    """The packaged default policy with some ``approvals`` keys changed (kept outside ws)."""
    doc = yaml.safe_load(packaged_policy_text())
    doc["approvals"].update(approvals)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


# ---------------------------------------------------------------------------------------------
# a denied apply names the paths


def test_denied_apply_names_the_rules_and_the_first_paths(cli: Cli, ws: Path) -> None:
    outside = [{"op": "create", "path": f"other/f{i}.txt", "content": "x\n"} for i in range(5)]
    planned, plan_file = plan_of(cli, ws, [{"op": "create", "path": ".env", "content": "A=1\n"}])
    assert planned.code == 3
    planned, plan_file = plan_of(
        cli, ws, [*outside, {"op": "create", "path": ".env", "content": "A=1\n"}], plan_id="p2"
    )
    assert planned.code == 3
    result = cli("apply", plan_file, "-C", ws, "--json")
    assert result.code == 3
    doc = result.json()
    assert doc["result"]["status"] == "denied"
    error = doc["error"]
    assert error["type"] == "denied"
    message = error["message"]
    assert message == doc["result"]["message"]
    assert message.startswith(
        "denied by policy: forbidden-path (.env), outside-allowed-paths (.env, other/f0.txt, "
        "other/f1.txt and 3 more); nothing written"
    ), message
    assert "'agentos check p2'" in message
    assert f"agentos: error: {message}" in result.err
    findings = error["details"]["findings"]
    assert all(set(f) == FINDING_KEYS for f in findings)
    assert all(f["severity"] == "DENY" for f in findings)
    assert sorted(f["path"] for f in findings if f["rule"] == "outside-allowed-paths") == [
        ".env",
        *(f"other/f{i}.txt" for i in range(5)),
    ]
    assert not (ws / "other").exists()
    # approve refuses it with the same summary.
    refused = cli("approve", plan_file, "-C", ws, "--by", "bob")
    assert refused.code == 3
    assert "outside-allowed-paths (.env, other/f0.txt, other/f1.txt and 3 more)" in refused.err


def test_a_plan_wide_denial_is_named_by_its_message(cli: Cli, ws: Path, tmp_path: Path) -> None:
    doc = yaml.safe_load(PERMISSIVE_POLICY.read_text())
    doc["executor"]["constraints"]["max_files_touched"] = 1
    policy = tmp_path / "one-file.yaml"
    policy.write_text(yaml.safe_dump(doc))
    changes = [{"op": "modify", "path": p, "content": "z = 0\n"} for p in ("src/a.py", "src/b.py")]
    planned, plan_file = plan_of(cli, ws, changes, "--policy", policy)
    assert planned.code == 3
    result = cli("apply", plan_file, "-C", ws, "--policy", policy, "--json")
    assert result.code == 3
    assert (
        "constraint (the plan touches 2 files; the limit is "
        "executor.constraints.max_files_touched = 1; split the change)"
    ) in result.json()["error"]["message"]


# ---------------------------------------------------------------------------------------------
# approvals that do not count say why


@pytest.mark.file_store(
    "moves approvals out of .agentos/approvals/ to present them as files; a shared store still "
    "holds them"
)
def test_apply_says_why_each_approval_file_does_not_count(
    cli: Cli, ws: Path, tmp_path: Path
) -> None:
    lenient = policy_file(tmp_path, "lenient", forbid_self_approval=False)
    strict = policy_file(tmp_path, "strict")
    planned, plan_file = plan_of(cli, ws, DELETE_A, "--policy", lenient)
    assert planned.code == 4
    files = {}
    for name in ("ada", "bob"):
        approved = cli("approve", plan_file, "-C", ws, "--by", name, "--policy", lenient, "--json")
        assert approved.code == 0, approved.err
        # Brought in as files made elsewhere (a CI artifact), not from the store.
        files[name] = tmp_path / f"{name}-approval.json"
        shutil.move(approved.json()["result"]["approval_file"], files[name])
    args = ("-C", ws, "--policy", strict, "--approval", files["ada"], "--approval", files["bob"])
    result = cli("apply", plan_file, *args, "--json")
    assert result.code == 4, result.err
    doc = result.json()
    assert doc["result"]["status"] == "needs_approval"
    error = doc["error"]
    assert error["type"] == "needs_approval"
    message = error["message"]
    assert message.startswith("needs 1 approval(s), has 0; not counted: ")
    assert f"{files['ada']} by 'ada': it was given under another policy (sha256:" in message
    assert (
        "under the policy in force it would not count either: 'ada' is the plan's author, "
        "and self-approval is forbidden"
    ) in message
    assert f"{files['bob']} by 'bob': it was given under another policy" in message
    assert message.endswith(
        "): approve again; run 'agentos approve p1 --by <name>'; nothing written"
    )
    approvals = error["details"]["approvals"]
    assert set(approvals) == APPROVALS_KEYS
    assert approvals["required"] == 1
    assert approvals["approvers"] == []
    assert approvals["stale"] == ["ada", "bob"]
    assert approvals["satisfied"] is False
    rows = approvals["not_counted"]
    assert all(set(row) == NOT_COUNTED_KEYS for row in rows)
    assert [(row["approval"], row["approver"]) for row in rows] == [
        (str(files["ada"]), "ada"),
        (str(files["bob"]), "bob"),
    ]
    assert len(rows[0]["reasons"]) == 2
    assert len(rows[1]["reasons"]) == 1
    # check gives the same rows, and prints each reason.
    checked = cli("check", plan_file, *args, "--json")
    assert checked.code == 4
    assert checked.json()["result"]["approvals"] == approvals
    human = cli("check", plan_file, *args)
    assert f"not counted: {files['bob']} by 'bob': it was given under another policy" in human.out
    assert "'ada' is the plan's author, and self-approval is forbidden" in human.out


def test_an_approval_of_another_version_is_named(cli: Cli, ws: Path) -> None:
    _, plan_file = plan_of(cli, ws, DELETE_A)
    approved = cli("approve", plan_file, "-C", ws, "--by", "bob", "--json")
    assert approved.code == 0
    stored = approved.json()["result"]["approval_file"]
    # Planned again under the same id, with other changes: the approval no longer applies.
    replanned, plan_file = plan_of(cli, ws, [{"op": "delete", "path": "src/b.py"}])
    assert replanned.code == 4
    result = cli("apply", plan_file, "-C", ws, "--json")
    assert result.code == 4
    [row] = result.json()["error"]["details"]["approvals"]["not_counted"]
    assert (row["approval"], row["approver"]) == (stored, "bob")
    assert row["reasons"][0].startswith("it approves other bytes")
    assert (
        f"not counted: {stored} by 'bob': it approves other bytes"
        in result.json()["error"]["message"]
    )


def test_apply_that_needs_approval_with_none_presented_says_so(cli: Cli, ws: Path) -> None:
    _, plan_file = plan_of(cli, ws, DELETE_A)
    result = cli("apply", plan_file, "-C", ws, "--json")
    assert result.code == 4
    error = result.json()["error"]
    assert error["message"] == (
        "needs 1 approval(s), has 0; run 'agentos approve p1 --by <name>'; nothing written"
    )
    assert error["details"]["approvals"]["not_counted"] == []


# ---------------------------------------------------------------------------------------------
# check on a stale plan


def test_check_on_a_stale_plan_exits_5_listing_the_drifted_files(cli: Cli, ws: Path) -> None:
    changes = [
        {"op": "modify", "path": "src/a.py", "content": "a = 2\n"},
        {"op": "create", "path": "src/new.py", "content": "n = 1\n"},
    ]
    planned, plan_file = plan_of(cli, ws, changes)
    assert planned.code == 0
    fresh = cli("check", plan_file, "-C", ws, "--json")
    assert fresh.code == 0
    assert (fresh.json()["result"]["stale"], fresh.json()["result"]["drifted"]) == (False, [])
    (ws / "src" / "a.py").write_text("a = 3\n")
    (ws / "src" / "new.py").write_text("somebody else's\n")
    result = cli("check", plan_file, "-C", ws, "--json")
    assert result.code == 5
    doc = result.json()
    assert (doc["ok"], doc["exit_code"], doc["error"]) == (False, 5, None)
    res = doc["result"]
    assert (res["decision"], res["verdict"], res["stale"]) == ("ALLOW", "ALLOW", True)
    assert res["drifted"] == [
        "src/a.py: it changed since the plan was made",
        "src/new.py: it exists now (the plan creates it)",
    ]
    human = cli("check", plan_file, "-C", ws)
    assert human.code == 5
    assert "Stale: the workspace changed since the plan was made" in human.out
    assert "  drifted: src/a.py: it changed since the plan was made" in human.out
    assert "Next: plan again against the current files" in human.out
    # apply agrees: stale, exit 5, nothing written.
    assert cli("apply", plan_file, "-C", ws, "--json").code == 5
    assert (ws / "src" / "a.py").read_text() == "a = 3\n"


def test_check_after_apply_is_not_stale(cli: Cli, ws: Path) -> None:
    _, plan_file = plan_of(cli, ws, [{"op": "modify", "path": "src/a.py", "content": "a = 2\n"}])
    applied = cli("apply", plan_file, "-C", ws, "--json")
    assert applied.code == 0
    # Not busy: no lock holder to report.
    assert applied.json()["result"]["holder"] is None
    result = cli("check", plan_file, "-C", ws, "--json")
    assert result.code == 0
    assert (result.json()["result"]["stale"], result.json()["result"]["drifted"]) == (False, [])


def test_stale_wins_over_need_approval_and_deny_wins_over_stale(cli: Cli, ws: Path) -> None:
    _, waiting = plan_of(cli, ws, DELETE_A)
    _, denied = plan_of(
        cli,
        ws,
        [
            {"op": "create", "path": ".env", "content": "A=1\n"},
            {"op": "modify", "path": "src/a.py", "content": "a = 2\n"},
        ],
        plan_id="p2",
    )
    (ws / "src" / "a.py").write_text("edited\n")
    result = cli("check", waiting, "-C", ws, "--json")
    assert result.code == 5
    assert result.json()["result"]["verdict"] == "NEED_APPROVAL"
    assert result.json()["result"]["drifted"] == ["src/a.py: it changed since the plan was made"]
    assert "Next: agentos approve" not in cli("check", waiting, "-C", ws).out
    assert cli("check", denied, "-C", ws).code == 3


# ---------------------------------------------------------------------------------------------
# policy keys named in full


def _decide(policy: Policy, *changes: Change) -> list[str]:
    case = PolicyCase.model_validate({"name": "t", "changes": list(changes), "expect": "ALLOW"})
    return [f.message for f in evaluate(case_plan(case), policy, WorkspaceFacts()).findings]


def test_findings_name_policy_keys_in_full() -> None:
    policy = parse_policy(
        "writegate: {content: {max_file_bytes: 4, binary_files: deny}}\n"
        "executor: {constraints: {max_files_touched: 1, max_patch_lines: 1}}\n",
        source="p",
    )
    messages = " | ".join(
        _decide(
            policy,
            {"op": "create", "path": "src/a.txt", "content": "one\ntwo\n"},
            {"op": "create", "path": "src/b.png", "content_base64": "iVBORw0KGgoAAAA="},
        )
    )
    for key in (
        "executor.constraints.max_files_touched = 1",
        "executor.constraints.max_patch_lines = 1",
        "writegate.content.max_file_bytes = 4",
        "writegate.content.binary_files: deny",
    ):
        assert key in messages
    assert " content.max_file_bytes" not in messages
    assert " constraints." not in messages


@pytest.mark.parametrize(
    ("command", "advice"),
    [
        ("pytest -q", 'write command: ["pytest", "-q"]'),
        ("python -m 'my tests'", 'write command: ["python", "-m", "my tests"]'),
        ("pytest -q && ruff check", 'write command: ["sh", "-c", "pytest -q && ruff check"]'),
    ],
)
def test_a_health_check_command_string_gets_the_argv_to_write(command: str, advice: str) -> None:
    text = f"health_checks:\n  - name: tests\n    command: {json.dumps(command)}\n"
    with pytest.raises(PolicyError) as info:
        parse_policy(text, source="p.yaml")
    [problem] = info.value.problems
    assert problem.startswith("p.yaml:3: health_checks[0].command: must be an argv list, not a ")
    assert problem.endswith(advice)


def test_policy_validate_shows_the_argv_advice(cli: Cli, tmp_path: Path) -> None:
    policy = tmp_path / "string-command.yaml"
    policy.write_text('health_checks:\n  - name: tests\n    command: "pytest -q"\n')
    result = cli("policy", "validate", policy)
    assert result.code == 2
    assert (
        f"{policy}:3: health_checks[0].command: must be an argv list, not a string (no shell "
        'runs it); write command: ["pytest", "-q"]'
    ) in result.err
