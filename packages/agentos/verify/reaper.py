"""Reaping what health checks leave running, a daemon that called ``setsid`` included.

A command check runs in a process group of its own, and that group is killed when the check
times out or is stopped. A daemon the check starts with ``setsid`` (or a double fork) has left
the group and escapes that kill, and nothing at all is killed when a check simply exits. So on
Linux a health stage, around its checks:

- makes this process a child subreaper (``prctl(PR_SET_CHILD_SUBREAPER)``), so what the checks
  orphan is re-parented to it instead of to init and stays one of its descendants;
- takes a snapshot of its descendants (``/proc/*/stat``: pid, parent, session, start time)
  before the first check starts;
- puts a random mark, ``AGENTOS_CHECK_MARK``, in each command attempt's environment (the way
  Jenkins' ProcessTreeKiller uses ``BUILD_ID``) and, right after the attempt ends, kills the
  new descendants that carry it, so a retry never meets the daemon of the attempt before it;
- when the stage ends, kills every descendant that is new since the snapshot, lives outside
  this process's own session, and is not a check process a ``Popen`` still owns: SIGTERM, a
  short grace, SIGKILL, and ``waitpid`` for the ones that became our children, in rounds until
  no new one appears (a process may fork while it is being killed).

Every check starts a session of its own, and a process can leave its session but never join
another, so whatever other threads start with subprocess defaults (this process's session)
is never touched; nor is any process that existed before the stage (pid and start time, so a
reused pid is no disguise). Signals go through a pidfd where the kernel has them. Stages that
overlap in one process (a long-lived server) share one snapshot, and the final sweep waits
for the last of them to end.

Elsewhere — no Linux ``/proc`` (macOS, the BSDs) — none of this happens: a check's process
group is killed on a timeout or a stop, as before, and a daemon that left its group survives.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agentos.verify.proctree import (
    Identity,
    Proc,
    Table,
    descendants,
    identities,
    parse_stat,
    select_victims,
)

if TYPE_CHECKING:
    import subprocess

MARK_VARIABLE = "AGENTOS_CHECK_MARK"
PR_SET_CHILD_SUBREAPER = 36
PR_GET_CHILD_SUBREAPER = 37
TERM_GRACE_SECONDS = 0.5
KILL_GRACE_SECONDS = 2.0
POLL_SECONDS = 0.02
MAX_ROUNDS = 5
GONE_STATES = frozenset("ZXx")  # zombie or dead: nothing left to signal


# -- the edge: /proc, signals, waitpid, prctl -----------------------------------------------


def _read(path: str, limit: int = 1 << 20) -> bytes | None:
    try:
        handle = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    chunks: list[bytes] = []
    try:
        while sum(map(len, chunks)) < limit and (chunk := os.read(handle, 65536)):
            chunks.append(chunk)
    except OSError:
        return None
    finally:
        os.close(handle)
    return b"".join(chunks)


def read_status(pid: int) -> Proc | None:
    """One process's ``/proc/<pid>/stat``; None once it is gone (or off Linux)."""
    data = _read(f"/proc/{pid}/stat", 4096)
    return None if data is None else parse_stat(data)


