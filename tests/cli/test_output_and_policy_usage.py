"""Usage errors a new user meets first: where ``plan -o`` may write, and a ``--policy`` file
that does not exist. Each is exit 2 with one line naming what to fix, and nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import PERMISSIVE_POLICY, Run, agentos, write_tree

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


def plan_to(ws: Path, target: str | Path, *, cwd: Path | None = None) -> Run:
    return agentos(
        "plan", ws / "m.yaml", "-o", target, "-C", ws, "--policy", PERMISSIVE_POLICY, cwd=cwd or ws
    )


def state_of(ws: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(ws)): p.read_bytes()
        for p in sorted(ws.rglob("*"))
        if p.is_file() and "logs" not in p.parts
    }


@pytest.mark.parametrize(
    ("target", "why"),
    [
        ("src/a.txt", "is not a plan file"),
        (".agentos/audit/HEAD", "agentos's own state"),
        (".agentos/workspace.id", "agentos's own state"),
        (".agentos/new.json", "agentos's own state"),
        (".git/config", "git's own folder"),
        (".git/new.json", "git's own folder"),
        ("agent/policies/default.yaml", "the policy file"),
    ],
)
def test_plan_output_never_replaces_what_is_not_a_plan(ws: Path, target: str, why: str) -> None:
    write_tree(ws, {".git/config": "[core]\n", "agent/policies/default.yaml": "version: 1\n"})
    # The workspace's state exists (audit HEAD, workspace.id, plans/).
    assert agentos("plan", "m.yaml", "--policy", PERMISSIVE_POLICY, cwd=ws).code == 0
    before = state_of(ws)
    run = plan_to(ws, target)
    assert run.code == 2, run.doc
    message = run.doc["error"]["message"]
    assert why in message and "--output" in message and "\n" not in message
    assert state_of(ws) == before


def test_plan_output_refuses_a_file_the_plan_creates_from_another_folder(ws: Path) -> None:
    # -o is relative to the working directory, the plan's paths to the workspace root.
    before = state_of(ws)
    run = plan_to(ws, "b.txt", cwd=ws / "src")
    assert run.code == 2, run.doc
    assert "'src/b.txt', a file this plan changes" in run.doc["error"]["message"]
    assert not (ws / "src" / "b.txt").exists()
    assert state_of(ws) == before


def test_plan_output_refuses_a_modified_file_named_through_a_link(ws: Path) -> None:
    (ws / "m.yaml").write_text('changes:\n  - {op: modify, path: src/a.txt, content: "A\\n"}\n')
    (ws / "alias").symlink_to(ws / "src")
    run = plan_to(ws, "alias/a.txt")
    assert run.code == 2
    assert (ws / "src" / "a.txt").read_text() == "a\n"


def test_plan_output_may_replace_an_earlier_plan_file(ws: Path, tmp_path: Path) -> None:
    target = tmp_path / "artifact.json"
    assert plan_to(ws, target).code == 0
    again = plan_to(ws, target)  # a CI job run again with the same -o
    assert again.code == 0, again.doc
    assert again.doc["result"]["plan_file"] == str(target)
    assert agentos("plan", "m.yaml", "--policy", PERMISSIVE_POLICY, cwd=ws).code == 0
    inside = ws / ".agentos" / "plans" / "mine.json"
    assert plan_to(ws, inside).code == 0
    assert plan_to(ws, inside).code == 0
