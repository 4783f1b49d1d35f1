"""The git work tree a workspace lives in, as ``apply --commit`` / ``--index`` use it.

Git runs as a subprocess through an injected runner (``GitRunner``; ``run_git`` is the real
one) with a fixed configuration: pathspecs are literal (a path named ``*.py`` is that file,
not a glob), paths are never quoted, no colour, no pager, no optional locks, no prompt. Path
lists go to git NUL-separated on standard input where git takes them so, else as arguments
after ``--`` in chunks, so no path is ever taken for an option and no command line grows
with the plan. Git's own settings otherwise hold: the
repository's attributes and filters (Git LFS) decide what a staged file becomes, and the
committer is whoever git's environment and configuration say.

Problems found before anything is written are ``UsageError`` (exit 2); a command that fails
after that is a ``GitFailed`` that the caller reports with what was already done.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from agentos.errors import UsageError

# Options given before every git command (see the module's docstring).
FIXED_OPTIONS = ("--no-pager", "-c", "core.quotepath=off", "-c", "color.ui=never")
FIXED_ENV = {"GIT_LITERAL_PATHSPECS": "1", "GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0"}
# A commit of a very large change (or a slow LFS filter) may take minutes; never forever.
GIT_TIMEOUT = 900.0
# Files in the git directory that say an operation waits to be concluded by a commit.
PENDING = {"MERGE_HEAD": "a merge", "CHERRY_PICK_HEAD": "a cherry-pick", "REVERT_HEAD": "a revert"}
# Paths per command line where git takes them only as arguments.
CHUNK = 500
# How many paths a one-line message names before "and N more".
NAMED = 5


@dataclass(frozen=True)
class GitOutput:
    """What one git command did: its exit status and both output streams."""

    code: int
    out: bytes
    err: bytes

    def said(self) -> str:
        """Git's message on one line (its standard error, else its exit status)."""
        text = " ".join(self.err.decode("utf-8", "replace").split())
        return text.removeprefix("fatal: ").removeprefix("error: ") or f"exit status {self.code}"

    def paths(self) -> list[str]:
        """Standard output as NUL-separated paths."""
        return [p for p in self.out.decode("utf-8", "surrogateescape").split("\0") if p]


class GitRunner(Protocol):
    """Runs ``git`` with ``args`` (after ``FIXED_OPTIONS``) in ``cwd``; ``env`` is added to
    the environment. ``FileNotFoundError`` when git is not installed."""

    def __call__(
        self, args: Sequence[str], *, cwd: Path, stdin: bytes, env: Mapping[str, str]
    ) -> GitOutput: ...


