"""The line counter of ``agentos.linediff``: git as the oracle, and a plain LCS as reference.

- On random small texts with random edits (inserts, deletes, replacements, duplicated
  lines, a missing final newline), ``content_counts`` equals ``git diff --numstat``.
- ``edit_distance`` equals the distance of a textbook O(N·M) longest common subsequence on
  random sequences while within its budget, and never goes below it past the budget.
- Large inputs with thousands of edits (the path past the budget: anchors, pairs of lines,
  the furthest point) still agree with git.
"""

from __future__ import annotations

import random
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from agentos.linediff import content_counts, edit_distance, line_counts
from helpers import needs_git, run_git

# Repetition on purpose: blank lines, braces and short lines repeat as they do in code.
LINES = (b"a\n", b"b\n", b"c\n", b"\n", b"}\n", b"a\r\n", b"x = 1\n", b"return\n")
line = st.sampled_from(LINES)
fresh = st.text(alphabet="xyz", min_size=1, max_size=3).map(lambda text: text.encode() + b"\n")
Edit = tuple[int, int, list[bytes], int]
edits = st.lists(
    st.tuples(
        st.integers(0, 10_000),  # where
        st.integers(0, 6),  # lines deleted there
        st.lists(st.one_of(line, fresh), max_size=6),  # lines inserted there
        st.integers(0, 8),  # lines duplicated from elsewhere in the file, inserted there too
    ),
    max_size=6,
)


def _edit(lines: list[bytes], changes: Sequence[Edit], seed: int) -> list[bytes]:
    out = list(lines)
    rng = random.Random(seed)  # noqa: S311 (test data)
    for pos, delete, insert, copies in changes:
        at = pos % (len(out) + 1)
        clean = list(insert)
        if copies and out:
            start = rng.randrange(len(out))
            clean += out[start : start + copies]
        out[at : at + delete] = clean
    return out


def _join(lines: Sequence[bytes], *, newline_at_end: bool) -> bytes:
    data = b"".join(lines)
    return data if newline_at_end else data.removesuffix(b"\n")


def git_numstat(old: bytes, new: bytes) -> tuple[int, int]:
    """What ``git diff --no-index --numstat`` (Myers, git's default) counts."""
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        (root / "old").write_bytes(old)
        (root / "new").write_bytes(new)
        out = run_git(
            root,
            "diff",
            "--no-index",
            "--numstat",
            "--diff-algorithm=myers",
            "old",
            "new",
            check=False,
        )
    if not out:
        return 0, 0
    added, removed, _ = out.decode().split("\t", 2)
    return int(added), int(removed)


def lcs_distance(a: Sequence[object], b: Sequence[object]) -> int:
    """Insertions plus deletions, from the textbook O(N·M) longest common subsequence."""
    previous = [0] * (len(b) + 1)
    for item in a:
        current = [0]
        for j, other in enumerate(b):
            current.append(previous[j] + 1 if item == other else max(previous[j + 1], current[j]))
        previous = current
    return len(a) + len(b) - 2 * previous[-1]


@needs_git
@pytest.mark.git
@settings(max_examples=150)
@given(
    base=st.lists(line, max_size=40),
    changes=edits,
    seed=st.integers(0, 2**16),
    old_newline=st.booleans(),
    new_newline=st.booleans(),
)
@example(  # git drops the blank line inside the rewritten block: 13/21, not the minimal 12/20
    base=[b"old%d\n" % i for i in range(10)] + [b"\n"] + [b"old%d\n" % i for i in range(10, 20)],
    changes=[(0, 21, [b"\n"] * 12 + [b"keep"], 0)],
    seed=0,
    old_newline=True,
    new_newline=True,
)
def test_counts_agree_with_git_numstat(
    base: list[bytes], changes: list[Edit], seed: int, old_newline: bool, new_newline: bool
) -> None:
    old = _join(base, newline_at_end=old_newline)
    new = _join(_edit(base, changes, seed), newline_at_end=new_newline)
    assert content_counts(old, new) == git_numstat(old, new)


@given(
    a=st.lists(st.integers(0, 5), max_size=60),
    b=st.lists(st.integers(0, 5), max_size=60),
)
def test_edit_distance_is_the_lcs_distance(a: list[int], b: list[int]) -> None:
    assert edit_distance(a, b) == lcs_distance(a, b)


