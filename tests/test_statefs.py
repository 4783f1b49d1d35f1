"""Reading state files: memory bounded by the file, refused past the limit."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from agentos import statefs
from agentos.errors import StateIntegrityError


def test_a_read_holds_memory_for_the_file_not_for_the_limit(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_bytes(b"x" * 4096)
    tracemalloc.start()
    try:
        assert statefs.read_bytes(state) == b"x" * 4096
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # The default limit is 1 GiB; a read must not reserve anything near it.
    assert peak < 1 << 20


def test_a_file_past_the_limit_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_bytes(b"x" * 100)
    with pytest.raises(StateIntegrityError, match="too large"):
        statefs.read_bytes(state, limit=10)
