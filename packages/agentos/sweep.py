"""Writes that bypassed agentos: a baseline of the workspace's files, and what changed since.

The baseline (``.agentos/sweep/baseline.json``) maps every file agentos watches to its size,
modification time and SHA-256. It is taken when a turn starts (the agent hooks), by
``agentos sweep --accept``, and whenever none exists; agentos moves it forward itself for every
file it writes or records (``note_written``), so a change in the baseline's eyes is one made
outside agentos — by a shell command, an editor, a tool no hook saw.

Which files: in a git work tree, the tracked files and the untracked ones git does not ignore
(``git ls-files -co --exclude-standard``); elsewhere, every regular file under the workspace.
``.git/`` and ``.agentos/`` are never watched. A file whose size, modification and change
times and inode are those of the baseline is not read again, unless it was changed within a
second of the baseline (the racy case git's index knows too).

The last sweep's findings are kept (``last.json``) for ``agentos status`` and the hooks.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from agentos import statefs
from agentos.digest import sha256_hex
from agentos.workspace import STATE_DIR_NAME, Workspace

BASELINE_FORMAT = "agentos.baseline/1"
SWEEP_DIR = "sweep"
_RACY_NS = 1_000_000_000
_SKIPPED = frozenset({".git", STATE_DIR_NAME})

Change = Literal["created", "modified", "deleted"]
# (size, mtime_ns, ctime_ns, inode, sha256) of one file.
Stamp = tuple[int, int, int, int, str]
GitRunner = Callable[[Sequence[str], Path], bytes | None]


@dataclass(frozen=True)
class Bypass:
    """One file changed outside agentos since the baseline."""

    path: str
    change: Change

    def row(self) -> dict[str, str]:
        """The ``--json`` form."""
        return {"path": self.path, "change": self.change}


@dataclass(frozen=True)
class Baseline:
    """The files as agentos last knew them."""

    taken_at: str
    taken_ns: int
    files: Mapping[str, Stamp]


@dataclass(frozen=True)
class SweepReport:
    """What one sweep found (``baseline_taken``: there was none, so one was taken)."""

    swept_at: str
    changed: tuple[Bypass, ...]
    files: int
    baseline_at: str
    baseline_taken: bool = False

    def row(self) -> dict[str, object]:
        """The ``--json`` form."""
        return {
            "swept_at": self.swept_at,
            "changed": [b.row() for b in self.changed],
            "files": self.files,
            "baseline_at": self.baseline_at,
            "baseline_taken": self.baseline_taken,
        }


def sweep_dir(state_dir: Path) -> Path:
    """``.agentos/sweep``."""
    return state_dir / SWEEP_DIR


def run_git(args: Sequence[str], root: Path) -> bytes | None:
    """``git args`` in ``root``: its stdout, or None when git is missing or fails."""
    try:
        done = subprocess.run(  # noqa: S603 - a fixed argv, no shell
            ["git", *args],  # noqa: S607 - git from PATH, as a user runs it
            cwd=root,
            capture_output=True,
            check=False,
            timeout=120,
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"},
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def watched_files(root: Path, git: GitRunner = run_git) -> list[str]:
    """Relative paths of the files the sweep watches, sorted."""
    if (root / ".git").exists():
        listed = git(["ls-files", "-z", "-co", "--exclude-standard"], root)
        if listed is not None:
            names = {n for n in listed.decode("utf-8", "surrogateescape").split("\0") if n}
            return sorted(n for n in names if n.split("/", 1)[0] not in _SKIPPED)
    return sorted(_walk(root))


def _walk(root: Path) -> Iterator[str]:
    for folder, dirs, files in os.walk(root):
        relative = os.path.relpath(folder, root)
        if relative == ".":
            dirs[:] = [d for d in dirs if d not in _SKIPPED]
            prefix = ""
        else:
            prefix = relative.replace(os.sep, "/") + "/"
        for name in files:
            yield prefix + name


def stamp_of(path: Path, known: Stamp | None, *, racy_after_ns: int) -> Stamp | None:
    """The file's stamp (None when it is not a regular file); ``known`` is reused when the
    size, both times and the inode match (``touch -r`` cannot set the change time) and the
    file is not racily clean."""
    try:
        info = path.lstat()
    except OSError:
        return None
    if not stat.S_ISREG(info.st_mode):
        return None
    seen = (info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino)
    if (
        known is not None
        and known[:4] == seen
        and max(info.st_mtime_ns, info.st_ctime_ns) < racy_after_ns
    ):
        return known
    try:
        data = path.read_bytes()
    except OSError:
        return None
    return (len(data), info.st_mtime_ns, info.st_ctime_ns, info.st_ino, sha256_hex(data))


def scan(
    workspace: Workspace, previous: Baseline | None, *, git: GitRunner = run_git
) -> dict[str, Stamp]:
    """Every watched file's stamp now (``previous`` saves reading files it saw unchanged)."""
    root = workspace.root
    known = previous.files if previous is not None else {}
    racy = previous.taken_ns - _RACY_NS if previous is not None else 0
    stamps: dict[str, Stamp] = {}
    for name in watched_files(root, git):
        found = stamp_of(root / name, known.get(name), racy_after_ns=racy)
        if found is not None:
            stamps[name] = found
    return stamps


