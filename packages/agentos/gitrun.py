"""Running git: one runner, one fixed configuration, one way of saying what went wrong.

Plans from git (``plan --git`` / ``--staged``) read git's plumbing; ``apply --commit`` /
``--index`` stage and commit. Both run git as a subprocess through an injected ``GitRunner``
(``run_git`` is the real one), so that tests can give a fake one. Whatever the user's or the
repository's configuration says, every command runs with no pager, no colour, no optional
locks (nothing refreshes the index behind the user's back), literal pathspecs (a path named
``*.py`` is that file, not a glob) and no prompt. What one use needs beyond that — the diff
settings of a plan's diff, how names are quoted — it passes as ``config``. No command runs
for ever (``GIT_TIMEOUT``), and one whose output may be huge is read only up to a ``limit``.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

from agentos.errors import UsageError

# Options given before every git command (see the module's docstring).
FIXED_OPTIONS: tuple[str, ...] = ("--no-pager", "-c", "color.ui=never")
# The same for git and whatever it starts (hooks, filters); a command may override one of
# them through ``env`` (check-ignore refuses literal pathspecs), which an option would forbid.
FIXED_ENV: Mapping[str, str] = {
    "GIT_LITERAL_PATHSPECS": "1",
    "GIT_OPTIONAL_LOCKS": "0",
    "GIT_TERMINAL_PROMPT": "0",
}
# A commit of a very large change (or a slow LFS filter) may take minutes; never forever.
GIT_TIMEOUT = 900.0
# Path arguments per command line, in bytes: far below any system's ARG_MAX.
ARGS_PER_CALL = 64 * 1024
_READ_CHUNK = 1 << 20


@dataclass(frozen=True)
class GitOutput:
    """What one git command gave: its exit code, its output and its error output.
    ``overflow``: the output was longer than the ``limit`` asked for (and cut there)."""

    returncode: int
    stdout: bytes
    stderr: bytes
    overflow: bool = False

    def reason(self) -> str:
        """Git's own reason for a failure on one line: its last ``fatal:`` or ``error:``
        line, else what it said (its hints left out), else its exit code."""
        lines = [line.strip() for line in self.stderr.decode("utf-8", "replace").splitlines()]
        lines = [line for line in lines if line and not line.startswith("hint:")]
        for line in reversed(lines):
            if line.startswith(("fatal:", "error:")):
                return line.split(":", 1)[1].strip()
        return " ".join(" ".join(lines).split()) or f"exit status {self.returncode}"

    def paths(self) -> list[str]:
        """Standard output as NUL-separated paths (``-z``: never quoted)."""
        return [p for p in self.stdout.decode("utf-8", "surrogateescape").split("\0") if p]


class GitRunner(Protocol):
    """Runs ``git <FIXED_OPTIONS> <-c config...> <args>`` in ``cwd``, feeding it ``stdin``,
    with ``env`` added to ``FIXED_ENV``; reads no more than ``limit`` + 1 bytes of its output
    when a ``limit`` is given. ``FileNotFoundError`` when git is not installed."""

    def __call__(
        self,
        args: Sequence[str],
        *,
        cwd: Path,
        stdin: bytes = b"",
        env: Mapping[str, str] | None = None,
        config: Sequence[str] = (),
        limit: int | None = None,
    ) -> GitOutput: ...


def run_git(
    args: Sequence[str],
    *,
    cwd: Path,
    stdin: bytes = b"",
    env: Mapping[str, str] | None = None,
    config: Sequence[str] = (),
    limit: int | None = None,
) -> GitOutput:
    """The real ``GitRunner``: the installed git as a subprocess. A command still running
    after ``GIT_TIMEOUT`` is stopped and fails (exit status -1, saying so)."""
    import shutil

    program = shutil.which("git")
    if program is None:
        raise FileNotFoundError("git")
    settings = [word for setting in config for word in ("-c", setting)]
    argv = [program, *FIXED_OPTIONS, *settings, *args]
    environ = {**os.environ, **FIXED_ENV, **(env or {})}
    try:
        if limit is not None:
            return _run_bounded(argv, cwd=cwd, stdin=stdin, env=environ, limit=limit)
        done = subprocess.run(  # noqa: S603 - a fixed program, our own arguments, no shell
            argv, cwd=cwd, input=stdin, capture_output=True, check=False,
            timeout=GIT_TIMEOUT, env=environ,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return GitOutput(-1, b"", f"git {args[0]} did not finish in {GIT_TIMEOUT:g}s".encode())
    return GitOutput(done.returncode, done.stdout, done.stderr)


def _run_bounded(
    argv: list[str], *, cwd: Path, stdin: bytes, env: Mapping[str, str], limit: int
) -> GitOutput:
    """``argv``'s output up to ``limit`` + 1 bytes; a longer one is cut and git stopped, so an
    enormous diff is never read whole. Its error output goes to a file, and its input is fed
    from a thread: a pipe nobody serves could fill and stall git."""
    import tempfile
    import threading

    expired = threading.Event()
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(  # noqa: S603 - a fixed program, our own arguments, no shell
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=errors,
        )

        def stop() -> None:
            expired.set()
            proc.kill()

        timer = threading.Timer(GIT_TIMEOUT, stop)
        timer.start()
        feeder = threading.Thread(target=_feed, args=(proc.stdin, stdin), daemon=True)
        feeder.start()
        chunks: list[bytes] = []
        left = limit + 1
        try:
            if proc.stdout is not None:
                while left > 0 and (chunk := proc.stdout.read(min(left, _READ_CHUNK))):
                    chunks.append(chunk)
                    left -= len(chunk)
            if left <= 0:
                proc.kill()
            if proc.stdout is not None:
                proc.stdout.close()
            code = proc.wait()
        finally:
            timer.cancel()
        feeder.join()
        if expired.is_set():
            raise subprocess.TimeoutExpired(argv, GIT_TIMEOUT)
        errors.seek(0)
        return GitOutput(code, b"".join(chunks), errors.read(), overflow=left <= 0)


def _feed(pipe: IO[bytes] | None, data: bytes) -> None:
    """Write ``data`` to git's input and close it (git may stop reading: that is no error)."""
    if pipe is None:
        return
    with suppress(OSError):
        pipe.write(data)
    with suppress(OSError):
        pipe.close()


