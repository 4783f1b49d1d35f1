"""The planner's view of files: the workspace as it is (``Baseline``) and will be (``Overlay``).

Inputs are applied one after another to an ``Overlay``; nothing touches the disk but reads.
At the end ``Overlay.changes`` turns the difference between the two views into the plan's
create / modify / delete / rename operations, each pinned to the pre-image it was planned on.
``PlanLimits`` says how large the inputs and the files they make may grow; the overlay keeps
the new contents of one plan within them.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from agentos.digest import sha256_hex
from agentos.errors import ConflictError, InputTooLargeError, PathSafetyError, UnsupportedFileError
from agentos.model import (
    MODE_EXECUTABLE,
    MODE_REGULAR,
    Content,
    CreateChange,
    DeleteChange,
    FileChange,
    FileMode,
    ModifyChange,
    RenameChange,
)
from agentos.textlines import line_count

Kind = Literal["file", "dir", "missing"]

MAX_FILE_KEY = "writegate.content.max_file_bytes"
MAX_FILES_KEY = "executor.constraints.max_files_touched"


def file_too_large(
    source: str, path: str, *, what: str, size: int, limit: int, note: str = ""
) -> InputTooLargeError:
    """The refusal of a file larger than ``max_file_bytes``, naming input, path and key."""
    return InputTooLargeError(
        f"{source}: {path}: {what} {size} bytes, more than {MAX_FILE_KEY} ({limit}){note}; "
        "nothing was planned",
        details={"input": source, "path": path, "bytes": size, "limit": limit, "key": MAX_FILE_KEY},
    )


@dataclass(frozen=True)
class PlanLimits:
    """How large inputs, and the files they make, may grow while planning: plain values.

    The CLI fills them from the policy (``writegate.content.max_file_bytes`` and
    ``max_input_bytes``, ``executor.constraints.max_files_touched``); the defaults are the
    policy's defaults, so other callers get the same bounds.
    """

    max_file_bytes: int = 1_048_576
    max_input_bytes: int = 67_108_864
    max_files_touched: int = 50

    @property
    def max_plan_bytes(self) -> int:
        """The most new content one plan can hold and still pass the WriteGate's constraints
        (no more files than ``max_files_touched``, none larger than ``max_file_bytes``)."""
        return self.max_files_touched * self.max_file_bytes

    def check_file(self, size: int, *, source: str, path: str, what: str) -> None:
        """``InputTooLargeError`` when a file of ``size`` bytes would break ``max_file_bytes``;
        ``what`` opens the sentence, e.g. "the result would be"."""
        if size > self.max_file_bytes:
            raise file_too_large(source, path, what=what, size=size, limit=self.max_file_bytes)

    def encode(self, text: str, *, source: str, path: str, what: str) -> bytes:
        """``text`` as UTF-8, refused when larger than ``max_file_bytes`` (before it is
        encoded when its length already says so: every character is at least one byte)."""
        self.check_file(len(text), source=source, path=path, what=f"{what} at least")
        data = text.encode("utf-8")
        self.check_file(len(data), source=source, path=path, what=what)
        return data

    def check_plan(self, size: int, *, source: str, path: str) -> None:
        """``InputTooLargeError`` when the new contents of a plan would exceed
        ``max_plan_bytes`` once ``path`` holds its new contents."""
        if size > self.max_plan_bytes:
            raise InputTooLargeError(
                f"{source}: {path}: the plan's new contents would reach {size} bytes, more than "
                f"{MAX_FILES_KEY} ({self.max_files_touched}) files of {MAX_FILE_KEY} "
                f"({self.max_file_bytes}) could hold; nothing was planned",
                details={
                    "input": source,
                    "path": path,
                    "bytes": size,
                    "limit": self.max_plan_bytes,
                    "key": MAX_FILES_KEY,
                },
            )


@dataclass(frozen=True)
class FileState:
    """A regular file's bytes and git-style mode."""

    content: bytes
    mode: FileMode

    def sha256(self) -> str:
        """The hash that pins this state in a plan."""
        return sha256_hex(self.content)


