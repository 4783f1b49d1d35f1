"""The hunk applier's rules, one at a time, as ``git apply`` implements them in apply.c."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentos.planner.hunks import Hunk, HunkMismatch, apply_hunks, find_position
from agentos.textlines import count_lines, split_lines


def make_hunk(body: list[bytes], old_start: int, new_start: int | None = None) -> Hunk:
    """A hunk from body lines such as ``b" ctx\\n"``, ``b"-old\\n"``, ``b"+new"`` (no newline)."""
    old: list[bytes] = []
    new: list[bytes] = []
    leading = trailing = added = removed = 0
    for item in body:
        sign, text = item[:1], item[1:]
        if sign == b" ":
            old.append(text)
            new.append(text)
            leading += not (added or removed)
            trailing += 1
        elif sign == b"-":
            old.append(text)
            removed += 1
            trailing = 0
        else:
            assert sign == b"+"
            new.append(text)
            added += 1
            trailing = 0
    return Hunk(
        old_start=old_start,
        old_count=len(old),
        new_start=old_start if new_start is None else new_start,
        new_count=len(new),
        old_lines=tuple(old),
        new_lines=tuple(new),
        leading=leading,
        trailing=trailing,
        added=added,
        removed=removed,
    )


def lines(*names: str) -> list[bytes]:
    return [f"{name}\n".encode() for name in names]


def find(image: list[bytes], pre: list[bytes], start: int, **flags: bool) -> int:
    return find_position(
        image,
        [False] * len(image),
        tuple(pre),
        start,
        match_beginning=flags.get("beginning", False),
        match_end=flags.get("end", False),
    )


# -- splitting -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", []),
        (b"\n", [b"\n"]),
        (b"a", [b"a"]),
        (b"a\nb", [b"a\n", b"b"]),
        (b"a\r\nb\r\n", [b"a\r\n", b"b\r\n"]),
        (b"a\rb\rc\n", [b"a\rb\rc\n"]),  # a lone CR never ends a line
        (b"a\x0bb\x0cc\x1cd\x85e\n", [b"a\x0bb\x0cc\x1cd\x85e\n"]),  # nor do str.splitlines' breaks
        (b"\n\n", [b"\n", b"\n"]),
    ],
)
def test_split_lines_on_newline_only(data: bytes, expected: list[bytes]) -> None:
    assert split_lines(data) == expected
    assert b"".join(split_lines(data)) == data
    assert count_lines(data) == len(expected)


# -- where a hunk may match ------------------------------------------------------------------


def test_exact_position_wins() -> None:
    image = lines("x", "ctx", "x", "ctx", "x")
    assert find(image, lines("ctx"), 1) == 1
    assert find(image, lines("ctx"), 3) == 3


def test_forward_is_preferred_over_backward_at_equal_distance() -> None:
    image = lines("x", "ctx", "x", "ctx", "x")
    assert find(image, lines("ctx"), 2) == 3


def test_nearer_backward_beats_farther_forward() -> None:
    image = lines("ctx", "x", "x", "x", "ctx")
    assert find(image, lines("ctx"), 1) == 0
    assert find(image, lines("ctx"), 3) == 4


def test_search_reaches_both_ends_of_the_file() -> None:
    image = lines("ctx", *["x"] * 20)
    assert find(image, lines("ctx"), 15) == 0
    image = lines(*["x"] * 20, "ctx")
    assert find(image, lines("ctx"), 0) == 20


def test_start_past_the_end_is_clamped() -> None:
    image = lines("a", "b", "c")
    assert find(image, lines("b", "c"), 99) == 1


def test_pre_image_longer_than_the_file_never_matches() -> None:
    assert find(lines("a"), lines("a", "a"), 0) == -1


def test_no_fuzz_one_byte_differs() -> None:
    image = lines("alpha", "beta", "gamma")
    assert find(image, lines("alpha", "betA", "gamma"), 0) == -1
    assert find(image, [b"alpha\n", b"beta \n"], 0) == -1  # whitespace counts too


def test_match_beginning_pins_position_zero() -> None:
    image = lines("x", "ctx", "y")
    assert find(image, lines("ctx"), 1, beginning=True) == -1
    assert find(lines("ctx", "y"), lines("ctx"), 1, beginning=True) == 0


def test_match_end_pins_the_last_lines() -> None:
    image = lines("ctx", "y", "ctx")
    assert find(image, lines("ctx"), 0, end=True) == 2
    assert find(lines("ctx", "y"), lines("ctx"), 0, end=True) == -1


def test_match_beginning_and_end_needs_the_whole_file() -> None:
    assert find(lines("a", "b"), lines("a", "b"), 0, beginning=True, end=True) == 0
    assert find(lines("a", "b", "c"), lines("a", "b"), 0, beginning=True, end=True) == -1
    assert find([], [], 0, beginning=True, end=True) == 0
    assert find(lines("a"), [], 0, beginning=True, end=True) == -1


def test_empty_pre_image_at_end_appends() -> None:
    assert find(lines("a", "b"), [], 0, end=True) == 2


def test_patched_lines_are_skipped_by_the_search() -> None:
    image = lines("ctx", "x", "ctx")
    patched = [True, False, False]
    at = find_position(
        image, patched, tuple(lines("ctx")), 0, match_beginning=False, match_end=False
    )
    assert at == 2
    patched = [True, False, True]
    at = find_position(
        image, patched, tuple(lines("ctx")), 0, match_beginning=False, match_end=False
    )
    assert at == -1


# -- applying ----------------------------------------------------------------------------------


def test_hunks_apply_in_order_with_their_new_side_start() -> None:
    content = b"".join(lines("top", "a", "b", "c", "d", "e", "f", "g"))
    first = make_hunk([b" top\n", b"+one\n", b"+two\n", b" a\n"], old_start=1, new_start=1)
    second = make_hunk([b" e\n", b"-f\n", b"+F\n", b" g\n"], old_start=6, new_start=8)
    assert apply_hunks(content, [first, second]) == b"".join(
        lines("top", "one", "two", "a", "b", "c", "d", "e", "F", "g")
    )


def test_new_side_start_decides_between_two_equal_copies() -> None:
    """After an earlier hunk moved the text, the header's new-side line is tried first."""
    content = b"".join(lines("head", "x", "x", "ctx", "old", "ctx", "ctx", "old", "ctx", "x"))
    grow = make_hunk([b" head\n", b"+1\n", b"+2\n", b"+3\n", b" x\n"], old_start=1)
    # The hunk is for the second copy (old line 7). Three lines were added above it, so its new
    # side says line 10, where it is; by the old side, line 7 now holds the first copy.
    edit = make_hunk([b" ctx\n", b"-old\n", b"+new\n", b" ctx\n"], old_start=7, new_start=10)
    result = split_lines(apply_hunks(content, [grow, edit]))
    assert result == lines(
        "head", "1", "2", "3", "x", "x", "ctx", "old", "ctx", "ctx", "new", "ctx", "x"
    )