def read_table() -> dict[int, Proc] | None:
    """Every process in ``/proc``; None where there is no Linux ``/proc``."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        names = [entry.name for entry in os.scandir("/proc") if entry.name.isdigit()]
    except OSError:
        return None
    table: dict[int, Proc] = {}
    for name in names:
        proc = read_status(int(name))
        if proc is not None:  # else it exited while we looked
            table[int(name)] = proc
    return table


def carries(pid: int, needle: bytes) -> bool:
    """True when ``needle`` (``NAME=value``) is in the environment ``pid`` started with."""
    data = _read(f"/proc/{pid}/environ")
    return data is not None and needle in data.split(b"\0")


def signal_process(pid: int, proc: Proc, sig: signal.Signals) -> None:
    """Send ``sig`` to ``pid`` if it is still the process ``proc`` describes.

    The identity is checked after a pidfd is opened, so a pid reused meanwhile is never hit;
    without pidfds (Linux < 5.3) the check is made just before ``kill``.
    """
    handle: int | None
    try:
        handle = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    except (AttributeError, OSError):
        handle = None
    try:
        now = read_status(pid)
        if now is None or now.start != proc.start:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if handle is None:
                os.kill(pid, sig)
            else:
                signal.pidfd_send_signal(handle, sig)
    finally:
        if handle is not None:
            os.close(handle)


def reap_child(pid: int) -> None:
    """Collect an adopted orphan's exit status, so it leaves no zombie behind."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def set_subreaper(on: bool) -> bool | None:
    """Set this process's child-subreaper flag; the previous value, or None if unsupported."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    previous = ctypes.c_int(0)
    zero = ctypes.c_ulong(0)
    if prctl(ctypes.c_int(PR_GET_CHILD_SUBREAPER), ctypes.byref(previous), zero, zero, zero):
        return None
    if prctl(ctypes.c_int(PR_SET_CHILD_SUBREAPER), ctypes.c_ulong(int(on)), zero, zero, zero):
        return None
    return bool(previous.value)


@dataclass(frozen=True)
class Edges:
    """How a sweep sees and touches processes (tests pass a simulated process table)."""

    read: Callable[[], Table | None] = read_table
    status: Callable[[int], Proc | None] = read_status
    send: Callable[[int, Proc, signal.Signals], None] = signal_process
    reap: Callable[[int], None] = reap_child
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic
    subreaper: Callable[[bool], bool | None] = set_subreaper


LIVE = Edges()


def sweep(select: Callable[[Table], set[int]], root: int, edges: Edges = LIVE) -> set[Identity]:
    """Kill what ``select`` picks, in rounds until it picks nothing new; who was signalled.

    A round reaps the picked zombies that are ``root``'s children, SIGTERMs the rest, waits up
    to ``TERM_GRACE_SECONDS``, SIGKILLs the survivors and waits up to ``KILL_GRACE_SECONDS``,
    reaping them as they die. The next round picks up what forked meanwhile; a process that
    survives SIGKILL (stuck in the kernel) is not signalled again.
    """
    signalled: set[Identity] = set()
    for _ in range(MAX_ROUNDS):
        table = edges.read()
        if table is None:
            break
        picked = {pid: table[pid] for pid in select(table) if pid in table}
        _reap(picked, picked, root, edges)
        live = {
            pid: proc
            for pid, proc in picked.items()
            if proc.state not in GONE_STATES and (pid, proc.start) not in signalled
        }
        if not live:
            break
        for sig, grace in (
            (signal.SIGTERM, TERM_GRACE_SECONDS),
            (signal.SIGKILL, KILL_GRACE_SECONDS),
        ):
            for pid, proc in live.items():
                edges.send(pid, proc, sig)
                signalled.add((pid, proc.start))
            live = _wait_gone(live, grace, root, edges)
            if not live:
                break
    return signalled


def _wait_gone(live: dict[int, Proc], grace: float, root: int, edges: Edges) -> dict[int, Proc]:
    """Wait up to ``grace`` for ``live`` to die, reaping our children; who is still alive."""
    deadline = edges.monotonic() + grace
    while True:
        now = {pid: edges.status(pid) for pid in live}
        current = {pid: proc for pid, proc in now.items() if proc is not None}
        _reap(current, live, root, edges)
        live = {
            pid: proc
            for pid, proc in live.items()
            if (seen := current.get(pid)) is not None
            and seen.start == proc.start
            and seen.state not in GONE_STATES
        }
        if not live or edges.monotonic() >= deadline:
            return live
        edges.sleep(POLL_SECONDS)


def _reap(current: Table, expected: Table, root: int, edges: Edges) -> None:
    """``waitpid`` the zombies among ``expected`` that are ``root``'s children (and only them)."""
    for pid, proc in expected.items():
        seen = current.get(pid)
        if (
            seen is not None
            and seen.start == proc.start
            and seen.ppid == root
            and seen.state in GONE_STATES
        ):
            edges.reap(pid)


# -- health stages --------------------------------------------------------------------------


