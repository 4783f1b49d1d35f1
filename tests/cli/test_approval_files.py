"""Approval files made elsewhere: ``approve -o FILE`` writes one (instead of the workspace's
store), ``check`` / ``apply`` / ``rollback --approval FILE`` present it.

Pinned: a file holds one approval (a JSON object, the old format) or several (a JSON array);
``approve -o`` on a file of the same plan adds to it (the same approver replaced, other
versions of the plan dropped) and never overwrites a file of another plan or a file that is
not an approval file; each approval in a file is judged on its own (``FILE#N`` in reasons and
errors); ``rollback --approval FILE`` counts like ``apply``'s.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from agentos.governance.approvals import KEY_ENV
from helpers import PERMISSIVE_POLICY, CliResult, write_tree

Cli = Callable[..., CliResult]

TREE = {"src/a.py": "a = 1\n", "src/b.py": "b = 1\n"}
# A deletion is MEDIUM risk: under POLICY it needs two approvals.
DELETE_A = [{"op": "delete", "path": "src/a.py"}]
DELETE_B = [{"op": "delete", "path": "src/b.py"}]


@pytest.fixture(autouse=True)
def _no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)


@pytest.fixture
def ws(workspace: Path) -> Path:
    write_tree(workspace, dict(TREE))
    doc = yaml.safe_load(PERMISSIVE_POLICY.read_text())
    doc["writegate"]["require_approval_for_risk"] = ["MEDIUM", "HIGH", "CRITICAL"]
    doc["executor"]["rollback"] = {"require_approval": True}
    doc["approvals"] = {"min_approvals": 2}
    policy = workspace / "agent" / "policies" / "default.yaml"
    policy.parent.mkdir(parents=True)
    policy.write_text(yaml.safe_dump(doc))
    return workspace


def plan(cli: Cli, ws: Path, plan_id: str, changes: list[dict[str, Any]], code: int = 4) -> Path:
    manifest = ws.parent / f"{plan_id}-{len(list(ws.parent.glob('*.json')))}.json"
    manifest.write_text(json.dumps({"changes": changes}))
    res = cli("plan", manifest, "-C", ws, "--plan-id", plan_id, "--author", "ada", "--json")
    assert res.code == code, res.err
    return Path(res.json()["result"]["plan_file"])


def approve(cli: Cli, ws: Path, ref: str, by: str, out: Path, *extra: str) -> CliResult:
    return cli("approve", ref, "--by", by, "-o", out, "-C", ws, "--json", *extra)


def check(cli: Cli, ws: Path, ref: str, *files: Path) -> CliResult:
    presented = [arg for f in files for arg in ("--approval", str(f))]
    return cli("check", ref, "-C", ws, "--json", *presented)


def stored(ws: Path) -> list[Path]:
    folder = ws / ".agentos" / "approvals"
    return sorted(folder.rglob("*.json")) if folder.exists() else []


def test_approve_output_writes_the_file_instead_of_the_store(cli: Cli, ws: Path) -> None:
    plan(cli, ws, "p1", DELETE_A)
    out = ws.parent / "bob.json"
    res = approve(cli, ws, "p1", "bob", out)
    assert res.code == 0, res.err
    result = res.json()["result"]
    assert result["approval_file"] == str(out)
    # One approval: a JSON object, the format of the store (older agentos reads it).
    on_disk = json.loads(out.read_text())
    assert isinstance(on_disk, dict)
    assert on_disk == result["approval"]
    assert stored(ws) == []
    # The gate counted the file: 1 of the 2 needed.
    assert result["approvals"]["approvers"] == ["bob"]
    assert check(cli, ws, "p1").json()["result"]["approvals"]["approvers"] == []
    presented = check(cli, ws, "p1", out)
    assert presented.code == 4
    assert presented.json()["result"]["approvals"]["approvers"] == ["bob"]


def test_human_output_says_where_the_approval_went(cli: Cli, ws: Path) -> None:
    plan(cli, ws, "p1", DELETE_A)
    out = ws.parent / "bob.json"
    res = cli("approve", "p1", "--by", "bob", "-o", out, "-C", ws)
    assert res.code == 0, res.err
    assert f"written to {out} (not to this workspace's store)" in res.out
    assert f"Next: agentos apply p1 --approval {out}" in res.out


def test_a_second_approver_is_added_and_both_count(cli: Cli, ws: Path) -> None:
    plan(cli, ws, "p1", DELETE_A)
    out = ws.parent / "approvals.json"
    assert approve(cli, ws, "p1", "bob", out).code == 0
    res = approve(cli, ws, "p1", "carol", out)
    assert res.code == 0, res.err
    assert res.json()["result"]["verdict"] == "APPROVED"
    on_disk = json.loads(out.read_text())
    assert [a["approver"] for a in on_disk] == ["bob", "carol"]
    applied = cli("apply", "p1", "-C", ws, "--approval", out, "--json")
    assert applied.code == 0, applied.err
    assert applied.json()["result"]["status"] == "committed"
    assert not (ws / "src/a.py").exists()


def test_the_same_approver_again_replaces_their_approval(cli: Cli, ws: Path) -> None:
    plan(cli, ws, "p1", DELETE_A)
    out = ws.parent / "approvals.json"
    assert approve(cli, ws, "p1", "bob", out, "--comment", "first").code == 0
    assert approve(cli, ws, "p1", "bob", out, "--comment", "second").code == 0
    on_disk = json.loads(out.read_text())
    assert isinstance(on_disk, dict)
    assert on_disk["comment"] == "second"


def test_approvals_of_another_version_of_the_plan_are_dropped(cli: Cli, ws: Path) -> None:
    plan(cli, ws, "p1", DELETE_A)
    out = ws.parent / "approvals.json"
    assert approve(cli, ws, "p1", "bob", out).code == 0
    # Planned again under the same id with other changes: bob's approval no longer fits.
    plan(cli, ws, "p1", DELETE_B)
    assert approve(cli, ws, "p1", "carol", out).code == 0
    on_disk = json.loads(out.read_text())
    assert on_disk["approver"] == "carol"
    # Presenting the file is not an error (bob's stale approval would be: exit 6).
    res = check(cli, ws, "p1", out)
    assert res.code == 4, res.err
    assert res.json()["result"]["approvals"]["approvers"] == ["carol"]


def test_a_file_of_another_plan_is_never_overwritten(cli: Cli, ws: Path) -> None:
    plan(cli, ws, "p1", DELETE_A)
    plan(cli, ws, "p2", DELETE_B)
    out = ws.parent / "approvals.json"
    assert approve(cli, ws, "p1", "bob", out).code == 0
    before = out.read_bytes()
    res = cli("approve", "p2", "--by", "carol", "-o", out, "-C", ws)
    assert res.code == 2
    assert "holds approvals of plan 'p1', not 'p2'" in res.err
    assert "name another file" in res.err
    assert out.read_bytes() == before


@pytest.mark.parametrize(
    "content", ["not json at all\n", '{"plan_id": "p1"}\n', "[1, 2]\n", "[]\n"]
)
def test_a_file_that_is_not_an_approval_file_is_never_overwritten(
    cli: Cli, ws: Path, content: str
) -> None:
    plan(cli, ws, "p1", DELETE_A)
    out = ws.parent / "notes.json"
    out.write_text(content)
    trail = ws / ".agentos" / "audit" / "audit.jsonl"
    before = trail.read_text()
    res = cli("approve", "p1", "--by", "bob", "-o", out, "-C", ws)
    assert res.code == 2
    assert "exists and is not an approval file" in res.err
    assert out.read_text() == content
    # Refused before anything was decided or recorded.
    assert trail.read_text() == before


@pytest.mark.parametrize("where", ["directory", "missing-folder"])
def test_an_output_that_cannot_be_written_is_a_usage_error(cli: Cli, ws: Path, where: str) -> None:
    plan(cli, ws, "p1", DELETE_A)
    out = ws.parent if where == "directory" else ws.parent / "nowhere" / "a.json"
    res = cli("approve", "p1", "--by", "bob", "-o", out, "-C", ws)
    assert res.code == 2
    assert "--output" in res.err


def test_each_approval_of_a_file_is_judged_on_its_own(cli: Cli, ws: Path) -> None:
    plan(cli, ws, "p1", DELETE_A)
    bob = ws.parent / "bob.json"
    assert approve(cli, ws, "p1", "bob", bob).code == 0
    approval = json.loads(bob.read_text())
    # bob twice in one file: the second is named FILE#2 and not counted.
    twice = ws.parent / "twice.json"
    twice.write_text(json.dumps([approval, {**approval, "comment": "again"}]))
    res = check(cli, ws, "p1", twice)
    assert res.code == 4
    approvals = res.json()["result"]["approvals"]
    assert approvals["approvers"] == ["bob"]
    assert [item["approval"] for item in approvals["not_counted"]] == [f"{twice}#2"]
    assert "already counted once" in approvals["not_counted"][0]["reasons"][0]
    human = cli("check", "p1", "-C", ws, "--approval", twice)
    assert f"not counted: {twice}#2 by 'bob'" in human.out
    # apply names it the same way when it stops for approvals.
    applied = cli("apply", "p1", "-C", ws, "--approval", twice, "--json")
    assert applied.code == 4
    error = applied.json()["error"]
    assert f"not counted: {twice}#2 by 'bob'" in error["message"]
    assert error["details"]["approvals"]["not_counted"][0]["approval"] == f"{twice}#2"


def test_an_invalid_approval_in_a_file_is_named_by_its_place(cli: Cli, ws: Path) -> None:
    plan(cli, ws, "p1", DELETE_A)
    bob = ws.parent / "bob.json"
    assert approve(cli, ws, "p1", "bob", bob).code == 0
    approval = json.loads(bob.read_text())
    forged = {**approval, "approver": "carol", "checksum": "sha256:" + "0" * 64}
    mixed = ws.parent / "mixed.json"
    mixed.write_text(json.dumps([approval, forged]))
    res = check(cli, ws, "p1", mixed)
    assert res.code == 6
    error = res.json()["error"]
    assert error["details"]["approval"] == f"{mixed}#2"
    assert "by 'carol'" in error["message"]
    # A broken item is named the same way.
    broken = ws.parent / "broken.json"
    broken.write_text(json.dumps([approval, {"plan_id": "p1"}]))
    res = check(cli, ws, "p1", broken)
    assert res.code == 6
    assert res.json()["error"]["details"]["approval"] == f"{broken}#2"


def test_an_empty_approval_list_is_a_usage_error(cli: Cli, ws: Path) -> None:
    plan(cli, ws, "p1", DELETE_A)
    empty = ws.parent / "empty.json"
    empty.write_text("[]\n")
    res = check(cli, ws, "p1", empty)
    assert res.code == 2
    assert "holds no approval" in res.err


def test_rollback_counts_approvals_presented_with_approval_files(cli: Cli, ws: Path) -> None:
    # Creating a file is LOW risk (no approval); undoing it deletes it: MEDIUM, and the
    # policy makes rollbacks need approvals like new changes.
    manifest = ws.parent / "create.json"
    manifest.write_text(
        json.dumps({"changes": [{"op": "create", "path": "src/c.py", "content": "c = 1\n"}]})
    )
    made = cli("plan", manifest, "-C", ws, "--plan-id", "p3", "--author", "ada", "--json")
    assert made.code == 0, made.err
    applied = cli("apply", "p3", "-C", ws, "--json")
    assert applied.code == 0, applied.err
    execution_id = applied.json()["result"]["execution_id"]
    refused = cli("rollback", execution_id, "-C", ws, "--json")
    assert refused.code == 4
    inverse = refused.json()["result"]["plan_id"]
    out = ws.parent / "rollback-approvals.json"
    assert approve(cli, ws, inverse, "bob", out).code == 0
    assert approve(cli, ws, inverse, "carol", out).code == 0
    assert (ws / "src/c.py").exists()
    res = cli("rollback", execution_id, "-C", ws, "--approval", out, "--json")
    assert res.code == 0, res.err
    assert res.json()["result"]["status"] == "committed"
    assert not (ws / "src/c.py").exists()


def test_rollback_help_names_the_approval_option(cli: Cli) -> None:
    res = cli("rollback", "--help")
    assert "--approval" in res.out
    assert "--markdown" in res.out
