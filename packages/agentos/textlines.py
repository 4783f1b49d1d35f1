"""Lines and binary-ness of file contents, as git sees them (shared by planner and gate).

Lines end at ``\\n`` only, so a CR stays part of its line exactly as git sees it; content is
binary when git would say so.
"""

from __future__ import annotations

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
