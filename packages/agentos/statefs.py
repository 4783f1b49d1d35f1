"""Durable writes of agentos's own files (``.agentos/`` state, plans, audit) — never workspace
files.

Workspace files are written only by the executor; this module serves ``.agentos/`` state and
output files the user names (``plan -o``). A file is replaced atomically: a temp file in the
same directory is written and fsynced, then renamed over the target, then the directory is
fsynced so the rename itself survives a crash.

Every operation that changes the disk reports itself to ``faults.fs_event`` (a no-op outside
tests), like ``executor/fsops.py`` does for workspace files: the power-loss tests replay that
record to build every on-disk state a power cut could leave.

Inside a state directory (``.agentos``) no link is ever followed: whoever writes the
workspace can put a symlink at ``.agentos/backups`` or ``.agentos/audit/audit.jsonl``, and
agentos must not then delete, overwrite or append to whatever it points at. Every operation
on a path under ``.agentos`` first checks that no component from ``.agentos`` down is a
symlink (``StateIntegrityError``, exit 6, naming it), and state files are read only when
they are regular files (a FIFO put there cannot hang agentos while it holds the lock).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, TypeVar

from agentos.errors import StateIntegrityError
from agentos.faults import fault_point, fs_event

if TYPE_CHECKING:
    import sqlite3
    from datetime import datetime

T = TypeVar("T")

STATE_DIR_NAME = ".agentos"
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
# A state file larger than this was not written by agentos (journals of the largest plans and
# the audit trail are read otherwise): refuse it rather than read it into memory.
MAX_STATE_FILE_BYTES = 1 << 30


def refuse_links(path: Path) -> None:
    """``StateIntegrityError`` when ``path`` lies in a state directory and it, or a directory
    between the state directory and it, is a symlink (or the state directory itself is)."""
    parts = path.parts
    if STATE_DIR_NAME not in parts:
        return
    start = len(parts) - 1 - parts[::-1].index(STATE_DIR_NAME)
    # Strings, not Paths: every state file operation passes here, several times.
    current = os.path.join("", *parts[:start])  # noqa: PTH118 - see above
    for part in parts[start:]:
        current = os.path.join(current, part)  # noqa: PTH118
        try:
            if stat.S_ISLNK(os.lstat(current).st_mode):
                raise StateIntegrityError(
                    f"{current} is a symlink inside agentos's state directory; agentos never "
                    "follows links there (one could point anywhere) — remove the link, and "
                    "check where it pointed",
                    details={"path": str(current)},
                )
        except FileNotFoundError:
            return


def open_read(path: Path) -> BinaryIO:
    """A state file opened for reading: never through a link, only a regular file."""
    refuse_links(path)
    fd = os.open(path, _READ_FLAGS)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise _refused(path, "not a regular file")
    return os.fdopen(fd, "rb")


def read_bytes(path: Path, *, limit: int = MAX_STATE_FILE_BYTES, private: bool = False) -> bytes:
    """A state file's bytes: never through a link, only from a regular file, at most
    ``limit`` bytes (``FileNotFoundError`` when it is absent); ``private``: only from a file
    this user owns and no one else may read or write."""
    refuse_links(path)
    try:
        fd = os.open(path, _READ_FLAGS)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            refuse_links(path)  # raced into a link: say so
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _refused(path, "not a regular file")
        if private and (info.st_uid != os.geteuid() or info.st_mode & 0o077):
            raise StateIntegrityError(
                f"{path} is readable or writable by other users (mode "
                f"{stat.S_IMODE(info.st_mode):04o}, owner uid {info.st_uid}); the secret in "
                "it may be known — remove it to have a new one made",
                details={"path": str(path)},
            )
        if info.st_size > limit:
            raise _refused(path, "too large")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            # Sized by the file: a read of ``limit`` bytes reserves that much (1 GiB) up front.
            data = handle.read(min(info.st_size, limit) + 1)
            while len(data) <= limit and (more := handle.read(1 << 16)):
                data += more  # it grew since fstat
            return data[: limit + 1]
    finally:
        os.close(fd)


def _refused(path: Path, what: str) -> StateIntegrityError:
    return StateIntegrityError(
        f"{path} is {what}; agentos never writes that in its state directory — remove it",
        details={"path": str(path)},
    )


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
    refuse_links(directory)
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
    refuse_links(path)
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
    refuse_links(path)
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


def write_files(
    folder: Path,
    files: Mapping[str, bytes],
    *,
    durable: bool,
    keep: Callable[[Path, str], bool],
    faults: str,
    mode: int = 0o600,
) -> None:
    """Create ``folder``'s files (name -> data), then fsync them together from a thread pool,
    then the folder. A file already there is kept when ``keep(path, name)`` says it is whole,
    else replaced. ``faults`` names the fault points (``<faults>.write.before`` ...). No
    files, no folder: nothing is created (or fsynced) for them."""
    if not files:
        return
    ensure_dir(folder)
    written: list[Path] = []
    for name, data in files.items():
        target = folder / name
        fault_point(f"{faults}.write.before")
        try:
            if keep(target, name):
                written.append(target)
                continue
            unlink(target)
        except FileNotFoundError:
            pass
        write_new(target, data, mode=mode)
        fault_point(f"{faults}.write.after")
        written.append(target)
    if not durable or not written:
        return

    def sync(path: Path) -> None:
        fault_point(f"{faults}.fsync.before")
        fsync_file(path)
        fault_point(f"{faults}.fsync.after")

    if len(written) == 1:
        sync(written[0])
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(min(16, len(written))) as pool:
            for future in [pool.submit(sync, path) for path in written]:
                future.result()
    fault_point(f"{faults}.fsync.before")
    fsync_dir(folder)
    fault_point(f"{faults}.fsync.after")


def write_new(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Create ``path`` (which must not exist) with ``data``; not fsynced (``fsync_file``)."""
    refuse_links(path)
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
    refuse_links(path)
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


