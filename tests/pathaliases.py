"""The spellings macOS (HFS+) and Windows open as one name, for the path-safety tests."""

from __future__ import annotations

from hypothesis import strategies as st

# The code points HFS+ ignores anywhere in a name (git's next_hfs_char, CVE-2014-9390).
HFS_IGNORABLE = (
    "\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
    + "".join(chr(c) for c in range(0x206A, 0x2070))
    + "\ufeff"
)


@st.composite
def aliased(draw: st.DrawFn, name: str) -> str:
    """``name`` in any case, then a run of dots and spaces, HFS+ ignorables put anywhere."""
    chars = [draw(st.sampled_from([c.lower(), c.upper()])) for c in name]
    chars += draw(st.lists(st.sampled_from(". "), max_size=4))
    for _ in range(draw(st.integers(0, 4))):
        chars.insert(draw(st.integers(0, len(chars))), draw(st.sampled_from(HFS_IGNORABLE)))
    return "".join(chars)
