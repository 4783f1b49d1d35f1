"""Progress on stderr while ``apply`` or ``rollback`` runs (SPEC §3): a bar while a big plan's
files are written, and a spinner line per running health check with its name and elapsed
time. Only on a terminal: none with ``--json`` or ``-q``, or when stderr is not a terminal.

The executor prints nothing; it calls the callbacks given here through the pipeline's
context, from the checks' threads too. The display is one ``rich.live.Live``, started at the
first call, so an apply with few files and no checks draws nothing; rich is imported then.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agentos.cli.context import GlobalOptions

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.live import Live
    from rich.spinner import Spinner

    from agentos.pipeline.context import Progress
    from agentos.verify.health import CheckProgress

# Plans smaller than this finish before a progress bar would be worth drawing.
PROGRESS_MIN_FILES = 100
REFRESH_PER_SECOND = 8


@dataclass(frozen=True)
class Callbacks:
    """What the pipeline is given: None where nothing is to be shown."""

    files: Progress | None = None
    checks: CheckProgress | None = None


def shows_progress(opts: GlobalOptions) -> bool:
    """Whether progress is drawn: a terminal on stderr, no ``--json``, no ``-q``."""
    return not (opts.json or opts.quiet) and sys.stderr.isatty()


@contextlib.contextmanager
def apply_progress(opts: GlobalOptions, files: int = 0) -> Iterator[Callbacks]:
    """The callbacks for an apply of plans of up to ``files`` files (a rollback: 0); the
    display is taken down when the block ends."""
    if not shows_progress(opts):
        yield Callbacks()
        return
    from agentos.cli.render import console

    display = Display(console(stderr=True))
    try:
        yield Callbacks(display.written if files >= PROGRESS_MIN_FILES else None, display.check)
    finally:
        display.stop()


class Display:
    """What is running now, drawn by rich at each refresh (so the elapsed times move)."""

    def __init__(self, out: Console, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._out = out
        self._clock = clock
        self._lock = threading.Lock()
        self._live: Live | None = None
        self._writes: tuple[int, int] | None = None
        # check name -> (when it started, its current attempt)
        self._checks: dict[str, tuple[float, int]] = {}
        self._spinners: dict[str, Spinner] = {}

    def written(self, done: int, total: int) -> None:
        """Files written so far (``Progress``)."""
        with self._lock:
            self._writes = (done, total)
        self._start()

    def check(self, name: str, state: str, attempt: int) -> None:
        """A health check runs (``state`` "running") or ended (``CheckProgress``)."""
        with self._lock:
            if state == "running":
                started = self._checks.get(name, (self._clock(), 0))[0]
                self._checks[name] = (started, attempt)
            else:
                self._checks.pop(name, None)
        self._start()

    def lines(self) -> list[str]:
        """The text of each line: the writes, then each running check."""
        return [text for _, text in self._entries()]

    def _entries(self) -> list[tuple[str, str]]:
        now = self._clock()
        with self._lock:
            writes = self._writes
            checks = sorted(self._checks.items())
        shown = []
        if writes is not None and writes[0] < writes[1]:
            shown.append(("", f"writing {writes[0]}/{writes[1]} files"))
        for name, (started, attempt) in checks:
            again = f" (attempt {attempt})" if attempt > 1 else ""
            shown.append((name, f"health check {name}{again}  {now - started:.1f}s"))
        return shown

    def __rich__(self) -> RenderableType:
        from rich.console import Group
        from rich.progress_bar import ProgressBar
        from rich.spinner import Spinner
        from rich.table import Table

        rows: list[RenderableType] = []
        for key, text in self._entries():
            # One spinner per line, kept: a new one would start its animation again.
            spinner = self._spinners.get(key)
            if spinner is None:
                spinner = self._spinners[key] = Spinner("dots")
            spinner.update(text=text)
            writes = self._writes
            if key or writes is None:
                rows.append(spinner)
                continue
            bar = Table.grid(padding=(0, 1))
            bar.add_row(spinner, ProgressBar(total=writes[1], completed=writes[0], width=40))
            rows.append(bar)
        return Group(*rows)

    def _start(self) -> None:
        with self._lock:
            if self._live is not None:
                return
            from rich.live import Live

            # stdout stays the command's own (its result); stray stderr lines print above.
            self._live = Live(
                self,
                console=self._out,
                transient=True,
                refresh_per_second=REFRESH_PER_SECOND,
                redirect_stdout=False,
            )
            self._live.start()

    def stop(self) -> None:
        """Take the display down (it leaves nothing behind on the terminal)."""
        with self._lock:
            live, self._live = self._live, None
        if live is not None:
            live.stop()