def run_git(
    args: Sequence[str], *, cwd: Path, stdin: bytes = b"", env: Mapping[str, str] | None = None
) -> GitOutput:
    """The installed git, run as ``GitRunner`` says."""
    import shutil

    program = shutil.which("git")
    if program is None:
        raise FileNotFoundError("git")
    done = subprocess.run(  # noqa: S603 - a fixed program, our own arguments, no shell
        [program, *FIXED_OPTIONS, *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        check=False,
        timeout=GIT_TIMEOUT,
        env={**os.environ, **FIXED_ENV, **(env or {})},
    )
    return GitOutput(done.returncode, done.stdout, done.stderr)


class GitFailed(Exception):
    """A git command failed after agentos had written the files (git's message)."""


def nul_list(paths: Sequence[str]) -> bytes:
    """``paths`` as git reads them with ``--pathspec-file-nul`` / ``-z --stdin``."""
    return b"".join(p.encode("utf-8", "surrogateescape") + b"\0" for p in paths)


def named(paths: Sequence[str]) -> str:
    """``a, b, c and 4 more``: the first paths of a list, for a one-line message."""
    shown = ", ".join(paths[:NAMED])
    return shown + (f" and {len(paths) - NAMED} more" if len(paths) > NAMED else "")


@dataclass(frozen=True)
class GitRepo:
    """The work tree around ``root`` (the workspace), where every command runs."""

    root: Path
    git_dir: Path
    runner: GitRunner

    def run(
        self, *args: str, stdin: bytes = b"", env: Mapping[str, str] | None = None
    ) -> GitOutput:
        """``git args`` in the workspace (``UsageError`` when git cannot be run at all)."""
        try:
            return self.runner(args, cwd=self.root, stdin=stdin, env=env or {})
        except FileNotFoundError:
            raise UsageError(
                "git is not installed (or not on PATH): --commit and --index need it; install "
                "git, or apply without them"
            ) from None
        except subprocess.TimeoutExpired:
            return GitOutput(-1, b"", f"git {args[0]} did not finish in {GIT_TIMEOUT:g}s".encode())

    def must(self, *args: str, stdin: bytes = b"", env: Mapping[str, str] | None = None) -> bytes:
        """``git args``' standard output; ``GitFailed`` with git's message when it fails."""
        done = self.run(*args, stdin=stdin, env=env)
        if done.code != 0:
            raise GitFailed(f"git {args[0]}: {done.said()}")
        return done.out


def open_repo(root: Path, runner: GitRunner, *, option: str) -> GitRepo:
    """The git work tree the workspace ``root`` is in; a ``UsageError`` naming ``option``
    when it is in none (or git cannot be run)."""
    probe = GitRepo(root, root, runner)
    done = probe.run("rev-parse", "--is-inside-work-tree", "--absolute-git-dir")
    lines = done.out.decode("utf-8", "surrogateescape").splitlines()
    if done.code != 0 or len(lines) != 2 or lines[0] != "true":
        why = f" ({done.said()})" if done.code != 0 else ""
        raise UsageError(
            f"{option}: the workspace {str(root)!r} is not in a git work tree{why}; run "
            f"'git init' there, or run without {option}; nothing written"
        )
    return GitRepo(root, Path(lines[1]), runner)


def staged_changes(repo: GitRepo) -> list[str]:
    """Every path whose staged content differs from HEAD (relative to the repository's top),
    or every path in the index when there is no commit yet."""
    done = repo.run("diff", "--cached", "--name-only", "-z", "--no-renames", "--no-ext-diff")
    if done.code != 0:
        raise UsageError(f"cannot read git's index: {done.said()}; nothing written")
    return done.paths()


def pending_operation(repo: GitRepo) -> str | None:
    """The operation git waits to conclude with a commit (a merge, a cherry-pick, a revert)."""
    for name, what in PENDING.items():
        if (repo.git_dir / name).exists():
            return what
    return None


def committer_problem(repo: GitRepo) -> str | None:
    """Why git could not name a committer (None when it can), as ``git commit`` would say."""
    done = repo.run("var", "GIT_COMMITTER_IDENT")
    if done.code == 0:
        return None
    lines = done.err.decode("utf-8", "replace").splitlines()
    last = next((ln for ln in reversed(lines) if ln.strip()), "")
    return last.removeprefix("fatal: ").strip() or "git knows no committer identity"


def ignored_paths(repo: GitRepo, paths: Sequence[str]) -> list[str]:
    """The ``paths`` that git ignores and does not track (``git add`` would refuse them).

    None when git cannot tell (a path it finds outside the repository): the WriteGate judges
    such paths, and ``git add`` would still refuse an ignored one after the writes.
    """
    if not paths:
        return []
    # check-ignore takes path names, not pathspecs: it refuses the literal setting.
    done = repo.run(
        "check-ignore", "-z", "--stdin", stdin=nul_list(paths), env={"GIT_LITERAL_PATHSPECS": "0"}
    )
    return done.paths() if done.code == 0 else []


def unclean_paths(repo: GitRepo, paths: Sequence[str]) -> list[str]:
    """The ``paths`` whose working-tree file differs from HEAD (changes not committed)."""
    found: list[str] = []
    for start in range(0, len(paths), CHUNK):
        done = repo.run(
            "status", "--porcelain", "-z", "--untracked-files=all", "--no-renames",
            "--ignored=no", "--", *paths[start : start + CHUNK],
        )  # fmt: skip
        # Entries are "XY <path>" (paths from the repository's top; no rename pairs here).
        found += [entry[3:] for entry in done.paths()] if done.code == 0 else []
    return found


def stage(repo: GitRepo, present: Sequence[str], absent: Sequence[str]) -> None:
    """``git add`` the ``present`` paths, ``git rm --cached`` the ``absent`` ones."""
    if present:
        repo.must("add", "--pathspec-from-file=-", "--pathspec-file-nul", stdin=nul_list(present))
    # git rm refuses --pathspec-from-file in a subfolder of the repository (git 2.39 adds
    # the folder as a pathspec of its own): the paths go as arguments, a chunk at a time.
    for start in range(0, len(absent), CHUNK):
        chunk = absent[start : start + CHUNK]
        repo.must("rm", "--cached", "-q", "--ignore-unmatch", "--", *chunk)


def staged_among(repo: GitRepo, paths: Sequence[str]) -> list[str]:
    """Which of ``paths`` (workspace-relative) are now staged, in git's (sorted) order."""
    out = repo.must("diff", "--cached", "--name-only", "-z", "--no-renames", "--relative")
    wanted = set(paths)
    return [p for p in GitOutput(0, out, b"").paths() if p in wanted]


def unstage(repo: GitRepo, paths: Sequence[str]) -> str | None:
    """Give ``paths`` back their HEAD entries in the index; git's message when it cannot."""
    done = repo.run(
        "reset", "-q", "--pathspec-from-file=-", "--pathspec-file-nul", stdin=nul_list(paths)
    )
    return None if done.code == 0 else done.said()


@dataclass(frozen=True)
class Author:
    """Who a commit names as its author, and when it was written (git's ``@<epoch> +0000``;
    empty: git's own default)."""

    name: str
    email: str
    date: str

    def env(self) -> dict[str, str]:
        """The environment that makes git record this author (the committer is git's own)."""
        env = {"GIT_AUTHOR_NAME": self.name, "GIT_AUTHOR_EMAIL": self.email}
        return {**env, "GIT_AUTHOR_DATE": self.date} if self.date else env


def commit(repo: GitRepo, message: str, author: Author) -> str:
    """Commit the index with ``message`` as ``author``; the new commit's id.

    The repository's pre-commit and commit-msg hooks do not run (``--no-verify``): what is
    committed was approved and verified before agentos wrote it, and a hook that rewrote
    the files or the message would make the commit say something nobody approved.
    ``--cleanup=whitespace`` keeps an intent's lines that start with ``#``.
    """
    repo.must(
        "commit", "--no-verify", "-q", "--cleanup=whitespace", "-F", "-",
        stdin=message.encode("utf-8"), env=author.env(),
    )  # fmt: skip
    return repo.must("rev-parse", "--verify", "HEAD").decode("ascii").strip()


def find_commit(repo: GitRepo, key: str, value: str) -> str | None:
    """The newest commit reachable from HEAD whose message has the line ``key: value``."""
    done = repo.run("log", "-n", "1", "--format=%H", f"--grep=^{key}: {value}$", "HEAD")
    found = done.out.decode("ascii", "replace").strip() if done.code == 0 else ""
    return found or None