class _Stages:
    """The health stages open in this process: one snapshot, one subreaper flag, one sweep."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.open = 0
        self.root = 0
        self.before: frozenset[Identity] | None = None  # None: no /proc here, nothing is reaped
        self.owned: set[int] = set()  # pids of check processes a Popen has not waited for
        self.commands = 0
        self.subreaper_was: bool | None = None

    def enter(self, edges: Edges) -> None:
        # The lock is held through the final sweep of a group of stages, so a stage that opens
        # meanwhile waits: the sweep must not take that stage's first checks for leftovers.
        with self.lock:
            self.open += 1
            if self.open > 1:
                return
            self.root = os.getpid()
            self.commands = 0
            self.owned.clear()
            table = edges.read()
            if table is None or self.root not in table:
                self.before = None
                return
            self.before = identities(table, descendants(table, self.root))
            # Before the first check starts: its orphans must come to us, not to init.
            self.subreaper_was = edges.subreaper(True)

    def leave(self, edges: Edges) -> None:
        with self.lock:
            self.open -= 1
            if self.open > 0 or self.before is None:
                return
            before, spared, root = self.before, frozenset(self.owned), self.root
            try:
                if self.commands:
                    sweep(
                        lambda table: select_victims(table, root, before=before, spared=spared),
                        root,
                        edges,
                    )
            finally:
                if self.subreaper_was is False:
                    edges.subreaper(False)
                self.subreaper_was = None
                self.before = None
                self.owned.clear()


_STAGES = _Stages()


@dataclass
class Attempt:
    """One command attempt of a check: the environment to start it with, and its clean-up."""

    stages: _Stages
    edges: Edges
    env: dict[str, str]
    mark: str | None

    def started(self, proc: subprocess.Popen[bytes]) -> None:
        """Note the check's own process: never ``waitpid``-ed here, its ``Popen`` does that."""
        if self.mark is not None:
            with self.stages.lock:
                self.stages.owned.add(proc.pid)

    def finished(self, proc: subprocess.Popen[bytes]) -> set[Identity]:
        """Kill and reap what this attempt left running (it carries the mark); who was hit."""
        if self.mark is None:
            return set()
        stages = self.stages
        with stages.lock:
            if proc.returncode is not None:
                stages.owned.discard(proc.pid)
            before, spared, root = stages.before, frozenset(stages.owned), stages.root
        if before is None:
            return set()
        needle = f"{MARK_VARIABLE}={self.mark}".encode()

        def select(table: Table) -> set[int]:
            return select_victims(
                table, root, before=before, spared=spared, marked=lambda pid: carries(pid, needle)
            )

        return sweep(select, root, self.edges)


class Reaper:
    """A health stage's handle: gives each command attempt its mark and cleans up after it."""

    def __init__(self, stages: _Stages, edges: Edges) -> None:
        self.stages = stages
        self.edges = edges

    @property
    def active(self) -> bool:
        """False where nothing can be reaped (no Linux ``/proc``): the group kill is all."""
        return self.stages.before is not None

    def attempt(self, env: dict[str, str]) -> Attempt:
        """A new attempt; its environment carries a fresh mark when reaping is active."""
        if not self.active:
            return Attempt(self.stages, self.edges, env, None)
        mark = os.urandom(8).hex()
        with self.stages.lock:
            self.stages.commands += 1
        return Attempt(self.stages, self.edges, {**env, MARK_VARIABLE: mark}, mark)


@contextlib.contextmanager
def reaping(edges: Edges = LIVE) -> Iterator[Reaper]:
    """A health stage: every descendant its checks leave is killed and reaped by its end.

    Linux only (see the module docstring); elsewhere the ``Reaper`` is inactive and the
    process-group kill of a timed-out or stopped check is all there is.
    """
    try:
        _STAGES.enter(edges)
        yield Reaper(_STAGES, edges)
    finally:
        _STAGES.leave(edges)


def kill_execution_leftovers(execution_id: str, edges: Edges = LIVE) -> int:
    """Kill what an interrupted execution's health checks left running (Linux).

    Checks run with ``AGENTOS_EXECUTION_ID`` in their environment. After agentos itself was
    killed during its checks, their processes may live on — and write — while the next run
    recovers; recovery calls this first, so nothing the old checks started writes after the
    rollback. Returns how many processes were signalled (0 off Linux).
    """
    needle = f"AGENTOS_EXECUTION_ID={execution_id}".encode()
    me = os.getpid()

    def select(table: Table) -> set[int]:
        return {pid for pid in table if pid != me and carries(pid, needle)}

    return len(sweep(select, me, edges))
