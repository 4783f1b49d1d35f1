"""``agentos plan --json`` on what agents emit: a Claude Code Edit hook event, an aider reply."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from helpers import PERMISSIVE_POLICY, CliResult, read_tree, write_tree

Cli = Callable[..., CliResult]

REPLY = """Sure, here is the change:

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
"""


def plan_json(cli: Cli, workspace: Path, source: Path, *extra: str) -> CliResult:
    return cli("plan", source, "-C", workspace, "--json", "--policy", PERMISSIVE_POLICY, *extra)


def test_plan_a_claude_edit_hook_event(cli: Cli, workspace: Path, tmp_path: Path) -> None:
    write_tree(workspace, {"src/app.py": "def main():\n    return 1\n"})
    event = {
        "session_id": "abc",
        "cwd": str(workspace),
        "hook_event_name": "PreToolUse",
        "tool_name": "Edit",
        "tool_input": {
            "file_path": str(workspace / "src" / "app.py"),
            "old_string": "return 1",
            "new_string": "return 2",
        },
    }
    source = tmp_path / "hook.json"
    source.write_text(json.dumps(event))
    before = read_tree(workspace)
    result = plan_json(cli, workspace, source)
    assert result.code == 0, result.err
    doc = result.json()["result"]
    assert [s["format"] for s in doc["sources"]] == ["claude"]
    assert [(c["op"], c["path"]) for c in doc["changes"]] == [("modify", "src/app.py")]
    assert read_tree(workspace) == before  # planning never writes a workspace file


def test_plan_an_aider_reply_forced_and_detected(cli: Cli, workspace: Path, tmp_path: Path) -> None:
    write_tree(workspace, {"src/app.py": "def main():\n    return 1\n"})
    source = tmp_path / "reply.md"
    source.write_text(REPLY)
    for extra in ((), ("--format", "aider")):
        result = plan_json(cli, workspace, source, *extra)
        assert result.code == 0, result.err
        doc = result.json()["result"]
        assert [s["format"] for s in doc["sources"]] == ["aider"]
        assert doc["stats"]["added_lines"] == 2


def test_an_ambiguous_edit_is_one_line_exit_5(cli: Cli, workspace: Path, tmp_path: Path) -> None:
    write_tree(workspace, {"src/app.py": "x = 1\nx = 1\n"})
    source = tmp_path / "hook.json"
    edit = {"file_path": str(workspace / "src/app.py"), "old_string": "x", "new_string": "y"}
    source.write_text(json.dumps({"tool_name": "Edit", "tool_input": edit}))
    result = plan_json(cli, workspace, source)
    assert result.code == 5
    assert result.err.count("\n") == 1
    assert "src/app.py" in result.err
    assert "ambiguous" in result.json()["error"]["message"]


def test_the_format_option_lists_the_new_formats(cli: Cli) -> None:
    result = cli("plan", "--help")
    assert result.code == 0
    for name in ("claude", "mcp", "aider"):
        assert name in result.out
