"""Lines added and removed between two contents, counted as ``git diff --numstat`` does.

Only the counts are computed, never the edit script, in time close to linear in the input
and memory linear in it (``difflib.SequenceMatcher`` is quadratic, and cubic in bad cases):

1. Trim the common prefix and suffix (most edits are small).
2. Discard what git's xdiff discards before it diffs (``xdl_cleanup_records``): a line that
   does not occur in the other file can never match, so it is a change and leaves the
   longest common subsequence (LCS) as it is; a line that occurs in the other file at least
   about sqrt(lines) times is also dropped when it sits in a run of such unmatched lines
   (git's "multimatch" rule, which is why git's counts may be a little above the minimum).
3. Map the lines left to ints and diff those: trim again, then Myers' greedy O((N+M)·D)
   algorithm, which computes only the edit distance D (added + removed = D, added - removed =
   len(new) - len(old)), in O(N+M) memory and without any path.
4. Bound the cost like git's xdiff does: when D grows past ``BUDGET``, split the problem at
   anchors and diff the parts on their own (each trimmed and cleaned again). Anchors are
   lines unique in both parts, kept in increasing order on both sides (the longest
   increasing subsequence, as patience diff does); where no line is unique, runs of 2, 4,
   ... 32 consecutive lines unique in both parts; where there are none either, the furthest
   point Myers' search reached (git's own heuristic when its cost limit is hit).

So the counts are minimal (and equal git's, which are minimal too for such diffs) while D
stays within ``BUDGET`` in every part. Beyond it both this and git are heuristics and can
differ: on large files of few distinct lines with hundreds of scattered edits these counts
may be well above git's (three times, in random tests) and, rarely, a line below.

``matching_blocks`` gives the lines alike for a reviewer's diff (``planner.preview``) the
same way: difflib's own blocks for small inputs, and for large ones difflib on the parts
left between the common ends and the anchors, so that rendering stays near linear too.
"""

from __future__ import annotations

import difflib
from bisect import bisect_left
from collections import Counter
from collections.abc import Hashable, Sequence
from itertools import chain, pairwise

from agentos.textlines import is_binary

# The largest edit distance searched exactly (about BUDGET**2 / 2 steps) before splitting.
BUDGET = 256
# Git's limits for discarding lines with many matches (xprepare.c).
_MAX_EQLIMIT = 1024
_SIMSCAN_WINDOW = 100
_KPDIS_RUN = 4
# Matching galloped through in slices of this many lines before comparing one by one.
_STRIDE = 64

_NONE, _ONE, _MANY = 0, 1, 2


def content_counts(old: bytes, new: bytes) -> tuple[int, int]:
    """Lines added and removed from ``old`` to ``new`` (0/0 when either is binary)."""
    if is_binary(old) or is_binary(new):
        return 0, 0
    return line_counts(_lines(old), _lines(new))


def _lines(data: bytes) -> list[bytes]:
    """``data``'s lines for comparing: split on ``\\n`` only, without it; a last line that
    lacks it starts with ``\\n`` instead, which no other line can (git's line identity)."""
    lines = data.split(b"\n")
    last = lines.pop()
    if last:
        lines.append(b"\n" + last)
    return lines


def line_counts(old: Sequence[bytes], new: Sequence[bytes]) -> tuple[int, int]:
    """Lines added and removed from ``old`` to ``new`` (see the module docstring)."""
    start = _common_prefix(old, new, 0, 0)
    end_old, end_new = _common_suffix(old, new, start, start)
    if start in (end_old, end_new):
        return end_new - start, end_old - start
    in_old = Counter(old)
    in_new = Counter(new)
    kept_old = _kept(old[start:end_old], in_new, min(_bogosqrt(len(old)), _MAX_EQLIMIT))
    kept_new = _kept(new[start:end_new], in_old, min(_bogosqrt(len(new)), _MAX_EQLIMIT))
    # Every line kept occurs on both sides: the old side's lines number them all.
    ids = dict(zip(in_old, range(len(in_old)), strict=False))
    a = [ids[line] for line in kept_old]
    b = [ids[line] for line in kept_new]
    distance = edit_distance(a, b)
    # distance = (len(a) - common) + (len(b) - common); the discarded lines are all changes.
    common = (len(a) + len(b) - distance) // 2
    return end_new - start - common, end_old - start - common


def _bogosqrt(n: int) -> int:
    """Git's integer approximation of a square root (``xdl_bogosqrt``)."""
    root = 1
    while n > 0:
        root <<= 1
        n >>= 2
    return root


