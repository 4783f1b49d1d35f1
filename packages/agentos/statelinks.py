"""Keeping a state file under a second name: ``statefs``'s companion for archives.

``audit repair`` keeps the broken trail's files in an archive folder before the trail is
replaced. A hard link gives the archive the very bytes (no copy of a large trail, and no
moment when they exist nowhere but in a half-written copy); where the file system has no hard
links, the bytes are copied and fsynced. Like ``statefs``, it never goes through a link and
reports each change to ``faults.fs_event``.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from agentos import statefs
from agentos.faults import fs_event

# The errors of a file system (or a platform) that cannot hard-link: copy instead.
_NO_LINKS = frozenset(
    {errno.EPERM, errno.EXDEV, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS}
)


def keep_as(source: Path, target: Path) -> None:
    """Give ``target`` (which must not exist) the bytes of ``source``, which stays where it
    is: a hard link, else a fsynced copy. Durable once ``fsync_dir(target.parent)``."""
    statefs.refuse_links(source)
    statefs.refuse_links(target)
    try:
        os.link(source, target, follow_symlinks=False)
    except OSError as exc:
        if exc.errno not in _NO_LINKS:
            raise
    else:
        fs_event("link", source, target)
        return
    mode = source.stat().st_mode & 0o777
    statefs.write_new(target, statefs.read_bytes(source), mode=mode)
    statefs.fsync_file(target)
