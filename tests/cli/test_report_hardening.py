"""What the reports meant for a pull request never carry: a secret a plan removes or keeps
around a change (``plan --staged --markdown``, ``show --markdown``: the line is withheld, a
note says so), a live mention or issue reference (``@name``, ``#12``: made inert), and, for
``check --sarif`` in a workspace that is a subfolder of its git repository, paths code
scanning could not match (they are relative to the repository's root)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest
import yaml

from agentos.cli.views.diffmask import mask_secrets
from agentos.cli.views.markdown import ZWSP, text
from agentos.planner.preview import DiffLine
from helpers import PERMISSIVE_POLICY, REPO_ROOT, CliResult, needs_git, run_git, write_tree

Cli = Callable[..., CliResult]
POLICY = ("--policy", PERMISSIVE_POLICY)
# Built at run time: no secret in this file.
AWS_KEY = "AKIA" + "Z7QW3RT5" + "YU2PLK4M"
AWS_SIGNER = "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYzQ8w2LkT9v"
GITHUB_TOKEN = "ghp_" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z5A"
KEY_BODY = "MIIEowIBAAKCAQEAuQhq3h2DkxMZ" + "Q8w2LkT9vBnR4tY6uI0oP3aS5dF7gH9j"
SECRETS = (AWS_KEY, AWS_SIGNER, GITHUB_TOKEN, KEY_BODY)
CONF = (
    "import os\n"
    f'AWS_ACCESS_KEY_ID = "{AWS_KEY}"\n'
    f'AWS_SECRET_ACCESS_KEY = "{AWS_SIGNER}"\n'
    f'GITHUB = "{GITHUB_TOKEN}"\n'
    "DEBUG = True\n"
)
PEM = "-----BEGIN RSA PRIVATE KEY-----\n" + KEY_BODY + "\n" + "-----END RSA PRIVATE KEY-----\n"
SCHEMA = json.loads((REPO_ROOT / "tests/data/sarif/sarif-schema-2.1.0.json").read_text())


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository holding files with keys, then ``git rm``-ed (staged, not committed)."""
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    path = tmp_path / "repo"
    path.mkdir()
    run_git(path, "init", "-q", "-b", "main")
    write_tree(path, {"sub/conf.py": CONF, "sub/key.pem": PEM, "app.txt": "v1\n"})
    run_git(path, "add", "-A")
    run_git(path, "commit", "-q", "-m", "base")
    run_git(path, "rm", "-q", "sub/conf.py", "sub/key.pem")
    return path


@needs_git
@pytest.mark.git
def test_removed_secrets_are_withheld_from_the_markdown_reports(
    cli: Cli, repo: Path, tmp_path: Path
) -> None:
    plan_file = tmp_path / "plan.json"
    planned = cli("plan", "--staged", "-C", repo, "-o", plan_file, *POLICY, "--markdown")
    assert planned.code in (0, 4), planned.err
    shown = cli("show", plan_file, "-C", repo, *POLICY, "--markdown")
    assert shown.code == 0, shown.err
    for report in (planned.out, shown.out):
        for secret in SECRETS:
            assert secret not in report
        assert "6 line(s) of the diff withheld: they look like secrets" in report
        assert (
            "-import os\n"
            "-<line withheld: looks like an AWS access key id>\n"
            "-<line withheld: looks like an AWS secret access key>\n"
            "-<line withheld: looks like a GitHub token>\n"
            "-DEBUG = True\n"
        ) in report
        assert (
            "@@ -1,3 +0,0 @@\n"
            "-<line withheld: looks like a private key block>\n"
            "-<line withheld: part of a private key block>\n"
            "-<line withheld: part of a private key block>\n"
        ) in report
    # The plan itself, and `show --diff` on the machine that holds it, keep the lines.
    full = cli("show", plan_file, "--diff", "-C", repo, *POLICY, "--json")
    assert AWS_KEY in full.json()["result"]["diff"]


def test_secrets_on_either_side_and_in_context_are_withheld() -> None:
    diff = [
        DiffLine("header", "diff --git a/c.py b/c.py"),
        DiffLine("header", "--- a/c.py"),
        DiffLine("header", "+++ b/c.py"),
        DiffLine("hunk", f"@@ -1,3 +1,3 @@ KEY_ID = '{AWS_KEY}'"),
        DiffLine("context", f" KEY_ID = '{AWS_KEY}'"),
        DiffLine("del", "-x = 1"),
        DiffLine("add", f"+TOKEN = '{GITHUB_TOKEN}'"),
        DiffLine("context", " y = 2"),
    ]
    masked = mask_secrets(diff)
    assert [line.text for line in masked.lines[3:]] == [
        "@@ -1,3 +1,3 @@",
        " <line withheld: looks like an AWS access key id>",
        "-x = 1",
        "+<line withheld: looks like a GitHub token>",
        " y = 2",
    ]
    assert masked.withheld == 3
    assert mask_secrets(diff[5:6]).withheld == 0


