"""The git work tree a workspace lives in, as ``apply --commit`` / ``--index`` use it.

Git runs through ``agentos.gitrun`` (an injected runner, its fixed configuration) at the top
of the work tree, with paths from there (``GitRepo.full``), and reads and writes the index
with plumbing only (``diff-index``, ``update-index``, ``write-tree``), which follows neither
``diff.relative`` nor a submodule's ``ignore`` setting. Names are never quoted
(``core.quotepath=off``; the path lists git gives are NUL-separated anyway). Path lists go to
git NUL-separated on standard input where git takes them so, else as arguments after ``--``
in batches, so no path is ever taken for an option and no command line grows with the plan.
What is staged is made from the plan's own bytes (``stage_blobs``), as ``git add`` of them
would store them: the repository's clean filters and text attributes (Git LFS) apply.

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
GITLINK = "160000"
# What a path holds in a tree or the index: (mode, object id); None: no such path.
Entry = tuple[str, str] | None


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
    """The work tree around the workspace: every command runs at its top (``git.root``);
    ``prefix``: the workspace's folder from there (``""`` or ``"pkg/"``)."""

    git: Git
    git_dir: Path
    prefix: str = ""

    def run(
        self, *args: str, stdin: bytes = b"", env: Mapping[str, str] | None = None
    ) -> GitOutput:
        """``git args`` at the top (``UsageError`` when git is not installed)."""
        return self.git.run(*args, stdin=stdin, env=env)

    def must(self, *args: str, stdin: bytes = b"", env: Mapping[str, str] | None = None) -> bytes:
        """``git args``' standard output; ``GitFailed`` with git's message when it fails."""
        done = self.run(*args, stdin=stdin, env=env)
        if done.returncode != 0:
            raise GitFailed(f"git {args[0]}: {done.reason()}")
        return done.stdout

    def full(self, path: str) -> str:
        """A workspace path as git names it (from the top of the work tree)."""
        return self.prefix + path

    def local(self, path: str) -> str:
        """A path from the top as the workspace names it (as is when outside it)."""
        return path[len(self.prefix) :] if path.startswith(self.prefix) else path


def open_repo(root: Path, runner: GitRunner, *, option: str) -> GitRepo:
    """The git work tree the workspace ``root`` is in; a ``UsageError`` naming ``option``
    when it is in none (or git cannot be run)."""
    instead = f"run without {option}; nothing written"
    git = Git(root, runner, option=option, instead=instead, config=CONFIG)
    done = git.run(
        "rev-parse", "--is-inside-work-tree", "--absolute-git-dir", "--show-toplevel",
        "--show-prefix",
    )  # fmt: skip
    lines = done.stdout.decode("utf-8", "surrogateescape").split("\n")
    if done.returncode != 0 or len(lines) < 4 or lines[0] != "true":
        raise git.not_in_git("work tree", done.reason() if done.returncode != 0 else "")
    top = Git(Path(lines[2]), runner, option=option, instead=instead, config=CONFIG)
    return GitRepo(top, Path(lines[1]), lines[3])


def head_tree(repo: GitRepo) -> str:
    """HEAD's tree, or the empty tree when there is no commit yet."""
    done = repo.run("rev-parse", "-q", "--verify", "HEAD^{tree}")
    if done.returncode == 0:
        return done.stdout.decode("ascii").strip()
    return repo.must("hash-object", "-t", "tree", "--stdin").decode("ascii").strip()


def _raw_changes(out: bytes) -> dict[str, Entry]:
    """``--raw -z --no-renames`` output: each path's new entry (None: deleted)."""
    fields = out.decode("utf-8", "surrogateescape").split("\0")
    found: dict[str, Entry] = {}
    for meta, path in zip(fields[0::2], fields[1::2], strict=False):
        parts = meta.lstrip(":").split()
        if len(parts) >= 5:
            found[path] = None if parts[4] == "D" else (parts[1], parts[3])
    return found


def index_changes(repo: GitRepo) -> dict[str, Entry]:
    """Every path whose entry in the index differs from HEAD (all of them when there is no
    commit yet), with the index's entry: submodules and every folder included."""
    out = repo.must(
        "diff-index", "--cached", "--raw", "-z", "--no-renames", "--ignore-submodules=none",
        head_tree(repo),
    )  # fmt: skip
    return _raw_changes(out)


def staged_changes(repo: GitRepo) -> list[str]:
    """Every path (from the top) whose staged content differs from HEAD."""
    try:
        return list(index_changes(repo))
    except GitFailed as failed:
        raise UsageError(f"cannot read git's index: {failed}; nothing written") from None