def _kept(lines: Sequence[bytes], other: Counter[bytes], limit: int) -> list[bytes]:
    """The ``lines`` git keeps for its diff (``xdl_cleanup_records``), given how often each
    line occurs in the whole other file."""
    found = list(map(other.get, lines))  # None: the line is not in the other file
    if None not in found:
        # Many-matched lines are dropped only in runs of unmatched ones: none here.
        return list(lines)
    marks = [_NONE if count is None else _MANY if count >= limit else _ONE for count in found]
    dropped: set[int] = set()
    last = len(marks) - 1
    seen_until = -1
    for index in (i for i, mark in enumerate(marks) if mark == _NONE):
        if index <= seen_until:
            continue
        # The run of lines without a single match around this unmatched one.
        low = index
        while low > 0 and marks[low - 1] != _ONE:
            low -= 1
        high = index
        while high < last and marks[high + 1] != _ONE:
            high += 1
        seen_until = high
        dropped.update(
            i
            for i in range(max(low, 1), min(high, last - 1) + 1)
            if marks[i] == _MANY and _in_unmatched_run(marks, i)
        )
    return [
        line
        for index, (line, mark) in enumerate(zip(lines, marks, strict=True))
        if mark != _NONE and index not in dropped
    ]


def _in_unmatched_run(marks: list[int], index: int) -> bool:
    """Git's ``xdl_clean_mmatch``: whether the line at ``index``, which has many matches,
    lies within a run of lines that have none, and is discarded with them."""
    low = max(0, index - _SIMSCAN_WINDOW)
    high = min(len(marks) - 1, index + _SIMSCAN_WINDOW)
    before = many_before = 0
    for i in range(index - 1, low - 1, -1):
        if marks[i] == _NONE:
            before += 1
        elif marks[i] == _MANY:
            many_before += 1
        else:
            break
    if before == 0:
        return False
    after = many_after = 0
    for i in range(index + 1, high + 1):
        if marks[i] == _NONE:
            after += 1
        elif marks[i] == _MANY:
            many_after += 1
        else:
            break
    if after == 0:
        return False
    many = many_before + many_after + 2  # git counts the line itself on each side
    return many * _KPDIS_RUN < many + before + after


def edit_distance(a: Sequence[int], b: Sequence[int], *, budget: int = BUDGET) -> int:
    """Lines to insert plus lines to delete to turn ``a`` into ``b``: minimal while each
    part's distance stays within ``budget``, near-minimal past it."""
    total = 0
    parts: list[tuple[Sequence[int], Sequence[int]]] = [(a, b)]
    while parts:
        x, y = parts.pop()
        x, y, dropped = _reduce(x, y)
        total += dropped
        if not x or not y:
            total += len(x) + len(y)
            continue
        found = _myers(x, y, budget)
        if isinstance(found, int):
            total += found
            continue
        anchors = _anchors(x, y)
        if anchors:
            parts.extend(_between(x, y, anchors))
            continue
        # Nothing to align on: go on from the furthest point, one search at a time.
        while not isinstance(found, int):
            cost, i, j = found
            total += cost
            found = _myers(x, y, budget, i, j)
        total += found
    return total


def _reduce(a: Sequence[int], b: Sequence[int]) -> tuple[Sequence[int], Sequence[int], int]:
    """``a`` and ``b`` trimmed of their common ends and of lines the other lacks, with the
    number of lines dropped (each of them a change)."""
    start = _common_prefix(a, b, 0, 0)
    end_a, end_b = _common_suffix(a, b, start, start)
    a, b = a[start:end_a], b[start:end_b]
    if not a or not b:
        return a, b, 0
    in_a, in_b = set(a), set(b)
    if in_a == in_b:
        return a, b, 0
    kept_a = [v for v in a if v in in_b]
    kept_b = [v for v in b if v in in_a]
    dropped = len(a) - len(kept_a) + len(b) - len(kept_b)
    start = _common_prefix(kept_a, kept_b, 0, 0)
    end_a, end_b = _common_suffix(kept_a, kept_b, start, start)
    return kept_a[start:end_a], kept_b[start:end_b], dropped


def _common_prefix(a: Sequence[Hashable], b: Sequence[Hashable], i: int, j: int) -> int:
    """How far from ``i`` (in ``a``) and ``j`` (in ``b``) the two run alike: the offset
    reached (equal in both when ``i == j``)."""
    n, m = len(a), len(b)
    while i + _STRIDE <= n and j + _STRIDE <= m and a[i : i + _STRIDE] == b[j : j + _STRIDE]:
        i += _STRIDE
        j += _STRIDE
    while i < n and j < m and a[i] == b[j]:
        i += 1
        j += 1
    return i


