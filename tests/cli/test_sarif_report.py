"""``agentos check --sarif FILE``: the findings as a SARIF 2.1.0 log for code scanning.

Pinned: every log validates against the OASIS SARIF 2.1.0 JSON Schema (a copy in
``tests/data/sarif/``); the tool and its rules, each described once; one result per finding
with its rule id and index, level (DENY → error, NEED_APPROVAL → warning), message and a
location (the workspace-relative path, percent-encoded, with the line for secrets; the plan
file for a finding about the whole plan); the file is written whatever the decision, and a
path it cannot be written to is a usage error before anything is checked.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from agentos.governance.approvals import KEY_ENV
from agentos.model import RULES
from helpers import REPO_ROOT, CliResult, write_tree

Cli = Callable[..., CliResult]

SCHEMA = json.loads((REPO_ROOT / "tests/data/sarif/sarif-schema-2.1.0.json").read_text())
AWS_KEY = "AKIA" + "Z7QW3RT5" + "YU2PLK4M"  # built at run time: no secret in this file
ODD_NAME = "src/my notes#1 100%.py"
CHANGES: list[dict[str, Any]] = [
    {"op": "create", "path": ".env", "content": "A=1\n"},
    {"op": "create", "path": ODD_NAME, "content": f"x = 1\nKEY_ID = '{AWS_KEY}'\n"},
    {"op": "delete", "path": "src/a.py"},
]


@pytest.fixture(autouse=True)
def _no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)


@pytest.fixture
def ws(workspace: Path) -> Path:
    write_tree(workspace, {"src/a.py": "a = 1\n", "README.md": "# demo\n"})
    return workspace


def validate(log: dict[str, Any]) -> None:
    jsonschema.Draft4Validator.check_schema(SCHEMA)
    errors = sorted(jsonschema.Draft4Validator(SCHEMA).iter_errors(log), key=str)
    assert errors == [], [e.message for e in errors]


def plan(cli: Cli, ws: Path, plan_id: str, changes: list[dict[str, Any]]) -> CliResult:
    manifest = ws.parent / f"{plan_id}.manifest.json"
    manifest.write_text(json.dumps({"changes": changes}))
    return cli("plan", manifest, "-C", ws, "--plan-id", plan_id, "--author", "ada", "--json")


def test_every_finding_is_a_result_in_a_valid_log(cli: Cli, ws: Path) -> None:
    assert plan(cli, ws, "p1", CHANGES).code == 3
    out = ws.parent / "check.sarif"
    res = cli("check", "p1", "-C", ws, "--sarif", out, "--json")
    assert res.code == 3  # written whatever the decision
    findings = res.json()["result"]["findings"]
    log = json.loads(out.read_text())
    validate(log)
    assert log["version"] == "2.1.0"
    assert log["$schema"].endswith("sarif-schema-2.1.0.json")
    [run] = log["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "agentos"
    assert driver["version"]
    ids = [rule["id"] for rule in driver["rules"]]
    assert len(ids) == len(set(ids))  # each rule described once
    assert ids[: len(RULES)] == list(RULES)
    for rule in driver["rules"]:
        assert rule["shortDescription"]["text"]
        assert rule["help"]["text"]
    results = run["results"]
    assert len(results) == len(findings)
    levels = {"DENY": "error", "NEED_APPROVAL": "warning"}
    for result, finding in zip(results, findings, strict=True):
        assert result["ruleId"] == finding["rule"]
        assert ids[result["ruleIndex"]] == finding["rule"]
        assert result["level"] == levels[finding["severity"]]
        assert result["message"]["text"] == finding["message"]
        assert len(result["locations"]) == 1
    by_rule = {r["ruleId"]: r for r in results}
    assert {"forbidden-path", "secret", "unverified-risk"} <= set(by_rule)
    assert {r["level"] for r in results} == {"error", "warning"}
    location = by_rule["forbidden-path"]["locations"][0]["physicalLocation"]
    assert location == {"artifactLocation": {"uri": ".env"}}
    secret = by_rule["secret"]["locations"][0]["physicalLocation"]
    assert secret["artifactLocation"]["uri"] == "src/my%20notes%231%20100%25.py"
    assert secret["region"] == {"startLine": 2}
    # A finding about the whole plan points at the plan file.
    whole = by_rule["unverified-risk"]["locations"][0]["physicalLocation"]
    assert whole == {"artifactLocation": {"uri": ".agentos/plans/p1.json"}}
    assert run["properties"] == {
        "plan_id": "p1",
        "checksum": res.json()["result"]["checksum"],
        "decision": "DENY",
        "verdict": "DENY",
        # The policy that decided: its file, as the workspace names it, and its digest.
        "policy": {
            "source": res.json()["result"]["policy"]["source"],
            "digest": res.json()["result"]["policy"]["digest"],
        },
    }
    assert run["properties"]["policy"]["digest"].startswith("sha256:")
    assert AWS_KEY not in out.read_text()


def test_a_plan_without_findings_has_an_empty_valid_log(cli: Cli, ws: Path) -> None:
    changes = [{"op": "modify", "path": "src/a.py", "content": "a = 2\n"}]
    assert plan(cli, ws, "ok", changes).code == 0
    out = ws.parent / "ok.sarif"
    res = cli("check", "ok", "-C", ws, "--sarif", out)
    assert res.code == 0, res.err
    log = json.loads(out.read_text())
    validate(log)
    assert log["runs"][0]["results"] == []
    assert log["runs"][0]["properties"]["verdict"] == "ALLOW"


def test_a_plan_file_outside_the_workspace_is_named_as_given(cli: Cli, ws: Path) -> None:
    manifest = ws.parent / "m.json"
    manifest.write_text(json.dumps({"changes": [{"op": "delete", "path": "src/a.py"}]}))
    plan_file = ws.parent / "artifact.json"
    made = cli("plan", manifest, "-C", ws, "--author", "ada", "-o", plan_file)
    assert made.code == 4, made.err
    out = ws.parent / "out.sarif"
    assert cli("check", plan_file, "-C", ws, "--sarif", out).code == 4
    log = json.loads(out.read_text())
    validate(log)
    uris = {
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        for r in log["runs"][0]["results"]
    }
    assert uris == {plan_file.as_posix()}


def test_the_schema_check_catches_a_broken_log(cli: Cli, ws: Path) -> None:
    # The validation above is not vacuous: the same log with a wrong level fails it.
    assert plan(cli, ws, "p1", CHANGES).code == 3
    out = ws.parent / "check.sarif"
    cli("check", "p1", "-C", ws, "--sarif", out)
    broken = copy.deepcopy(json.loads(out.read_text()))
    broken["runs"][0]["results"][0]["level"] = "fatal"
    with pytest.raises(AssertionError):
        validate(broken)


@pytest.mark.parametrize("where", ["directory", "missing-folder"])
def test_an_unwritable_sarif_path_is_refused_before_checking(
    cli: Cli, ws: Path, where: str
) -> None:
    assert plan(cli, ws, "p1", CHANGES).code == 3
    trail = ws / ".agentos" / "audit" / "audit.jsonl"
    before = trail.read_text()
    out = ws.parent if where == "directory" else ws.parent / "nowhere" / "x.sarif"
    res = cli("check", "p1", "-C", ws, "--sarif", out)
    assert res.code == 2
    assert "--sarif" in res.err
    assert trail.read_text() == before


def test_the_log_names_the_workspace_policy_that_decided(cli: Cli, ws: Path) -> None:
    assert cli("init", "-C", ws).code == 0
    changes = [{"op": "modify", "path": "src/a.py", "content": "a = 2\n"}]
    assert plan(cli, ws, "ok", changes).code == 0
    out = ws.parent / "ok.sarif"
    res = cli("check", "ok", "-C", ws, "--sarif", out, "--json")
    assert res.code == 0, res.err
    policy = json.loads(out.read_text())["runs"][0]["properties"]["policy"]
    assert policy == {
        "source": "agent/policies/default.yaml",
        "digest": res.json()["result"]["policy"]["digest"],
    }
