"""Usage errors a new user meets first: where ``plan -o`` may write, and a ``--policy`` file
that does not exist. Each is exit 2 with one line naming what to fix, and nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import PERMISSIVE_POLICY, agentos, write_tree

MANIFEST = 'changes:\n  - {op: create, path: src/b.txt, content: "b\\n"}\n'


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    write_tree(root, {"src/a.txt": "a\n", "m.yaml": MANIFEST})
    (root / "outdir").mkdir()
    (root / ".agentos").mkdir()  # a workspace: commands run in it without -C find it
    return root


def test_plan_into_a_directory_is_a_usage_error(ws: Path) -> None:
    run = agentos("plan", "m.yaml", "-o", "outdir", "--policy", PERMISSIVE_POLICY, cwd=ws)
    assert run.code == 2
    assert "--output 'outdir' is a directory" in run.doc["error"]["message"]
    assert list((ws / "outdir").iterdir()) == []


def test_plan_into_a_missing_folder_is_a_usage_error_and_creates_nothing(ws: Path) -> None:
    target = ws / "no" / "such" / "plan.json"
    run = agentos("plan", "m.yaml", "-o", target, "--policy", PERMISSIVE_POLICY, cwd=ws)
    assert run.code == 2
    assert "does not exist" in run.doc["error"]["message"]
    assert not (ws / "no").exists()


@pytest.mark.parametrize("spelled", ["m.yaml", "./m.yaml", "outdir/../m.yaml"])
def test_plan_never_overwrites_its_own_input(ws: Path, spelled: str) -> None:
    run = agentos("plan", "m.yaml", "-o", spelled, "--policy", PERMISSIVE_POLICY, cwd=ws)
    assert run.code == 2
    assert "would overwrite it" in run.doc["error"]["message"]
    assert (ws / "m.yaml").read_text() == MANIFEST


@pytest.mark.parametrize("command", [["status"], ["history"], ["audit", "verify"]])
def test_a_missing_policy_file_is_a_usage_error_for_every_command(
    ws: Path, command: list[str]
) -> None:
    run = agentos(*command, "--policy", ws / "no-such.yaml", cwd=ws)
    assert run.code == 2
    assert "no-such.yaml' does not exist" in run.doc["error"]["message"]
    assert "\n" not in run.doc["error"]["message"]


def test_a_policy_that_is_a_directory_is_a_usage_error(ws: Path) -> None:
    run = agentos("status", "--policy", ws / "outdir", cwd=ws)
    assert run.code == 2
    assert "is a directory" in run.doc["error"]["message"]
