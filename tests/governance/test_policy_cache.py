"""``PolicyCache``: a long-lived front-end reads the policy file before every call and parses
it again only when its bytes changed."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentos.errors import PolicyError
from agentos.governance.policyfile import PACKAGED_NAME, PolicyCache, load_policy
from agentos.workspace import Workspace


def write_policy(root: Path, text: str) -> Path:
    path = root / "agent" / "policies" / "default.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_an_unchanged_file_is_not_parsed_again(workspace: Path) -> None:
    write_policy(workspace, "version: 1\n")
    cache = PolicyCache(None, Workspace.open(workspace))
    first = cache.current()
    assert cache.current() is first
    assert first.digest == load_policy(None, Workspace.open(workspace)).digest


def test_an_edit_is_seen_by_the_next_call_with_its_own_digest(workspace: Path) -> None:
    path = write_policy(workspace, "version: 1\n")
    cache = PolicyCache(None, Workspace.open(workspace))
    before = cache.current()
    path.write_text("version: 1\nwritegate: {forbidden_paths: ['docs/**']}\n")
    after = cache.current()
    assert after.digest != before.digest
    assert after.policy.writegate.forbidden_paths == ["docs/**"]
    assert after.digest == load_policy(None, Workspace.open(workspace)).digest


def test_a_broken_edit_fails_the_call_and_a_fixed_one_is_honoured(workspace: Path) -> None:
    path = write_policy(workspace, "version: 1\n")
    cache = PolicyCache(None, Workspace.open(workspace))
    cache.current()
    path.write_text("version: 1\nwritegate: {forbidden_paths: 3}\n")
    with pytest.raises(PolicyError):
        cache.current()
    path.write_text("version: 1\nwritegate: {forbidden_paths: []}\n")
    assert cache.current().policy.writegate.forbidden_paths == []


def test_without_a_file_the_packaged_policy_is_in_force_until_one_appears(
    workspace: Path,
) -> None:
    cache = PolicyCache(None, Workspace.open(workspace))
    assert cache.current().source == PACKAGED_NAME
    write_policy(workspace, "version: 1\nagents: {lock_timeout: 3}\n")
    assert cache.current().policy.agents.lock_timeout == 3
