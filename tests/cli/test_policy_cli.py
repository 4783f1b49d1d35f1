"""``agentos policy validate|test|schema|explain`` and ``init``'s policy, through the CLI."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import yaml

from agentos.governance.policy import policy_json_schema
from agentos.model import RULES
from helpers import REPO_ROOT, CliResult, write_tree

Cli = Callable[..., CliResult]
SHIPPED_TESTS = REPO_ROOT / "agent" / "policies" / "tests"
ENVELOPE_KEYS = {"agentos", "command", "ok", "exit_code", "result", "error"}


def test_validate_a_valid_policy(cli: Cli, workspace: Path) -> None:
    result = cli("policy", "validate", REPO_ROOT / "agent" / "policies" / "default.yaml", "--json")
    assert result.code == 0, result.err
    doc = result.json()
    assert set(doc) == ENVELOPE_KEYS
    assert set(doc["result"]) == {"policy", "digest", "valid", "warnings"}
    assert doc["result"]["valid"] is True
    assert doc["result"]["warnings"] == []
    assert doc["result"]["digest"].startswith("sha256:")


def test_validate_reports_unknown_keys_and_wrong_types_with_file_and_line(
    cli: Cli, tmp_path: Path
) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("version: 1\nwritegate:\n  forbiden_paths: []\n  content: {binary_files: 3}\n")
    result = cli("policy", "validate", path, "--json")
    assert result.code == 2
    lines = result.err.strip().splitlines()
    assert len(lines) == 3, result.err
    assert lines[0].startswith(f"agentos: error: {path}:3: writegate.forbiden_paths: unknown key")
    assert lines[1].startswith(f"agentos: error: {path}:4: writegate.content.binary_files:")
    assert lines[2] == (
        "agentos: error: invalid policy: 2 problems (listed above) — fix the policy file, "
        "then check it with 'agentos policy validate'"
    )
    error = result.json()["error"]
    assert error["type"] == "policy_error"
    # Every problem is in the JSON too, a line each, as stderr lists them.
    assert error["details"]["problems"] == [
        line.removeprefix("agentos: error: ") for line in lines[:2]
    ]


def test_other_commands_report_a_bad_policy_in_one_line(
    cli: Cli, workspace: Path, tmp_path: Path
) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("version: 1\nwritegate:\n  forbiden_paths: []\n  content: {binary_files: 3}\n")
    write_tree(workspace, {"src/a.py": "x\n"})
    manifest = tmp_path / "m.yaml"
    manifest.write_text("changes: [{op: modify, path: src/a.py, content: y}]\n")
    result = cli("plan", manifest, "-C", workspace, "--policy", path, "--json")
    assert result.code == 2
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert f"{path}:3: writegate.forbiden_paths: unknown key" in lines[0]
    assert f"{path}:4: writegate.content.binary_files:" in lines[0]
    problems = result.json()["error"]["details"]["problems"]
    assert problems[0].startswith(f"{path}:3:")
    assert not (workspace / ".agentos" / "plans").exists()


def test_validate_prints_lint_warnings_and_still_passes(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(
        "writegate:\n  forbidden_paths: ['vendor/**']\n"
        "executor:\n  always_review_categories: ['vendor/**']\n"
    )
    result = cli("policy", "validate", path)
    assert result.code == 0
    assert "agentos: warning: " in result.err
    assert "executor.always_review_categories[0]" in result.err
    assert "valid (1 warning(s))" in result.out


def test_validate_defaults_to_the_workspace_policy(cli: Cli, workspace: Path) -> None:
    write_tree(workspace, {"agent/policies/default.yaml": "approvals: {min_approval: 1}\n"})
    result = cli("policy", "validate", "-C", workspace)
    assert result.code == 2
    assert "default.yaml:1: approvals.min_approval: unknown key" in result.err


def test_the_shipped_policy_tests_pass(cli: Cli, workspace: Path) -> None:
    result = cli(
        "policy", "test", SHIPPED_TESTS, "--policy", REPO_ROOT / "agent/policies/default.yaml"
    )
    assert result.code == 0, result.out
    assert "PASS: " in result.out


def test_the_shipped_cases_cover_every_rule(cli: Cli, workspace: Path) -> None:
    result = cli("policy", "test", SHIPPED_TESTS, "-C", workspace, "--json")
    assert result.code == 0
    doc = result.json()["result"]
    assert set(doc) == {"policy", "passed", "failed", "total", "cases"}
    assert doc["total"] >= 20
    assert doc["failed"] == 0
    case_keys = {"file", "name", "passed", "decision", "rules", "failures"}
    assert all(set(case) == case_keys for case in doc["cases"])
    expected = set()
    for path in SHIPPED_TESTS.glob("*.yaml"):
        for case in yaml.safe_load(path.read_text()):
            expected.update(case.get("expect_rules", []))
    assert expected == set(RULES)
    assert {c["decision"] for c in doc["cases"]} == {"ALLOW", "NEED_APPROVAL", "DENY"}


def test_a_wrong_expectation_fails_the_run(cli: Cli, workspace: Path, tmp_path: Path) -> None:
    cases = tmp_path / "cases"
    shutil.copytree(SHIPPED_TESTS, cases)
    allow = cases / "allow.yaml"
    allow.write_text(allow.read_text().replace("expect: ALLOW", "expect: DENY", 1))
    result = cli("policy", "test", cases, "-C", workspace)
    assert result.code == 1
    assert "FAIL: " in result.out
    assert "a small source edit is allowed" in result.out
    assert "expected DENY, got ALLOW" in result.out
    total = sum(len(yaml.safe_load(p.read_text())) for p in cases.glob("*.yaml"))
    assert f"FAIL: 1/{total}" in result.out


def test_expect_rules_and_absent_rules_are_checked(
    cli: Cli, workspace: Path, tmp_path: Path
) -> None:
    case = tmp_path / "c.yaml"
    case.write_text(
        "- name: missing rule\n"
        "  changes: [{op: create, path: src/a.py, content: 'x\\n'}]\n"
        "  expect: ALLOW\n"
        "  expect_rules: [secret]\n"
        "- name: unwanted rule\n"
        "  changes: [{op: create, path: .env, content: 'x\\n'}]\n"
        "  expect: DENY\n"
        "  absent_rules: [forbidden-path]\n"
    )
    result = cli("policy", "test", case, "-C", workspace, "--json")
    assert result.code == 1
    failures = {c["name"]: c["failures"] for c in result.json()["result"]["cases"]}
    assert "expected findings from secret" in failures["missing rule"][0]
    assert "expected no findings from forbidden-path" in failures["unwanted rule"][0]


def test_policy_test_defaults_to_the_workspace_cases(cli: Cli, workspace: Path) -> None:
    write_tree(
        workspace,
        {
            "agent/policies/tests/t.yaml": "cases:\n  - name: ok\n    changes: "
            "[{op: create, path: src/x.py, content: 'x = 1\\n'}]\n    expect: ALLOW\n"
        },
    )
    result = cli("policy", "test", "-C", workspace, "--json")
    assert result.code == 0, result.err
    assert result.json()["result"]["total"] == 1


def test_an_invalid_case_file_is_a_usage_error_with_its_line(
    cli: Cli, workspace: Path, tmp_path: Path
) -> None:
    case = tmp_path / "bad.yaml"
    case.write_text("- name: x\n  changes: [{op: create, path: a}]\n  expect: MAYBE\n")
    result = cli("policy", "test", case, "-C", workspace)
    assert result.code == 2
    assert f"{case}:3: cases[0].expect:" in result.err
    assert "invalid policy test file" in result.err
    case.write_text("- name: x\n  changes: [{op: rename, form: a, path: b}]\n  expect: ALLOW\n")
    result = cli("policy", "test", case, "-C", workspace)
    assert "cases[0].changes[0].form: unknown key" in result.err
    assert "did you mean 'from'?" in result.err


def test_a_missing_case_directory_is_a_usage_error(cli: Cli, workspace: Path) -> None:
    result = cli("policy", "test", "-C", workspace)
    assert result.code == 2
    assert "agent/policies/tests" in result.err


def test_schema_prints_the_published_schema(cli: Cli) -> None:
    result = cli("policy", "schema")
    assert result.code == 0
    assert json.loads(result.out) == policy_json_schema()
    as_json = cli("policy", "schema", "--json").json()
    assert as_json["result"]["schema"] == policy_json_schema()


def test_explain_shows_every_rule_for_every_path(cli: Cli, workspace: Path, tmp_path: Path) -> None:
    write_tree(workspace, {"src/app.py": "x = 1\n"})
    manifest = tmp_path / "m.yaml"
    manifest.write_text(
        "changes:\n"
        "  - {op: modify, path: src/app.py, content: 'x = 2\\n'}\n"
        "  - {op: create, path: .env, content: 'A=1\\n'}\n"
    )
    planned = cli("plan", manifest, "-C", workspace, "--json", "--plan-id", "p1")
    assert planned.code == 3
    result = cli("policy", "explain", "p1", "-C", workspace, "--json")
    assert result.code == 0
    doc = result.json()["result"]
    assert set(doc) == {"plan_id", "decision", "findings", "explain"}
    assert doc["decision"] == "DENY"
    rows = {row["path"]: row["rules"] for row in doc["explain"]}
    assert list(rows) == [".env", "src/app.py", "(plan)"]
    verdicts = {r["rule"]: r["verdict"] for r in rows[".env"]}
    assert verdicts["forbidden-path"] == "DENY"
    assert verdicts["outside-allowed-paths"] == "DENY"
    assert verdicts["path-safety"] == "pass"
    app = {r["rule"]: r for r in rows["src/app.py"]}
    assert all(r["verdict"] == "pass" for r in app.values())
    assert app["outside-allowed-paths"]["detail"] == "allowed by 'src/**'"
    assert [r["rule"] for r in rows["(plan)"]] == ["constraint", "risk", "unverified-risk"]
    human = cli("policy", "explain", "p1", "-C", workspace)
    assert ".env" in human.out
    assert "forbidden-path" in human.out


def test_init_writes_the_schema_beside_the_policy(cli: Cli, workspace: Path) -> None:
    write_tree(workspace, {"src/a.py": "x\n"})
    result = cli("init", "-C", workspace, "--json")
    assert "agent/policies/policy.schema.json" in result.json()["result"]["created"]
    policy = workspace / "agent" / "policies" / "default.yaml"
    assert policy.read_text().splitlines()[0] == (
        "# yaml-language-server: $schema=policy.schema.json"
    )
    schema = json.loads((policy.parent / "policy.schema.json").read_text())
    assert schema == policy_json_schema()
    assert cli("policy", "validate", "-C", workspace).code == 0
    assert "agent/policies/tests/example.yaml" in result.json()["result"]["created"]
    tested = cli("policy", "test", "-C", workspace, "--json")
    assert tested.code == 0, tested.out
    assert tested.json()["result"]["total"] == 3
    assert ".gitignore" in result.json()["result"]["allowed_paths"]
