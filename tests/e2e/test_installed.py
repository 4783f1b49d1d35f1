"""The installed ``agentos`` console script, run as a user runs it (subprocess)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import AGENTOS, REPO_ROOT, needs_agentos, read_tree, write_tree

pytestmark = needs_agentos


def run(
    *args: str | Path, cwd: Path, stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "120"}
    return subprocess.run(
        [str(AGENTOS), *map(str, args)],
        cwd=cwd,
        env=env,
        input=stdin,
        capture_output=True,
        check=False,
    )


def test_version_is_answered(tmp_path: Path) -> None:
    from agentos import __version__

    for argv in (["--version"], ["-V"]):
        proc = run(*argv, cwd=tmp_path)
        assert proc.returncode == 0
        assert proc.stdout.decode() == f"agentos {__version__}\n"
    module = subprocess.run(
        [sys.executable, "-m", "agentos", "--version"], capture_output=True, check=False
    )
    assert module.stdout.decode() == f"agentos {__version__}\n"


def test_help_lists_the_commands(tmp_path: Path) -> None:
    proc = run("--help", cwd=tmp_path)
    assert proc.returncode == 0
    for name in ("init", "plan", "show", "audit"):
        assert name in proc.stdout.decode()


def test_pipeline_through_the_installed_script(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    write_tree(ws, {"src/a.py": "x = 1\n"})
    assert run("init", cwd=ws).returncode == 0
    diff = b"--- a/src/a.py\n+++ b/src/a.py\n@@ -1 +1 @@\n-x = 1\n+x = 2\n"
    proc = run("plan", "-", "--json", cwd=ws, stdin=diff)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == b""
    doc = json.loads(proc.stdout)
    plan_file = doc["result"]["plan_file"]
    show = run("show", plan_file, "--diff", "--json", cwd=ws)
    assert show.returncode == 0
    assert "+x = 2" in json.loads(show.stdout)["result"]["diff"]
    verify = run("audit", "verify", "--json", "-C", ws, cwd=tmp_path)
    # workspace.initialised, plan.created, gate.evaluated (plan), gate.evaluated (show)
    assert json.loads(verify.stdout)["result"]["events"] == 4
    assert read_tree(ws)["src/a.py"][0] == b"x = 1\n"


@pytest.mark.parametrize(
    ("stdin", "code", "kind"),
    [
        (b"this is not a patch\n", 2, "patch_parse_error"),
        (
            b"--- a/src/a.py\n+++ b/src/a.py\n@@ -1 +1 @@\n-y = 1\n+x = 2\n",
            5,
            "patch_does_not_apply",
        ),
        (b"--- /dev/null\n+++ b/.git/hooks/pre-commit\n@@ -0,0 +1 @@\n+evil\n", 3, "path_safety"),
    ],
)
def test_exit_codes_through_the_installed_script(
    tmp_path: Path, stdin: bytes, code: int, kind: str
) -> None:
    ws = tmp_path / "ws"
    write_tree(ws, {"src/a.py": "x = 1\n"})
    (ws / ".git" / "hooks").mkdir(parents=True)
    proc = run("plan", "-", "--json", cwd=ws, stdin=stdin)
    assert proc.returncode == code
    assert json.loads(proc.stdout)["error"]["type"] == kind
    assert len(proc.stderr.decode().strip().splitlines()) == 1
    assert not (ws / ".git" / "hooks" / "pre-commit").exists()


def test_tampered_plan_is_exit_6(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    write_tree(ws, {"a.txt": "one\n"})
    (ws / ".agentos").mkdir()
    diff = b"--- a/a.txt\n+++ b/a.txt\n@@ -1 +1 @@\n-one\n+two\n"
    plan_file = Path(
        json.loads(run("plan", "-", "--json", cwd=ws, stdin=diff).stdout)["result"]["plan_file"]
    )
    plan_file.write_text(plan_file.read_text().replace('"data": "two\\n"', '"data": "tw0\\n"'))
    proc = run("show", plan_file, cwd=ws)
    assert proc.returncode == 6
    assert b"checksum mismatch" in proc.stderr


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_make_run_demo_completes(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PATH": f"{AGENTOS.parent}{os.pathsep}{os.environ['PATH']}",
        "TMPDIR": str(tmp_path),
        "NO_COLOR": "1",
    }
    proc = subprocess.run(
        ["bash", str(REPO_ROOT / "examples" / "demo.sh")],
        env=env,
        capture_output=True,
        check=False,
        timeout=300,
    )
    out = proc.stdout.decode()
    assert proc.returncode == 0, out + proc.stderr.decode()
    assert "Demo complete." in out
    assert "audit trail OK" in out
