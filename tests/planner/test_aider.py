"""aider's SEARCH/REPLACE blocks (SPEC §4.5): file lines as models write them, fences, several
blocks and files, new files and appends, detection, --format, refusals, a round trip."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from agentos.errors import PatchConflictError, PatchParseError, PathSafetyError
from agentos.planner.aider import parse_blocks
from agentos.planner.plan import detect_format
from helpers import write_tree
from planning import files, plan_items, refusal


def block(search: str, replace: str, path: str | None = None, fence: bool = False) -> str:
    """One block (``search`` and ``replace`` are whole lines, each ending in a newline)."""
    body = f"<<<<<<< SEARCH\n{search}=======\n{replace}>>>>>>> REPLACE\n"
    if fence:
        body = f"```python\n{body}```\n"
    return (f"{path}\n" if path is not None else "") + body


MESSAGE = """I'll make the change in two files.

src/app.py
```python
<<<<<<< SEARCH
def main():
    return 1
=======
def main():
    return 2
>>>>>>> REPLACE
```

And a new helper:

**src/util.py**
```python
<<<<<<< SEARCH
=======
def helper():
    return 3
>>>>>>> REPLACE
```

That's all.
"""


def test_a_message_with_blocks_for_two_files(workspace: Path) -> None:
    write_tree(workspace, {"src/app.py": "import os\n\ndef main():\n    return 1\n"})
    plan = plan_items(workspace, MESSAGE, name="reply.md")
    assert plan.sources[0].format == "aider"
    assert [(c.op, c.path) for c in plan.changeset.changes] == [
        ("modify", "src/app.py"),
        ("create", "src/util.py"),
    ]
    assert files(plan, workspace) == {
        "src/app.py": b"import os\n\ndef main():\n    return 2\n",
        "src/util.py": b"def helper():\n    return 3\n",
    }
    counts = {f.path: (f.added, f.removed) for f in plan.stats.per_file}
    assert counts == {"src/app.py": (2, 2), "src/util.py": (2, 0)}


@pytest.mark.parametrize(
    "lead",
    [
        "a.py\n",
        "a.py\n```\n",
        "```\na.py\n",
        "```python\na.py\n",
        "**a.py**\n",
        "`a.py`\n",
        "# a.py:\n",
        "```a.py\n",
        " ```python\na.py\n```\n```python\n",
    ],
)
def test_the_file_line_as_models_write_it(workspace: Path, lead: str) -> None:
    write_tree(workspace, {"a.py": "x = 1\n"})
    message = f"Here you go:\n\n{lead}<<<<<<< SEARCH\nx = 1\n=======\nx = 2\n>>>>>>> REPLACE\n"
    assert files(plan_items(workspace, message), workspace) == {"a.py": b"x = 2\n"}


def test_a_block_without_a_file_line_reuses_the_previous_file(workspace: Path) -> None:
    write_tree(workspace, {"a.txt": "one\ntwo\nthree\n"})
    message = block("one\n", "1\n", "a.txt") + "\n...\n\n" + block("three\n", "3\n")
    message += block("two\n", "2\n")  # right after the previous block's marker
    assert files(plan_items(workspace, message), workspace) == {"a.txt": b"1\n2\n3\n"}


def test_blocks_apply_in_order_to_the_result_of_earlier_ones(workspace: Path) -> None:
    write_tree(workspace, {"a.txt": "one\n"})
    message = block("one\n", "two\n", "a.txt") + block("two\n", "three\n", "a.txt")
    assert files(plan_items(workspace, message), workspace) == {"a.txt": b"three\n"}


def test_an_empty_search_appends_to_an_existing_file(workspace: Path) -> None:
    write_tree(workspace, {"a.txt": "one\n"})
    message = block("", "two\n", "a.txt", fence=True)
    assert files(plan_items(workspace, message), workspace) == {"a.txt": b"one\ntwo\n"}


def test_markers_of_other_lengths_and_crlf_messages(workspace: Path) -> None:
    write_tree(workspace, {"a.txt": "one\n"})
    message = "a.txt\r\n<<<<<<<<< SEARCH\r\none\n=====\r\n1\n>>>>> REPLACE\r\n"
    assert files(plan_items(workspace, message), workspace) == {"a.txt": b"1\n"}


def test_a_file_without_a_final_newline_gets_one_as_in_aider(workspace: Path) -> None:
    write_tree(workspace, {"a.txt": "one\ntwo"})
    message = block("one\n", "1\n", "a.txt")
    assert files(plan_items(workspace, message), workspace) == {"a.txt": b"1\ntwo\n"}


def test_an_absolute_path_inside_the_workspace(workspace: Path) -> None:
    write_tree(workspace, {"a.txt": "one\n"})
    message = block("one\n", "1\n", f"{workspace}/a.txt")
    assert files(plan_items(workspace, message), workspace) == {"a.txt": b"1\n"}


def test_detection_and_forcing(workspace: Path) -> None:
    assert detect_format(MESSAGE.encode(), source="m") == "aider"
    write_tree(workspace, {"a.txt": "one\n"})
    plan = plan_items(workspace, block("one\n", "1\n", "a.txt"), fmt="aider")
    assert plan.sources[0].format == "aider"


def test_parse_blocks_ignores_text_outside_blocks() -> None:
    blocks = parse_blocks("intro\n\nf.py\n" + block("a\n", "b\n") + "\noutro\n", source="m")
    assert [(b.path, b.search, b.replace, b.line) for b in blocks] == [("f.py", "a\n", "b\n", 4)]


# ---------------------------------------------------------------------------------------------
# Refusals
# ---------------------------------------------------------------------------------------------


def test_search_text_not_found_is_refused(workspace: Path) -> None:
    write_tree(workspace, {"a.txt": "one\n"})
    error = refusal(
        workspace, block("missing line\nmore\n", "x\n", "a.txt"), kind=PatchConflictError, code=5
    )
    assert "a.txt" in error.message
    assert "'missing line'" in error.message
    assert "not found" in error.message


def test_search_text_must_match_whole_lines(workspace: Path) -> None:
    write_tree(workspace, {"a.txt": "xone\n"})
    refusal(workspace, block("one\n", "1\n", "a.txt"), kind=PatchConflictError, code=5)


def test_leading_whitespace_must_match_too(workspace: Path) -> None:
    write_tree(workspace, {"a.py": "    return 1\n"})
    refusal(workspace, block("return 1\n", "return 2\n", "a.py"), kind=PatchConflictError)


def test_an_ambiguous_search_is_refused(workspace: Path) -> None:
    write_tree(workspace, {"a.txt": "x\ny\nx\n"})
    error = refusal(workspace, block("x\n", "z\n", "a.txt"), kind=PatchConflictError, code=5)
    assert "a.txt" in error.message
    assert "ambiguous" in error.message


def test_editing_a_missing_file_is_refused(workspace: Path) -> None:
    error = refusal(workspace, block("x\n", "z\n", "no.txt"), kind=PatchConflictError, code=5)
    assert "no.txt" in error.message


@pytest.mark.parametrize(
    ("message", "fragment"),
    [
        ("just some text\n", "no SEARCH/REPLACE block"),
        ("<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n", "names no file"),
        ("a.txt\n<<<<<<< SEARCH\nx\n", "no '=======' line"),
        ("a.txt\n<<<<<<< SEARCH\nx\n=======\ny\n", "no '>>>>>>> REPLACE' line"),
        ("a.txt\n<<<<<<< SEARCH\nx\n=======\ny\n=======\nz\n>>>>>>> REPLACE\n", "inside the"),
    ],
)  # fmt: skip
def test_malformed_messages_are_refused(workspace: Path, message: str, fragment: str) -> None:
    write_tree(workspace, {"a.txt": "x\n"})
    error = refusal(workspace, message, fmt="aider", kind=PatchParseError, code=2)
    assert fragment in error.message


def test_a_path_outside_the_workspace_is_refused(workspace: Path) -> None:
    refusal(workspace, block("", "x\n", "../x.txt"), kind=PathSafetyError, code=3)


# ---------------------------------------------------------------------------------------------
# Round trip
# ---------------------------------------------------------------------------------------------

_LINE = st.text(alphabet="abc ", max_size=6).map(lambda s: s + "\n")


@given(
    lines=st.lists(_LINE, min_size=1, max_size=12),
    start=st.integers(min_value=0, max_value=11),
    length=st.integers(min_value=1, max_value=4),
    replacement=st.lists(_LINE, max_size=4),
)
def test_a_block_round_trips(
    lines: list[str], start: int, length: int, replacement: list[str]
) -> None:
    assume(start < len(lines))
    length = min(length, len(lines) - start)
    search = "".join(lines[start : start + length])
    replace = "".join(replacement)
    content = "".join(lines)
    whole = [i for i in range(len(lines)) if "".join(lines[i : i + length]) == search]
    assume(search.strip() and len(whole) == 1 and search != replace)
    assume("".join(lines[:start]) + replace + "".join(lines[start + length :]) != content)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_tree(root, {"f.txt": content})
        plan = plan_items(root, "Change:\n\nf.txt\n```\n" + block(search, replace) + "```\n")
        expected = "".join(lines[:start]) + replace + "".join(lines[start + length :])
        assert files(plan, root) == {"f.txt": expected.encode()}
