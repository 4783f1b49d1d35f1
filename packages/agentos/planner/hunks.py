"""The unified-diff hunk applier: pure, and faithful to ``git apply``'s matching rules.

Lines are split on ``\\n`` only, so a CR stays part of its line exactly as git sees it. A hunk
is tried first at the line its header names (the new-side start, because earlier hunks have
already moved the text), then at growing offsets, forward before backward at each distance. The
whole pre-image must match byte for byte; there is no fuzz. Like git:

* a hunk whose old side starts at line 0 or 1 must match at the beginning of the file;
* a hunk with no trailing context must match at the end of the file;
* lines produced by an earlier hunk of the same file are never matched again.
"""

from __future__ import annotations

from dataclasses import dataclass

from agentos.textlines import split_lines


@dataclass(frozen=True)
class Hunk:
    """One ``@@ -a,b +c,d @@`` hunk, already split into its pre- and post-image lines.

    Each line keeps its ``\\n``; the line before a ``\\ No newline at end of file`` marker
    does not.
    """

    old_start: int
    old_count: int
    new_start: int
    new_count: int
    old_lines: tuple[bytes, ...]
    new_lines: tuple[bytes, ...]
    leading: int
    trailing: int
    added: int
    removed: int
    line: int = 0  # 1-based line of the @@ header in its input, for messages


class HunkMismatch(Exception):
    """A hunk's pre-image was found nowhere it is allowed to match."""

    def __init__(self, index: int, hunk: Hunk, reason: str) -> None:
        super().__init__(reason)
        self.index = index
        self.hunk = hunk
        self.reason = reason


def _matches(image: list[bytes], patched: list[bool], pre: tuple[bytes, ...], at: int) -> bool:
    end = at + len(pre)
    if end > len(image):
        return False
    if any(patched[at:end]):
        return False
    return image[at:end] == list(pre)


def find_position(
    image: list[bytes],
    patched: list[bool],
    pre: tuple[bytes, ...],
    start: int,
    *,
    match_beginning: bool,
    match_end: bool,
) -> int:
    """Where ``pre`` applies in ``image`` by git's search order, or -1.

    Positions are tried at ``start``, then ``start+1``, ``start-1``, ``start+2``, ... ; the
    flags pin the only acceptable position, so nothing else is tried for them.
    """
    size = len(image)
    if match_beginning:
        ok = (not match_end or len(pre) == size) and _matches(image, patched, pre, 0)
        return 0 if ok else -1
    if match_end:
        at = size - len(pre)
        return at if at >= 0 and _matches(image, patched, pre, at) else -1
    start = min(max(start, 0), size)
    limit = size - len(pre)
    if limit < 0:
        return -1
    first = pre[0] if pre else None
    for distance in range(size + 1):
        forward = start + distance
        backward = start - distance
        if forward > limit and backward < 0:
            break
        for at in (forward, backward) if distance else (forward,):
            candidate = 0 <= at <= limit and (first is None or image[at] == first)
            if candidate and _matches(image, patched, pre, at):
                return at
    return -1


def apply_hunks(content: bytes, hunks: tuple[Hunk, ...] | list[Hunk]) -> bytes:
    """``content`` with every hunk applied in order, or ``HunkMismatch`` for the first misfit."""
    image = split_lines(content)
    patched = [False] * len(image)
    for index, hunk in enumerate(hunks):
        match_beginning = hunk.old_start <= 1
        match_end = hunk.trailing == 0
        start = hunk.new_start - 1 if hunk.new_start else 0
        at = find_position(
            image,
            patched,
            hunk.old_lines,
            start,
            match_beginning=match_beginning,
            match_end=match_end,
        )
        if at < 0:
            raise HunkMismatch(index, hunk, _mismatch_reason(hunk, match_beginning, match_end))
        end = at + len(hunk.old_lines)
        image[at:end] = hunk.new_lines
        patched[at:end] = [True] * len(hunk.new_lines)
    return b"".join(image)


def _mismatch_reason(hunk: Hunk, match_beginning: bool, match_end: bool) -> str:
    if not hunk.old_lines:
        where = "at the beginning" if match_beginning else "at the end"
        return f"the hunk has no context and must apply {where} of the file"
    first = hunk.old_lines[0].rstrip(b"\n").decode("utf-8", "replace")
    if len(first) > 60:
        first = first[:57] + "..."
    if match_beginning:
        place = "at the beginning of the file"
    elif match_end:
        place = "at the end of the file"
    else:
        place = "anywhere in the file"
    return (
        f"its {len(hunk.old_lines)} context/removed line(s) starting {first!r} "
        f"were not found {place}"
    )
