"""The workspace key: made once, outside the workspace, private; a missing one is refused."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from agentos.errors import StateIntegrityError, UsageError
from agentos.statekey import ID_NAME, forget_keys, key_file, state_key
from helpers import CliResult

Cli = Callable[..., CliResult]


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    forget_keys()


def test_the_key_is_made_once_private_and_outside(workspace: Path, key_dir: Path) -> None:
    state = workspace / ".agentos"
    key = state_key(state)
    path = key_file(state)
    assert path.parent == key_dir
    assert path.read_bytes() == key.key
    assert (path.stat().st_mode & 0o777, len(key.key)) == (0o600, 32)
    assert (state / ID_NAME).read_text().strip() == key.workspace_id
    forget_keys()
    assert state_key(state) == key  # read back, never made anew


def test_a_key_directory_inside_the_workspace_is_refused(
    cli: Cli, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTOS_KEY_DIR", str(workspace / ".keys"))
    result = cli("init", "-C", workspace, "--json")
    assert result.code == 2, result.out
    assert "inside the workspace" in result.json()["error"]["message"]
    assert not (workspace / ".keys").exists()


def test_a_relative_key_directory_is_taken_from_where_agentos_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AGENTOS_KEY_DIR", "keys")
    assert key_file(ws / ".agentos").parent == tmp_path / "keys"


def test_a_missing_key_is_refused_not_made_anew(workspace: Path, key_dir: Path) -> None:
    state = workspace / ".agentos"
    key_file(state).unlink()
    forget_keys()
    with pytest.raises(StateIntegrityError, match="is missing"):
        state_key(state)
    assert (state / ID_NAME).exists()  # the id is kept: the key must be restored


def test_concurrent_first_use_ends_with_one_id_and_its_key(workspace: Path, key_dir: Path) -> None:
    code = (
        "import sys; from pathlib import Path; from agentos.statekey import state_key; "
        "print(state_key(Path(sys.argv[1])).key.hex())"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(workspace / ".agentos")],
            stdout=subprocess.PIPE,
            env=os.environ.copy(),
        )
        for _ in range(6)
    ]
    keys = {proc.communicate(timeout=60)[0].strip() for proc in procs}
    assert len(keys) == 1
    workspace_id = (workspace / ".agentos" / ID_NAME).read_text().strip()
    assert sorted(p.name for p in key_dir.glob(f"{workspace_id}.key")) == [f"{workspace_id}.key"]


def test_usage_error_when_no_home_and_no_key_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    from agentos import statekey

    monkeypatch.delenv("AGENTOS_KEY_DIR")
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)

    def no_home() -> Path:
        raise RuntimeError("no home")

    monkeypatch.setattr(Path, "home", staticmethod(no_home))
    with pytest.raises(UsageError, match="AGENTOS_KEY_DIR"):
        statekey.key_dir()


def test_a_long_lived_process_follows_a_state_directory_made_anew(workspace: Path) -> None:
    # A server keeps keys for its whole life; when .agentos/ is removed and made again by
    # another process, it must seal with the new workspace's key, not the old one.
    import shutil

    state = workspace / ".agentos"
    old = state_key(state)
    shutil.rmtree(state)
    probe = (
        "from pathlib import Path; from agentos.statekey import state_key; "
        f"state_key(Path({str(state)!r}))"
    )
    subprocess.run([sys.executable, "-c", probe], env=os.environ.copy(), check=True)
    new = state_key(state)
    assert new.workspace_id == (state / ID_NAME).read_text().strip()
    assert new.workspace_id != old.workspace_id
    assert new.key != old.key
    assert state_key(state) is new  # and kept again while the id file is the same


def test_a_relative_key_directory_follows_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agentos import statekey

    monkeypatch.delenv("AGENTOS_KEY_DIR", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", "rel")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    assert statekey._absolute_key_dir() == tmp_path / "a" / "rel" / "agentos" / "keys"
    monkeypatch.chdir(tmp_path / "b")
    assert statekey._absolute_key_dir() == tmp_path / "b" / "rel" / "agentos" / "keys"
