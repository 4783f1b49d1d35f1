"""Planner inputs: their values, and reading them from files and a stream, never past the
policy's size limit (``writegate.content.max_input_bytes``)."""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Literal, get_args

from agentos.errors import InputTooLargeError, UsageError

if TYPE_CHECKING:
    from agentos.planner.tree import PlanLimits

FormatChoice = Literal["auto", "diff", "codex", "manifest", "edits", "claude", "mcp", "aider"]
FORMATS: tuple[str, ...] = get_args(FormatChoice)
MAX_INPUT_KEY = "writegate.content.max_input_bytes"
# Read in pieces, so a huge limit never allocates in advance what a small input does not need.
_READ_CHUNK = 1 << 24


@dataclass(frozen=True)
class PlanInput:
    """One input: its name (a path, or ``-`` for stdin), bytes and the format asked for."""

    name: str
    data: bytes
    format: FormatChoice = "auto"


def input_too_large(
    name: str, limit: int, *, size: int | None = None, total: bool = False
) -> InputTooLargeError:
    """The refusal of an input (``total``: of the inputs up to it) over ``max_input_bytes``;
    ``size`` when it is known (a stream is read no further than the limit)."""
    subject = "the inputs up to this one add up to" if total else "the input is"
    if size is not None:
        reason = f"{subject} {size} bytes, more than {MAX_INPUT_KEY} ({limit})"
    else:
        reason = f"{subject} more than {MAX_INPUT_KEY} ({limit} bytes)"
    return InputTooLargeError(
        f"{name}: {reason}; nothing was planned",
        details={"input": name, "bytes": size, "limit": limit, "key": MAX_INPUT_KEY},
    )


def check_input_sizes(inputs: tuple[PlanInput, ...], limits: PlanLimits) -> None:
    """Each input, and all of them together, within ``limits.max_input_bytes``."""
    total = 0
    for item in inputs:
        size = len(item.data)
        if size > limits.max_input_bytes:
            raise input_too_large(item.name, limits.max_input_bytes, size=size)
        total += size
        if total > limits.max_input_bytes:
            raise input_too_large(item.name, limits.max_input_bytes, size=total, total=True)


def read_inputs(
    names: Sequence[str], fmt: str, *, max_input_bytes: int, stdin: BinaryIO
) -> tuple[PlanInput, ...]:
    """Read every input (``-`` is ``stdin``, read once) into ``PlanInput`` values.

    No input is read past ``max_input_bytes``, nor all of them together: one byte more than
    what is left says it is too large (``InputTooLargeError``), so a huge file or an endless
    stream is never read whole; a regular file is refused by its size without reading it.
    """
    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r} is not one of {', '.join(FORMATS)}")
    inputs = []
    stdin_used = False
    left = max_input_bytes
    for name in names:
        size: int | None = None
        if name == "-":
            if stdin_used:
                raise UsageError("'-' (stdin) can be given only once")
            stdin_used = True
            data = read_bounded(stdin, left + 1)
        else:
            data, size = _read_file(name, left)
        if len(data) > left or (size is not None and size > left):
            used = max_input_bytes - left
            known = used + size if size is not None and size > left else None
            raise input_too_large(name, max_input_bytes, size=known, total=used > 0)
        left -= len(data)
        inputs.append(PlanInput(name=name, data=data, format=fmt))  # type: ignore[arg-type]
    return tuple(inputs)


def _read_file(name: str, left: int) -> tuple[bytes, int | None]:
    """At most ``left + 1`` bytes of the file ``name``, and its size when it is a regular file
    (nothing is read when that size is over ``left``)."""
    try:
        with Path(name).open("rb") as stream:
            info = os.fstat(stream.fileno())
            size = info.st_size if stat.S_ISREG(info.st_mode) else None
            if size is not None and size > left:
                return b"", size
            return read_bounded(stream, left + 1, expect=size or 0), size
    except FileNotFoundError:
        raise UsageError(f"input file {name!r} does not exist") from None
    except IsADirectoryError:
        raise UsageError(f"input {name!r} is a directory; pass a patch file") from None
    except OSError as exc:
        raise UsageError(f"cannot read input {name!r}: {exc.strerror}") from None


def read_bounded(stream: BinaryIO, most: int, *, expect: int = 0) -> bytes:
    """Up to ``most`` bytes of ``stream``: all of it when it is shorter. ``expect``, the size
    it is known to have, lets a file be read in one piece (no copy to join pieces)."""
    chunks: list[bytes] = []
    left = most
    piece = max(_READ_CHUNK, expect + 1)
    while left > 0:
        chunk = stream.read(min(left, piece))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
