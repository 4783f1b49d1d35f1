"""A workspace can pin its policy: ``--policy`` cannot replace it for the writing commands.

``governance.allow_policy_override: false`` (the shipped default, so every policy ``agentos
init`` writes) makes ``apply``, ``rollback`` and ``recover`` refuse a ``--policy`` with other
rules (exit 3, nothing written); every apply records the policy it ran under and whether it
replaced the workspace's own.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import PERMISSIVE_POLICY, CliResult, read_tree, write_tree

Cli = Callable[..., CliResult]
OWN = "agent/policies/default.yaml"


def own_policy(ws: Path, *, allow_override: bool | None) -> None:
    """The workspace's own policy: permissive rules, plus the governance key when given."""
    policy: dict[str, Any] = yaml.safe_load(PERMISSIVE_POLICY.read_text())
    if allow_override is not None:
        policy["governance"] = {"allow_policy_override": allow_override}
    path = ws / OWN
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(policy, sort_keys=False))


def lax_policy(tmp_path: Path) -> Path:
    """Another policy with other rules (a different digest)."""
    policy: dict[str, Any] = yaml.safe_load(PERMISSIVE_POLICY.read_text())
    policy["executor"]["backups"] = {"keep": 7}
    path = tmp_path / "lax.yaml"
    path.write_text(yaml.safe_dump(policy, sort_keys=False))
    return path


@pytest.fixture
def ws(workspace: Path, cli: Cli) -> Path:
    write_tree(workspace, {"src/a.txt": "a\n"})
    manifest = workspace.parent / "m.json"
    manifest.write_text(
        json.dumps({"changes": [{"op": "modify", "path": "src/a.txt", "content": "b\n"}]})
    )
    return workspace


def plan(cli: Cli, ws: Path, *policy: str | Path) -> None:
    result = cli("plan", ws.parent / "m.json", "-C", ws, "--plan-id", "p1", *policy)
    assert result.code == 0, result.err


def started(ws: Path) -> list[dict[str, Any]]:
    lines = (ws / ".agentos" / "audit" / "audit.jsonl").read_text().splitlines()
    return [json.loads(line)["data"] for line in lines if '"apply.started"' in line]


def test_the_shipped_policy_pins_itself() -> None:
    from agentos.governance.policyfile import packaged_policy_text, parse_policy

    policy = parse_policy(packaged_policy_text(), source="packaged")
    assert policy.governance.allow_policy_override is False


def test_a_pinned_workspace_refuses_another_policy_for_every_writing_command(
    cli: Cli, ws: Path, tmp_path: Path
) -> None:
    own_policy(ws, allow_override=False)
    lax = lax_policy(tmp_path)
    plan(cli, ws, "--policy", lax)  # planning and checking may preview another policy
    assert cli("check", "p1", "-C", ws, "--policy", lax).code == 0
    before = read_tree(ws)
    for argv in (("apply", "p1"), ("recover",), ("rollback", "exec-0123")):
        result = cli(*argv, "-C", ws, "--policy", lax, "--json")
        assert result.code == 3, (argv, result.out)
        error = result.json()["error"]
        assert error["type"] == "policy_override_refused"
        assert "allow_policy_override: false" in error["message"]
        assert error["details"] == {"policy": str(lax), "workspace_policy": str(ws / OWN)}
        assert "\n" not in result.err.strip()
    assert read_tree(ws) == before
    assert started(ws) == []
    # Under its own policy (or the same rules from another file) the apply runs.
    same = tmp_path / "same.yaml"
    same.write_text((ws / OWN).read_text())
    applied = cli("apply", "p1", "-C", ws, "--policy", same, "--json")
    assert applied.code == 0, applied.out
    assert applied.json()["result"]["policy"] == {
        "source": str(same),
        "digest": applied.json()["result"]["policy"]["digest"],
        "override": False,
    }


def test_an_allowed_override_is_recorded_in_the_result_and_the_trail(
    cli: Cli, ws: Path, tmp_path: Path
) -> None:
    own_policy(ws, allow_override=True)
    lax = lax_policy(tmp_path)
    plan(cli, ws)
    result = cli("apply", "p1", "-C", ws, "--policy", lax, "--json")
    assert result.code == 0, result.out
    policy = result.json()["result"]["policy"]
    assert (policy["source"], policy["override"]) == (str(lax), True)
    assert policy["digest"].startswith("sha256:")
    assert started(ws)[-1]["policy"] == policy
    recovered = cli("recover", "-C", ws, "--policy", lax, "--json")
    assert recovered.json()["result"]["policy"]["override"] is True


def test_under_its_own_policy_nothing_is_an_override(cli: Cli, ws: Path) -> None:
    own_policy(ws, allow_override=False)
    plan(cli, ws)
    result = cli("apply", "p1", "-C", ws, "--json")
    assert result.code == 0, result.out
    assert result.json()["result"]["policy"]["source"] == str(ws / OWN)
    assert result.json()["result"]["policy"]["override"] is False
    assert started(ws)[-1]["policy"]["override"] is False


def test_without_a_policy_file_there_is_nothing_to_pin(cli: Cli, ws: Path) -> None:
    # The packaged default pins itself, but a workspace without its own policy file has not
    # chosen one: --policy is its policy, recorded as an override of the packaged default.
    plan(cli, ws, "--policy", PERMISSIVE_POLICY)
    result = cli("apply", "p1", "-C", ws, "--policy", PERMISSIVE_POLICY, "--json")
    assert result.code == 0, result.out
    assert result.json()["result"]["policy"]["override"] is True


def test_a_denied_apply_also_says_which_policy_decided(cli: Cli, ws: Path) -> None:
    own_policy(ws, allow_override=False)
    plan(cli, ws)
    policy = yaml.safe_load((ws / OWN).read_text())
    policy["writegate"]["forbidden_paths"] = ["src/a.txt"]
    (ws / OWN).write_text(yaml.safe_dump(policy, sort_keys=False))
    result = cli("apply", "p1", "-C", ws, "--json")
    assert result.code == 3
    assert result.json()["result"]["status"] == "denied"
    assert result.json()["result"]["policy"]["override"] is False
