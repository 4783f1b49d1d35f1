"""The policy ``init`` writes is one a new user can live with on day one: a deletion in a
repository without health checks commits without an approval; what stays strict stays."""

from __future__ import annotations

from pathlib import Path

import yaml

from agentos.governance.policyfile import packaged_policy_text
from helpers import Cli, write_tree


def test_init_leaves_medium_risk_to_health_checks_the_policy_does_not_have_yet(
    cli: Cli, workspace: Path
) -> None:
    write_tree(workspace, {"src/a.py": "a = 1\n", "src/b.py": "b = 1\n", "README.md": "x\n"})
    assert cli("init", "-C", workspace).code == 0
    text = (workspace / "agent" / "policies" / "default.yaml").read_text()
    written = yaml.safe_load(text)
    shipped = yaml.safe_load(packaged_policy_text())

    assert written["executor"]["require_health_checks_for_risk"] == ["HIGH", "CRITICAL"]
    assert shipped["executor"]["require_health_checks_for_risk"] == ["MEDIUM", "HIGH", "CRITICAL"]
    assert "Add MEDIUM once\n  # health_checks covers your code" in text
    # Review patterns anchored in folders this repository does not have are dropped.
    assert written["executor"]["always_review_categories"] == [
        "**/*schema*.py",
        "**/security/**",
        "agent/policies/**",
    ]
    # Everything else is the shipped policy.
    for key in ("writegate", "approvals", "governance", "agents", "verification"):
        assert written[key] == shipped[key]

    manifest = workspace.parent / "rm.json"
    manifest.write_text('{"changes": [{"op": "delete", "path": "src/b.py"}]}')
    planned = cli("plan", manifest, "-C", workspace, "--json")
    assert planned.code == 0, planned.out
    result = planned.json()["result"]
    assert (result["risk"]["level"], result["decision"]) == ("MEDIUM", "ALLOW")
    applied = cli("apply", result["plan_id"], "-C", workspace, "--json")
    assert applied.code == 0, applied.out
    assert not (workspace / "src" / "b.py").exists()

    # The shipped policy cases still hold under the day-one policy.
    assert cli("policy", "test", "-C", workspace).code == 0


def test_review_patterns_of_folders_the_repository_has_are_kept(cli: Cli, workspace: Path) -> None:
    write_tree(workspace, {"packages/executor/run.py": "", "packages/other/x.py": ""})
    assert cli("init", "-C", workspace).code == 0
    written = yaml.safe_load((workspace / "agent" / "policies" / "default.yaml").read_text())
    assert "packages/executor/**" in written["executor"]["always_review_categories"]