def _common_suffix(
    a: Sequence[Hashable], b: Sequence[Hashable], floor_a: int, floor_b: int
) -> tuple[int, int]:
    """The ends of ``a`` and ``b`` once their common suffix is cut, not below the floors."""
    end_a, end_b = len(a), len(b)
    while (
        end_a - _STRIDE >= floor_a
        and end_b - _STRIDE >= floor_b
        and a[end_a - _STRIDE : end_a] == b[end_b - _STRIDE : end_b]
    ):
        end_a -= _STRIDE
        end_b -= _STRIDE
    while end_a > floor_a and end_b > floor_b and a[end_a - 1] == b[end_b - 1]:
        end_a -= 1
        end_b -= 1
    return end_a, end_b


def _myers(
    a: Sequence[int], b: Sequence[int], budget: int, start_a: int = 0, start_b: int = 0
) -> int | tuple[int, int, int]:
    """The edit distance of ``a[start_a:]`` and ``b[start_b:]`` when it is at most
    ``budget``; otherwise the furthest point that ``budget`` edits reach, as (edits, index
    in a, index in b).

    Only diagonals inside the grid are followed and only moves that stay in it are taken,
    so every point kept is a real one: the furthest is at least ``budget`` lines on.
    """
    n, m = len(a), len(b)
    # Diagonal k holds the points (x, y) with x - y = shift + k; x is kept, y follows.
    shift = start_a - start_b
    offset = budget + 1
    # v[offset + k]: the furthest x reached on diagonal k; -1: not reached.
    v = [-1] * (2 * budget + 3)
    # spent[offset + k]: the edits that reached v[offset + k].
    spent = [0] * (2 * budget + 3)
    x = _common_prefix(a, b, start_a, start_b)
    if x >= n and x - shift >= m:
        return 0
    v[offset] = x
    for d in range(1, budget + 1):
        low = max(-d, start_b - m)
        if (low + d) % 2:
            low += 1
        for k in range(low, min(d, n - start_a) + 1, 2):
            # Down from diagonal k + 1 (a line of b inserted), right from k - 1 (one deleted).
            down = v[offset + k + 1]
            if down >= 0 and down - shift - k - 1 >= m:
                down = -1
            right = v[offset + k - 1]
            right = right + 1 if 0 <= right < n else -1
            x = down if down > right else right
            if x < 0:
                continue
            y = x - shift - k
            while x < n and y < m and a[x] == b[y]:
                x += 1
                y += 1
            v[offset + k] = x
            spent[offset + k] = d
            if x >= n and y >= m:
                return d
    best = (0, start_a, start_b)
    for k in range(-budget, budget + 1):
        x = v[offset + k]
        if x >= 0 and 2 * x - shift - k > best[1] + best[2]:
            best = (spent[offset + k], x, x - shift - k)
    return best


# Runs of this many lines are tried in turn as anchors, where no shorter run is unique.
_ANCHOR_RUNS = (1, 2, 4, 8, 16, 32)


def _anchors(a: Sequence[int], b: Sequence[int]) -> list[tuple[int, int]]:
    """Matching positions to split at: lines unique in both, else the first lines of runs
    of 2, 4, ... 32 lines unique in both; the longest chain increasing on both sides."""
    for run in _ANCHOR_RUNS:
        if run > min(len(a), len(b)):
            break
        if run == 1:
            pairs = _unique_matches(a, b)
        elif run == 2:
            # Each pair of consecutive ids as one int: smaller than a tuple.
            base = 1 + max(chain(a, b))
            pairs = _unique_matches(
                [x * base + y for x, y in pairwise(a)],
                [x * base + y for x, y in pairwise(b)],
            )
        else:
            pairs = _unique_matches(
                list(zip(*(a[k:] for k in range(run)), strict=False)),
                list(zip(*(b[k:] for k in range(run)), strict=False)),
            )
        if pairs:
            return _increasing_chain(pairs)
    return []


def _unique_matches(a: Sequence[Hashable], b: Sequence[Hashable]) -> list[tuple[int, int]]:
    """(i, j) for every item that occurs once in ``a`` (at i) and once in ``b`` (at j),
    in increasing i."""
    where_a = _unique_positions(a)
    where_b = _unique_positions(b)
    get = where_b.get
    # Dicts keep their first insertion order: an item unique in ``a`` sits at its index.
    return [(i, j) for item, i in where_a.items() if i >= 0 and (j := get(item, -1)) >= 0]


def _unique_positions(items: Sequence[Hashable]) -> dict[Hashable, int]:
    """Each item's index where it occurs once, -1 where it repeats."""
    where: dict[Hashable, int] = {}
    for index, item in enumerate(items):
        where[item] = -1 if item in where else index
    return where


