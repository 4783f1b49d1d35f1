"""Fixtures of the executor's tests: their workspaces, and no fault armed from outside.

``ws`` holds ``SMALL_TREE`` (the journal, recovery, restore and lock tests, and the edges in
test_safety_edges.py); ``script_ws`` holds ``SCRIPT_TREE``, whose script is executable (the
idempotency and inverse tests, which name it ``ws`` in their module).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import SCRIPT_TREE, SMALL_TREE, write_tree


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    """``tmp_path/ws`` holding ``SMALL_TREE``."""
    root = tmp_path / "ws"
    write_tree(root, SMALL_TREE)
    return root


@pytest.fixture
def script_ws(tmp_path: Path) -> Path:
    """``tmp_path/ws`` holding ``SCRIPT_TREE``."""
    root = tmp_path / "ws"
    write_tree(root, SCRIPT_TREE)
    return root


@pytest.fixture
def no_faults(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No fault injection from the environment, and fresh fault hit counts before and after."""
    from agentos.faults import reset_hits

    monkeypatch.delenv("AGENTOS_FAULTS", raising=False)
    monkeypatch.delenv("AGENTOS_FAULTS_TRACE", raising=False)
    reset_hits()
    yield
    reset_hits()


@pytest.fixture
def umask_022() -> Iterator[None]:
    """Umask 022 for the test (new files 0644, or 0755 when executable), then the old one."""
    old = os.umask(0o022)
    yield
    os.umask(old)
