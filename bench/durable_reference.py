"""B2's reference: only the durable writes an apply of the same change must do, nothing else.

For every file: copy the pre-image to a backup and fsync it; write the new content to a temp
file in the same directory, fsync, rename over the file, fsync the directory. Run as
``python bench/durable_reference.py WORKSPACE BACKUP_DIR``; it rewrites each ``*.txt`` file
under WORKSPACE/src the way the benchmark's plan does ("old" -> "new").
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def rewrite(path: Path, backups: Path, new: bytes | None = None) -> None:
    """The durable writes of one file's change: the pre-image backed up and fsynced, the new
    content written to a temp file, fsynced, renamed over the file, the directory fsynced."""
    data = path.read_bytes()
    fd = os.open(backups / path.name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, data)
    os.fsync(fd)
    os.close(fd)
    temp = path.with_name(path.name + ".tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, data.replace(b" old", b" new") if new is None else new)
    os.fsync(fd)
    os.close(fd)
    temp.replace(path)
    dfd = os.open(path.parent, os.O_RDONLY)
    os.fsync(dfd)
    os.close(dfd)


def sync_dir(directory: Path) -> None:
    dfd = os.open(directory, os.O_RDONLY)
    os.fsync(dfd)
    os.close(dfd)


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
