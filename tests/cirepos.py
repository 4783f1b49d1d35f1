"""A project as a CI job sees it, for the end-to-end CI tests: a bare remote (the server), a
project set up with ``agentos init`` on its ``main``, and a pull request — a ``feature``
branch, pushed from a clone of its own — that renames a file with edits, changes another and
touches a path the day-one policy always sends for review (so it needs an approval).

``tests/`` is on ``sys.path``: ``from cirepos import ...``.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from helpers import GIT_ENV, agentos, run_git, write_tree

START = {
    "src/util.py": "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n",
    "src/main.py": "from src.util import add\n\nprint(add(1, 2))\n",
    "src/security/tokens.py": "TOKEN_TTL = 300\n",
    "docs/notes.md": "# Notes\n",
    "README.md": "# demo\n",
}
HELPERS = START["src/util.py"] + "\n\ndef mul(a, b):\n    return a * b\n"
TITLE = "Rename util to helpers, add mul"
# The paths the pull request changes (a rename's both sides).
PLANNED = {"src/util.py", "src/helpers.py", "src/main.py", "src/security/tokens.py"}


def git(cwd: Path, *args: str) -> str:
    """Run git (with the tests' fixed identity) in ``cwd``; its output, stripped."""
    return run_git(cwd, *args).decode().strip()


def git_code(cwd: Path, *args: str) -> int:
    """Run git in ``cwd`` and return its exit code (for a command that may be refused)."""
    env = {**os.environ, **GIT_ENV}
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, check=False)
    return done.returncode


def clone(remote: Path, target: Path) -> Path:
    """A clone of ``remote`` at ``target``, as a developer's or a CI runner's checkout."""
    git(remote.parent, "clone", "-q", remote.as_uri(), str(target))
    return target


@dataclass(frozen=True)
class Project:
    """The bare remote, main's first commit, and the pull request's head commit."""

    remote: Path
    main: str
    feature: str


def make_project(root: Path) -> Project:
    """A bare remote under ``root`` whose ``main`` holds ``START`` and agentos's day-one
    policy (``agentos init``), and a ``feature`` branch pushed from a pull request's clone."""
    remote = root / "remote.git"
    git(root, "init", "-q", "--bare", "-b", "main", str(remote))
    seed = clone(remote, root / "seed")
    write_tree(seed, dict(START))
    setup = agentos("init", cwd=seed, AGENTOS_KEY_DIR=str(root / "keys-seed"))
    assert setup.code == 0, setup.doc
    git(seed, "add", "-A")
    git(seed, "commit", "-q", "-m", "Set up agentos")
    git(seed, "push", "-q", "origin", "main")
    pr = clone(remote, root / "pr")
    git(pr, "checkout", "-q", "-b", "feature")
    git(pr, "mv", "src/util.py", "src/helpers.py")
    write_tree(
        pr,
        {
            "src/helpers.py": HELPERS,
            "src/main.py": START["src/main.py"].replace("src.util", "src.helpers"),
            "src/security/tokens.py": "TOKEN_TTL = 600\n",
        },
    )
    git(pr, "commit", "-q", "-am", TITLE)
    git(pr, "push", "-q", "origin", "feature")
    return Project(remote, git(seed, "rev-parse", "HEAD"), git(pr, "rev-parse", "HEAD"))


def push_to_main(project: Project, root: Path, files: dict[str, str], message: str) -> str:
    """Someone else's push to ``main`` (from a clone of their own) changing ``files``; the
    new commit."""
    other = clone(project.remote, root / f"other-{len(list(root.glob('other-*')))}")
    write_tree(other, dict(files))
    git(other, "commit", "-q", "-am", message)
    git(other, "push", "-q", "origin", "main")
    return git(other, "rev-parse", "HEAD")