def test_lines_patched_by_an_earlier_hunk_are_never_matched_again() -> None:
    content = b"".join(lines("a", "b", "c", "d", "e"))
    first = make_hunk([b" a\n", b"-b\n", b"+k\n", b" c\n"], old_start=1)
    # The second hunk's pre-image exists only in the first hunk's output (k, c).
    second = make_hunk([b" k\n", b" c\n", b"+again\n", b" d\n"], old_start=3, new_start=3)
    with pytest.raises(HunkMismatch) as caught:
        apply_hunks(content, [first, second])
    assert caught.value.index == 1
    assert caught.value.hunk is second
    # On its own, against the first hunk's output, that same hunk applies.
    patched_once = apply_hunks(content, [first])
    assert apply_hunks(patched_once, [second]) == b"".join(lines("a", "k", "c", "again", "d", "e"))


def test_carriage_returns_stay_part_of_the_line() -> None:
    content = b"a\r\nb\r\nc\r\n"
    lf_only = make_hunk([b" a\n", b"-b\n", b"+B\n", b" c\n"], old_start=1)
    with pytest.raises(HunkMismatch):
        apply_hunks(content, [lf_only])
    crlf = make_hunk([b" a\r\n", b"-b\r\n", b"+B\r\n", b" c\r\n"], old_start=1)
    assert apply_hunks(content, [crlf]) == b"a\r\nB\r\nc\r\n"