def compare(baseline: Baseline, now: Mapping[str, Stamp]) -> tuple[Bypass, ...]:
    """The files whose content differs from the baseline's, by path."""
    changed: list[Bypass] = []
    for path in sorted(set(baseline.files) | set(now)):
        before, after = baseline.files.get(path), now.get(path)
        if before is None and after is not None:
            changed.append(Bypass(path, "created"))
        elif after is None and before is not None:
            changed.append(Bypass(path, "deleted"))
        elif before is not None and after is not None and before[4] != after[4]:
            changed.append(Bypass(path, "modified"))
    return tuple(changed)


# -- state files --------------------------------------------------------------------------


@contextlib.contextmanager
def locked(state_dir: Path) -> Iterator[None]:
    """Serialise updates of the baseline (hooks of parallel tool calls run at once)."""
    from filelock import FileLock

    folder = sweep_dir(state_dir)
    statefs.ensure_dir(folder)
    statefs.refuse_links(folder / "lock")
    with FileLock(str(folder / "lock"), timeout=60):
        yield


def read_baseline(state_dir: Path) -> Baseline | None:
    """The baseline, or None when there is none (or it cannot be read: one is taken anew)."""
    try:
        value = json.loads(statefs.read_bytes(sweep_dir(state_dir) / "baseline.json"))
        files = {
            str(path): (int(v[0]), int(v[1]), int(v[2]), int(v[3]), str(v[4]))
            for path, v in value["files"].items()
        }
        return Baseline(str(value["taken_at"]), int(value["taken_ns"]), files)
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError):
        return None


def write_baseline(state_dir: Path, baseline: Baseline) -> None:
    """Replace the baseline."""
    body = {
        "format": BASELINE_FORMAT,
        "taken_at": baseline.taken_at,
        "taken_ns": baseline.taken_ns,
        "files": {p: list(s) for p, s in sorted(baseline.files.items())},
    }
    data = json.dumps(body, separators=(",", ":")).encode("utf-8") + b"\n"
    statefs.write_atomic(sweep_dir(state_dir) / "baseline.json", data, mode=0o600, durable=False)


def note_written(workspace: Workspace, before: Mapping[str, str | None]) -> None:
    """agentos wrote (or recorded) the paths of ``before``, each of which held the content of
    that SHA-256 (None: absent) just before: the baseline takes what they hold now — but only
    where it still held that content, so a change made outside agentos before agentos wrote
    over it is still reported."""
    state_dir = workspace.state_dir
    if not (sweep_dir(state_dir) / "baseline.json").is_file():
        return  # no baseline: nothing to move forward (and no lock file to create)
    with locked(state_dir):
        baseline = read_baseline(state_dir)
        if baseline is None:
            return
        files = dict(baseline.files)
        for path, sha in before.items():
            known = files.get(path)
            if (known[4] if known is not None else None) != sha:
                continue
            found = stamp_of(workspace.root / path, None, racy_after_ns=0)
            if found is None:
                files.pop(path, None)
            else:
                files[path] = found
        write_baseline(state_dir, Baseline(baseline.taken_at, baseline.taken_ns, files))


def save_last(state_dir: Path, report: SweepReport) -> None:
    """Keep the findings of the sweep just made (``agentos status`` shows them)."""
    data = json.dumps(report.row(), sort_keys=True).encode("utf-8") + b"\n"
    statefs.write_atomic(sweep_dir(state_dir) / "last.json", data, mode=0o600, durable=False)


def read_last(state_dir: Path) -> SweepReport | None:
    """The findings of the last sweep, or None."""
    try:
        value = json.loads(statefs.read_bytes(sweep_dir(state_dir) / "last.json"))
        changed = tuple(Bypass(str(c["path"]), c["change"]) for c in value["changed"])
        return SweepReport(
            swept_at=str(value["swept_at"]),
            changed=changed,
            files=int(value["files"]),
            baseline_at=str(value["baseline_at"]),
            baseline_taken=bool(value.get("baseline_taken", False)),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
