"""Lines and binary-ness of file contents, as git sees them (shared by planner and gate).

Lines end at ``\\n`` only, so a CR stays part of its line exactly as git sees it; content is
binary when git would say so.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from itertools import accumulate, islice, repeat
from operator import add
from typing import overload

# Git's rule for telling binary from text: a NUL byte in the first 8,000 bytes.
BINARY_SNIFF_BYTES = 8000


def split_lines(data: bytes) -> list[bytes]:
    """``data`` as lines that keep their ``\\n``; only ``\\n`` ends a line (never CR).

    Built in place: each piece becomes its line before the next one is made, so a large
    input is never held twice over as lines.
    """
    if not data:
        return []
    lines = data.split(b"\n")
    last = lines.pop()
    for index in range(len(lines)):
        lines[index] += b"\n"
    if last:
        lines.append(last)
    return lines


# Lines are found this many bytes at a time, so no more than that is ever split at once.
_INDEX_CHUNK = 1 << 20


class LineIndex(Sequence[bytes]):
    """The lines of ``data``, each with its ``\\n`` (only ``\\n`` ends a line), made on demand.

    Only where each line starts is kept (8 bytes a line), not the lines themselves: a large
    input read line by line costs its bytes and this index, never a second copy of itself
    in small objects.
    """

    def __init__(self, data: bytes, *, chunk: int = _INDEX_CHUNK) -> None:
        self.data = data
        # starts[i]: where line i begins; starts[-1]: the end of the last line.
        self.starts = array("q", [0])
        size = len(data)
        pos = 0
        while pos < size:
            stop = data.rfind(b"\n", pos, min(pos + chunk, size))
            if stop < 0:
                stop = data.find(b"\n", pos + chunk)
            if stop < 0:
                # No newline to the end: the rest is one last line without one.
                self.starts.append(size)
                break
            parts = data[pos:stop].split(b"\n")
            ends = accumulate(map(add, map(len, parts), repeat(1)), initial=pos)
            self.starts.extend(islice(ends, 1, None))
            pos = stop + 1

    def __len__(self) -> int:
        return len(self.starts) - 1

    @overload
    def __getitem__(self, index: int) -> bytes: ...

    @overload
    def __getitem__(self, index: slice) -> list[bytes]: ...

    def __getitem__(self, index: int | slice) -> bytes | list[bytes]:
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step == 1:
                return split_lines(self.data[self.starts[start] : self.starts[max(start, stop)]])
            return [self[i] for i in range(start, stop, step)]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("line index out of range")
        return self.data[self.starts[index] : self.starts[index + 1]]


def count_lines(data: bytes) -> int:
    """How many lines ``data`` holds, counting an unterminated last line."""
    if not data:
        return 0
    return data.count(b"\n") + (0 if data.endswith(b"\n") else 1)


def is_binary(data: bytes) -> bool:
    """True when git would treat ``data`` as binary."""
    return b"\0" in data[:BINARY_SNIFF_BYTES]


def line_count(data: bytes) -> int:
    """Lines counted for a plan's statistics (0 for binary contents)."""
    return 0 if is_binary(data) else count_lines(data)


def line_ending_hint(current: bytes | str, wanted: bytes | str, *, what: str = "the patch") -> str:
    """``"; <why>"`` when text ``wanted`` (searched for in ``current``, a file) cannot match
    because the two end their lines differently (CRLF against LF), else ``""``: added to
    the message of an edit that did not apply."""
    file_crlf = _has(current, "\r\n")
    if file_crlf == _has(wanted, "\r\n") or not _has(wanted, "\n"):
        return ""
    file_ends, its_ends = ("CRLF", "LF") if file_crlf else ("LF", "CRLF")
    return (
        f"; note: the file ends its lines with {file_ends} but {what} with {its_ends}, so no "
        f"line can match: give {what} the file's line endings"
    )


def _has(text: bytes | str, needle: str) -> bool:
    return (needle.encode() in text) if isinstance(text, bytes) else (needle in text)
