"""The only code that writes workspace files — and it refuses, on its own, what it must not do.

Every operation walks to its directory with ``O_NOFOLLOW`` directory descriptors from the
workspace root, so no symlink anywhere on the way is ever followed, even one swapped in after
the gate looked; then it checks the path against the workspace's rules (path-safety,
``executor.allowed_paths``, ``writegate.forbidden_paths``) before touching anything. A caller
that skipped the gate still cannot write outside those rules (SPEC §1, defense in depth).

Writes follow the protocol that survives a crash at any instant: a temp file in the target
directory, written and fsynced, chmod, ``os.replace`` over the target, and an fsync of the
directory so the rename itself is durable. Temp names are deterministic per execution and
path, so recovery can find and remove any a crash left behind. Fsyncs of many files are
issued from a thread pool: the kernel overlaps them, and an fsync error is never retried
(after a failed fsync the page cache may already have dropped the data).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from agentos.digest import sha256_hex
from agentos.errors import WriteRefusedError
from agentos.faults import fault_point, fs_event
from agentos.patterns import PathPatterns
from agentos.workspace import path_problems

FSYNC_THREADS = 16
T = TypeVar("T")
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


@dataclass(frozen=True)
class Guard:
    """What the writer may touch: ``allowed`` patterns, minus ``forbidden`` ones."""

    allowed: tuple[str, ...]
    forbidden: tuple[str, ...]


@dataclass(frozen=True)
class FileState:
    """A regular file's bytes and permission bits as found on disk."""

    data: bytes
    mode: int  # st_mode & 0o7777

    @property
    def sha256(self) -> str:
        """The hash that pins these bytes."""
        return sha256_hex(self.data)


