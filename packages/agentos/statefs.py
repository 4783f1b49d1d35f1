"""Durable writes of agentos's own files (plans, audit HEAD, logs) — never workspace files.

Workspace files are written only by the executor; this module serves ``.agentos/`` state and
output files the user names (``plan -o``). A file is replaced atomically: a temp file in the
same directory is written and fsynced, then renamed over the target, then the directory is
fsynced so the rename itself survives a crash.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def fsync_dir(directory: Path) -> None:
    """Make a rename or creation inside ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def ensure_dir(directory: Path) -> None:
    """Create ``directory`` and its parents if needed (durably for the new entries)."""
    missing: list[Path] = []
    current = directory
    while not current.exists():
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):
            path.mkdir()
        fsync_dir(path.parent)


def write_atomic(
    path: Path, data: bytes, *, mode: int = 0o644, durable: bool = True, sync_dir: bool = True
) -> None:
    """Replace ``path`` with ``data`` so readers see the old or the new file, never a mix."""
    ensure_dir(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fchmod(fd, mode)
        if durable:
            os.fsync(fd)
        os.close(fd)
        fd = -1
        Path(tmp).replace(path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            Path(tmp).unlink()
        raise
    if durable and sync_dir:
        fsync_dir(path.parent)


def ensure_private_dir(directory: Path) -> None:
    """Create ``directory`` (and parents) if needed; the directory itself is made 0700."""
    created = not directory.exists()
    ensure_dir(directory)
    if created:
        directory.chmod(0o700)


def link_new(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Create ``path`` with ``data`` whole, or raise ``FileExistsError`` if it exists.

    The bytes are written and fsynced under a temp name, then hard-linked to ``path`` (which
    never replaces), so a reader sees no file or the whole file, and of two concurrent
    creators exactly one wins.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fchmod(fd, mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.link(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            Path(tmp).unlink()
    fsync_dir(path.parent)
