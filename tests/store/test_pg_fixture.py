"""The scratch cluster's own promise: where PostgreSQL is missing, the tests that need it are
skipped with a reason that names pg_ctl."""

from __future__ import annotations

from pathlib import Path

import pytest

import pg


def test_without_postgresql_the_reason_names_pg_ctl(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pg.shutil, "which", lambda name: None)
    monkeypatch.setattr(pg, "PG_CONFIG", str(tmp_path / "no-pg_config"))
    monkeypatch.setattr(pg, "DEBIAN_ROOT", tmp_path)
    assert pg.find_bindir() is None
    reason = pg.skip_reason()
    assert reason is not None
    assert reason.startswith("pg_ctl not found")
    assert "apt-get install postgresql" in reason


def test_the_debian_layout_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pg.shutil, "which", lambda name: None)
    monkeypatch.setattr(pg, "PG_CONFIG", str(tmp_path / "no-pg_config"))
    monkeypatch.setattr(pg, "DEBIAN_ROOT", tmp_path)
    for version in ("9", "15", "13"):
        (tmp_path / version / "bin").mkdir(parents=True)
        (tmp_path / version / "bin" / "pg_ctl").touch()
    assert pg.find_bindir() == tmp_path / "15" / "bin"
