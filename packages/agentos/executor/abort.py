"""The hard stop (SPEC §9): SIGINT, SIGTERM, ``agentos abort``, and the apply's time limit.

The executor asks ``check()`` before every file write and the health checks ask
``requested()`` while they run: an abort rolls the apply back and exits 130; running out of
``executor.constraints.max_execution_time`` is a failure like any other (rolled back, exit 1).
"""

from __future__ import annotations

import contextlib
import json
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType

from agentos.errors import AbortedError, ExecutionTimedOut
from agentos.statefs import read_bytes


class StopToken:
    """How a long-lived front-end (``agentos mcp``) stops the call it runs in a worker thread,
    where no signal handler can reach: a client that goes away, a SIGTERM to the server."""

    def __init__(self) -> None:
        self.reason: str | None = None

    def stop(self, reason: str) -> None:
        """Ask every execution the call runs to stop (it rolls back, as on a signal)."""
        if self.reason is None:
            self.reason = reason


_calls = threading.local()


@contextlib.contextmanager
def stop_token(token: StopToken) -> Iterator[None]:
    """Let ``token`` stop the executions this thread starts inside the block."""
    previous = getattr(_calls, "token", None)
    _calls.token = token
    try:
        yield
    finally:
        _calls.token = previous


class AbortWatch:
    """Whether this execution was asked to stop, or ran out of time."""

    def __init__(
        self,
        marker: Path,
        *,
        deadline: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.marker = marker
        self.deadline = deadline
        self.clock = clock
        self.reason: str | None = None
        # Taken now: health checks ask ``requested()`` from their own threads.
        self.token: StopToken | None = getattr(_calls, "token", None)

    def requested(self) -> str | None:
        """Why a stop was asked for (a signal, ``agentos abort``, the front-end), or None."""
        if self.reason is None and self.token is not None and self.token.reason is not None:
            self.reason = self.token.reason
        if self.reason is None and self.marker.exists():
            self.reason = "agentos abort" + _marker_reason(self.marker)
        return self.reason

    def check(self) -> None:
        """``AbortedError`` once a stop was asked for; ``ExecutionTimedOut`` past the limit."""
        reason = self.requested()
        if reason is not None:
            raise AbortedError(f"aborted ({reason})")
        if self.deadline is not None and self.clock() >= self.deadline:
            raise ExecutionTimedOut("the apply ran out of executor.constraints.max_execution_time")

    @contextlib.contextmanager
    def signals(self) -> Iterator[None]:
        """Turn SIGINT and SIGTERM into a stop request for the block (main thread only, and
        only when no front-end's ``StopToken`` is in force: that front-end owns the signals
        and stops the execution through its token, as ``agentos worker`` does)."""
        if threading.current_thread() is not threading.main_thread() or self.token is not None:
            yield
            return

        def handler(signum: int, _frame: FrameType | None) -> None:
            self.reason = signal.Signals(signum).name

        previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)


def _marker_reason(marker: Path) -> str:
    try:
        reason = json.loads(read_bytes(marker, limit=65536)).get("reason")
    except (OSError, ValueError, AttributeError):
        return ""
    return f": {reason}" if reason else ""
