"""The git work tree a workspace lives in, as ``apply --commit`` / ``--index`` use it.

Git runs through ``agentos.gitrun`` (an injected runner, its fixed configuration); here
names are never quoted (``core.quotepath=off``: git's messages name a path as written; the
path lists it gives are NUL-separated anyway). Path lists go to git NUL-separated on
standard input where git takes them so, else as arguments after ``--`` in batches, so no
path is ever taken for an option and no command line grows with the plan. Git's own
settings otherwise hold: the repository's attributes and filters (Git LFS) decide what a
staged file becomes, and the committer is whoever git's environment and configuration say.

Problems found before anything is written are ``UsageError`` (exit 2); a command that fails
after that is a ``GitFailed`` that the caller reports with what was already done.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from agentos.errors import UsageError
from agentos.gitrun import Git, GitOutput, GitRunner, arg_batches

# Settings every command of this module runs with (see the module's docstring).
CONFIG = ("core.quotepath=off",)
# Files in the git directory that say an operation waits to be concluded by a commit.
PENDING = {"MERGE_HEAD": "a merge", "CHERRY_PICK_HEAD": "a cherry-pick", "REVERT_HEAD": "a revert"}
# How many paths a one-line message names before "and N more".
NAMED = 5


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
    """The work tree around the workspace, where every command runs (``git.root``)."""

    git: Git
    git_dir: Path

    def run(
        self, *args: str, stdin: bytes = b"", env: Mapping[str, str] | None = None
    ) -> GitOutput:
        """``git args`` in the workspace (``UsageError`` when git is not installed)."""
        return self.git.run(*args, stdin=stdin, env=env)

    def must(self, *args: str, stdin: bytes = b"", env: Mapping[str, str] | None = None) -> bytes:
        """``git args``' standard output; ``GitFailed`` with git's message when it fails."""
        done = self.run(*args, stdin=stdin, env=env)
        if done.returncode != 0:
            raise GitFailed(f"git {args[0]}: {done.reason()}")
        return done.stdout


def open_repo(root: Path, runner: GitRunner, *, option: str) -> GitRepo:
    """The git work tree the workspace ``root`` is in; a ``UsageError`` naming ``option``
    when it is in none (or git cannot be run)."""
    git = Git(
        root, runner, option=option, instead=f"run without {option}; nothing written", config=CONFIG
    )
    done = git.run("rev-parse", "--is-inside-work-tree", "--absolute-git-dir")
    lines = done.stdout.decode("utf-8", "surrogateescape").splitlines()
    if done.returncode != 0 or len(lines) != 2 or lines[0] != "true":
        raise git.not_in_git("work tree", done.reason() if done.returncode != 0 else "")
    return GitRepo(git, Path(lines[1]))


def staged_changes(repo: GitRepo) -> list[str]:
    """Every path whose staged content differs from HEAD (relative to the repository's top),
    or every path in the index when there is no commit yet."""
    done = repo.run("diff", "--cached", "--name-only", "-z", "--no-renames", "--no-ext-diff")
    if done.returncode != 0:
        raise UsageError(f"cannot read git's index: {done.reason()}; nothing written")
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
    return None if done.returncode == 0 else done.reason()


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
    return done.paths() if done.returncode == 0 else []


def unclean_paths(repo: GitRepo, paths: Sequence[str]) -> list[str]:
    """The ``paths`` whose working-tree file differs from HEAD (changes not committed)."""
    found: list[str] = []
    for batch in arg_batches(paths):
        done = repo.run(
            "status", "--porcelain", "-z", "--untracked-files=all", "--no-renames",
            "--ignored=no", "--", *batch,
        )  # fmt: skip
        # Entries are "XY <path>" (paths from the repository's top; no rename pairs here).
        found += [entry[3:] for entry in done.paths()] if done.returncode == 0 else []
    return found


def stage(repo: GitRepo, present: Sequence[str], absent: Sequence[str]) -> None:
    """``git add`` the ``present`` paths, ``git rm --cached`` the ``absent`` ones."""
    if present:
        repo.must("add", "--pathspec-from-file=-", "--pathspec-file-nul", stdin=nul_list(present))
    # git rm refuses --pathspec-from-file in a subfolder of the repository (git 2.39 adds
    # the folder as a pathspec of its own): the paths go as arguments, a batch at a time.
    for batch in arg_batches(absent):
        repo.must("rm", "--cached", "-q", "--ignore-unmatch", "--", *batch)


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
    return None if done.returncode == 0 else done.reason()


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
    found = done.stdout.decode("ascii", "replace").strip() if done.returncode == 0 else ""
    return found or None
