"""Shared fixtures: hermetic environment, temp workspaces, an in-process CLI runner.

Constants and helpers that test modules import (``REPO_ROOT``, ``PERMISSIVE_POLICY``,
``CliResult``, ``run_git`` ...) live in ``helpers.py``; ``tests/`` is on ``sys.path`` through
pytest's ``pythonpath`` setting.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from helpers import GIT_ENV, CliResult, run_git, write_tree

settings.register_profile(
    "default",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.register_profile("thorough", parent=settings.get_profile("default"), max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

# ``AGENTOS_TEST_STORE=postgresql`` (``make test-postgres``): the whole suite runs with the
# PostgreSQL store selected — a scratch cluster for the session (tests/pg.py), one migrated
# database whose tables are emptied before each test, ``AGENTOS_STORE`` set for every test
# and every agentos process it starts. Tests about the file store's own files carry
# ``@pytest.mark.file_store("why")`` and are skipped then.
TEST_STORE_ENV = "AGENTOS_TEST_STORE"
POSTGRES_RUN = os.environ.get(TEST_STORE_ENV, "files") == "postgresql"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not POSTGRES_RUN:
        return
    for item in items:
        marker = item.get_closest_marker("file_store")
        if marker is not None:
            why = marker.args[0] if marker.args else "about the file store's own files"
            item.add_marker(pytest.mark.skip(reason=f"file store only: {why}"))


@pytest.fixture(scope="session", autouse=True)
def selected_store() -> Iterator[str | None]:
    """The PostgreSQL store of a ``make test-postgres`` run (its address), else None."""
    if not POSTGRES_RUN:
        yield None
        return
    from pg import running_cluster, skip_reason

    reason = skip_reason()
    if reason is not None:
        pytest.exit(f"{TEST_STORE_ENV}=postgresql, but {reason}", returncode=2)
    from agentos.store.postgres import PostgresStore

    with running_cluster() as cluster:
        address = cluster.conninfo(cluster.create_database())
        PostgresStore(address, source="tests").migrate()
        previous = os.environ.get("AGENTOS_STORE")
        os.environ["AGENTOS_STORE"] = address
        try:
            yield address
        finally:
            if previous is None:
                os.environ.pop("AGENTOS_STORE", None)
            else:
                os.environ["AGENTOS_STORE"] = previous


@pytest.fixture(autouse=True)
def _fresh_store(selected_store: str | None) -> None:
    """Every test starts with an empty shared store, as it starts with empty workspaces."""
    if selected_store is None:
        return
    import psycopg

    with psycopg.connect(selected_store, autocommit=True) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
                " AND tablename <> 'schema_migrations'"
            )
        ]
        conn.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY")


@pytest.fixture(scope="session", autouse=True)
def key_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Where this test session keeps workspace keys (never the developer's own), set before
    any fixture of wider scope runs agentos."""
    directory = tmp_path_factory.mktemp("keys")
    previous = os.environ.get("AGENTOS_KEY_DIR")
    os.environ["AGENTOS_KEY_DIR"] = str(directory)
    yield directory
    if previous is None:
        os.environ.pop("AGENTOS_KEY_DIR", None)
    else:
        os.environ["AGENTOS_KEY_DIR"] = previous


@pytest.fixture(autouse=True)
def _hermetic_env(
    monkeypatch: pytest.MonkeyPatch, key_dir: Path, selected_store: str | None
) -> None:
    """Same environment everywhere: no colour, fixed width and zone, fixed git identity, and
    workspace keys in the session's own key directory."""
    monkeypatch.setenv("AGENTOS_KEY_DIR", str(key_dir))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "120")
    monkeypatch.setenv("TZ", "UTC")
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    if selected_store is not None:
        monkeypatch.setenv("AGENTOS_STORE", selected_store)
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """Run ``agentos`` in-process: ``cli("plan", "x.diff", "-C", ws)``."""
    from agentos.cli.entry import main

    def run(*args: str | Path, stdin: bytes | None = None) -> CliResult:
        capsys.readouterr()
        argv = [str(a) for a in args]
        if stdin is not None:
            import io

            fake = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
            old = sys.stdin
            sys.stdin = fake
            try:
                code = main(argv)
            finally:
                sys.stdin = old
        else:
            code = main(argv)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Path]:
    """An empty workspace directory."""
    root = tmp_path / "ws"
    root.mkdir()
    yield root


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    """A git repository with one commit ("start") of ``a.txt`` and ``naïve.txt``."""
    root = tmp_path / "repo"
    write_tree(root, {"a.txt": "a\n", "naïve.txt": "n\n"})
    run_git(root, "init", "-q")
    run_git(root, "add", "-A")
    run_git(root, "commit", "-q", "-m", "start")
    return root
