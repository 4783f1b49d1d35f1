"""``--markdown`` on ``plan``, ``show``, ``check``, ``apply`` and ``rollback``: a report for a
pull request comment or ``$GITHUB_STEP_SUMMARY``.

Pinned: the whole report of each command on one scenario (golden files under
``tests/data/golden/markdown/``; ``AGENTOS_UPDATE_GOLDEN=1`` rewrites them), the exit codes
(those of the command), ``--markdown`` with ``--json`` a usage error before anything is done,
data never read as Markdown or HTML (``|``, backticks, ``<``), a diff fence no line can close,
the diff cut to fit a comment with a note, and no withheld secret in any report.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from agentos.cli.views.markdown import MAX_CHARS, code, cut, diff_details, table, text
from agentos.governance.approvals import KEY_ENV
from helpers import PERMISSIVE_POLICY, REPO_ROOT, CliResult, write_tree

Cli = Callable[..., CliResult]

GOLDEN = REPO_ROOT / "tests" / "data" / "golden" / "markdown"
TREE = {"src/a.py": "a = 1\n", "src/b.txt": "b = 1\nkeep = True\n", "README.md": "# demo\n"}
WEIRD = "docs/notes|v2`draft`.md"
CHANGES: list[dict[str, Any]] = [
    {"op": "delete", "path": "src/a.py"},
    {"op": "modify", "path": "src/b.txt", "content": "b = 2\nkeep = True\n```\nx | y\n"},
    {"op": "create", "path": WEIRD, "content": "# Notes\n\n<script>alert(1)</script>\n"},
]
INTENT = "tidy the `helpers` | <b>now</b>"


@pytest.fixture(autouse=True)
def _no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)


@pytest.fixture
def ws(workspace: Path) -> Path:
    write_tree(workspace, dict(TREE))
    doc = yaml.safe_load(PERMISSIVE_POLICY.read_text())
    doc["writegate"]["require_approval_for_risk"] = ["MEDIUM", "HIGH", "CRITICAL"]
    doc["executor"]["always_review_categories"] = ["docs/**"]
    doc["executor"]["rollback"] = {"require_approval": False}
    policy = workspace / "agent" / "policies" / "default.yaml"
    policy.parent.mkdir(parents=True)
    policy.write_text(yaml.safe_dump(doc))
    return workspace


def manifest(ws: Path, changes: list[dict[str, Any]], intent: str = INTENT) -> Path:
    path = ws.parent / f"manifest-{len(list(ws.parent.glob('manifest-*')))}.json"
    path.write_text(json.dumps({"intent": intent, "changes": changes}))
    return path


def normalised(ws: Path, report: str, policy_digest: str) -> str:
    """``report`` without what changes from run to run: the test's folder (as given, and as
    Markdown text) and the policy's digest (it follows the policy model's defaults)."""
    report = report.replace(policy_digest, "sha256:<policy digest>")
    return report.replace(str(ws.parent), "<tmp>").replace(text(str(ws.parent)), "<tmp>")


def assert_golden(name: str, report: str) -> None:
    path = GOLDEN / name
    if os.environ.get("AGENTOS_UPDATE_GOLDEN") == "1":
        path.write_text(report, encoding="utf-8")
    assert report == path.read_text(encoding="utf-8"), f"{name} differs from its golden file"


def policy_digest(cli: Cli, ws: Path) -> str:
    return str(cli("policy", "validate", "-C", ws, "--json").json()["result"]["digest"])


def test_each_report_matches_its_golden_file(cli: Cli, ws: Path) -> None:
    digest = policy_digest(cli, ws)
    source = manifest(ws, CHANGES)
    planned = cli("plan", source, "-C", ws, "--plan-id", "pr-42", "--author", "ada", "--markdown")
    assert planned.code == 4, planned.err  # the decision's exit code, as without --markdown
    assert_golden("plan.md", normalised(ws, planned.out, digest))

    shown = cli("show", "pr-42", "-C", ws, "--markdown")
    assert shown.code == 0, shown.err
    assert shown.out == planned.out.replace("## agentos plan ", "## agentos show ", 1)

    approvals = ws.parent / "approvals.json"
    assert cli("approve", "pr-42", "--by", "bob", "-o", approvals, "-C", ws).code == 0
    bob = json.loads(approvals.read_text())
    approvals.write_text(json.dumps([bob, {**bob, "comment": "again"}]))
    checked = cli("check", "pr-42", "-C", ws, "--approval", approvals, "--markdown")
    assert checked.code == 0, checked.err
    assert_golden("check.md", normalised(ws, checked.out, digest))

    applied = cli("apply", "pr-42", "-C", ws, "--approval", approvals, "--markdown")
    assert applied.code == 0, applied.err
    assert_golden("apply.md", normalised(ws, applied.out, digest))


def test_rollback_reports_the_execution_it_undoes(cli: Cli, ws: Path) -> None:
    source = manifest(ws, [{"op": "create", "path": "src/c.py", "content": "c = 1\n"}], "add c")
    assert cli("plan", source, "-C", ws, "--plan-id", "p1", "--author", "ada").code == 0
    applied = cli("apply", "p1", "-C", ws, "--json").json()["result"]
    res = cli("rollback", "--last", "-C", ws, "--markdown")
    assert res.code == 0, res.err
    assert res.out.startswith("## agentos rollback `rollback-")
    assert f"- **Undoes:** `{applied['execution_id']}`" in res.out
    assert "| delete | src/c.py |" in res.out
    assert "**Undo:**" not in res.out  # only an apply offers its rollback


@pytest.mark.parametrize(
    "args",
    [
        ("plan", "MANIFEST"),
        ("show", "p1"),
        ("check", "p1"),
        ("apply", "p1"),
        ("rollback", "--last"),
    ],
)
def test_markdown_and_json_together_are_a_usage_error(
    cli: Cli, ws: Path, args: tuple[str, ...]
) -> None:
    source = manifest(ws, [{"op": "modify", "path": "src/b.txt", "content": "b = 3\n"}])
    argv = [str(source) if a == "MANIFEST" else a for a in args]
    res = cli(*argv, "-C", ws, "--markdown", "--json")
    assert res.code == 2
    error = res.json()["error"]
    assert error["type"] == "usage_error"
    assert "--markdown and --json" in error["message"]
    # Refused before anything was done: no plan was made, nothing was recorded.
    assert not (ws / ".agentos" / "plans").exists()


def test_an_execution_has_no_markdown_report(cli: Cli, ws: Path) -> None:
    source = manifest(ws, [{"op": "create", "path": "src/c.py", "content": "c = 1\n"}], "add c")
    assert cli("plan", source, "-C", ws, "--plan-id", "p1", "--author", "ada").code == 0
    execution_id = cli("apply", "p1", "-C", ws, "--json").json()["result"]["execution_id"]
    res = cli("show", execution_id, "-C", ws, "--markdown")
    assert res.code == 2
    assert "--markdown reports on a plan" in res.err


def test_a_long_diff_is_cut_to_fit_a_comment(cli: Cli, ws: Path) -> None:
    big = "".join(f"line {i:06d} of a long generated file\n" for i in range(4000))
    source = manifest(ws, [{"op": "create", "path": "src/big.py", "content": big}], "big")
    res = cli("plan", source, "-C", ws, "--plan-id", "big", "--author", "ada", "--markdown")
    assert res.code == 4, res.err  # 4,000 lines: HIGH risk
    report = res.out
    assert len(report) <= MAX_CHARS + 500
    assert len(report) < 65_536
    note = re.search(r"The diff is cut here: (\d+) more line\(s\) \(([\d,]+) characters\)", report)
    assert note is not None
    kept = report.count("\n+line ")
    assert kept + int(note.group(1)) == 4000
    assert "`agentos show big --diff` shows it all" in report
    assert report.rstrip().endswith("</details>")


def test_a_withheld_secret_reaches_no_report(cli: Cli, ws: Path) -> None:
    secret = "AKIA" + "Z7QW3RT5" + "YU2PLK4M"
    changes = [{"op": "create", "path": "src/keys.py", "content": f"KEY_ID = '{secret}'\n"}]
    doc = yaml.safe_load((ws / "agent/policies/default.yaml").read_text())
    doc["writegate"]["content"]["detect_secrets"] = True
    (ws / "agent/policies/default.yaml").write_text(yaml.safe_dump(doc))
    source = manifest(ws, changes, "keys")
    planned = cli("plan", source, "-C", ws, "--plan-id", "keys", "--author", "ada", "--markdown")
    assert planned.code == 3
    outputs = [planned]
    outputs.append(cli("show", "keys", "-C", ws, "--markdown"))
    outputs.append(cli("check", "keys", "-C", ws, "--markdown"))
    outputs.append(cli("apply", "keys", "-C", ws, "--markdown"))
    assert [r.code for r in outputs] == [3, 0, 3, 3]
    for res in outputs:
        assert secret not in res.out + res.err
    assert "was withheld from the plan file" in planned.out
    assert "| DENY | secret | src/keys.py:1 |" in outputs[2].out


def test_text_is_never_read_as_markdown() -> None:
    assert text("a|b") == r"a\|b"
    assert text("`x`") == r"\`x\`"
    assert text("<img src=x onerror=alert(1)>") == r"\<img src=x onerror=alert(1)\>"
    assert text("**bold** _it_ [link](u) ~~s~~ &amp;") == (
        r"\*\*bold\*\* \_it\_ \[link\](u) \~\~s\~\~ \&amp;"
    )
    assert text("two\nlines\r\tand\x00 nul") == "two lines and^@ nul"
    assert text(r"back\slash") == r"back\\slash"


def test_code_spans_hold_backticks_and_pipes() -> None:
    assert code("plain") == "`plain`"
    assert code("a`b") == "``a`b``"
    assert code("`edge`") == "`` `edge` ``"
    assert code("a|b") == r"`a\|b`"


def test_tables_count_what_they_leave_out() -> None:
    rows = [[str(i), "x"] for i in range(105)]
    lines = table(["n", "x"], rows, right=(0,))
    assert lines[:2] == ["| n | x |", "| ---: | --- |"]
    assert len([line for line in lines if line.startswith("| ")]) == 2 + 100
    assert lines[-1] == "… and 5 more (`--json` lists them all)"


def test_cut_keeps_whole_lines_and_counts_the_rest() -> None:
    diff = "one\ntwo\nthree\n"
    assert cut(diff, 100) == (diff, 0, 0)
    assert cut(diff, 9) == ("one\ntwo\n", 1, 6)
    assert cut(diff, 5) == ("one\n", 2, 10)
    assert cut("no newline at all", 4) == ("", 1, 17)


def test_no_line_of_the_diff_can_close_its_fence() -> None:
    diff = " ```\n+````\n-x\n"
    block = diff_details(diff, 1000, full="agentos show p --diff")
    fence = block[2].removesuffix("diff")
    assert fence == "`" * 5
    assert block.count(fence) == 1  # the closing one, alone on its line
    assert block[-1] == "</details>"


def test_a_report_appended_after_the_diff_starts_a_block_of_its_own(cli: Cli, ws: Path) -> None:
    """An HTML block (the diff's ``<details>``) runs until a blank line: the plan report ends
    with one, so the check report appended after it in a job summary is read as Markdown."""
    source = manifest(ws, CHANGES)
    planned = cli("plan", source, "-C", ws, "--plan-id", "pr-9", "--author", "ada", "--markdown")
    assert planned.out.endswith("</details>\n\n")
    checked = cli("check", "pr-9", "-C", ws, "--markdown")
    assert not checked.out.endswith("\n\n")  # a report without HTML at its end: one newline
    assert (planned.out + checked.out).count("\n\n## agentos check ") == 1


def test_an_apply_recorded_in_git_names_its_commit_and_keeps_the_option_in_the_undo(
    cli: Cli, ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from helpers import run_git

    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(ws.parent))
    run_git(ws, "init", "-q")
    run_git(ws, "add", "-A")
    run_git(ws, "commit", "-q", "-m", "start")
    change = [{"op": "modify", "path": "src/b.txt", "content": "b = 3\n"}]
    assert cli("plan", manifest(ws, change, "b"), "-C", ws, "--plan-id", "g1").code == 0
    staged = cli("apply", "g1", "-C", ws, "--index", "--markdown")
    assert staged.code == 0, staged.err
    assert "- **Git:** staged 1 path(s), not committed (--index)\n" in staged.out
    execution = cli("apply", "g1", "-C", ws, "--json").json()["result"]["execution_id"]
    # rollback --index refuses an index with staged changes: the apply's paths are unstaged first.
    undo = f"git restore --staged -- src/b.txt && agentos rollback {execution}"
    assert f"- **Undo:** `{undo}`\n" in staged.out
    run_git(ws, "commit", "-q", "-m", "b")
    second = [{"op": "modify", "path": "src/b.txt", "content": "b = 4\n"}]
    assert cli("plan", manifest(ws, second, "b4"), "-C", ws, "--plan-id", "g2").code == 0
    committed = cli("apply", "g2", "-C", ws, "--commit", "--markdown")
    assert committed.code == 0, committed.err
    head = run_git(ws, "rev-parse", "HEAD").decode().strip()
    assert f"- **Git commit:** `{head}`\n" in committed.out
    assert "--commit`\n" in committed.out
    again = cli("apply", "g2", "-C", ws, "--commit", "--markdown")
    assert f"- **Git commit:** `{head}` (made by an earlier run)\n" in again.out
    assert "- **Undo:**" not in again.out


def test_the_apply_report_says_which_policy_decided_and_whether_it_was_an_override(
    cli: Cli, ws: Path
) -> None:
    change = [{"op": "modify", "path": "src/b.txt", "content": "b = 3\n"}]
    assert cli("plan", manifest(ws, change, "b"), "-C", ws, "--plan-id", "o1").code == 0
    other = ws.parent / "other.yaml"
    other.write_text(PERMISSIVE_POLICY.read_text())
    # The workspace pins its policy: the override is refused, and nothing is reported.
    pinned = cli("apply", "o1", "-C", ws, "--policy", other, "--markdown")
    assert pinned.code == 3
    assert pinned.out == ""
    assert "pins its own policy" in pinned.err
    policy = ws / "agent" / "policies" / "default.yaml"
    doc = yaml.safe_load(policy.read_text())
    doc["governance"] = {"allow_policy_override": True}
    policy.write_text(yaml.safe_dump(doc))
    applied = cli("apply", "o1", "-C", ws, "--policy", other, "--markdown")
    assert applied.code == 0, applied.err
    digest = cli("policy", "validate", other, "-C", ws, "--json").json()["result"]["digest"]
    assert (
        f"- **Policy:** {text(str(other))} (`{digest}`) — given with --policy, in place of the "
        "workspace's own\n"
    ) in applied.out
