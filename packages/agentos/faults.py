"""Named fault-injection points, driven by an environment variable that only tests set.

Like SQLite's test VFS: code calls ``fault_point("plan.before_write")`` at the places where a
crash or an I/O error matters, and ``AGENTOS_FAULTS="plan.before_write=crash"`` makes that point
misbehave. With the variable unset (always, outside tests) a point costs one dict lookup.

Actions: ``crash`` (``os._exit(137)``, like a SIGKILL), ``error`` (a ``RuntimeError``, i.e. a
bug), ``eio`` / ``enospc`` / ``eacces`` / ``eperm`` (the matching ``OSError``).
"""

from __future__ import annotations

import errno
import os

ENV_VAR = "AGENTOS_FAULTS"
CRASH_EXIT_CODE = 137
_ERRNOS = {
    "eio": errno.EIO,
    "enospc": errno.ENOSPC,
    "eacces": errno.EACCES,
    "eperm": errno.EPERM,
}


def _armed() -> dict[str, str]:
    spec = os.environ.get(ENV_VAR, "")
    points: dict[str, str] = {}
    for item in spec.split(","):
        name, _, action = item.strip().partition("=")
        if name:
            points[name] = action or "error"
    return points


def fault_point(name: str) -> None:
    """Misbehave here if a test armed ``name``; otherwise do nothing."""
    if ENV_VAR not in os.environ:
        return
    action = _armed().get(name)
    if action is None:
        return
    if action == "crash":
        os._exit(CRASH_EXIT_CODE)
    if action in _ERRNOS:
        code = _ERRNOS[action]
        raise OSError(code, f"{os.strerror(code)} (injected at {name})")
    raise RuntimeError(f"injected fault at {name}")
