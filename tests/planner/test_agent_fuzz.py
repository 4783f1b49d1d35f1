"""Hostile and mangled agent inputs: whatever bytes come as a tool call, an aider reply or a
Codex shell form, planning them either succeeds or refuses with a one-line error (2, 3 or 5)
and never changes the workspace."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentos.errors import AgentosError, InputTooLargeError, PathSafetyError
from helpers import read_tree, write_tree
from planning import plan_items

BASE = {"a.py": "def f():\n    return 1\n", "d/b.txt": "one\r\ntwo\r\n", "c.txt": "x\nx\n"}

EDIT = {"file_path": "a.py", "old_string": "1", "new_string": "2"}
MULTI = {
    "file_path": "c.txt",
    "edits": [{"old_string": "x", "new_string": "y", "replace_all": True}],
}
MCP_EDIT = {"path": "a.py", "edits": [{"oldText": "return 1", "newText": "return 2"}]}
ADD_Z = "*** Begin Patch\n*** Add File: z.txt\n+z\n*** End Patch"
SEEDS = {
    "claude": json.dumps(
        [
            {"tool_name": "Edit", "tool_input": EDIT},
            {"file_path": "n.txt", "content": "new\n"},
            {"name": "MultiEdit", "input": MULTI},
        ]
    ),
    "mcp": json.dumps(
        [
            {"name": "mcp__fs__edit_file", "arguments": MCP_EDIT},
            {"source": "c.txt", "destination": "e/c.txt"},
        ]
    ),
    "aider": (
        "a.py\n```python\n<<<<<<< SEARCH\n    return 1\n=======\n    return 2\n"
        ">>>>>>> REPLACE\n```\n"
    ),
    "codex": (
        "cd d && apply_patch <<'EOF'\n*** Begin Patch\n*** Update File: b.txt\n@@\n-one\n+1\n"
        "*** End Patch\nEOF\n"
    ),
    "payload": json.dumps(
        {"tool_name": "apply_patch", "tool_input": {"command": ["apply_patch", ADD_Z]}}
    ),
}
FORMATS = ("auto", "claude", "mcp", "aider", "codex")


def check(data: bytes, fmt: str) -> None:
    """Plan ``data`` in a fresh workspace; it plans, or refuses cleanly without writing."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ws"
        root.mkdir()
        write_tree(root, BASE)
        before = read_tree(root)
        try:
            plan_items(root, data, fmt=fmt)
        except AgentosError as error:
            assert "\n" not in error.message
            assert error.exit_code in (2, 3, 5), error.message
            if error.exit_code == 3:
                assert isinstance(error, PathSafetyError | InputTooLargeError), error.message
        assert read_tree(root) == before


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_the_seeds_plan(name: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_tree(root, BASE)
        assert plan_items(root, SEEDS[name]).changeset.changes


@st.composite
def mangled(draw: st.DrawFn) -> bytes:
    data = bytearray(SEEDS[draw(st.sampled_from(sorted(SEEDS)))].encode())
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        at = draw(st.integers(min_value=0, max_value=len(data)))
        action = draw(st.sampled_from(("delete", "insert", "cut")))
        if action == "delete":
            del data[at : at + draw(st.integers(min_value=1, max_value=8))]
        elif action == "insert":
            data[at:at] = draw(
                st.sampled_from(
                    (b"../", b"/etc/", b"\n", b'"', b"{", b"]", b"<<<<<<< SEARCH\n", b"=======\n",
                     b"\x00", b"\\u0000", b"EOF\n", b"mcp__x__", b"cd .. && ")
                )
            )  # fmt: skip
        else:
            del data[at:]
    return bytes(data)


@settings(max_examples=150)
@given(data=mangled(), fmt=st.sampled_from(FORMATS))
def test_mangled_agent_inputs_are_planned_or_refused_cleanly(data: bytes, fmt: str) -> None:
    check(data, fmt)


@settings(max_examples=100)
@given(data=st.binary(max_size=300), fmt=st.sampled_from(FORMATS))
def test_garbage_is_refused_cleanly(data: bytes, fmt: str) -> None:
    check(data, fmt)
