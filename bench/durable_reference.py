"""The durable-write references: B2's (the writes an apply of many files must do), and M2's
(exactly the writes, renames and fsyncs an apply made, recorded and replayed).

For every file: copy the pre-image to a backup and fsync it; write the new content to a temp
file in the same directory, fsync, rename over the file, fsync the directory. Run as
``python bench/durable_reference.py WORKSPACE BACKUP_DIR``; it rewrites each ``*.txt`` file
under WORKSPACE/src the way the benchmark's plan does ("old" -> "new").
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from pathlib import Path


def rewrite(path: Path, backups: Path) -> None:
    """The durable writes of one file's change: the pre-image backed up and fsynced, the new
    content written to a temp file, fsynced, renamed over the file, the directory fsynced."""
    data = path.read_bytes()
    fd = os.open(backups / path.name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, data)
    os.fsync(fd)
    os.close(fd)
    temp = path.with_name(path.name + ".tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, data.replace(b" old", b" new"))
    os.fsync(fd)
    os.close(fd)
    temp.replace(path)
    sync_dir(path.parent)


def sync_dir(directory: Path) -> None:
    dfd = os.open(directory, os.O_RDONLY)
    os.fsync(dfd)
    os.close(dfd)


Op = tuple[str, tuple[object, ...]]


def record(fn: Callable[[], object]) -> list[Op]:
    """Every disk-changing operation ``fn`` makes through agentos (its fs_event hook)."""
    from agentos.faults import recording_fs

    ops: list[Op] = []
    with recording_fs(lambda kind, args: ops.append((kind, args))):
        fn()
    return ops


def replay(ops: list[Op], source: Path, target: Path) -> None:
    """Make exactly the recorded writes, renames and fsyncs again, under ``target`` instead of
    ``source``: the durable I/O of an apply without any of agentos's own work (plain ``os``
    calls on strings, so the reference carries no overhead of its own)."""

    def at(path: object) -> str:
        return str(target / Path(str(path)).relative_to(source))

    for kind, args in ops:
        if kind in ("create", "append"):
            flags = os.O_WRONLY | os.O_CREAT
            flags |= os.O_TRUNC if kind == "create" else os.O_APPEND
            mode = int(str(args[2])) if kind == "create" else 0o644
            fd = os.open(at(args[0]), flags, mode)
            os.write(fd, bytes(args[1]))  # type: ignore[call-overload]
            os.close(fd)
        elif kind in ("fsync", "fsync_dir"):
            fd = os.open(at(args[0]), os.O_RDONLY)
            os.fsync(fd)
            os.close(fd)
        elif kind == "rename":
            os.replace(at(args[0]), at(args[1]))  # noqa: PTH105
        elif kind == "link":
            os.link(at(args[0]), at(args[1]))
        elif kind == "unlink":
            with contextlib.suppress(FileNotFoundError):
                os.unlink(at(args[0]))  # noqa: PTH108
        elif kind == "mkdir":
            os.makedirs(at(args[0]), exist_ok=True)  # noqa: PTH103
        elif kind == "rmdir":
            os.rmdir(at(args[0]))  # noqa: PTH106
        elif kind == "chmod":
            os.chmod(at(args[0]), int(str(args[1])))  # noqa: PTH101
        elif kind == "truncate":
            os.truncate(at(args[0]), int(str(args[1])))
        else:
            raise ValueError(f"cannot replay {kind}")


def main() -> int:
    root, backups = Path(sys.argv[1]), Path(sys.argv[2])
    backups.mkdir(parents=True, exist_ok=True)
    for directory, _, names in os.walk(root / "src"):
        for name in names:
            rewrite(Path(directory) / name, backups)
    sync_dir(backups)
    return 0


if __name__ == "__main__":
    sys.exit(main())
