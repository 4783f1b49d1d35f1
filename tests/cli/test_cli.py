"""The command line: envelope and result keys pinned, exit codes, one-line errors, no writes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from helpers import CliResult, read_tree, write_tree

Cli = Callable[..., CliResult]

ENVELOPE_KEYS = {"agentos", "command", "ok", "exit_code", "result", "error"}
PLAN_RESULT_KEYS = {
    "plan_id",
    "plan_file",
    "checksum",
    "decision",
    "findings",
    "intent",
    "author",
    "risk",
    "stats",
    "changes",
    "sources",
}
SHOW_RESULT_KEYS = PLAN_RESULT_KEYS | {"created_at", "base", "diff"}
CHANGE_ROW_KEYS = {"op", "path", "from", "added", "removed"}
STATS_KEYS = {"files", "added_lines", "removed_lines", "bytes"}
ERROR_KEYS = {"type", "message", "details"}

DIFF = b"""diff --git a/src/app.py b/src/app.py
--- a/src/app.py
+++ b/src/app.py
@@ -1,2 +1,2 @@
 def main():
-    return 1
+    return 2
diff --git a/src/new.py b/src/new.py
new file mode 100755
--- /dev/null
+++ b/src/new.py
@@ -0,0 +1 @@
+print("new")
"""


@pytest.fixture
def project(workspace: Path, tmp_path: Path) -> tuple[Path, Path]:
    write_tree(workspace, {"src/app.py": "def main():\n    return 1\n", "README.md": "# p\n"})
    patch = tmp_path / "change.diff"
    patch.write_bytes(DIFF)
    return workspace, patch


def _one_line_error(result: CliResult) -> str:
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("agentos: error: ")
    assert "Traceback" not in result.err
    return lines[0]


def test_plan_json_envelope_and_result_keys_are_pinned(
    cli: Cli, project: tuple[Path, Path]
) -> None:
    workspace, patch = project
    result = cli("plan", patch, "-C", workspace, "--json", "--intent", "bump", "--author", "ada")
    assert result.code == 0, result.err
    doc = result.json()
    assert set(doc) == ENVELOPE_KEYS
    assert doc["agentos"] == "1"
    assert doc["command"] == "plan"
    assert doc["ok"] is True
    assert doc["exit_code"] == 0
    assert doc["error"] is None
    res = doc["result"]
    assert set(res) == PLAN_RESULT_KEYS
    assert set(res["stats"]) == STATS_KEYS
    assert set(res["risk"]) == {"level", "reasons"}
    assert all(set(row) == CHANGE_ROW_KEYS for row in res["changes"])
    assert res["checksum"].startswith("sha256:")
    assert res["author"] == "ada"
    assert res["intent"] == "bump"
    assert [(c["op"], c["path"]) for c in res["changes"]] == [
        ("modify", "src/app.py"),
        ("create", "src/new.py"),
    ]
    assert res["stats"] == {"files": 2, "added_lines": 2, "removed_lines": 1, "bytes": 38}
    plan_file = Path(res["plan_file"])
    assert plan_file == workspace / ".agentos" / "plans" / f"{res['plan_id']}.json"
    stored = json.loads(plan_file.read_text())
    assert stored["format"] == "agentos.plan/1"
    assert stored["changeset"]["checksum"] == res["checksum"]
    assert stored["changeset"]["changes"][1]["mode"] == "100755"


def test_plan_never_writes_workspace_files(cli: Cli, project: tuple[Path, Path]) -> None:
    workspace, patch = project
    before = read_tree(workspace)
    assert cli("plan", patch, "-C", workspace).code == 0
    assert read_tree(workspace) == before
    assert (workspace / ".agentos" / ".gitignore").read_text().endswith("*\n")


def test_same_input_same_files_same_plan_id(cli: Cli, project: tuple[Path, Path]) -> None:
    workspace, patch = project
    first = cli("plan", patch, "-C", workspace, "--json").json()["result"]
    second = cli("plan", patch, "-C", workspace, "--json").json()["result"]
    other = cli("plan", patch, "-C", workspace, "--json", "--intent", "x").json()["result"]
    assert first["plan_id"] == second["plan_id"]
    assert first["checksum"] == other["checksum"]
    assert other["plan_id"] != first["plan_id"]


def test_plan_reads_stdin_and_honours_output_and_plan_id(
    cli: Cli, project: tuple[Path, Path], tmp_path: Path
) -> None:
    workspace, _ = project
    out = tmp_path / "out" / "p.json"
    out.parent.mkdir()  # -o names a file in an existing folder (a missing one is exit 2)
    result = cli(
        "plan", "-", "-C", workspace, "--plan-id", "PR-42", "-o", out, "--json", stdin=DIFF
    )
    assert result.code == 0, result.err
    assert result.json()["result"]["plan_id"] == "PR-42"
    assert json.loads(out.read_text())["plan_id"] == "PR-42"
    assert result.json()["result"]["sources"][0]["name"] == "-"


def test_human_plan_output_summarises(cli: Cli, project: tuple[Path, Path]) -> None:
    workspace, patch = project
    result = cli("plan", patch, "-C", workspace)
    assert result.code == 0
    assert "2 file(s), +2 -1, risk LOW" in result.out
    assert "src/new.py" in result.out
    assert result.err == ""


def test_quiet_prints_nothing(cli: Cli, project: tuple[Path, Path]) -> None:
    workspace, patch = project
    result = cli("plan", patch, "-C", workspace, "-q")
    assert result.code == 0
    assert result.out == ""


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (("plan", "missing.diff"), 2, "does not exist"),
        (("plan", "PATCH", "--format", "svn"), 2, "--format"),
        (("plan", "PATCH", "--plan-id", "../evil"), 2, "plan id"),
        (("plan", "PATCH", "--bogus-flag"), 2, "bogus"),
        (("plan",), 2, "no input given"),
        (("show", "nope.json"), 2, "neither a plan file"),
        (("plan", "PATCH", "-C", "/definitely/not/here"), 2, "not a directory"),
    ],
)
def test_usage_errors_are_one_line_exit_2(
    cli: Cli, project: tuple[Path, Path], args: tuple[str, ...], code: int, needle: str
) -> None:
    workspace, patch = project
    argv = [str(patch) if a == "PATCH" else a for a in args]
    if "-C" not in argv:
        argv += ["-C", str(workspace)]
    before = read_tree(workspace)
    result = cli(*argv)
    assert result.code == code
    assert needle in _one_line_error(result)
    assert read_tree(workspace) == before


def test_usage_error_with_json_prints_the_envelope(cli: Cli, project: tuple[Path, Path]) -> None:
    workspace, patch = project
    result = cli("plan", patch, "-C", workspace, "--json", "--nope")
    assert result.code == 2
    doc = result.json()
    assert set(doc) == ENVELOPE_KEYS
    assert doc["ok"] is False
    assert doc["exit_code"] == 2
    assert set(doc["error"]) == ERROR_KEYS
    assert doc["error"]["type"] == "usage_error"


def test_conflict_error_envelope(cli: Cli, project: tuple[Path, Path], tmp_path: Path) -> None:
    workspace, _ = project
    stale = tmp_path / "stale.diff"
    stale.write_bytes(DIFF.replace(b"-    return 1", b"-    return 7"))
    result = cli("plan", stale, "-C", workspace, "--json")
    assert result.code == 5
    doc = result.json()
    assert doc["error"]["type"] == "patch_does_not_apply"
    assert doc["error"]["details"]["path"] == "src/app.py"
    assert doc["error"]["details"]["hunk"] == 1
    line = _one_line_error(result)
    assert "src/app.py" in line
    assert "hunk #1" in line


def test_path_safety_is_exit_3(cli: Cli, workspace: Path, tmp_path: Path) -> None:
    patch = tmp_path / "evil.diff"
    patch.write_bytes(b"--- /dev/null\n+++ b/../outside.txt\n@@ -0,0 +1 @@\n+pwned\n")
    result = cli("plan", patch, "-C", workspace, "--json")
    assert result.code == 3
    assert result.json()["error"]["type"] == "path_safety"
    assert not (tmp_path / "outside.txt").exists()


def test_internal_error_is_exit_70_with_saved_traceback(
    cli: Cli, project: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace, patch = project
    monkeypatch.setenv("AGENTOS_FAULTS", "plan.before_write=error")
    result = cli("plan", patch, "-C", workspace, "--json")
    assert result.code == 70
    line = _one_line_error(result)
    assert "internal error" in line
    log = Path(result.json()["error"]["details"]["log"])
    assert log.parent == workspace / ".agentos" / "logs"
    assert "Traceback" in log.read_text()
    assert "injected fault at plan.before_write" in log.read_text()


def test_show_renders_summary_and_coloured_diff_keys(cli: Cli, project: tuple[Path, Path]) -> None:
    workspace, patch = project
    plan_file = cli("plan", patch, "-C", workspace, "--json").json()["result"]["plan_file"]
    result = cli("show", plan_file, "-C", workspace, "--diff", "--json")
    assert result.code == 0, result.err
    res = result.json()["result"]
    assert set(res) == SHOW_RESULT_KEYS
    assert "-    return 1" in res["diff"]
    assert "+    return 2" in res["diff"]
    assert "new file mode 100755" in res["diff"]
    human = cli("show", plan_file, "-C", workspace, "--diff")
    assert '+print("new")' in human.out
    assert "risk:     LOW" in human.out


def test_show_by_plan_id_and_stale_pre_image(cli: Cli, project: tuple[Path, Path]) -> None:
    workspace, patch = project
    plan_id = cli("plan", patch, "-C", workspace, "--json").json()["result"]["plan_id"]
    (workspace / "src" / "app.py").write_text("changed by hand\n")
    result = cli("show", plan_id, "-C", workspace, "--diff")
    assert result.code == 0
    assert "changed since this plan was made" in result.out


def test_init_writes_policy_state_and_gitignore_idempotently(cli: Cli, workspace: Path) -> None:
    write_tree(workspace, {"src/a.py": "", "docs/x.md": "", "README.md": "", ".env": "S=1\n"})
    (workspace / ".gitignore").write_text("*.pyc")
    first = cli("init", "-C", workspace, "--json")
    assert first.code == 0, first.err
    res = first.json()["result"]
    assert set(res) == {"workspace", "created", "unchanged", "allowed_paths", "key"}
    # The workspace key: outside the workspace, private, named by .agentos/workspace.id.
    key = Path(res["key"])
    workspace_id = (workspace / ".agentos" / "workspace.id").read_text().strip()
    assert key.name == f"{workspace_id}.key"
    assert not key.is_relative_to(workspace)
    assert (key.stat().st_mode & 0o777, len(key.read_bytes())) == (0o600, 32)
    assert key.parent.stat().st_mode & 0o777 == 0o700
    assert res["allowed_paths"] == [".gitignore", "README.md", "docs/**", "src/**", "agent/**"]
    policy = yaml.safe_load((workspace / "agent" / "policies" / "default.yaml").read_text())
    assert policy["executor"]["allowed_paths"] == res["allowed_paths"]
    assert policy["writegate"]["forbidden_paths"][0] == ".env"
    assert (workspace / ".gitignore").read_text() == "*.pyc\n.agentos/\n"
    assert (workspace / ".agentos").is_dir()
    second = cli("init", "-C", workspace, "--json")
    assert second.json()["result"]["created"] == []
    assert (workspace / ".gitignore").read_text() == "*.pyc\n.agentos/\n"
    assert "nothing changed" in cli("init", "-C", workspace).out
    events = [
        json.loads(line)
        for line in (workspace / ".agentos" / "audit" / "audit.jsonl").read_text().splitlines()
    ]
    assert [e["event"] for e in events] == ["workspace.initialised"]


def test_packaged_policy_and_repository_policy_are_one_source(tmp_path: Path) -> None:
    from agentos.governance.policyfile import packaged_policy_text
    from helpers import REPO_ROOT

    repo_policy = (REPO_ROOT / "agent" / "policies" / "default.yaml").read_text()
    assert repo_policy == packaged_policy_text()


def test_plan_records_an_audit_event_without_contents(cli: Cli, project: tuple[Path, Path]) -> None:
    workspace, patch = project
    plan_id = cli("plan", patch, "-C", workspace, "--json", "--author", "ada").json()["result"][
        "plan_id"
    ]
    trail = (workspace / ".agentos" / "audit" / "audit.jsonl").read_text()
    events = [json.loads(line) for line in trail.splitlines()]
    assert [e["event"] for e in events[-2:]] == ["plan.created", "gate.evaluated"]
    event = events[-2]
    assert event["event"] == "plan.created"
    assert event["plan_id"] == plan_id
    assert event["actor"] == "ada"
    assert [f["path"] for f in event["data"]["files"]] == ["src/app.py", "src/new.py"]
    assert 'print(\\"new\\")' not in trail
    assert 'print("new")' not in trail
    assert cli("audit", "verify", "-C", workspace).code == 0
