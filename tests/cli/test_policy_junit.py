"""``agentos policy test --junit FILE``: the policy's test cases as JUnit XML for CI.

Pinned: one ``<testsuite>`` per case file, one ``<testcase>`` per case, a ``<failure>`` with
the first failure as its message and every failure plus the decision as its text, counts that
agree with the run, XML that parses whatever a case name holds, the file written whether the
cases pass or not, and a path it cannot be written to refused before any case runs.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest

from helpers import CliResult

Cli = Callable[..., CliResult]

DOCS_CASES = """\
- name: a docs page is allowed
  changes:
    - {op: create, path: docs/install.md, content: "# Install\\n"}
  expect: ALLOW
- name: deleting a page is allowed
  changes:
    - {op: delete, path: docs/old.md, old_lines: 12}
  expect: ALLOW
"""
ENV_CASES = """\
- name: "an .env file is never written <&> \\"quoted\\" \\x01"
  changes:
    - {op: create, path: .env, content: "A=1\\n"}
  expect: DENY
  expect_rules: [forbidden-path]
"""


@pytest.fixture
def cases(tmp_path: Path) -> Path:
    folder = tmp_path / "cases"
    folder.mkdir()
    (folder / "docs.yaml").write_text(DOCS_CASES)
    (folder / "env.yaml").write_text(ENV_CASES)
    return folder


def test_junit_counts_and_failures_match_the_run(
    cli: Cli, workspace: Path, cases: Path, tmp_path: Path
) -> None:
    out = tmp_path / "policy-tests.xml"
    res = cli("policy", "test", cases, "-C", workspace, "--junit", out, "--json")
    assert res.code == 1  # a case failed: the report is written all the same
    result = res.json()["result"]
    root = ET.parse(out).getroot()  # noqa: S314 - our own report
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures")) == (
        str(result["total"]),
        str(result["failed"]),
    )
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == [str(cases / "docs.yaml"), str(cases / "env.yaml")]
    testcases = root.findall("testsuite/testcase")
    assert len(testcases) == result["total"] == 3
    failed = [tc for tc in testcases if tc.find("failure") is not None]
    passed = [tc for tc in testcases if tc.find("failure") is None]
    assert (len(passed), len(failed)) == (result["passed"], result["failed"]) == (2, 1)
    [docs, env] = suites
    assert (docs.get("tests"), docs.get("failures")) == ("2", "1")
    assert (env.get("tests"), env.get("failures")) == ("1", "0")
    [case] = failed
    assert case.get("name") == "deleting a page is allowed"
    assert case.get("classname") == str(cases / "docs.yaml")
    failure = case.find("failure")
    assert failure is not None
    [reported] = [c for c in result["cases"] if not c["passed"]]
    assert failure.get("message") == reported["failures"][0]
    assert failure.get("message", "").startswith("expected ALLOW, got NEED_APPROVAL")
    assert failure.text is not None
    assert reported["failures"][0] in failure.text
    assert "decision: NEED_APPROVAL; findings from: unverified-risk" in failure.text
    # A name with markup characters and a control character still makes well-formed XML.
    assert env.find("testcase") is not None
    name = env.find("testcase").get("name")  # type: ignore[union-attr]
    assert name == 'an .env file is never written <&> "quoted" \ufffd'


def test_junit_when_every_case_passes(cli: Cli, workspace: Path, cases: Path) -> None:
    out = cases.parent / "ok.xml"
    res = cli("policy", "test", cases / "env.yaml", "-C", workspace, "--junit", out)
    assert res.code == 0, res.err
    assert "PASS: 1/1" in res.out  # the usual report is printed as well
    root = ET.parse(out).getroot()  # noqa: S314 - our own report
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("1", "0", "0")
    assert root.find("testsuite/testcase/failure") is None
    assert root.find("testsuite/properties/property").get("name") == "policy"  # type: ignore[union-attr]


def test_an_unwritable_junit_path_is_refused_before_any_case_runs(
    cli: Cli, workspace: Path, cases: Path
) -> None:
    res = cli("policy", "test", cases, "-C", workspace, "--junit", cases.parent / "no" / "x.xml")
    assert res.code == 2
    assert "--junit" in res.err
    assert "FAIL" not in res.out
