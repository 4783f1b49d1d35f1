"""A patch that does not apply because the workspace already has it says so, as
``git apply --reverse --check`` would tell a git user; any other conflict does not."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from helpers import PERMISSIVE_POLICY, Cli, git_available

MODIFY = b"--- a/a.txt\n+++ b/a.txt\n@@ -1,3 +1,3 @@\n one\n-two\n+TWO\n three\n"
CREATE = (
    b"diff --git a/n.txt b/n.txt\nnew file mode 100644\n--- /dev/null\n+++ b/n.txt\n"
    b"@@ -0,0 +1 @@\n+new\n"
)


def plan(cli: Cli, ws: Path, body: bytes) -> tuple[int, dict[str, object]]:
    patch = ws.parent / "change.diff"
    patch.write_bytes(body)
    res = cli("plan", patch, "-C", ws, "--policy", PERMISSIVE_POLICY, "--json")
    error = res.json()["error"]
    return res.code, error


@pytest.mark.parametrize(
    ("content", "applied"),
    [
        (b"one\nTWO\nthree\n", True),  # what the patch makes
        (b"one\nTOO\nthree\n", False),  # something else
    ],
)
def test_a_modification_already_made_is_named_as_such(
    cli: Cli, workspace: Path, content: bytes, applied: bool
) -> None:
    (workspace / "a.txt").write_bytes(content)
    code, error = plan(cli, workspace, MODIFY)
    assert code == 5
    assert error["details"]["already_applied"] is applied
    message = str(error["message"])
    assert ("the patch looks already applied: its reverse applies cleanly" in message) is applied
    assert ("re-create the patch against the current file" in message) is not applied
    if git_available():  # git agrees
        reverse = subprocess.run(
            ["git", "apply", "--reverse", "--check", str(workspace.parent / "change.diff")],
            cwd=workspace,
            capture_output=True,
            check=False,
        )
        assert (reverse.returncode == 0) is applied


def test_a_creation_already_made_is_named_as_such(cli: Cli, workspace: Path) -> None:
    (workspace / "n.txt").write_bytes(b"new\n")
    code, error = plan(cli, workspace, CREATE)
    assert code == 5
    assert error["details"]["already_applied"] is True
    assert "with the content this patch gives it (already applied?)" in str(error["message"])

    (workspace / "n.txt").write_bytes(b"other\n")
    code, error = plan(cli, workspace, CREATE)
    assert error["details"]["already_applied"] is False
    assert "already applied" not in str(error["message"])
