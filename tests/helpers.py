"""Shared test helpers: where things are, git, trees built from dicts and read back, plans
materialised, processes watched.

``tests/`` is on ``sys.path`` (pytest's ``pythonpath``), so every test module imports these
as ``from helpers import ...``.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agentos.model import ChangePlan

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = REPO_ROOT.parent / "shared"
CODEX_SCENARIOS = SHARED / "conformance" / "codex-apply-patch" / "scenarios"
# For planner tests: every safe path allowed, nothing needs approval (path-safety still holds).
PERMISSIVE_POLICY = REPO_ROOT / "tests" / "data" / "permissive-policy.yaml"

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

Tree = dict[str, tuple[bytes, str]]


# -- git ---------------------------------------------------------------------------------------


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


# -- the in-process CLI ------------------------------------------------------------------------


@dataclass
class CliResult:
    """Exit code and captured streams of one in-process CLI run (the ``cli`` fixture)."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        """The JSON document on stdout."""
        return json.loads(self.out)


# -- trees -------------------------------------------------------------------------------------


def write_tree(root: Path, files: dict[str, bytes | str | tuple[bytes | str, str]]) -> None:
    """Create ``files`` under ``root``; a value may be ``(content, "100755")``."""
    for rel, value in files.items():
        content, mode = value if isinstance(value, tuple) else (value, "100644")
        data = content.encode() if isinstance(content, str) else content
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        path.chmod(0o755 if mode == "100755" else 0o644)


def read_tree(root: Path, *, skip: tuple[str, ...] = (".git", ".agentos")) -> Tree:
    """Every regular file under ``root`` as ``{relpath: (bytes, mode)}``."""
    tree: Tree = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root)
        if rel_dir.parts and rel_dir.parts[0] in skip:
            continue
        dirnames[:] = [d for d in dirnames if not (not rel_dir.parts and d in skip)]
        for name in filenames:
            path = Path(dirpath) / name
            info = path.lstat()
            if not stat.S_ISREG(info.st_mode):
                continue
            mode = "100755" if info.st_mode & stat.S_IXUSR else "100644"
            tree[(rel_dir / name).as_posix()] = (path.read_bytes(), mode)
    return tree


def materialise(plan: ChangePlan, root: Path) -> None:
    """Apply ``plan`` to the files under ``root`` (a test stand-in for the executor).

    Checks every pre-image first; removes directories a deletion leaves empty, as git does.
    """
    from agentos.digest import sha256_hex

    changes = plan.changeset.changes
    for change in changes:
        if change.op == "create":
            assert not (root / change.path).exists(), change.path
        else:
            old = change.from_path if change.op == "rename" else change.path
            assert sha256_hex((root / old).read_bytes()) == change.old_sha256, old
    for change in changes:
        if change.op in ("delete", "rename"):
            old = change.from_path if change.op == "rename" else change.path
            (root / old).unlink()
            parent = (root / old).parent
            while parent != root and not any(parent.iterdir()):
                parent.rmdir()
                parent = parent.parent
    for change in changes:
        if change.op == "delete":
            continue
        path = root / change.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(change.content.to_bytes())
        path.chmod(0o755 if change.mode == "100755" else 0o644)


def copy_tree(src: Path, dst: Path) -> None:
    """Copy a directory (used to keep an untouched reference)."""
    shutil.copytree(src, dst, symlinks=True)


def pid_gone(pid: int) -> bool:
    """No such process (a zombie waiting for a reaper that never comes counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False
    return stat.rpartition(")")[2].split()[0] == "Z"


def wait_gone(pids: list[int], seconds: float = 2.0) -> list[int]:
    """The pids still alive after up to ``seconds``."""
    deadline = time.monotonic() + seconds
    alive = [p for p in pids if not pid_gone(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [p for p in alive if not pid_gone(p)]
    return alive


def double_fork_script(pidfile: str) -> str:
    """Python source of a daemon made by a double fork and ``setsid``: it writes its pid to
    the file the expression ``pidfile`` names (``pid`` and ``sys.argv`` are in scope), then
    sleeps; the first process exits with ``sys.argv[2]`` (0 when absent)."""
    return f"""
import os, sys, time
read, write = os.pipe()
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.write(write, str(os.getpid()).encode())
        time.sleep(300)
    os._exit(0)
os.close(write)
pid = os.read(read, 32).decode()
path = {pidfile}
with open(path + ".tmp", "w") as out:
    out.write(pid)
os.replace(path + ".tmp", path)
sys.exit(int(sys.argv[2]) if len(sys.argv) > 2 else 0)
"""
