"""Long output through a pager on a terminal, as git does (``show --diff``).

The pager is ``AGENTOS_PAGER``, else ``PAGER``, else ``less -FRX`` (quit at once when the text
fits the screen, keep colours, leave the text on the screen). An empty value or ``cat`` means
no pager. The value is split like a shell command line (``shlex``) and run without a shell.
Only the human output of a command on a terminal is paged: never ``--json`` (whose renderer
this is not) nor output into a file or a pipe. A pager that cannot be started (not
installed) falls back to printing. The process runner is injected (tests give a fake one).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from agentos.cli.render import HumanRenderer

if TYPE_CHECKING:
    from rich.console import Console

DEFAULT_PAGER = "less -FRX"
PAGER_VARIABLES = ("AGENTOS_PAGER", "PAGER")
# Runs the pager (argv, the text, its environment) until the user quits it; ``OSError`` when
# it cannot be started.
PagerRunner = Callable[[Sequence[str], bytes, Mapping[str, str]], None]


def pager_argv(env: Mapping[str, str]) -> list[str] | None:
    """The pager's command line, or None for no pager (an empty value, ``cat``, or one that
    does not split)."""
    raw = next((env[name] for name in PAGER_VARIABLES if name in env), DEFAULT_PAGER)
    try:
        argv = shlex.split(raw)
    except ValueError:
        return None
    return None if not argv or argv == ["cat"] else argv


def run_pager(argv: Sequence[str], data: bytes, env: Mapping[str, str]) -> None:
    """Run ``argv`` with ``data`` on its stdin and wait until the user quits it."""
    import subprocess

    process = subprocess.Popen(  # noqa: S603 - the user's own pager, no shell
        list(argv), stdin=subprocess.PIPE, env=dict(env)
    )
    try:
        if process.stdin is not None:
            # The pager may quit before it has read everything.
            with contextlib.suppress(BrokenPipeError):
                process.stdin.write(data)
            with contextlib.suppress(BrokenPipeError):
                process.stdin.close()
    finally:
        while True:
            try:
                process.wait()
                break
            except KeyboardInterrupt:
                continue  # Ctrl-C is the pager's to handle (less ignores it), as under git


def paged(
    render: HumanRenderer,
    *,
    runner: PagerRunner = run_pager,
    env: Mapping[str, str] | None = None,
    is_terminal: Callable[[], bool] | None = None,
) -> HumanRenderer:
    """``render``, through the pager when stdout is a terminal and a pager is set."""

    def human(out: Console) -> None:
        environ = os.environ if env is None else env
        argv = pager_argv(environ)
        terminal = sys.stdout.isatty() if is_terminal is None else is_terminal()
        if argv is None or not terminal:
            render(out)
            return
        with out.capture() as captured:
            render(out)
        text = captured.get()
        # As git: less shows colours and quits on a short text even when only PAGER=less.
        child = {**environ, "LESS": environ.get("LESS", "FRX"), "LV": environ.get("LV", "-c")}
        try:
            runner(argv, text.encode("utf-8", "replace"), child)
        except OSError:
            out.file.write(text)
            out.file.flush()

    return human