@dataclass(frozen=True)
class Git:
    """Git run through ``runner`` in the folder ``root`` for what ``option`` asked (messages
    name it; ``instead`` says what to do without git); every command gets ``config``."""

    root: Path
    runner: GitRunner
    option: str
    instead: str
    config: tuple[str, ...] = ()

    def run(
        self,
        *args: str,
        stdin: bytes = b"",
        env: Mapping[str, str] | None = None,
        config: Sequence[str] = (),
        limit: int | None = None,
    ) -> GitOutput:
        """``git args`` in ``root`` (a ``UsageError`` when git is not installed)."""
        try:
            return self.runner(
                args, cwd=self.root, stdin=stdin, env=env or {},
                config=(*self.config, *config), limit=limit,
            )  # fmt: skip
        except FileNotFoundError:
            raise self.not_installed() from None

    # What goes wrong before git can answer, said the same way for every option.

    def not_installed(self) -> UsageError:
        """Git cannot be run at all."""
        return UsageError(
            f"git is not installed (or not on PATH), and {self.option} needs it; install git, "
            f"or {self.instead}"
        )

    def not_in_git(self, needs: str, said: str = "") -> UsageError:
        """The workspace is not in a git ``needs`` ("repository", or "work tree" where the
        option needs files checked out); ``said``: git's reason, if it gave one."""
        why = f" ({said})" if said else ""
        return UsageError(
            f"{self.option}: the workspace {str(self.root)!r} is not in a git {needs}{why}; run "
            f"agentos in a git checkout (pass -C DIR, or run 'git init' there), or {self.instead}"
        )

    def unknown_revision(self, rev: str) -> UsageError:
        """``rev`` names no commit of the repository."""
        return UsageError(
            f"{self.option}: unknown revision {rev!r}: no such commit in the repository "
            "(a shallow clone may lack it: fetch it first)"
        )


def repo_prefix(root: Path, runner: GitRunner = run_git) -> str:
    """The folder ``root`` lies in within its git work tree, as git names it (``ws/``; ""
    at the top of the work tree, and outside git or without git)."""
    try:
        done = runner(["rev-parse", "--show-prefix"], cwd=root)
    except FileNotFoundError:
        return ""
    if done.returncode != 0:
        return ""
    return done.stdout.decode("utf-8", "surrogateescape").rstrip("\n")


def arg_batches(paths: Sequence[str]) -> list[list[str]]:
    """``paths`` in groups whose arguments stay within ``ARGS_PER_CALL`` bytes, for the
    commands that take paths only as arguments."""
    batches: list[list[str]] = [[]]
    used = 0
    for path in paths:
        size = len(path.encode("utf-8", "surrogateescape")) + 1
        if batches[-1] and used + size > ARGS_PER_CALL:
            batches.append([])
            used = 0
        batches[-1].append(path)
        used += size
    return batches if batches[-1] else []
