"""The permission bits agentos gives the files it writes, as git gives them (pure, but for
reading the process umask)."""

from __future__ import annotations

import os
from pathlib import Path


def current_umask() -> int:
    """The process umask (read without changing it where /proc allows)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def permission_bits(executable: bool, existing: int | None, umask: int) -> int:
    """Permissions for a written file, as git gives them.

    A new file gets ``0o666`` (``0o777`` if executable) less the umask; an existing file
    keeps its bits, with the execute bits set where it is readable, or all cleared.
    """
    if existing is None:
        return (0o777 if executable else 0o666) & ~umask
    if executable:
        return existing | ((existing & 0o444) >> 2) | 0o100
    return existing & ~0o111
