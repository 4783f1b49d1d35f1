"""The unified-diff hunk applier: pure, and faithful to ``git apply``'s matching rules.

Lines are split on ``\\n`` only, so a CR stays part of its line exactly as git sees it. A hunk
is tried first at the line its header names (the new-side start, because earlier hunks have
already moved the text), then at growing offsets, forward before backward at each distance. The
whole pre-image must match byte for byte; there is no fuzz. Like git:

* a hunk whose old side starts at line 0 or 1 must match at the beginning of the file;
* a hunk with no trailing context must match at the end of the file;
* lines produced by an earlier hunk of the same file are never matched again.

The file is patched in one pass where hunks come in order (as diffs write them): the lines
before the last hunk applied are final, the rest are still the original ones, so a hunk
costs its own lines, not a copy of the file's tail (a hunk that lands before an earlier one
costs that copy, as it does in git).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import overload

from agentos.textlines import line_ending_hint, split_lines


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


class _Image(Sequence[bytes]):
    """The lines of a file being patched: ``done`` (final, with ``patched`` marking the
    lines hunks produced) followed by the original lines from ``rest`` on, which no hunk
    has touched (so ``patched`` need not cover them)."""

    def __init__(self, lines: list[bytes]) -> None:
        self.done: list[bytes] = []
        self.patched: list[bool] = []
        self.original = lines
        self.rest = 0

    def __len__(self) -> int:
        return len(self.done) + len(self.original) - self.rest

    @overload
    def __getitem__(self, index: int) -> bytes: ...

    @overload
    def __getitem__(self, index: slice) -> list[bytes]: ...

    def __getitem__(self, index: int | slice) -> bytes | list[bytes]:
        done = len(self.done)
        if isinstance(index, slice):
            start, stop, _ = index.indices(len(self))
            if stop <= done:
                return self.done[start:stop]
            shift = self.rest - done
            if start >= done:
                return self.original[start + shift : stop + shift]
            return self.done[start:] + self.original[self.rest : stop + shift]
        if index < 0:
            index += len(self)
        if index < done:
            return self.done[index]
        return self.original[index - done + self.rest]

    def replace(self, start: int, stop: int, lines: Sequence[bytes]) -> None:
        """Put ``lines``, marked patched, in place of the lines in ``[start, stop)``."""
        done = len(self.done)
        if stop > done:
            # Everything up to ``stop`` becomes final: move it over from the original.
            moved = self.original[self.rest : self.rest + stop - done]
            self.done.extend(moved)
            self.patched.extend([False] * len(moved))
            self.rest += len(moved)
        if stop == len(self.done):
            # At the end of the final part (the usual case): no line after it moves.
            del self.done[start:]
            del self.patched[start:]
            self.done.extend(lines)
            self.patched.extend([True] * len(lines))
            return
        self.done[start:stop] = lines
        self.patched[start:stop] = [True] * len(lines)

    def join(self) -> bytes:
        """The patched file's bytes."""
        self.done.extend(self.original[self.rest :])
        self.rest = len(self.original)
        return b"".join(self.done)


def _matches(
    image: Sequence[bytes], patched: Sequence[bool], pre: tuple[bytes, ...], at: int
) -> bool:
    end = at + len(pre)
    if end > len(image):
        return False
    # ``patched`` may be shorter than ``image``: the lines past it are all unpatched.
    if any(patched[at:end]):
        return False
    return image[at:end] == list(pre)


def find_position(
    image: Sequence[bytes],
    patched: Sequence[bool],
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
    image = _Image(split_lines(content))
    for index, hunk in enumerate(hunks):
        match_beginning = hunk.old_start <= 1
        match_end = hunk.trailing == 0
        start = hunk.new_start - 1 if hunk.new_start else 0
        at = find_position(
            image,
            image.patched,
            hunk.old_lines,
            start,
            match_beginning=match_beginning,
            match_end=match_end,
        )
        if at < 0:
            reason = _mismatch_reason(hunk, match_beginning, match_end)
            reason += line_ending_hint(content, b"".join(hunk.old_lines))
            raise HunkMismatch(index, hunk, reason)
        image.replace(at, at + len(hunk.old_lines), hunk.new_lines)
    return image.join()


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