@given(
    a=st.lists(st.integers(0, 8), max_size=80),
    changes=st.lists(
        st.tuples(st.integers(0, 100), st.integers(0, 5), st.lists(st.integers(0, 10))),
        max_size=8,
    ),
    budget=st.integers(1, 6),
)
def test_past_the_budget_the_distance_is_near_minimal(
    a: list[int], changes: list[tuple[int, int, list[int]]], budget: int
) -> None:
    b = list(a)
    for pos, delete, insert in changes:
        at = pos % (len(b) + 1)
        b[at : at + delete] = insert
    exact = lcs_distance(a, b)
    bounded = edit_distance(a, b, budget=budget)
    # Never below the minimum; the same parity (added - removed is fixed by the lengths);
    # never more than replacing everything.
    assert exact <= bounded <= len(a) + len(b)
    assert (bounded - exact) % 2 == 0


@given(
    old=st.lists(st.integers(0, 30), max_size=50, unique=True),
    new=st.lists(st.integers(0, 30), max_size=50, unique=True),
)
def test_counts_are_minimal_when_no_line_repeats(old: list[int], new: list[int]) -> None:
    """Git's only departure from the minimum drops lines that repeat in the other file."""
    before = [b"%d\n" % i for i in old]
    after = [b"%d\n" % i for i in new]
    added, removed = line_counts(before, after)
    assert added + removed == lcs_distance(before, after)
    assert added - removed == len(after) - len(before)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (b"", b"", (0, 0)),
        (b"", b"a\nb\n", (2, 0)),
        (b"a\nb\n", b"", (0, 2)),
        (b"a\n", b"a", (1, 1)),  # the last line lost its newline: git counts a change
        (b"a", b"a", (0, 0)),
        (b"a\nb", b"b\na", (2, 2)),  # "b" without a newline is not the line "b\n"
        (b"a\nb\n", b"b\na\n", (1, 1)),
        (b"a\r\nb\n", b"a\nb\n", (1, 1)),  # only \n ends a line; the CR is part of it
        (b"\x00binary", b"text\n", (0, 0)),
    ],
)
def test_content_counts_examples(old: bytes, new: bytes, expected: tuple[int, int]) -> None:
    assert content_counts(old, new) == expected


def _code_like(rng: random.Random, size: int, variants: int) -> list[bytes]:
    """Lines of a large file that repeat like code does (few of them unique)."""
    common = (b"\n", b"    }\n", b"        return result\n", b"    else:\n")
    return [
        rng.choice(common) if rng.random() < 0.3 else b"    v%d = f()\n" % rng.randrange(variants)
        for _ in range(size)
    ]


@needs_git
@pytest.mark.git
@pytest.mark.parametrize(
    ("size", "edits", "variants"),
    [
        (20_000, 1_500, 500),  # every line repeats: anchors come from pairs of lines
        (20_000, 1_500, 10**9),  # nearly every line unique: anchors come from single lines
        (6_000, 1_200, 3),  # hardly any pair is unique either: the furthest point splits
    ],
)
def test_many_edits_in_a_large_file_stay_near_git(size: int, edits: int, variants: int) -> None:
    """Thousands of edits: past both budgets (ours and git's), both are near-minimal."""
    rng = random.Random(size + edits + variants)  # noqa: S311 (test data)
    old = _code_like(rng, size, variants)
    new = list(old)
    for _ in range(edits):
        at = rng.randrange(len(new) + 1)
        kind = rng.randrange(3)
        if kind == 0:
            new[at:at] = _code_like(rng, rng.randrange(1, 4), variants)
        elif kind == 1:
            del new[at : at + rng.randrange(1, 4)]
        else:
            new[at : at + 1] = [b"    changed_%d()\n" % rng.randrange(10**6)]
    before, after = b"".join(old), b"".join(new)
    added, removed = content_counts(before, after)
    git_added, git_removed = git_numstat(before, after)
    assert added - removed == git_added - git_removed == len(new) - len(old)
    assert abs((added + removed) - (git_added + git_removed)) <= 0.02 * (git_added + git_removed)


@needs_git
@pytest.mark.git
@pytest.mark.parametrize("variants", [200, 10**9])
def test_sparse_edits_in_a_large_file_agree_with_git(variants: int) -> None:
    """Edits with unchanged lines between them: the counts are git's exactly, though the
    distance is far past the budget (about 3,000 changed lines in 60,000)."""
    rng = random.Random(variants)  # noqa: S311 (test data)
    old = _code_like(rng, 60_000, variants)
    new = list(old)
    for index in reversed(range(1_000)):
        at = index * 60 + rng.randrange(50)
        new[at : at + 2] = [b"    changed_%d()\n" % index]
    before, after = b"".join(old), b"".join(new)
    added, removed = content_counts(before, after)
    assert (added, removed) == git_numstat(before, after)
    assert added == 1_000
