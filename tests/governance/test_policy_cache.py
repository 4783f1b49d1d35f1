"""``PolicyCache``: a long-lived front-end reads the policy file before every call and parses
it again only when its bytes changed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

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


def test_what_it_gives_is_what_load_policy_gives_and_parses_once_per_change(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agentos.governance import policyfile

    ws = Workspace.open(workspace)
    cache = PolicyCache(None, ws)
    parses: list[str] = []
    real = policyfile.parse_policy

    def counting(text: str, *, source: str) -> Any:
        parses.append(source)
        return real(text, source=source)

    monkeypatch.setattr(policyfile, "parse_policy", counting)
    packaged = cache.current()
    assert cache.current() is packaged
    assert (packaged.digest, packaged.source) == (load_policy(None, ws).digest, packaged.source)
    policy = ws.policy_path
    policy.parent.mkdir(parents=True)
    policy.write_text(yaml.safe_dump({"agents": {"bypass": "block"}}))
    own = cache.current()
    assert own.policy.agents.bypass == "block"
    assert (own.digest, own.source, own.path) == (
        load_policy(None, ws).digest,
        str(policy),
        policy,
    )
    assert cache.current() is own
    policy.write_text(yaml.safe_dump({"agents": {"bypass": "report"}}))
    assert cache.current().policy.agents.bypass == "report"
    assert len(parses) == 3 + 2  # three by the cache, two by load_policy above