def test_mixed_line_endings_are_kept_byte_for_byte() -> None:
    content = b"one\r\ntwo\nthree\r\n"
    hunk = make_hunk([b" one\r\n", b"-two\n", b"+2\r\n", b" three\r\n"], old_start=1)
    assert apply_hunks(content, [hunk]) == b"one\r\n2\r\nthree\r\n"


def test_empty_file_creation() -> None:
    hunk = make_hunk([b"+hello\n", b"+world"], old_start=0, new_start=1)
    assert apply_hunks(b"", [hunk]) == b"hello\nworld"


def test_creation_hunk_refuses_a_file_with_content() -> None:
    hunk = make_hunk([b"+hello\n"], old_start=0, new_start=1)
    with pytest.raises(HunkMismatch) as caught:
        apply_hunks(b"already here\n", [hunk])
    assert caught.value.index == 0
    assert "no context and must apply at the beginning" in caught.value.reason


def test_emptying_a_file() -> None:
    hunk = make_hunk([b"-a\n", b"-b\n"], old_start=1, new_start=0)
    assert apply_hunks(b"a\nb\n", [hunk]) == b""


def test_old_start_one_must_match_at_the_beginning() -> None:
    """``@@ -1,2 +1,3 @@`` is anchored: the same context further down does not count."""
    hunk = make_hunk([b" a\n", b"+new\n", b" b\n"], old_start=1)
    with pytest.raises(HunkMismatch) as caught:
        apply_hunks(b"zzz\na\nb\n", [hunk])
    assert "at the beginning of the file" in caught.value.reason
    assert apply_hunks(b"a\nb\nzzz\n", [hunk]) == b"a\nnew\nb\nzzz\n"


def test_hunk_without_trailing_context_must_match_at_the_end() -> None:
    hunk = make_hunk([b" a\n", b" b\n", b"+tail\n"], old_start=5)
    with pytest.raises(HunkMismatch) as caught:
        apply_hunks(b"a\nb\nmore\n", [hunk])
    assert "at the end of the file" in caught.value.reason
    assert apply_hunks(b"x\na\nb\n", [hunk]) == b"x\na\nb\ntail\n"


def test_hunk_with_trailing_context_floats() -> None:
    hunk = make_hunk([b" a\n", b"+mid\n", b" b\n"], old_start=5)
    assert apply_hunks(b"x\na\nb\nmore\n", [hunk]) == b"x\na\nmid\nb\nmore\n"


def test_no_newline_context_matches_only_the_unterminated_last_line() -> None:
    """Git's memcmp lets ``a`` (no newline) match ``a\\n`` too and then drops that newline
    (``git apply`` turns ``a\\na`` into ``a\\naa`` here); agentos keeps the marker's meaning."""
    hunk = make_hunk([b"+a\n", b" a"], old_start=1)
    with pytest.raises(HunkMismatch):
        apply_hunks(b"a\na", [hunk])
    assert apply_hunks(b"a", [hunk]) == b"a\na"


def test_adding_a_final_newline() -> None:
    hunk = make_hunk([b" a\n", b"-b", b"+b\n"], old_start=1)
    assert apply_hunks(b"a\nb", [hunk]) == b"a\nb\n"
    with pytest.raises(HunkMismatch):
        apply_hunks(b"a\nb\n", [hunk])


def test_mismatch_names_the_failing_hunk_and_why() -> None:
    content = b"".join(lines("a", "b", "c", "d", "e", "f"))
    good = make_hunk([b" a\n", b"-b\n", b"+B\n", b" c\n"], old_start=1)
    bad = make_hunk([b" d\n", b"-nope\n", b"+N\n", b" f\n"], old_start=4)
    with pytest.raises(HunkMismatch) as caught:
        apply_hunks(content, [good, bad])
    failure = caught.value
    assert failure.index == 1
    assert failure.hunk is bad
    assert failure.reason == str(failure)
    assert "3 context/removed line(s) starting 'd' were not found anywhere" in failure.reason


