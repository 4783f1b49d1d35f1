"""Named fault-injection points, driven by environment variables that only tests set.

Like SQLite's test VFS: code calls ``fault_point("fsops.replace.before")`` wherever a crash or
an I/O error matters, and ``AGENTOS_FAULTS`` makes chosen points misbehave. With the variables
unset (always, outside tests) a point costs one dict lookup.

``AGENTOS_FAULTS`` is a comma-separated list of ``name=action[@hits]``:

- actions: ``crash`` (``os._exit(137)``, like a SIGKILL), ``error`` (a ``RuntimeError``, i.e.
  a bug), ``eio`` / ``enospc`` / ``eacces`` / ``eperm`` (the matching ``OSError``), ``pause``
  (write ``<name>.paused`` into ``AGENTOS_FAULTS_DIR``, else the temp directory, never the
  working directory, and wait for ``<name>.resume`` there);
- hits: none = every time the point is reached (persistent), ``@3`` = the third time only
  (once), ``@3+`` = the third time and every time after.

``AGENTOS_FAULTS_TRACE=FILE`` appends the name of every point reached to ``FILE``, one per
line, so a test can enumerate every crash state of a run.

``fs_event`` is the other hook: the only two modules that write (``executor/fsops.py`` for
workspace files, ``statefs`` for agentos's own) report each operation that changes the disk
— create, append, truncate, fsync, rename, link, unlink, mkdir, rmdir, chmod, directory
fsync — to a recorder a test installs with ``recording_fs``. The power-loss tests replay the
record to build every state that losing unsynced data allows.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

ENV_VAR = "AGENTOS_FAULTS"
TRACE_VAR = "AGENTOS_FAULTS_TRACE"
DIR_VAR = "AGENTOS_FAULTS_DIR"
CRASH_EXIT_CODE = 137
PAUSE_LIMIT_SECONDS = 120.0
_ERRNOS = {
    "eio": errno.EIO,
    "enospc": errno.ENOSPC,
    "eacces": errno.EACCES,
    "eperm": errno.EPERM,
}


@dataclass(frozen=True)
class _Fault:
    action: str
    first: int  # 1-based hit number from which the fault fires (0: every hit)
    last: int | None  # last hit that fires (None: no end)

    def fires(self, hit: int) -> bool:
        return hit >= self.first and (self.last is None or hit <= self.last)


_parsed: dict[str, dict[str, _Fault]] = {}
_hits: dict[str, int] = {}
_lock = threading.Lock()


def _faults(spec: str) -> dict[str, _Fault]:
    if spec in _parsed:
        return _parsed[spec]
    faults: dict[str, _Fault] = {}
    for item in spec.split(","):
        name, _, action = item.strip().partition("=")
        if not name:
            continue
        action, _, when = (action or "error").partition("@")
        if not when:
            faults[name] = _Fault(action, 0, None)
        elif when.endswith("+"):
            faults[name] = _Fault(action, int(when[:-1]), None)
        else:
            faults[name] = _Fault(action, int(when), int(when))
    _parsed[spec] = faults
    return faults


def fault_point(name: str) -> None:
    """Misbehave here if a test armed ``name``; otherwise do nothing."""
    if ENV_VAR not in os.environ and TRACE_VAR not in os.environ:
        return
    with _lock:
        hit = _hits[name] = _hits.get(name, 0) + 1
        trace = os.environ.get(TRACE_VAR)
        if trace:
            with Path(trace).open("a", encoding="utf-8") as handle:
                handle.write(f"{name}\n")
    fault = _faults(os.environ.get(ENV_VAR, "")).get(name)
    if fault is None or not fault.fires(hit):
        return
    action = fault.action
    if action == "crash":
        os._exit(CRASH_EXIT_CODE)
    if action == "pause":
        _pause(name)
        return
    if action in _ERRNOS:
        code = _ERRNOS[action]
        raise OSError(code, f"{os.strerror(code)} (injected at {name})")
    raise RuntimeError(f"injected fault at {name}")


def _pause(name: str) -> None:
    """Tell the test where we are, then wait until it says go on."""
    directory = Path(os.environ.get(DIR_VAR) or tempfile.gettempdir())
    (directory / f"{name}.paused").write_text(str(os.getpid()), encoding="utf-8")
    resume = directory / f"{name}.resume"
    deadline = time.monotonic() + PAUSE_LIMIT_SECONDS
    while not resume.exists() and time.monotonic() < deadline:
        time.sleep(0.01)


def reset_hits() -> None:
    """Forget how often each point was reached (for tests that fork)."""
    _hits.clear()


FsRecorder = Callable[[str, tuple[object, ...]], None]
_recorder: FsRecorder | None = None


def fs_event(kind: str, *args: object) -> None:
    """Report one disk-changing operation to the installed recorder (tests only)."""
    recorder = _recorder
    if recorder is not None:
        with _lock:
            recorder(kind, args)


@contextlib.contextmanager
def recording_fs(recorder: FsRecorder) -> Iterator[None]:
    """Send every ``fs_event`` of this process to ``recorder`` for the block."""
    global _recorder  # noqa: PLW0603 - one process-wide hook, like the fault registry
    previous, _recorder = _recorder, recorder
    try:
        yield
    finally:
        _recorder = previous