def test_a_removed_line_starting_with_dashes_is_a_line_not_a_header(
    cli: Cli, repo: Path, tmp_path: Path
) -> None:
    (repo / "app.txt").write_text("-- a comment\nv1\n")
    run_git(repo, "add", "app.txt")
    run_git(repo, "commit", "-q", "-m", "two lines")
    (repo / "app.txt").write_text("v1\n")
    run_git(repo, "add", "app.txt")
    plan_file = tmp_path / "plan.json"
    assert cli("plan", "--staged", "-C", repo, "-o", plan_file, *POLICY).code in (0, 4)
    diff = cli("show", plan_file, "--diff", "-C", repo, *POLICY, "--json").json()["result"]
    assert "@@ -1,2 +1 @@\n--- a comment\n v1\n" in diff["diff"]


def test_mentions_and_references_are_made_inert() -> None:
    said = text("ping @octocat and @org/team about #12, !7 and GH-3 (a@b.example, x#y)")
    assert said == (
        f"ping @{ZWSP}octocat and @{ZWSP}org/team about #{ZWSP}12, !{ZWSP}7 and "
        f"GH{ZWSP}-3 (a@{ZWSP}b.example, x#y)"
    )


def test_a_plans_intent_and_paths_mention_nobody(cli: Cli, workspace: Path) -> None:
    write_tree(workspace, {"a.txt": "a\n"})
    manifest = workspace.parent / "m.json"
    changes = [{"op": "create", "path": "notes/@admin #5.md", "content": "x\n"}]
    manifest.write_text(json.dumps({"intent": "Fix #1 for @octocat (!2)", "changes": changes}))
    res = cli("plan", manifest, "-C", workspace, *POLICY, "--author", "bob", "--markdown")
    assert res.code == 0, res.err
    assert f"- **Intent:** Fix #{ZWSP}1 for @{ZWSP}octocat (!{ZWSP}2)" in res.out
    assert f"| create | notes/@{ZWSP}admin #{ZWSP}5.md |" in res.out
    assert "@octocat" not in res.out
    assert "#1" not in res.out


@needs_git
@pytest.mark.git
def test_sarif_paths_are_relative_to_the_repository_root(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    top = tmp_path / "repo"
    ws = top / "ws"
    ws.mkdir(parents=True)
    run_git(top, "init", "-q", "-b", "main")
    write_tree(ws, {"keep.txt": "k\n", "docs/a.md": "a\n"})
    policy = yaml.safe_load(PERMISSIVE_POLICY.read_text())
    policy["executor"]["always_review_categories"] = ["docs/**"]
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(yaml.safe_dump(policy))
    manifest = tmp_path / "m.json"
    changes = [{"op": "modify", "path": "docs/a.md", "content": "b\n"}]
    manifest.write_text(json.dumps({"changes": changes}))
    plan_file = ws / "plans" / "p.json"
    plan_file.parent.mkdir()
    made = cli("plan", manifest, "-C", ws, "--policy", policy_file, "-o", plan_file)
    assert made.code == 4, made.err
    out = tmp_path / "out.sarif"
    assert cli("check", plan_file, "-C", ws, "--policy", policy_file, "--sarif", out).code == 4
    log = json.loads(out.read_text())
    assert list(jsonschema.Draft4Validator(SCHEMA).iter_errors(log)) == []
    uris = [
        loc["physicalLocation"]["artifactLocation"]["uri"]
        for result in log["runs"][0]["results"]
        for loc in result["locations"]
    ]
    assert "ws/docs/a.md" in uris
    assert all(uri.startswith("ws/") for uri in uris), uris
    # Outside git, the same plan's paths stay relative to the workspace.
    (top / ".git").rename(top / "not-git")
    assert cli("check", plan_file, "-C", ws, "--policy", policy_file, "--sarif", out).code == 4
    log = json.loads(out.read_text())
    assert log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"][
        "uri"
    ] in ("docs/a.md", "plans/p.json")
