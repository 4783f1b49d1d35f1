"""An edit that does not apply because the file and the edit end their lines differently
(CRLF against LF) says so, whatever the input format; other misses do not mention it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentos.textlines import line_ending_hint
from helpers import PERMISSIVE_POLICY, Cli

DIFF = b"--- a/a.txt\n+++ b/a.txt\n@@ -1,3 +1,3 @@\n one\n-two\n+TWO\n three\n"
AIDER = b"a.txt\n```\n<<<<<<< SEARCH\ntwo\nthree\n=======\nx\n>>>>>>> REPLACE\n```\n"
EDITS = json.dumps([{"path": "a.txt", "old_string": "two\nthree", "new_string": "x"}]).encode()


def test_the_hint_names_both_line_endings() -> None:
    assert "CRLF but the patch with LF" in line_ending_hint(b"a\r\nb\r\n", b"a\nb\n")
    assert "LF but oldText with CRLF" in line_ending_hint("a\nb\n", "a\r\n", what="oldText")
    assert line_ending_hint(b"a\r\nb\r\n", b"a\r\nb\r\n") == ""
    assert line_ending_hint(b"a\nb\n", b"a\nb\n") == ""
    assert line_ending_hint(b"a\r\nb\r\n", b"one line") == ""  # no line ending to compare


@pytest.mark.parametrize(
    ("name", "body", "what"),
    [
        ("p.diff", DIFF, "the patch"),
        ("r.md", AIDER, "the SEARCH lines"),
        ("e.json", EDITS, "old_string"),
    ],
)
def test_an_edit_of_a_crlf_file_that_fails_mentions_line_endings(
    cli: Cli, workspace: Path, name: str, body: bytes, what: str
) -> None:
    (workspace / "a.txt").write_bytes(b"one\r\ntwo\r\nthree\r\n")
    given = workspace.parent / name
    given.write_bytes(body)
    res = cli("plan", given, "-C", workspace, "--policy", PERMISSIVE_POLICY, "--json")
    assert res.code == 5, res.out
    message = res.json()["error"]["message"]
    assert f"the file ends its lines with CRLF but {what} with LF" in message
    assert not (workspace / ".agentos" / "plans").exists() or not any(
        (workspace / ".agentos" / "plans").iterdir()
    )


def test_a_miss_with_matching_line_endings_says_nothing_of_them(cli: Cli, workspace: Path) -> None:
    (workspace / "a.txt").write_bytes(b"one\nTWO\nthree\n")
    given = workspace.parent / "p.diff"
    given.write_bytes(DIFF)
    res = cli("plan", given, "-C", workspace, "--policy", PERMISSIVE_POLICY, "--json")
    assert res.code == 5
    assert "line endings" not in res.json()["error"]["message"]
