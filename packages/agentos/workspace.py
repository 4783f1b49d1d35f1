"""The workspace: its root, the ``.agentos/`` state paths, and path normalisation and safety.

Every path agentos handles is a relative POSIX path inside the workspace. ``path_problems`` is
the pure, built-in part of the ``path-safety`` rule (SPEC §6.1): it looks only at the string,
never at the disk.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from agentos.errors import PathSafetyError, UsageError

STATE_DIR_NAME = ".agentos"
DEFAULT_POLICY_RELPATH = "agent/policies/default.yaml"
# Longest name most file systems accept for one component, and a whole path (Linux PATH_MAX).
MAX_NAME_BYTES = 255
MAX_PATH_BYTES = 4096

_DRIVE = re.compile(r"^[A-Za-z]:")
# C0 and C1 controls, and the bidirectional overrides that make a name read as another.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# Code points HFS+ (macOS) ignores anywhere in a name, so ".g\u200cit" opens ".git" there: git's
# list from CVE-2014-9390 (next_hfs_char in its utf8.c).
HFS_IGNORABLE = re.compile("[\u200c-\u200f\u202a-\u202e\u206a-\u206f\ufeff]")
# What NTFS also resolves to these directories once a name is folded: 8.3 short names (git
# refuses "git~1"; ".agentos" gets "AGENTO~1", or ~2..~4 when that is taken).
_GIT_ALIASES = frozenset({".git", "git~1"})
_STATE_ALIASES = frozenset({STATE_DIR_NAME, *(f"agento~{n}" for n in range(1, 5))})


@dataclass(frozen=True)
class Workspace:
    """A workspace root and the locations of agentos's own state inside it."""

    root: Path

    @classmethod
    def open(cls, directory: str | Path) -> Workspace:
        """The workspace at ``directory``, which must exist."""
        path = Path(directory)
        if not path.is_dir():
            raise UsageError(
                f"workspace {str(path)!r} is not a directory; pass an existing one with -C DIR"
            )
        return cls(path.resolve())

    @property
    def state_dir(self) -> Path:
        """``<root>/.agentos``: lock, journal, plans, audit trail, logs."""
        return self.root / STATE_DIR_NAME

    @property
    def plans_dir(self) -> Path:
        """Where ``agentos plan`` writes plan files by default."""
        return self.state_dir / "plans"

    @property
    def audit_dir(self) -> Path:
        """The hash-chained audit trail and its HEAD."""
        return self.state_dir / "audit"

    @property
    def approvals_dir(self) -> Path:
        """Approvals recorded by ``agentos approve``, one folder per plan id."""
        return self.state_dir / "approvals"

    @property
    def policy_path(self) -> Path:
        """The workspace's own policy file (it may not exist)."""
        return self.root / DEFAULT_POLICY_RELPATH


# What makes a directory a workspace when agentos looks for one up from where it runs: its
# state (a directory), or its policy (a file); else being the top of a git work tree.
WORKSPACE_MARKERS = (STATE_DIR_NAME, DEFAULT_POLICY_RELPATH)


def discover(start: Path, *, home: Path | None = None) -> Path | None:
    """The workspace ``start`` (absolute) is in, found as git finds a repository: up from
    ``start``, the nearest directory that holds ``.agentos/`` or the workspace policy, or
    that is the top of a git work tree (it holds ``.git``) — a repository is a boundary, so
    nothing above it is ever taken for it. Markers owned by another user are ignored (as git
    ignores a repository of dubious ownership), and the search stops below the home
    directory (``home``, default the user's): a stray ``~/.agentos`` never claims a
    project. None when nothing qualifies."""
    ceiling = _home() if home is None else home
    for folder in (start, *start.parents):
        if folder == ceiling and folder != start:
            return None
        if _holds_marker(folder) or (folder / ".git").exists():
            return folder
    return None


def _holds_marker(folder: Path) -> bool:
    """Whether ``folder`` holds agentos's state directory or its policy file, owned by the
    user running agentos."""
    import os
    import stat

    uid = os.geteuid() if hasattr(os, "geteuid") else None
    for marker, kind in ((STATE_DIR_NAME, stat.S_ISDIR), (DEFAULT_POLICY_RELPATH, stat.S_ISREG)):
        try:
            info = (folder / marker).stat()
        except (OSError, ValueError):
            continue
        if kind(info.st_mode) and (uid is None or info.st_uid == uid):
            return True
    return False


def _home() -> Path | None:
    try:
        return Path.home().resolve()
    except (KeyError, RuntimeError, OSError):
        return None


def locate(explicit: Path | None, *, here: Path | None = None, or_here: bool = False) -> Path:
    """The workspace a command runs on: ``explicit`` (``-C DIR``) as given, else the one
    ``here`` (default: the working directory) is in (``discover``). Finding none is a
    ``UsageError``, unless ``or_here``: then it is ``here`` (``init`` makes it one)."""
    if explicit is not None:
        return explicit
    start = (here or Path.cwd()).resolve()
    found = discover(start)
    if found is not None:
        return found
    if or_here:
        return start
    raise UsageError(
        f"no agentos workspace in {str(start)!r} or any folder above it (none holds "
        f"{STATE_DIR_NAME}/, {DEFAULT_POLICY_RELPATH} or .git); run 'agentos init' to make "
        "this folder one, or name the workspace with -C DIR"
    )


def is_workspace(root: Path) -> bool:
    """Whether ``root`` holds agentos's state or policy, or is the top of a git work tree."""
    return _holds_marker(root) or (root / ".git").exists()


