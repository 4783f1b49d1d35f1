"""Running git for plans made from git (``plan --git`` / ``--staged``): one fixed configuration.

Whatever the user's or the repository's configuration says, git is asked for the same output:
no pager, no optional locks (planning only reads), literal pathspecs, C-quoted names, ``a/``
``b/`` prefixes, no colour, no external diff or textconv. The runner is a plain callable so
that tests can give a fake one; ``run_git`` is the real one.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from agentos.errors import UsageError

# Before the command: options of git itself and configuration that would change the output.
GIT_OPTIONS: tuple[str, ...] = (
    "--no-pager",
    "--no-optional-locks",
    "--literal-pathspecs",
    "-c",
    "core.quotepath=true",
    "-c",
    "core.fsmonitor=false",
    "-c",
    "core.safecrlf=false",
    "-c",
    "color.ui=false",
    "-c",
    "diff.noprefix=false",
    "-c",
    "diff.mnemonicPrefix=false",
    "-c",
    "diff.relative=false",
    "-c",
    "diff.renames=true",
    "-c",
    "diff.suppressBlankEmpty=false",
    "-c",
    "diff.submodule=short",
)
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
        """Git's own one-line reason for a failure (its last ``fatal:`` or error line)."""
        lines = [line.strip() for line in self.stderr.decode("utf-8", "replace").splitlines()]
        lines = [line for line in lines if line]
        for line in reversed(lines):
            if line.startswith(("fatal:", "error:")):
                return line.split(":", 1)[1].strip()
        return lines[-1] if lines else f"git exited with code {self.returncode}"


class GitRunner(Protocol):
    """Runs ``git <GIT_OPTIONS> <args>`` in ``cwd``, feeding it ``stdin``; reads no more than
    ``limit`` + 1 bytes of its output when a ``limit`` is given."""

    def __call__(
        self, args: Sequence[str], *, cwd: Path, stdin: bytes = b"", limit: int | None = None
    ) -> GitOutput: ...


def run_git(
    args: Sequence[str], *, cwd: Path, stdin: bytes = b"", limit: int | None = None
) -> GitOutput:
    """The real ``GitRunner``: git as a subprocess (a ``UsageError`` when git is missing)."""
    argv = ["git", *GIT_OPTIONS, *args]
    try:
        if limit is None:
            done = subprocess.run(  # noqa: S603 - a fixed program, our own arguments, no shell
                argv, cwd=cwd, input=stdin, capture_output=True, check=False
            )
            return GitOutput(done.returncode, done.stdout, done.stderr)
        return _run_bounded(argv, cwd=cwd, stdin=stdin, limit=limit)
    except FileNotFoundError:
        raise UsageError(
            "git is not installed (or not on PATH); plans from git need it — install git, or "
            "pass the change as a patch file"
        ) from None


def _run_bounded(argv: list[str], *, cwd: Path, stdin: bytes, limit: int) -> GitOutput:
    """``argv``'s output up to ``limit`` + 1 bytes; a longer one is cut and git stopped, so an
    enormous diff is never read whole. Its error output goes to a file: a pipe nobody reads
    could fill and stall git."""
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(  # noqa: S603 - a fixed program, our own arguments, no shell
            argv,
            cwd=cwd,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=errors,
        )
        if proc.stdin is not None:
            # Only small inputs are given with a limit (a few revisions), never a stream.
            proc.stdin.write(stdin)
            proc.stdin.close()
        out = proc.stdout
        chunks: list[bytes] = []
        left = limit + 1
        if out is not None:
            while left > 0 and (chunk := out.read(min(left, _READ_CHUNK))):
                chunks.append(chunk)
                left -= len(chunk)
        overflow = left <= 0
        if overflow:
            proc.kill()
        if out is not None:
            out.close()
        code = proc.wait()
        errors.seek(0)
        return GitOutput(code, b"".join(chunks), errors.read(), overflow=overflow)
