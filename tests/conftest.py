"""Shared fixtures: hermetic environment, temp workspaces, an in-process CLI runner, git."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

sys.path.insert(0, str(Path(__file__).parent))

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = REPO_ROOT.parent / "shared"
CODEX_SCENARIOS = SHARED / "conformance" / "codex-apply-patch" / "scenarios"
# For planner tests: every safe path allowed, nothing needs approval (path-safety still holds).
PERMISSIVE_POLICY = REPO_ROOT / "tests" / "data" / "permissive-policy.yaml"

settings.register_profile(
    "default",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.register_profile("thorough", parent=settings.get_profile("default"), max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

GIT_ENV = {
    "GIT_AUTHOR_NAME": "agentos tests",
    "GIT_AUTHOR_EMAIL": "tests@agentos.invalid",
    "GIT_COMMITTER_NAME": "agentos tests",
    "GIT_COMMITTER_EMAIL": "tests@agentos.invalid",
    "GIT_AUTHOR_DATE": "2024-01-01T00:00:00Z",
    "GIT_COMMITTER_DATE": "2024-01-01T00:00:00Z",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}


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
def _hermetic_env(monkeypatch: pytest.MonkeyPatch, key_dir: Path) -> None:
    """Same environment everywhere: no colour, fixed width and zone, fixed git identity, and
    workspace keys in the session's own key directory."""
    monkeypatch.setenv("AGENTOS_KEY_DIR", str(key_dir))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "120")
    monkeypatch.setenv("TZ", "UTC")
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)


def git_available() -> bool:
    """True where a git executable is installed."""
    return shutil.which("git") is not None


needs_git = pytest.mark.skipif(not git_available(), reason="git is not installed")


def run_git(cwd: Path, *args: str, check: bool = True, input_bytes: bytes | None = None) -> bytes:
    """Run git in ``cwd`` with the hermetic identity; return stdout."""
    env = {**os.environ, **GIT_ENV}
    proc = subprocess.run(
        ["git", "-c", "core.autocrlf=false", "-c", "core.quotepath=true", *args],
        cwd=cwd,
        env=env,
        input=input_bytes,
        capture_output=True,
        check=False,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {proc.stderr.decode(errors='replace')}")
    return proc.stdout


@dataclass
class CliResult:
    """Exit code and captured streams of one in-process CLI run."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        """The JSON document on stdout."""
        return json.loads(self.out)


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
