"""The reviewer's diff (``agentos show --diff``, agents' previews): difflib's output on small
files, and a diff that still applies, made in near-linear time, on large ones."""

from __future__ import annotations

import difflib
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentos.linediff import content_counts
from agentos.planner.diff import parse_diff
from agentos.planner.hunks import apply_hunks
from agentos.planner.preview import unified_diff

line = st.sampled_from(["a\n", "b\n", "c\n", "\n", "}\n", "x = 1\n", "end"])


@given(old=st.lists(line, max_size=30), new=st.lists(line, max_size=30), context=st.integers(0, 4))
def test_small_files_get_difflibs_unified_diff(
    old: list[str], new: list[str], context: int
) -> None:
    ours = list(unified_diff(old, new, "a/f", "b/f", context=context))
    theirs = list(difflib.unified_diff(old, new, "a/f", "b/f", n=context, lineterm="\n"))
    assert ours == theirs


def _apply(old: str, diff_lines: list[str]) -> str:
    text = "".join(
        d if d.endswith("\n") else d + "\n\\ No newline at end of file\n" for d in diff_lines
    )
    (patch,) = parse_diff(b"diff --git a/f b/f\n" + text.encode(), source="preview")
    return apply_hunks(old.encode(), patch.hunks).decode()


@pytest.mark.parametrize("variants", [50, 10**9, 2])
def test_large_files_get_a_diff_that_applies(variants: int) -> None:
    """Past difflib's size (200,000 x 200,000 lines would take it minutes): the diff still
    turns the old file into the new one, and changes about as many lines as there are
    (except in a file of three distinct lines, where difflib itself matches little)."""
    rng = random.Random(variants)  # noqa: S311 (test data)
    old = [
        "\n" if rng.random() < 0.2 else f"    v{rng.randrange(variants)} = f()\n"
        for _ in range(200_000 if variants > 2 else 20_000)
    ]
    new = list(old)
    for index in reversed(range(2_000)):
        at = index * (len(old) // 2_000) + rng.randrange(5)
        new[at : at + rng.randrange(3)] = [f"    changed_{index}()\n"] * rng.randrange(3)
    diff = list(unified_diff(old, new, "a/f", "b/f", context=3))
    assert _apply("".join(old), diff) == "".join(new)
    changed = sum(1 for d in diff if d[:1] in "+-" and not d.startswith(("+++", "---")))
    added, removed = content_counts("".join(old).encode(), "".join(new).encode())
    assert added + removed <= changed
    if variants > 2:
        assert changed <= 1.1 * (added + removed) + 10