def _increasing_chain(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The longest chain of ``pairs`` (sorted by i) whose j also increase (patience)."""
    tails: list[int] = []  # tails[n]: the smallest j ending a chain of n + 1 pairs
    ends: list[int] = []  # ends[n]: the index in pairs of that pair
    before = [-1] * len(pairs)
    for index, (_, j) in enumerate(pairs):
        place = bisect_left(tails, j)
        if place == len(tails):
            tails.append(j)
            ends.append(index)
        else:
            tails[place] = j
            ends[place] = index
        before[index] = ends[place - 1] if place else -1
    chain: list[tuple[int, int]] = []
    index = ends[-1] if ends else -1
    while index >= 0:
        chain.append(pairs[index])
        index = before[index]
    chain.reverse()
    return chain


def _between(
    a: Sequence[int], b: Sequence[int], anchors: list[tuple[int, int]]
) -> list[tuple[Sequence[int], Sequence[int]]]:
    """The parts of ``a`` and ``b`` around the anchored lines (which match)."""
    parts: list[tuple[Sequence[int], Sequence[int]]] = []
    i = j = 0
    for anchor_i, anchor_j in anchors:
        if anchor_i > i or anchor_j > j:
            parts.append((a[i:anchor_i], b[j:anchor_j]))
        i, j = anchor_i + 1, anchor_j + 1
    parts.append((a[i:], b[j:]))
    return parts


# Parts whose two sides multiply to at most this are matched by difflib itself.
SMALL_PRODUCT = 1_000_000


def matching_blocks(
    a: Sequence[Hashable], b: Sequence[Hashable], *, small: int = SMALL_PRODUCT
) -> list[tuple[int, int, int]]:
    """Runs of lines alike in ``a`` and ``b`` as (i, j, size), increasing on both sides and
    ending with (len(a), len(b), 0), as ``difflib.SequenceMatcher.get_matching_blocks``.

    Inputs whose sides multiply to at most ``small`` get difflib's own blocks. Larger ones
    are cut at their common ends and at anchors (as ``edit_distance`` does) into parts that
    difflib matches; a part still larger with no anchor is cut at the same fractions of both
    sides. So the cost stays near linear, and the blocks near-maximal.
    """
    if len(a) * len(b) <= small:
        matcher = difflib.SequenceMatcher(None, a, b)
        return [(i, j, n) for i, j, n in matcher.get_matching_blocks()]
    blocks: list[tuple[int, int, int]] = []
    parts = [(0, len(a), 0, len(b))]
    while parts:
        lo_a, hi_a, lo_b, hi_b = parts.pop()
        start = _common_prefix(a[lo_a:hi_a], b[lo_b:hi_b], 0, 0)
        if start:
            blocks.append((lo_a, lo_b, start))
            lo_a, lo_b = lo_a + start, lo_b + start
        end_a, end_b = _common_suffix(a[lo_a:hi_a], b[lo_b:hi_b], 0, 0)
        if end_a < hi_a - lo_a:
            blocks.append((lo_a + end_a, lo_b + end_b, hi_a - lo_a - end_a))
            hi_a, hi_b = lo_a + end_a, lo_b + end_b
        if lo_a == hi_a or lo_b == hi_b:
            continue
        x, y = a[lo_a:hi_a], b[lo_b:hi_b]
        if len(x) * len(y) <= small:
            matcher = difflib.SequenceMatcher(None, x, y)
            blocks.extend((lo_a + i, lo_b + j, n) for i, j, n in matcher.get_matching_blocks() if n)
            continue
        ids: dict[Hashable, int] = {}
        anchors = _anchors(
            [ids.setdefault(v, len(ids)) for v in x], [ids.setdefault(v, len(ids)) for v in y]
        )
        if not anchors:
            # Nothing to align on: cut both sides at the same fractions into parts difflib
            # can match (a change costs at most its part's lines).
            pieces = -(-len(x) * len(y) // small)
            parts.extend(
                (
                    lo_a + len(x) * k // pieces,
                    lo_a + len(x) * (k + 1) // pieces,
                    lo_b + len(y) * k // pieces,
                    lo_b + len(y) * (k + 1) // pieces,
                )
                for k in range(pieces)
            )
            continue
        i = j = 0
        for anchor_i, anchor_j in anchors:
            blocks.append((lo_a + anchor_i, lo_b + anchor_j, 1))
            if anchor_i > i or anchor_j > j:
                parts.append((lo_a + i, lo_a + anchor_i, lo_b + j, lo_b + anchor_j))
            i, j = anchor_i + 1, anchor_j + 1
        parts.append((lo_a + i, hi_a, lo_b + j, hi_b))
    blocks.sort()
    merged: list[tuple[int, int, int]] = []
    for i, j, n in blocks:
        if merged and merged[-1][0] + merged[-1][2] == i and merged[-1][1] + merged[-1][2] == j:
            last = merged.pop()
            merged.append((last[0], last[1], last[2] + n))
        else:
            merged.append((i, j, n))
    merged.append((len(a), len(b), 0))
    return merged
