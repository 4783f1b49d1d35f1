"""Real data: the diff between two releases of a PyPI package plans to exactly the newer one.

The releases are downloaded once by ``make realdata`` (``bench/realdata.py``) with
``pip download --no-binary :all:``; ``make test`` runs that first.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from agentos.linediff import content_counts
from agentos.planner.plan import PlanInput, PlanSpec, plan_changes
from agentos.workspace import Workspace
from helpers import PERMISSIVE_POLICY, REPO_ROOT, materialise, needs_git, read_tree, run_git


def _realdata() -> ModuleType:
    spec = importlib.util.spec_from_file_location("realdata", REPO_ROOT / "bench" / "realdata.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


realdata = _realdata()
pytestmark = [
    pytest.mark.realdata,
    pytest.mark.skipif(not realdata.ready(), reason="run 'make realdata' to download the releases"),
]


def test_release_diff_plans_and_materialises_to_the_new_release(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    shutil.copytree(realdata.OLD_DIR, ws)
    diff = realdata.DIFF_FILE.read_bytes()
    assert len(diff) > 900_000
    before = read_tree(ws)
    plan = plan_changes(
        PlanSpec(
            workspace=Workspace(ws),
            inputs=(PlanInput("release.diff", diff),),
            author="test",
            strip=realdata.STRIP,
        )
    )
    assert read_tree(ws) == before, "planning must not write"
    assert plan.stats.files > 150
    materialise(plan, ws)
    assert read_tree(ws) == read_tree(realdata.NEW_DIR)


@needs_git
def test_git_apply_agrees_on_the_release_diff(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    shutil.copytree(realdata.OLD_DIR, ws)
    check = subprocess.run(
        ["git", "apply", "--check", f"-p{realdata.STRIP}", str(realdata.DIFF_FILE)],
        cwd=ws,
        capture_output=True,
        check=False,
    )
    assert check.returncode == 0, check.stderr


def test_release_diff_through_the_cli(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    shutil.copytree(realdata.OLD_DIR, ws)
    (ws / ".agentos").mkdir()  # the workspace the command finds from its working directory
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "agentos",
            "plan",
            str(realdata.DIFF_FILE),
            "-p",
            "2",
            "-q",
            "--policy",
            str(PERMISSIVE_POLICY),
        ],
        cwd=ws,
        capture_output=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


@needs_git
@pytest.mark.git
def test_line_counts_agree_with_git_numstat_on_every_modified_file() -> None:
    """The WriteGate's recount (``agentos.linediff``) counts what git counts, file by file."""
    out = run_git(
        realdata.CACHE,
        "diff",
        "--no-index",
        "--numstat",
        "--no-renames",
        "--diff-algorithm=myers",
        "old",
        "new",
        check=False,
    )
    compared = 0
    for row in out.decode().splitlines():
        added, removed, name = row.split("\t")
        if not name.startswith("{old => new}/") or added == "-":
            continue  # created, deleted or binary
        path = name.removeprefix("{old => new}/")
        old = (realdata.OLD_DIR / path).read_bytes()
        new = (realdata.NEW_DIR / path).read_bytes()
        assert content_counts(old, new) == (int(added), int(removed)), path
        compared += 1
    assert compared > 100