def write_secret(path: Path, data: bytes, *, replace: bool) -> None:
    """Write a secret (a bearer token) that no other user may read, not even for a moment.

    Its bytes go to a temp file that ``mkstemp`` creates ``0600`` (``O_CREAT | O_EXCL``),
    then it is linked in whole (``replace=False``: ``FileExistsError`` when ``path`` exists,
    so of two concurrent creators one wins) or renamed over ``path`` (``replace=True``). Its
    folder is made ``0700`` when this creates it. Read it back with ``read_bytes(path,
    private=True)``, which refuses it when another user owns it or may read or write it.
    """
    ensure_private_dir(path.parent)
    if replace:
        write_atomic(path, data, mode=0o600)
    else:
        link_new(path, data, mode=0o600)


def append(path: Path, data: bytes, *, durable: bool) -> None:
    """Append ``data`` to ``path`` (created if missing) in one write; fsync when durable."""
    refuse_links(path)
    existed = path.exists()
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, 0o644)
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


def update_database(path: Path, update: Callable[[sqlite3.Connection], T], *, durable: bool) -> T:
    """Run ``update`` in one committed write transaction of the SQLite file ``path`` (made if
    missing): all of it or none, for readers and crashes alike; never through a link."""
    import sqlite3

    refuse_links(path)
    refuse_links(path.with_name(path.name + "-journal"))
    connection = sqlite3.connect(path, timeout=10.0, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=DELETE")
        connection.execute(f"PRAGMA synchronous={'FULL' if durable else 'OFF'}")
        connection.execute("BEGIN IMMEDIATE")
        result = update(connection)  # an exception: close() rolls the transaction back
        connection.execute("COMMIT")
        return result
    finally:
        connection.close()


def truncate(path: Path, size: int, *, durable: bool) -> None:
    """Cut ``path`` to ``size`` bytes (an interrupted append's torn tail)."""
    refuse_links(path)
    with path.open("r+b") as handle:
        handle.truncate(size)
        fs_event("truncate", path, size)
        if durable:
            os.fsync(handle.fileno())
            fs_event("fsync", path)


def rename(source: Path, target: Path) -> None:
    """Move ``source`` over ``target`` atomically (not yet durable: ``fsync_dir`` both)."""
    refuse_links(source)
    refuse_links(target.parent)
    source.replace(target)
    fs_event("rename", source, target)


def unlink(path: Path, *, missing_ok: bool = False) -> bool:
    """Remove the file ``path``; False when it was not there (and ``missing_ok``)."""
    refuse_links(path.parent)
    try:
        path.unlink()
    except FileNotFoundError:
        if missing_ok:
            return False
        raise
    fs_event("unlink", path)
    return True


def remove_tree(path: Path) -> None:
    """Remove the directory ``path`` and everything in it (whatever can be removed), never
    through a link."""
    refuse_links(path.parent)
    if path.is_symlink():
        unlink(path)
        return
    if not path.is_dir():
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
    if path.exists() and not path.is_symlink():  # best effort for what was not removable
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


def save_log(state_dir: Path, name: str, text: str) -> Path:
    """Write a diagnostic log to ``<state_dir>/logs/<name>`` (never through a link)."""
    path = state_dir / "logs" / name
    write_atomic(path, text.encode("utf-8"), mode=0o600, durable=False)
    return path


def save_traceback(root: Path, exc: BaseException, *, at: datetime, header: str = "") -> Path:
    """Keep the traceback of ``exc`` (a bug), under ``header``, in ``<root>/.agentos/logs/``
    (or, when that cannot be written, in the temp directory) and return where;
    ``Path("(unsaved)")`` if neither can."""
    import traceback

    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    if header:
        text = f"{header}\n\n{text}"
    name = f"agentos-internal-{at.strftime('%Y%m%dT%H%M%SZ')}-{os.getpid()}.log"
    try:
        return save_log(root / STATE_DIR_NAME, name, text)
    except (OSError, StateIntegrityError):
        pass
    try:
        path = Path(tempfile.gettempdir()) / name
        write_atomic(path, text.encode("utf-8"), mode=0o600, durable=False)
    except OSError:
        return Path("(unsaved)")
    return path