class WorkspaceWriter:
    """Writes inside one workspace under one guard; ``tag`` names this execution's temp files."""

    def __init__(
        self,
        root: Path,
        guard: Guard,
        *,
        tag: str,
        durable: bool = True,
        also: Guard | None = None,
    ) -> None:
        self.root = root
        self.guard = guard
        self.tag = tag
        self.durable = durable
        self.made_dirs: set[str] = set()
        # Every guard must allow a path: the current policy's and, for a rollback, the rules
        # its journal recorded (a policy loosened since can never widen what is restored).
        self._rules = [
            (PathPatterns(g.allowed), PathPatterns(g.forbidden, fold_case=True))
            for g in (guard, also)
            if g is not None
        ]
        # Paths that passed ``check``: the rules never change, and every file is checked at
        # each of its steps (read, temp write, fsync, rename).
        self._passed: set[str] = set()

    # -- the guard -----------------------------------------------------------------------

    def check(self, rel: str) -> None:
        """``WriteRefusedError`` unless ``rel`` is a path this writer may touch."""
        if rel in self._passed:
            return
        problems = path_problems(rel)
        if problems:
            self._refuse(rel, "; ".join(problems))
        for allowed, forbidden in self._rules:
            if not allowed.matches(rel):
                self._refuse(rel, "it is outside executor.allowed_paths")
            pattern = forbidden.first_match(rel)
            if pattern is not None:
                self._refuse(rel, f"it matches forbidden path {pattern!r}")
        self._passed.add(rel)

    def _refuse(self, rel: str, why: str) -> None:
        raise WriteRefusedError(
            f"refused to write {rel!r}: {why} (the file-writing layer enforces the policy on "
            "its own; this change did not come through the WriteGate)",
            details={"path": rel, "reason": why},
        )

    @contextlib.contextmanager
    def _parent(
        self, rel: str, *, create: bool = False, directory: bool = False
    ) -> Iterator[tuple[int, str]]:
        """An ``O_NOFOLLOW`` descriptor of ``rel``'s directory, and its last name.

        A file is checked against every rule; a ``directory`` (only ever an empty one this
        writer made or emptied, to be removed) against path-safety alone.
        """
        if directory:
            problems = path_problems(rel)
            if problems:
                self._refuse(rel, "; ".join(problems))
        else:
            self.check(rel)
        parts = rel.split("/")
        fd = os.open(self.root, _DIR_FLAGS)
        try:
            for index, part in enumerate(parts[:-1]):
                try:
                    child = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        raise
                    fault_point("fsops.mkdir.before")
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(part, 0o777, dir_fd=fd)
                        made = self.root / "/".join(parts[: index + 1])
                        fs_event("mkdir", made, stat.S_IMODE(os.stat(part, dir_fd=fd).st_mode))
                    fault_point("fsops.mkdir.after")
                    # Made durable with the rest, by fsync_dirs (its parent is fsynced there).
                    self.made_dirs.add("/".join(parts[: index + 1]))
                    child = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except OSError as exc:
                    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                        where = "/".join(parts[: index + 1])
                        self._refuse(rel, f"{where} is a symlink or not a directory")
                    raise
                os.close(fd)
                fd = child
            yield fd, parts[-1]
        except OSError as exc:
            # Operations on directory descriptors only know the last name; say which path.
            exc.filename = rel
            raise
        finally:
            os.close(fd)

    # -- reading ---------------------------------------------------------------------------

    def read(self, rel: str) -> FileState | None:
        """The regular file at ``rel`` (None when absent); a symlink or non-file is refused."""
        try:
            with self._parent(rel) as (dirfd, name):
                try:
                    # Non-blocking, so that a FIFO put there cannot hang us before fstat says
                    # it is not a regular file.
                    fd = os.open(name, os.O_RDONLY | _NOFOLLOW | os.O_NONBLOCK, dir_fd=dirfd)
                except FileNotFoundError:
                    return None
                except OSError as exc:
                    if exc.errno == errno.ELOOP:
                        self._refuse(rel, "it is a symlink")
                    raise
                try:
                    info = os.fstat(fd)
                    if not stat.S_ISREG(info.st_mode):
                        self._refuse(rel, "it is not a regular file")
                    with os.fdopen(fd, "rb", closefd=False) as handle:
                        data = handle.read()
                finally:
                    os.close(fd)
                return FileState(data, stat.S_IMODE(info.st_mode))
        except FileNotFoundError:
            return None
        except NotADirectoryError:
            return None

    def exists(self, rel: str) -> bool:
        """True when anything (file, directory, link) is at ``rel``."""
        try:
            with self._parent(rel) as (dirfd, name):
                os.lstat(name, dir_fd=dirfd)
                return True
        except (FileNotFoundError, NotADirectoryError):
            return False

    def entries(self, rel: str) -> list[tuple[str, bool]]:
        """The names in the directory ``rel`` and whether each is a directory (not a link)."""
        try:
            with self._parent(rel, directory=True) as (dirfd, name):
                fd = os.open(name, _DIR_FLAGS, dir_fd=dirfd)
                try:
                    with os.scandir(fd) as listing:
                        return sorted(
                            (item.name, item.is_dir(follow_symlinks=False)) for item in listing
                        )
                finally:
                    os.close(fd)
        except (FileNotFoundError, NotADirectoryError):
            return []

    def is_real_dir(self, rel: str) -> bool:
        """True when ``rel`` is a directory (not a link to one), reached without links."""
        try:
            with self._parent(rel, directory=True) as (dirfd, name):
                return stat.S_ISDIR(os.lstat(name, dir_fd=dirfd).st_mode)
        except (FileNotFoundError, NotADirectoryError, WriteRefusedError):
            return False

    def move_out(self, rel: str, target: Path) -> bool:
        """Move whatever is at ``rel`` (a directory, link, FIFO or file) to ``target`` outside
        the workspace tree (agentos's state directory), without following it; False if gone."""
        self.check(rel)
        with self._parent(rel) as (dirfd, name):
            fault_point("fsops.unlink.before")
            try:
                os.rename(name, target, src_dir_fd=dirfd)
            except FileNotFoundError:
                return False
            fs_event("rename", self.root / rel, target)
            fault_point("fsops.unlink.after")
            return True

    def missing_dirs(self, rel: str) -> list[str]:
        """The leading directories of ``rel`` that do not exist yet, outermost first."""
        parts = rel.split("/")
        missing: list[str] = []
        for end in range(1, len(parts)):
            prefix = "/".join(parts[:end])
            if not missing:
                try:
                    if stat.S_ISDIR(os.lstat(self.root / prefix).st_mode):
                        continue
                except FileNotFoundError:
                    pass
            missing.append(prefix)
        return missing

    # -- writing ---------------------------------------------------------------------------

    def temp_name(self, rel: str, phase: str) -> str:
        """The deterministic temp file name for ``rel`` in this execution and phase."""
        return f".agentos-{self.tag}-{phase}-{sha256_hex(rel.encode())[:16]}.tmp"

    def _temp_path(self, rel: str, phase: str) -> Path:
        return (self.root / rel).parent / self.temp_name(rel, phase)

    def write_temp(self, rel: str, data: bytes, mode: int, *, phase: str = "w") -> None:
        """Write ``data`` to ``rel``'s temp file (created with its parents), chmod, no fsync."""
        with self._parent(rel, create=True) as (dirfd, _name):
            temp = self.temp_name(rel, phase)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp, dir_fd=dirfd)
                fs_event("unlink", self._temp_path(rel, phase))
            fault_point("fsops.write.before")
            fd = os.open(
                temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600, dir_fd=dirfd
            )
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fchmod(fd, mode)
            finally:
                os.close(fd)
            fs_event("create", self._temp_path(rel, phase), data, mode)
            fault_point("fsops.write.after")

    def fsync_temps(self, rels: Iterable[str], *, phase: str = "w") -> None:
        """Fsync the temp files of ``rels`` (in parallel); a failure is raised, not retried."""
        if not self.durable:
            return
        self._parallel(self._fsync_temp, [(rel, phase) for rel in rels])

    def _fsync_temp(self, item: tuple[str, str]) -> None:
        rel, phase = item
        with self._parent(rel) as (dirfd, _name):
            fd = os.open(self.temp_name(rel, phase), os.O_RDONLY | _NOFOLLOW, dir_fd=dirfd)
            try:
                self._fsync_fd(fd)
            finally:
                os.close(fd)
            fs_event("fsync", self._temp_path(rel, phase))

    def replace(self, rel: str, *, phase: str = "w") -> None:
        """Move ``rel``'s temp file over ``rel`` atomically (refusing a symlink target)."""
        with self._parent(rel) as (dirfd, name):
            with contextlib.suppress(FileNotFoundError):
                if stat.S_ISLNK(os.lstat(name, dir_fd=dirfd).st_mode):
                    self._refuse(rel, "it is a symlink")
            fault_point("fsops.replace.before")
            os.replace(self.temp_name(rel, phase), name, src_dir_fd=dirfd, dst_dir_fd=dirfd)
            fs_event("rename", self._temp_path(rel, phase), self.root / rel)
            fault_point("fsops.replace.after")

    def write_whole(self, rel: str, data: bytes, mode: int) -> None:
        """Create or replace the one file ``rel`` on its own, crash-safely: temp file, fsync,
        rename, fsync of its directory (the temp file is removed if a step fails). For a file
        written outside an execution, such as an agent's settings."""
        try:
            self.write_temp(rel, data, mode)
            self.fsync_temps([rel])
            self.replace(rel)
        except BaseException:
            with contextlib.suppress(OSError, WriteRefusedError):
                self.remove_temp(rel, "w")
            raise
        self.fsync_dirs([rel])

    def unlink(self, rel: str) -> bool:
        """Remove the file at ``rel``; False when it was already gone."""
        with self._parent(rel) as (dirfd, name):
            try:
                if stat.S_ISLNK(os.lstat(name, dir_fd=dirfd).st_mode):
                    self._refuse(rel, "it is a symlink")
            except FileNotFoundError:
                return False
            fault_point("fsops.unlink.before")
            try:
                os.unlink(name, dir_fd=dirfd)
            except FileNotFoundError:
                return False
            fs_event("unlink", self.root / rel)
            fault_point("fsops.unlink.after")
            return True

    def remove_temp(self, rel: str, phase: str) -> bool:
        """Remove a temp file a crash may have left for ``rel``; True if there was one."""
        try:
            with self._parent(rel) as (dirfd, _name):
                os.unlink(self.temp_name(rel, phase), dir_fd=dirfd)
                fs_event("unlink", self._temp_path(rel, phase))
                return True
        except (FileNotFoundError, NotADirectoryError):
            return False

    def rmdir(self, rel: str) -> bool:
        """Remove the directory ``rel`` if it is empty; True when it is gone."""
        try:
            with self._parent(rel, directory=True) as (dirfd, name):
                if not stat.S_ISDIR(os.lstat(name, dir_fd=dirfd).st_mode):
                    return False
                fault_point("fsops.rmdir.before")
                os.rmdir(name, dir_fd=dirfd)
                fs_event("rmdir", self.root / rel)
                fault_point("fsops.rmdir.after")
                return True
        except (FileNotFoundError, NotADirectoryError):
            return True
        except OSError as exc:
            if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                return False
            raise

    def chmod_dir(self, rel: str, mode: int) -> None:
        """Give the directory ``rel`` the permission bits ``mode`` (if it is there)."""
        try:
            with self._parent(rel, directory=True) as (dirfd, name):
                fd = os.open(name, _DIR_FLAGS, dir_fd=dirfd)
                try:
                    if stat.S_IMODE(os.fstat(fd).st_mode) != mode:
                        fault_point("fsops.chmod.before")
                        os.fchmod(fd, mode)
                        fs_event("chmod", self.root / rel, mode)
                        fault_point("fsops.chmod.after")
                finally:
                    os.close(fd)
        except (FileNotFoundError, NotADirectoryError):
            return

    def dir_mode(self, rel: str) -> int | None:
        """The permission bits of the directory ``rel`` (None if it is not one)."""
        try:
            info = os.lstat(self.root / rel)
        except OSError:
            return None
        return stat.S_IMODE(info.st_mode) if stat.S_ISDIR(info.st_mode) else None

    def fsync_files(self, rels: Iterable[str]) -> None:
        """Fsync the regular files at ``rels`` that exist (in parallel)."""
        if not self.durable:
            return
        self._parallel(self._fsync_file, list(rels))

    def _fsync_file(self, rel: str) -> None:
        try:
            with self._parent(rel) as (dirfd, name):
                fd = os.open(name, os.O_RDONLY | _NOFOLLOW | os.O_NONBLOCK, dir_fd=dirfd)
                try:
                    if stat.S_ISREG(os.fstat(fd).st_mode):
                        self._fsync_fd(fd)
                        fs_event("fsync", self.root / rel)
                finally:
                    os.close(fd)
        except (FileNotFoundError, NotADirectoryError):
            return

    def fsync_dirs(self, rels: Iterable[str]) -> None:
        """Fsync the directories holding ``rels`` (each once, in parallel)."""
        if not self.durable:
            return
        made = self.made_dirs
        parents = sorted({rel.rpartition("/")[0] for rel in [*rels, *made]} | made)
        self._parallel(self._fsync_dir, parents)

    def _fsync_dir(self, rel_dir: str) -> None:
        try:
            fd = os.open(self.root / rel_dir if rel_dir else self.root, _DIR_FLAGS)
        except FileNotFoundError:
            return  # removed by this same operation (a directory rollback took away)
        try:
            self._fsync_fd(fd)
        finally:
            os.close(fd)
        fs_event("fsync_dir", self.root / rel_dir if rel_dir else self.root)

    def _fsync_fd(self, fd: int) -> None:
        fault_point("fsops.fsync.before")
        os.fsync(fd)
        fault_point("fsops.fsync.after")

    @staticmethod
    def _parallel(fn: Callable[[T], None], items: list[T]) -> None:
        if len(items) <= 1:
            for item in items:
                fn(item)
            return
        with ThreadPoolExecutor(min(FSYNC_THREADS, len(items))) as pool:
            for future in [pool.submit(fn, item) for item in items]:
                future.result()
