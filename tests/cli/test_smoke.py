"""The CLI answers and plans a simple diff end to end in-process."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from helpers import CliResult, write_tree

DIFF = b"""diff --git a/a.txt b/a.txt
--- a/a.txt
+++ b/a.txt
@@ -1,2 +1,2 @@
 hello
-world
+there
"""


def test_version(cli: Callable[..., CliResult]) -> None:
    result = cli("--version")
    assert result.code == 0
    assert result.out.startswith("agentos ")


def test_plan_writes_plan_file(
    cli: Callable[..., CliResult], workspace: Path, tmp_path: Path
) -> None:
    write_tree(workspace, {"a.txt": "hello\nworld\n"})
    write_tree(workspace, {"agent/policies/default.yaml": 'executor: {allowed_paths: ["a.txt"]}\n'})
    patch = tmp_path / "p.diff"
    patch.write_bytes(DIFF)
    result = cli("plan", patch, "-C", workspace, "--json")
    assert result.code == 0, result.err
    doc = result.json()
    assert doc["ok"] is True
    assert Path(doc["result"]["plan_file"]).is_file()
    assert (workspace / "a.txt").read_text() == "hello\nworld\n"
