"""The workspace lock: one execution (or recovery) at a time per repository (SPEC §8.1).

A kernel lock (``filelock.FileLock`` on ``.agentos/lock``) that the OS releases when its
holder dies, so a crashed agentos never leaves the workspace locked. The lock file itself is
never deleted (deleting it would let two processes lock two different files). Who holds it is
written beside it, in ``.agentos/lock.holder.json``, for ``status`` and for the message of
whoever waits.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

from agentos.clock import Clock, rfc3339, system_clock
from agentos.errors import BusyError
from agentos.statefs import ensure_dir, read_bytes, refuse_links, unlink, write_atomic
from agentos.workspace import Workspace

LOCK_NAME = "lock"
HOLDER_NAME = "lock.holder.json"


def read_holder(workspace: Workspace) -> dict[str, Any] | None:
    """What the lock's holder wrote about itself (None when nothing is recorded)."""
    try:
        value = json.loads(read_bytes(workspace.state_dir / HOLDER_NAME, limit=65536))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def describe_holder(holder: dict[str, Any] | None) -> str:
    """``execution X of plan P (pid 12, host h, since T)`` for messages."""
    if not holder:
        return "another agentos process"
    what = holder.get("execution_id") or holder.get("operation") or "an operation"
    plan = f" of plan {holder['plan_id']}" if holder.get("plan_id") else ""
    return (
        f"{what}{plan} (pid {holder.get('pid')}, host {holder.get('host')}, "
        f"since {holder.get('since')})"
    )


def lock_is_held(workspace: Workspace) -> bool:
    """True when a live process holds the workspace lock (judged from its holder record,
    without touching the lock itself, so asking never makes anyone wait)."""
    holder = read_holder(workspace)
    if not holder or holder.get("host") != socket.gethostname():
        return bool(holder)
    try:
        pid = int(holder.get("pid", 0))
        if pid <= 0:
            return False
        os.kill(pid, 0)
    except (ProcessLookupError, ValueError, TypeError):
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def workspace_lock(
    workspace: Workspace,
    *,
    timeout: float,
    holder: dict[str, Any],
    on_wait: Callable[[str], None] | None = None,
    clock: Clock = system_clock,
) -> Iterator[None]:
    """Hold the workspace lock for the block; ``BusyError`` (exit 75) after ``timeout`` s."""
    from filelock import FileLock, Timeout

    ensure_dir(workspace.state_dir)
    refuse_links(workspace.state_dir / LOCK_NAME)  # a planted link is named, not followed
    lock = FileLock(str(workspace.state_dir / LOCK_NAME), timeout=timeout)
    started = time.monotonic()
    try:
        try:
            lock.acquire(timeout=0)
        except Timeout:
            if on_wait is not None:
                holder_now = describe_holder(read_holder(workspace))
                on_wait(f"waiting for the workspace lock held by {holder_now}")
            lock.acquire(timeout=max(0.0, timeout - (time.monotonic() - started)))
    except Timeout:
        raise BusyError(
            f"{workspace.state_dir / LOCK_NAME}: the workspace is locked by "
            f"{describe_holder(read_holder(workspace))} and stayed locked for {timeout:g}s; "
            "retry when it is done (or raise --lock-timeout)",
            details={"holder": read_holder(workspace), "timeout": timeout},
        ) from None
    try:
        record = {
            **holder,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": rfc3339(clock()),
        }
        write_atomic(
            workspace.state_dir / HOLDER_NAME,
            json.dumps(record, sort_keys=True).encode("utf-8"),
            durable=False,
        )
        yield
    finally:
        with contextlib.suppress(OSError):
            unlink(workspace.state_dir / HOLDER_NAME)
        lock.release()