def nested_repositories(repo: GitRepo, paths: Sequence[str]) -> dict[str, str]:
    """Each of ``paths`` (from the top) that lies in a repository of its own — a submodule
    (a gitlink in the index) or a folder holding a ``.git`` — with that folder."""
    listed = repo.run("ls-files", "-s", "-z")
    gitlinks = {
        entry.split("\t", 1)[1]
        for entry in listed.paths()
        if entry.startswith(GITLINK + " ") and "\t" in entry
    }
    top = repo.git.root
    found: dict[str, str] = {}
    for path in paths:
        parts = path.split("/")
        for end in range(1, len(parts) + 1):
            folder = "/".join(parts[:end])
            inner = end < len(parts) and (top / folder / ".git").exists()
            if folder in gitlinks or inner:
                found[path] = folder
                break
    return found


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
    """The ``paths`` (from the top) that git ignores and does not track (none when git
    cannot tell)."""
    if not paths:
        return []
    # check-ignore takes path names, not pathspecs: it refuses the literal setting.
    done = repo.run(
        "check-ignore", "-z", "--stdin", stdin=nul_list(paths), env={"GIT_LITERAL_PATHSPECS": "0"}
    )
    return done.paths() if done.returncode == 0 else []


def unclean_paths(repo: GitRepo, paths: Sequence[str]) -> list[str]:
    """The ``paths`` (from the top) whose working-tree file differs from HEAD."""
    found: list[str] = []
    for batch in arg_batches(paths):
        done = repo.run(
            "status", "--porcelain", "-z", "--untracked-files=all", "--no-renames",
            "--ignored=no", "--ignore-submodules=none", "--", *batch,
        )  # fmt: skip
        # Entries are "XY <path>" (paths from the repository's top; no rename pairs here).
        found += [entry[3:] for entry in done.paths()] if done.returncode == 0 else []
    return found


def stage_blobs(repo: GitRepo, wanted: Mapping[str, tuple[str, bytes] | None]) -> dict[str, Entry]:
    """Give each path (from the top) of ``wanted`` its entry in the index: a blob made from
    the given bytes, as ``git add`` of them at that path would store them (clean filters
    and text attributes apply), with the given mode; None removes the path. What the files
    hold now does not matter. The entries staged."""
    entries: dict[str, Entry] = {}
    for path, post in wanted.items():
        if post is not None:
            mode, data = post
            made = repo.must("hash-object", "-w", "--stdin", f"--path={path}", stdin=data)
            entries[path] = (mode, made.decode("ascii").strip())
        else:
            entries[path] = None
    gone = [path for path, entry in entries.items() if entry is None]
    if gone:
        repo.must("update-index", "--force-remove", "-z", "--stdin", stdin=nul_list(gone))
    info = b"".join(
        f"{entry[0]} {entry[1]}\t{path}\0".encode("utf-8", "surrogateescape")
        for path, entry in entries.items()
        if entry is not None
    )
    if info:
        repo.must("update-index", "-z", "--add", "--index-info", stdin=info)
    # The entries made from bytes have no stat info: take the files' (git status is clean).
    repo.run("update-index", "-q", "--refresh")
    return entries


def write_tree(repo: GitRepo) -> str:
    """The tree of what the index holds now."""
    return repo.must("write-tree").decode("ascii").strip()


def tree_changes(repo: GitRepo, old: str, new: str) -> dict[str, Entry]:
    """Every path whose entry differs between the trees ``old`` and ``new``."""
    out = repo.must(
        "diff-tree", "-r", "--raw", "-z", "--no-renames", "--ignore-submodules=none", old, new
    )
    return _raw_changes(out)


def tree_entries(repo: GitRepo, tree: str, paths: Sequence[str]) -> dict[str, Entry]:
    """What the tree ``tree`` holds at each of ``paths`` (None: nothing)."""
    found: dict[str, Entry] = dict.fromkeys(paths)
    for batch in arg_batches(paths):
        for line in GitOutput(0, repo.must("ls-tree", "-r", "-z", tree, "--", *batch), b"").paths():
            meta, _, path = line.partition("\t")
            parts = meta.split()
            if path in found and len(parts) == 3:
                found[path] = (parts[0], parts[2])
    return found


def unstage(repo: GitRepo, paths: Sequence[str]) -> str | None:
    """Give ``paths`` (from the top) back their HEAD entries in the index; git's message
    when it cannot."""
    done = repo.run(
        "reset", "-q", "--pathspec-from-file=-", "--pathspec-file-nul", stdin=nul_list(paths)
    )
    return None if done.returncode == 0 else done.reason()


def head_commit(repo: GitRepo) -> str | None:
    """The commit HEAD names (None: no commit yet)."""
    done = repo.run("rev-parse", "-q", "--verify", "HEAD^{commit}")
    return done.stdout.decode("ascii").strip() if done.returncode == 0 else None


def move_head_back(repo: GitRepo, made: str, parent: str | None) -> str | None:
    """Make HEAD name ``parent`` again if it still names ``made``; git's message when not."""
    args = ("-d", "HEAD", made) if parent is None else ("HEAD", parent, made)
    done = repo.run("update-ref", "-m", "agentos: commit withdrawn", *args)
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
