"""``LineIndex`` reads the same lines as ``split_lines``, whatever the chunk boundaries."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentos.textlines import LineIndex, split_lines


@pytest.mark.parametrize("chunk", [1, 3, 7, 1 << 20])
@given(
    data=st.lists(
        st.sampled_from([b"a", b"bc", b"\n", b"\r", b"\r\n", b"long line "]), max_size=40
    ).map(b"".join),
    start=st.integers(-5, 45),
    stop=st.integers(-5, 45),
)
def test_line_index_reads_the_lines_split_lines_makes(
    chunk: int, data: bytes, start: int, stop: int
) -> None:
    index = LineIndex(data, chunk=chunk)
    lines = split_lines(data)
    assert len(index) == len(lines)
    assert list(index) == lines
    assert index[start:stop] == lines[start:stop]
    assert index[start:stop:2] == lines[start:stop:2]
    if lines:
        assert index[-1] == lines[-1]
    with pytest.raises(IndexError):
        index[len(lines)]