class Baseline:
    """Read-only, cached access to the workspace's regular files, refusing links and devices."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._files: dict[str, FileState | None] = {}
        self._kinds: dict[str, Kind] = {}

    def prefetch(self, paths: Iterable[str]) -> None:
        """A hint that ``paths`` are about to be read: a baseline that reads them from
        elsewhere (``gitbaseline.GitBaseline``) fetches them at once; the disk is read on
        demand."""

    def kind(self, path: str) -> Kind:
        """What ``path`` is on disk; a path under a file counts as missing."""
        if path in self._kinds:
            return self._kinds[path]
        parent, _, _ = path.rpartition("/")
        if parent and self.kind(parent) != "dir":
            kind: Kind = "missing"
        else:
            kind = self._lstat_kind(path)
        self._kinds[path] = kind
        return kind

    def _lstat_kind(self, path: str) -> Kind:
        try:
            info = os.lstat(self.root / path)
        except FileNotFoundError:
            return "missing"
        except OSError as exc:
            if exc.errno in (errno.ENOTDIR, errno.ENAMETOOLONG):
                return "missing"
            raise
        if stat.S_ISLNK(info.st_mode):
            self._refuse_symlink(path)
        if stat.S_ISDIR(info.st_mode):
            return "dir"
        if stat.S_ISREG(info.st_mode):
            return "file"
        raise UnsupportedFileError(
            f"{path}: is a device, FIFO or socket; agentos only changes regular files",
            details={"path": path},
        )

    def _refuse_symlink(self, path: str) -> None:
        raise PathSafetyError(
            f"path-safety: {path} is a symbolic link; agentos never writes through links "
            "(a symlink could point outside the workspace)",
            details={"path": path, "rule": "path-safety", "problems": ["is a symlink"]},
        )

    def get(self, path: str) -> FileState | None:
        """The file at ``path`` (None when absent); ``ConflictError`` if it is a directory."""
        if path in self._files:
            return self._files[path]
        kind = self.kind(path)
        state: FileState | None = None
        if kind == "file":
            state = self._read(path)
        self._files[path] = state
        return state

    def _read(self, path: str) -> FileState:
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(self.root / path, flags)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                self._refuse_symlink(path)
            raise
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise UnsupportedFileError(f"{path}: is not a regular file", details={"path": path})
            chunks = []
            while chunk := os.read(fd, 1 << 20):
                chunks.append(chunk)
        finally:
            os.close(fd)
        mode = MODE_EXECUTABLE if info.st_mode & stat.S_IXUSR else MODE_REGULAR
        return FileState(b"".join(chunks), mode)


@dataclass
class _Entry:
    state: FileState | None  # None: deleted
    origin: str | None  # the baseline path whose file this continues (renames), if any
    added: int = 0
    removed: int = 0


class Overlay:
    """The workspace as the inputs so far would leave it, within ``limits``."""

    def __init__(self, baseline: Baseline, limits: PlanLimits | None = None) -> None:
        self.baseline = baseline
        self.limits = limits if limits is not None else PlanLimits()
        self._entries: dict[str, _Entry] = {}
        self._created_dirs: set[str] = set()
        # The bytes of every new content held, so no sequence of inputs makes it unbounded.
        self._held = 0

    def get(self, path: str) -> FileState | None:
        """The file at ``path`` after the changes so far (None when absent)."""
        entry = self._entries.get(path)
        if entry is not None:
            return entry.state
        return self.baseline.get(path)

    def is_dir(self, path: str) -> bool:
        """True when ``path`` is a directory on disk or holds files created so far."""
        return path in self._created_dirs or self.baseline.kind(path) == "dir"

    def origin(self, path: str) -> str | None:
        """The baseline path whose file ``path`` continues, for rename detection."""
        entry = self._entries.get(path)
        if entry is not None:
            return entry.origin
        return path if self.baseline.get(path) is not None else None

    def counts(self, path: str) -> tuple[int, int]:
        """Lines added and removed at ``path`` by the changes so far."""
        entry = self._entries.get(path)
        return (entry.added, entry.removed) if entry is not None else (0, 0)

    def check_writable(self, path: str, *, what: str) -> None:
        """``ConflictError`` when ``path`` cannot hold a file (a directory, or under a file)."""
        if self.is_dir(path):
            raise ConflictError(
                f"{what}: {path} is a directory; a file cannot replace it in one changeset",
                details={"path": path},
            )
        parts = path.split("/")
        for end in range(1, len(parts)):
            prefix = "/".join(parts[:end])
            entry = self._entries.get(prefix)
            if entry is not None and entry.state is not None:
                # The same changeset made ``prefix`` a file: the gate's path-safety rule.
                raise PathSafetyError(
                    f"path-safety: {what}: {path} lies under {prefix}, which this same "
                    "changeset writes as a file; a file cannot be a directory",
                    details={"path": path, "blocking": prefix, "rule": "path-safety"},
                )
            if self.get(prefix) is not None or self.baseline.kind(prefix) == "file":
                raise ConflictError(
                    f"{what}: cannot create {path} because {prefix} is a file; "
                    "replacing a file by a directory needs two plans",
                    details={"path": path, "blocking": prefix},
                )

    def write(
        self,
        path: str,
        state: FileState,
        *,
        origin: str | None,
        added: int,
        removed: int,
        what: str,
    ) -> None:
        """Give ``path`` new contents; line counts add to what earlier inputs did there.

        ``what`` names the input (and the place in it) for messages; ``InputTooLargeError``
        when the plan's new contents would grow past ``limits.max_plan_bytes``.
        """
        self.check_writable(path, what=what)
        held = self._held - self._size(path) + len(state.content)
        self.limits.check_plan(held, source=what, path=path)
        self._held = held
        prev_added, prev_removed = self.counts(path)
        self._entries[path] = _Entry(state, origin, prev_added + added, prev_removed + removed)
        parts = path.split("/")
        self._created_dirs.update("/".join(parts[:end]) for end in range(1, len(parts)))

    def delete(self, path: str) -> None:
        """Remove the file at ``path`` (the caller checked it exists)."""
        self._held -= self._size(path)
        self._entries[path] = _Entry(None, None)

    def _size(self, path: str) -> int:
        """The bytes of new content held for ``path`` (0 when it has none)."""
        entry = self._entries.get(path)
        return len(entry.state.content) if entry is not None and entry.state is not None else 0

    def changes(self) -> tuple[list[FileChange], dict[str, tuple[int, int]]]:
        """The net operations from the baseline to this overlay, sorted by path, with counts."""
        baseline = self.baseline
        changes: list[FileChange] = []
        counts: dict[str, tuple[int, int]] = {}
        consumed: set[str] = set()
        for path in sorted(self._entries):
            entry = self._entries[path]
            state = entry.state
            if state is None:
                continue
            content = Content.from_bytes(state.content)
            before = baseline.get(path) if baseline.kind(path) == "file" else None
            source = entry.origin
            if (
                source is not None
                and source != path
                and before is None
                and source not in consumed
                and self.get(source) is None
                and (old := baseline.get(source)) is not None
            ):
                consumed.add(source)
                changes.append(
                    RenameChange(
                        op="rename",
                        from_path=source,
                        path=path,
                        old_sha256=old.sha256(),
                        mode=state.mode,
                        content=content,
                        sha256=state.sha256(),
                    )
                )
                counts[path] = (entry.added, entry.removed)
            elif before is not None:
                if before == state:
                    continue
                changes.append(
                    ModifyChange(
                        op="modify",
                        path=path,
                        old_sha256=before.sha256(),
                        mode=state.mode,
                        content=content,
                        sha256=state.sha256(),
                    )
                )
                counts[path] = (entry.added, entry.removed)
            else:
                changes.append(
                    CreateChange(
                        op="create",
                        path=path,
                        mode=state.mode,
                        content=content,
                        sha256=state.sha256(),
                    )
                )
                counts[path] = (line_count(state.content), 0)
        for path in sorted(self._entries):
            if self._entries[path].state is not None or path in consumed:
                continue
            before = baseline.get(path) if baseline.kind(path) == "file" else None
            if before is None:
                continue
            changes.append(DeleteChange(op="delete", path=path, old_sha256=before.sha256()))
            counts[path] = (0, line_count(before.content))
        changes.sort(key=lambda change: change.path)
        return changes, counts