# Paths that cannot have a problem: ASCII names of letters, digits, '_', '-' and '.', none
# starting with a dot (so no '.', '..', '.git' or '.agentos'), none with '~' or ':' (no 8.3 or
# stream alias), none empty, each under MAX_NAME_BYTES. Most paths of a large plan are such;
# the full check below costs several times more, and runs several times per path.
_PLAIN = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,254}(?:/[A-Za-z0-9_-][A-Za-z0-9_.-]{0,254})*")


def path_problems(raw: str) -> list[str]:
    """Everything wrong with ``raw`` as a workspace path, judged on the string alone."""
    if len(raw) <= MAX_PATH_BYTES and _PLAIN.fullmatch(raw):
        return []
    return path_problems_in_full(raw)


def path_problems_in_full(raw: str) -> list[str]:
    """``path_problems`` without its shortcut for plain paths (what the shortcut must agree
    with)."""
    problems: list[str] = []
    if not raw:
        return ["the path is empty"]
    if _CONTROL.search(raw):
        problems.append("contains a NUL, control or bidirectional-override character")
    if raw.startswith("/"):
        problems.append("is absolute")
    if _DRIVE.match(raw):
        problems.append("has a Windows drive prefix")
    if raw.startswith(("\\\\", "//")):
        problems.append("is a UNC network path")
    if "\\" in raw:
        problems.append("contains a backslash (a Windows separator)")
    parts = [p for p in raw.replace("\\", "/").split("/") if p not in ("", ".")]
    if ".." in parts:
        problems.append("contains a '..' component")
    # Each name as macOS or Windows opens it: HFS+ folds case and ignores some code points;
    # NTFS folds case, drops trailing dots and spaces, and reads "name:stream" (an alternate
    # data stream, "::$INDEX_ALLOCATION" being the directory itself) as "name". So
    # ".G\u200cIT", ".git. ", "GIT~1" and ".git::$INDEX_ALLOCATION" all reach ".git" on some
    # machine; refuse them everywhere, as git does (is_hfs_dotgit, is_ntfs_dotgit).
    folded = [HFS_IGNORABLE.sub("", p).casefold().split(":", 1)[0].rstrip(". ") for p in parts]
    if not _GIT_ALIASES.isdisjoint(folded):
        problems.append("is inside a .git directory")
    if not _STATE_ALIASES.isdisjoint(folded):
        problems.append("is inside agentos's own .agentos directory")
    if not parts:
        problems.append("names the workspace root itself")
    if any(len(p.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES for p in parts):
        problems.append(f"has a name longer than {MAX_NAME_BYTES} bytes")
    if len(raw.encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES:
        problems.append(f"is longer than {MAX_PATH_BYTES} bytes")
    return problems


def normalise_path(raw: str, *, source: str = "input") -> str:
    """``raw`` as a normalised relative POSIX path, or ``PathSafetyError`` naming the problem.

    ``./`` prefixes, repeated slashes and ``.`` components are dropped; nothing else is
    rewritten, so a path that needs more than that (``..``, absolute, backslashes) is refused.
    """
    problems = path_problems(raw)
    if problems:
        raise PathSafetyError(
            f"path-safety: {source}: path {raw!r} {'; '.join(problems)}; "
            "agentos only writes relative paths inside the workspace",
            details={"path": raw, "problems": problems, "rule": "path-safety"},
        )
    return "/".join(p for p in raw.split("/") if p not in ("", "."))


def git_head(root: Path) -> str | None:
    """The commit the workspace's git checkout is at, read from ``.git`` without running git."""
    dot_git = root / ".git"
    try:
        if dot_git.is_file():
            pointer = dot_git.read_text("utf-8").strip()
            if not pointer.startswith("gitdir:"):
                return None
            git_dir = (root / pointer[len("gitdir:") :].strip()).resolve()
        elif dot_git.is_dir():
            git_dir = dot_git
        else:
            return None
        head = (git_dir / "HEAD").read_text("utf-8").strip()
        if not head.startswith("ref:"):
            return head if re.fullmatch(r"[0-9a-f]{40,64}", head) else None
        ref = head[len("ref:") :].strip()
        common = git_dir
        commondir = git_dir / "commondir"
        if commondir.is_file():
            common = (git_dir / commondir.read_text("utf-8").strip()).resolve()
        for base in (git_dir, common):
            ref_file = base / ref
            if ref_file.is_file():
                value = ref_file.read_text("utf-8").strip()
                return value if re.fullmatch(r"[0-9a-f]{40,64}", value) else None
        packed = common / "packed-refs"
        if packed.is_file():
            for line in packed.read_text("utf-8").splitlines():
                parts = line.split(" ", 1)
                if (
                    len(parts) == 2
                    and parts[1] == ref
                    and re.fullmatch(r"[0-9a-f]{40,64}", parts[0])
                ):
                    return parts[0]
    except (OSError, UnicodeDecodeError):
        return None
    return None


def ensure_state_dir(workspace: Workspace) -> Path:
    """Create ``.agentos/`` if needed, with a ``.gitignore`` so git never tracks its contents."""
    from agentos.statefs import chmod, ensure_dir, write_atomic

    state = workspace.state_dir
    if state.is_symlink():
        # Backups hold file contents and the journal drives recovery: they must live in the
        # workspace itself, never wherever a link (perhaps from a cloned repo) points.
        raise PathSafetyError(
            f"{state} is a symlink; agentos keeps its state only in a real directory — "
            "remove the link (and check where it pointed)",
            details={"path": str(state), "rule": "path-safety"},
        )
    created = not state.exists()
    ensure_dir(state)
    if created:
        chmod(state, 0o700)  # backups copy the workspace's files, private ones included
    ignore = state / ".gitignore"
    if not ignore.exists():
        write_atomic(ignore, b"# agentos state: never committed\n*\n")
    return state
