"""Fixtures of the ``agentos serve`` tests: workspaces, and servers that never outlive a test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from helpers import write_tree
from serving import Served, start_server

APP = b'def greet():\n    return "hello"\n'


@pytest.fixture
def ws(workspace: Path) -> Path:
    """A workspace with ``src/app.py`` (the hook fixtures' workspace) and agentos's state."""
    write_tree(workspace, {"src/app.py": APP})
    (workspace / ".agentos").mkdir()
    return workspace.resolve()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    """``serve(ws, *args, env=...)`` starts a server; all of them are killed at the end."""
    started: list[Served] = []

    def start(root: Path, *args: str | Path, env: dict[str, str] | None = None) -> Served:
        served = start_server(root, *args, log_dir=tmp_path / "logs", env=env)
        started.append(served)
        return served

    yield start
    for served in started:
        served.kill()


@pytest.fixture
def served(ws: Path, serve: Callable[..., Served]) -> Served:
    """A server for ``ws`` on a free loopback port."""
    return serve(ws)
