"""Durable writes of agentos's own files (``.agentos/`` state, plans, audit) — never workspace
files.

Workspace files are written only by the executor; this module serves ``.agentos/`` state and
output files the user names (``plan -o``). A file is replaced atomically: a temp file in the
same directory is written and fsynced, then renamed over the target, then the directory is
fsynced so the rename itself survives a crash.

Every operation that changes the disk reports itself to ``faults.fs_event`` (a no-op outside
tests), like ``executor/fsops.py`` does for workspace files: the power-loss tests replay that
record to build every on-disk state a power cut could leave.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from agentos.faults import fs_event


def fsync_dir(directory: Path) -> None:
    """Make a rename or creation inside ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    fs_event("fsync_dir", directory)


def fsync_file(path: Path) -> None:
    """Make a file's bytes and mode durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    fs_event("fsync", path)


def ensure_dir(directory: Path) -> None:
    """Create ``directory`` and its parents if needed (durably for the new entries)."""
    missing: list[Path] = []
    current = directory
    while not current.exists():
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        try:
            path.mkdir()
        except FileExistsError:
            pass
        else:
            fs_event("mkdir", path, _dir_mode(path))
        fsync_dir(path.parent)


def ensure_private_dir(directory: Path) -> None:
    """Create ``directory`` (and parents) if needed; the directory itself is made 0700."""
    created = not directory.exists()
    ensure_dir(directory)
    if created:
        chmod(directory, 0o700)


def chmod(path: Path, mode: int) -> None:
    """Give ``path`` the permission bits ``mode``."""
    path.chmod(mode)
    fs_event("chmod", path, mode)


def _write_fd(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def write_atomic(
    path: Path, data: bytes, *, mode: int = 0o644, durable: bool = True, sync_dir: bool = True
) -> None:
    """Replace ``path`` with ``data`` so readers see the old or the new file, never a mix."""
    ensure_dir(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        _write_fd(fd, data)
        os.fchmod(fd, mode)
        fs_event("create", Path(tmp), data, mode)
        if durable:
            os.fsync(fd)
            fs_event("fsync", Path(tmp))
        os.close(fd)
        fd = -1
        Path(tmp).replace(path)
        fs_event("rename", Path(tmp), path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            Path(tmp).unlink()
            fs_event("unlink", Path(tmp))
        raise
    if durable and sync_dir:
        fsync_dir(path.parent)


def write_new(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Create ``path`` (which must not exist) with ``data``; not fsynced (``fsync_file``)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        _write_fd(fd, data)
    finally:
        os.close(fd)
        fs_event("create", path, data, mode)


def link_new(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Create ``path`` with ``data`` whole, or raise ``FileExistsError`` if it exists.

    The bytes are written and fsynced under a temp name, then hard-linked to ``path`` (which
    never replaces), so a reader sees no file or the whole file, and of two concurrent
    creators exactly one wins.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        try:
            _write_fd(fd, data)
            os.fchmod(fd, mode)
            fs_event("create", Path(tmp), data, mode)
            os.fsync(fd)
            fs_event("fsync", Path(tmp))
        finally:
            os.close(fd)
        os.link(tmp, path)
        fs_event("link", Path(tmp), path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            Path(tmp).unlink()
            fs_event("unlink", Path(tmp))
    fsync_dir(path.parent)


def append(path: Path, data: bytes, *, durable: bool) -> None:
    """Append ``data`` to ``path`` (created if missing) in one write; fsync when durable."""
    existed = path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        if not existed:
            fs_event("create", path, b"", 0o644)
        _write_fd(fd, data)
        fs_event("append", path, data)
        if durable:
            os.fsync(fd)
            fs_event("fsync", path)
    finally:
        os.close(fd)


def truncate(path: Path, size: int, *, durable: bool) -> None:
    """Cut ``path`` to ``size`` bytes (an interrupted append's torn tail)."""
    with path.open("r+b") as handle:
        handle.truncate(size)
        fs_event("truncate", path, size)
        if durable:
            os.fsync(handle.fileno())
            fs_event("fsync", path)


def rename(source: Path, target: Path) -> None:
    """Move ``source`` over ``target`` atomically (not yet durable: ``fsync_dir`` both)."""
    source.replace(target)
    fs_event("rename", source, target)


def unlink(path: Path, *, missing_ok: bool = False) -> bool:
    """Remove the file ``path``; False when it was not there (and ``missing_ok``)."""
    try:
        path.unlink()
    except FileNotFoundError:
        if missing_ok:
            return False
        raise
    fs_event("unlink", path)
    return True


def remove_tree(path: Path) -> None:
    """Remove the directory ``path`` and everything in it (whatever can be removed)."""
    if not path.is_dir() or path.is_symlink():
        return
    for dirpath, dirnames, filenames in os.walk(path, topdown=False):
        for name in filenames:
            with contextlib.suppress(OSError):
                unlink(Path(dirpath) / name)
        for name in dirnames:
            with contextlib.suppress(OSError):
                _rmdir(Path(dirpath) / name)
    with contextlib.suppress(OSError):
        _rmdir(path)
    if path.exists():  # something was not removable; the rest is best effort as before
        shutil.rmtree(path, ignore_errors=True)


def _rmdir(path: Path) -> None:
    if path.is_symlink():
        unlink(path)
        return
    path.rmdir()
    fs_event("rmdir", path)


def _dir_mode(path: Path) -> int:
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        return 0o755