def test_mismatch_reason_shortens_long_lines() -> None:
    long_line = b"x" * 200 + b"\n"
    hunk = make_hunk([b" " + long_line, b"-y\n", b"+z\n", b" w\n"], old_start=3)
    with pytest.raises(HunkMismatch) as caught:
        apply_hunks(b"q\n", [hunk])
    assert "'" + "x" * 57 + "...'" in caught.value.reason
    assert "x" * 58 not in caught.value.reason


def test_apply_hunks_is_pure() -> None:
    content = b"a\nb\n"
    hunk = make_hunk([b" a\n", b"-b\n", b"+c\n"], old_start=1)
    hunks = (hunk,)
    assert apply_hunks(content, hunks) == b"a\nc\n"
    assert apply_hunks(content, hunks) == b"a\nc\n"
    assert content == b"a\nb\n"


def test_a_hunk_may_land_before_an_earlier_one() -> None:
    """Out of order, as git allows: the file is patched before the earlier hunk's lines,
    and those lines stay unmatchable."""
    content = b"".join(lines("a", "b", "c", "d", "e", "f", "g", "h"))
    late = make_hunk([b" f\n", b"-g\n", b"+G\n", b"+G2\n", b" h\n"], old_start=6)
    early = make_hunk([b" a\n", b"-b\n", b" c\n"], old_start=2, new_start=2)
    middle = make_hunk([b" d\n", b"+D\n", b" e\n"], old_start=4, new_start=3)
    assert apply_hunks(content, [late, early, middle]) == b"".join(
        lines("a", "c", "d", "D", "e", "f", "G", "G2", "h")
    )
    again = make_hunk([b" G\n", b"-G2\n", b" h\n"], old_start=7)
    with pytest.raises(HunkMismatch):
        apply_hunks(content, [late, early, again])


def _spliced(content: bytes, hunks: list[Hunk]) -> bytes:
    """The applier as a plain list splice per hunk (the obvious, quadratic way)."""
    image = split_lines(content)
    patched = [False] * len(image)
    for hunk in hunks:
        start = hunk.new_start - 1 if hunk.new_start else 0
        at = find_position(
            image,
            patched,
            hunk.old_lines,
            start,
            match_beginning=hunk.old_start <= 1,
            match_end=hunk.trailing == 0,
        )
        if at < 0:
            raise HunkMismatch(0, hunk, "no match")
        end = at + len(hunk.old_lines)
        image[at:end] = hunk.new_lines
        patched[at:end] = [True] * len(hunk.new_lines)
    return b"".join(image)


@given(
    size=st.integers(1, 30),
    edits=st.lists(
        st.tuples(st.integers(0, 40), st.integers(0, 3), st.integers(0, 3), st.integers(-5, 5)),
        min_size=1,
        max_size=6,
    ),
)
def test_applying_in_one_pass_equals_splicing_each_hunk(
    size: int, edits: list[tuple[int, int, int, int]]
) -> None:
    """Hunks in any order, at true or shifted positions: the one-pass image gives the
    same bytes (or the same refusal) as splicing a list for every hunk."""
    content = b"".join(b"%d\n" % (i % 7) for i in range(size))
    hunks = []
    for count, (where, removed, added, shift) in enumerate(edits):
        at = where % size
        body = [b" " + b"%d\n" % (at % 7)]
        body += [b"-" + b"%d\n" % ((at + 1 + k) % 7) for k in range(removed)]
        body += [b"+new%d.%d\n" % (count, k) for k in range(added)]
        body.append(b" " + b"%d\n" % ((at + 1 + removed) % 7))
        hunks.append(make_hunk(body, old_start=at + 2, new_start=max(at + 2 + shift, 0)))
    try:
        expected: bytes | None = _spliced(content, hunks)
    except HunkMismatch:
        expected = None
    try:
        actual: bytes | None = apply_hunks(content, hunks)
    except HunkMismatch:
        actual = None
    assert actual == expected
