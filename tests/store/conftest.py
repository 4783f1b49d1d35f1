"""Fixtures of the PostgreSQL store tests: one scratch cluster per test session (started on
first use), and a new database for each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pg import Cluster, running_cluster, skip_reason


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    """The session's scratch PostgreSQL cluster (skipped where pg_ctl or psycopg is missing)."""
    reason = skip_reason()
    if reason is not None:
        pytest.skip(reason)
    with running_cluster() as cluster:
        yield cluster


@pytest.fixture
def pg_url(pg_cluster: Cluster) -> Iterator[str]:
    """A libpq connection string to an empty database of its own, dropped afterwards."""
    name = pg_cluster.create_database()
    yield pg_cluster.conninfo(name)
    pg_cluster.drop_database(name)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``scale`` run only when asked for (``pytest -m scale``)."""
    if "scale" in (config.getoption("markexpr", "") or ""):
        return
    skip = pytest.mark.skip(reason="a long acceptance run (docs/scale.md): pytest -m scale")
    for item in items:
        if item.get_closest_marker("scale") is not None:
            item.add_marker(skip)
