"""Links and special files planted inside ``.agentos/`` are never followed or waited on.

Whoever writes the workspace can put a symlink anywhere under ``.agentos/``. agentos must not
then delete, prune, overwrite or append to what it points at (exit 6 naming the link, the
target untouched), nor hang on a FIFO put where a state file belongs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from helpers import PERMISSIVE_POLICY, CliResult, read_tree, write_tree

Cli = Callable[..., CliResult]


@pytest.fixture
def ws(workspace: Path, cli: Cli) -> Path:
    write_tree(workspace, {"src/a.txt": "a\n", "src/b.txt": "b\n"})
    for plan_id, content in (("p1", "A\n"), ("p2", "AA\n")):
        manifest = workspace.parent / f"{plan_id}.json"
        manifest.write_text(
            json.dumps({"changes": [{"op": "modify", "path": "src/a.txt", "content": content}]})
        )
    planned = cli(
        "plan", workspace.parent / "p1.json", "-C", workspace, "--plan-id", "p1",
        "--policy", PERMISSIVE_POLICY,
    )  # fmt: skip
    assert planned.code == 0, planned.err
    return workspace


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory outside the workspace, full of someone's files."""
    root = tmp_path / "home"
    write_tree(
        root,
        {
            "notes.json": "{}\n",
            "old.json": "[]\n",
            ".ssh/id_ed25519": "key\n",
            "projects/p/main.py": "print(1)\n",
            ".bash_aliases": "alias ll='ls -l'\n",
        },
    )
    return root


def snapshot(root: Path) -> dict[str, tuple[bytes, str]]:
    return read_tree(root, skip=())


def refused(result: CliResult, link: Path) -> None:
    assert result.code == 6, result.out + result.err
    error = result.json()["error"]
    assert error["type"] == "state_integrity"
    assert str(link) in error["message"]
    assert "Traceback" not in result.err


def run(cli: Cli, ws: Path, *args: str | Path) -> CliResult:
    return cli(*args, "-C", ws, "--policy", PERMISSIVE_POLICY, "--json")


def test_a_linked_backups_folder_is_never_cleaned(cli: Cli, ws: Path, outside: Path) -> None:
    before = snapshot(outside)
    link = ws / ".agentos" / "backups"
    link.symlink_to(outside, target_is_directory=True)
    refused(run(cli, ws, "apply", "p1"), link)  # recovery would remove "orphan backups"
    assert snapshot(outside) == before
    assert read_tree(ws)["src/a.txt"] == (b"a\n", "100644")


def test_a_linked_archive_is_never_pruned(cli: Cli, ws: Path, outside: Path) -> None:
    assert run(cli, ws, "apply", "p1").code == 0
    before = snapshot(outside)
    archive = ws / ".agentos" / "journal" / "committed"
    for item in archive.iterdir():
        item.unlink()
    archive.rmdir()
    archive.symlink_to(outside, target_is_directory=True)
    manifest = ws.parent / "p2.json"
    assert run(cli, ws, "plan", manifest, "--plan-id", "p2").code == 0
    refused(run(cli, ws, "apply", "p2"), archive)
    assert snapshot(outside) == before


def test_a_linked_plans_folder_is_never_written(cli: Cli, ws: Path, outside: Path) -> None:
    before = snapshot(outside)
    plans = ws / ".agentos" / "plans"
    for item in plans.iterdir():
        item.unlink()
    plans.rmdir()
    plans.symlink_to(outside, target_is_directory=True)
    refused(run(cli, ws, "plan", ws.parent / "p2.json", "--plan-id", "notes"), plans)
    assert snapshot(outside) == before


def test_a_linked_audit_trail_is_never_appended_to(cli: Cli, ws: Path, outside: Path) -> None:
    before = snapshot(outside)
    audit = ws / ".agentos" / "audit"
    (audit / "HEAD").unlink()
    (audit / "audit.jsonl").unlink()
    (audit / "audit.jsonl").symlink_to(outside / ".bash_aliases")
    result = run(cli, ws, "plan", ws.parent / "p2.json", "--intent", "x $(touch /tmp/pwned)")
    refused(result, audit / "audit.jsonl")
    assert snapshot(outside) == before


@pytest.mark.parametrize("name", ["lock", "audit/lock"])
def test_a_linked_lock_file_is_named_not_followed(
    cli: Cli, ws: Path, outside: Path, name: str
) -> None:
    before = snapshot(outside)
    link = ws / ".agentos" / name
    link.unlink(missing_ok=True)
    link.symlink_to(outside / "notes.json")
    refused(run(cli, ws, "apply", "p1"), link)
    assert snapshot(outside) == before


@pytest.mark.parametrize(
    "where", ["journal/exec-0123456789abcdef0123.json", "idempotency/p1.json", "audit/HEAD"]
)
def test_a_fifo_where_a_state_file_belongs_never_hangs(cli: Cli, ws: Path, where: str) -> None:
    path = ws / ".agentos" / where
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    os.mkfifo(path)
    refused(run(cli, ws, "apply", "p1"), path)  # the test would hang here before
    assert read_tree(ws)["src/a.txt"] == (b"a\n", "100644")
