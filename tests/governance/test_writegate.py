"""The WriteGate's rules one at a time, on synthetic plans and stated disk facts."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentos.governance.facts import WorkspaceFacts
from agentos.governance.policy import Policy
from agentos.governance.policyfile import parse_policy
from agentos.governance.policytest import PolicyCase, case_plan
from agentos.governance.writegate import evaluate, line_delta
from agentos.model import RULES, ChangePlan, Decision, Finding
from agentos.patterns import PathPatterns
from pathaliases import aliased

# Built at run time so that this file holds no secret-looking literal.
AWS_KEY = "AKIA" + "QYLPMN5H" + "FQWERTZ2"


def plan_of(*changes: dict[str, Any]) -> ChangePlan:
    """A plan of ``changes`` written as policy-test changes."""
    return case_plan(
        PolicyCase.model_validate({"name": "t", "changes": list(changes), "expect": "ALLOW"})
    )


def decide(plan: ChangePlan, policy: Policy | None = None, **facts: Any) -> Decision:
    return evaluate(plan, policy or Policy(), WorkspaceFacts(**facts))


def rules_of(decision: Decision) -> list[str]:
    return [f.rule for f in decision.findings]


def only(decision: Decision, rule: str) -> Finding:
    found = [f for f in decision.findings if f.rule == rule]
    assert len(found) == 1, decision.findings
    return found[0]


def test_findings_come_in_rule_order_and_all_are_reported() -> None:
    plan = plan_of(
        {"op": "create", "path": ".env", "content": "A=1\n"},
        {"op": "create", "path": "src/security/x.py", "content": "x = 1\n"},
        {"op": "create", "path": "docs/logo.png", "content_base64": "iVBORw0KGgoAAAA="},
    )
    decision = decide(plan)
    assert decision.decision == "DENY"
    order = rules_of(decision)
    assert order == sorted(order, key=RULES.index)
    assert {"forbidden-path", "outside-allowed-paths", "binary", "always-review"} <= set(order)


def test_forbidden_paths_match_whatever_the_case() -> None:
    decision = decide(plan_of({"op": "create", "path": "src/.ENV", "content": "x\n"}))
    finding = only(decision, "forbidden-path")
    assert finding.pattern == ".env"
    assert decision.decision == "DENY"


def test_allowed_paths_stay_case_exact() -> None:
    decision = decide(plan_of({"op": "create", "path": "SRC/a.py", "content": "x\n"}))
    assert "outside-allowed-paths" in rules_of(decision)


@pytest.mark.parametrize(
    ("path", "pattern"),
    [
        ("src/.env ", ".env"),
        ("src/.env  . ", ".env"),
        ("src/.e\u200cnv", ".env"),
        ("src/.E\u200dNV\ufeff", ".env"),
        ("src/.env::$DATA", ".env"),
        ("src/.env\u206a.local", ".env.*"),
        ("src/a/b.key.", "**/*.key"),
        ("src/b.KEY ", "**/*.key"),
        ("src/k.pem\ufeff", "**/*.pem"),
        ("src/.ssh./config", "**/.ssh/**"),
        ("src/.ss\u200dh/config", "**/.ssh/**"),
        ("src/id\u200c_rsa", "**/id_rsa*"),
    ],
)
def test_forbidden_paths_match_what_windows_and_macos_open(path: str, pattern: str) -> None:
    """``.env `` and ``.env.`` are ``.env`` on Windows, ``.e\u200cnv`` is ``.env`` on macOS."""
    decision = decide(plan_of({"op": "create", "path": path, "content": "x\n"}))
    finding = only(decision, "forbidden-path")
    assert finding.pattern == pattern
    assert finding.severity == "DENY"
    assert decision.decision == "DENY"


@pytest.mark.parametrize("path", ["src./a.py", "src /a.py", "s\u200crc/a.py", "README.md."])
def test_allowed_paths_do_not_fold_dots_spaces_or_ignorables(path: str) -> None:
    decision = decide(plan_of({"op": "create", "path": path, "content": "x\n"}))
    assert only(decision, "outside-allowed-paths").path == path
    assert not PathPatterns(Policy().executor.allowed_paths).matches(path)


def test_review_risk_and_critical_lists_fold_dots_spaces_and_ignorables() -> None:
    review = decide(plan_of({"op": "create", "path": "src/securit\u200cy./x.py", "content": ""}))
    assert only(review, "always-review").pattern == "**/security/**"
    migration = plan_of({"op": "create", "path": "src/migrations /1.py", "content": "x\n"})
    assert decide(migration).risk.level == "HIGH"
    policy_file = plan_of({"op": "modify", "path": "config/gate.yaml\ufeff", "content": "x\n"})
    assert decide(policy_file, policy_path="config/gate.yaml").risk.level == "CRITICAL"


def test_a_folded_pattern_still_matches_the_name_as_written() -> None:
    """Stripping is tried in addition to the spelling as written, never instead of it."""
    odd = PathPatterns(["name.", "a\u200cb", "c:d"], fold_case=True)
    assert odd.first_match("x/NAME.") == "name."
    assert odd.first_match("x/A\u200cB") == "a\u200cb"
    assert odd.first_match("c:d") == "c:d"
    assert odd.first_match("x/name") is None


@given(
    st.sampled_from([".env", ".git", ".agentos"]).flatmap(
        lambda name: st.tuples(st.just(name), aliased(name))
    ),
    st.sampled_from(["", "src/", "src/a/"]),
    st.sampled_from(["", "/x"]),
)
def test_no_alias_of_env_git_or_agentos_is_ever_allowed(
    alias: tuple[str, str], prefix: str, suffix: str
) -> None:
    name, spelled = alias
    path = prefix + spelled + suffix
    decision = decide(plan_of({"op": "create", "path": path, "content": "x\n"}))
    assert decision.decision == "DENY"
    if name == ".env":
        assert only(decision, "forbidden-path").pattern == ".env"
    else:
        assert only(decision, "path-safety").path == path


def test_always_review_and_risk_rules_match_whatever_the_case() -> None:
    decision = decide(plan_of({"op": "create", "path": "src/Security/x.py", "content": "x\n"}))
    assert only(decision, "always-review").pattern == "**/security/**"
    migration = decide(plan_of({"op": "create", "path": "src/Migrations/1.py", "content": "x\n"}))
    assert migration.risk.level == "HIGH"


def test_a_rename_is_judged_at_both_ends() -> None:
    decision = decide(plan_of({"op": "rename", "from": "Makefile", "path": "src/Makefile"}))
    assert [f.path for f in decision.findings if f.rule == "outside-allowed-paths"] == ["Makefile"]


def test_secret_findings_name_pattern_and_line_never_the_secret() -> None:
    content = f"region = 'eu'\nkey_id = '{AWS_KEY}'\n"
    decision = decide(plan_of({"op": "create", "path": "src/cloud.py", "content": content}))
    finding = only(decision, "secret")
    assert (finding.line, finding.pattern) == (2, "aws-access-key-id")
    assert finding.message.startswith("src/cloud.py:2: ")
    assert AWS_KEY not in finding.message
    assert AWS_KEY[:8] not in finding.message


def test_secrets_already_in_the_pre_image_do_not_block_an_edit() -> None:
    old = f"key_id = '{AWS_KEY}'\nx = 1\n".encode()
    new = f"key_id = '{AWS_KEY}'\nx = 2\n"
    plan = plan_of({"op": "modify", "path": "src/cloud.py", "content": new})
    assert "secret" not in rules_of(decide(plan, pre_images={"src/cloud.py": old}))
    # Without the pre-image (unknown, or drifted), every line counts.
    assert "secret" in rules_of(decide(plan))
    added = new + f"other = '{AWS_KEY[:-1]}3'\n"
    plan = plan_of({"op": "modify", "path": "src/cloud.py", "content": added})
    finding = only(decide(plan, pre_images={"src/cloud.py": old}), "secret")
    assert finding.line == 3


def test_secret_detection_can_be_switched_off() -> None:
    policy = parse_policy("writegate: {content: {detect_secrets: false}}", source="p")
    plan = plan_of({"op": "create", "path": "src/k.py", "content": f"k = '{AWS_KEY}'\n"})
    assert "secret" not in rules_of(decide(plan, policy))


@pytest.mark.parametrize(
    ("setting", "severity"), [("allow", None), ("review", "NEED_APPROVAL"), ("deny", "DENY")]
)
def test_binary_files_follow_the_policy(setting: str, severity: str | None) -> None:
    policy = parse_policy(f"writegate: {{content: {{binary_files: {setting}}}}}", source="p")
    plan = plan_of({"op": "create", "path": "docs/a.bin", "content_base64": "AAEC"})
    found = [f for f in decide(plan, policy).findings if f.rule == "binary"]
    assert [f.severity for f in found] == ([severity] if severity else [])


def test_constraints_count_files_lines_and_bytes() -> None:
    policy = parse_policy(
        "writegate: {content: {max_file_bytes: 10}}\n"
        "executor: {constraints: {max_files_touched: 1, max_patch_lines: 3}}\n",
        source="p",
    )
    plan = plan_of(
        {"op": "create", "path": "src/a.py", "content_lines": 4},
        {"op": "create", "path": "src/b.py", "content": "x\n"},
    )
    messages = [f.message for f in decide(plan, policy).findings if f.rule == "constraint"]
    assert len(messages) == 3
    assert "touches 2 files" in messages[0]
    assert "changes 5 lines" in messages[1]
    assert messages[2].startswith("src/a.py would be 28 bytes")


def test_risk_levels_ask_for_approval_or_deny() -> None:
    migration = plan_of({"op": "create", "path": "src/migrations/1.py", "content": "x\n"})
    assert only(decide(migration), "risk").severity == "NEED_APPROVAL"
    strict = parse_policy("writegate: {deny_risk: [HIGH]}", source="p")
    assert only(decide(migration, strict), "risk").severity == "DENY"


def test_unverified_risk_is_lifted_by_a_covering_health_check() -> None:
    deletion = plan_of({"op": "delete", "path": "src/old.py", "old_lines": 3})
    assert only(decide(deletion), "unverified-risk").severity == "NEED_APPROVAL"
    elsewhere = parse_policy(
        "health_checks: [{name: docs, command: [x], when_paths: ['docs/**']}]", source="p"
    )
    assert "unverified-risk" in rules_of(decide(deletion, elsewhere))
    covering = parse_policy(
        "health_checks: [{name: py, command: [x], when_paths: ['**/*.py']}]", source="p"
    )
    assert decide(deletion, covering).decision == "ALLOW"


def test_changing_the_policy_file_is_critical() -> None:
    plan = plan_of({"op": "modify", "path": "config/gate.yaml", "content": "x\n"})
    assert decide(plan).risk.level == "LOW"
    assert decide(plan, policy_path="config/gate.yaml").risk.level == "CRITICAL"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (None, b"a\nb\n", 2),
        (b"a\nb\n", None, 2),
        (b"a\nb\nc\n", b"a\nB\nc\n", 2),
        (b"a\nb\nc\n", b"c\nb\na\n", 4),
        (b"same\n", b"same\n", 0),
        (b"a\n", b"a", 2),
        (b"\x00bin", b"other", 0),
    ],
)
def test_line_delta(old: bytes | None, new: bytes | None, expected: int) -> None:
    assert line_delta(old, new) == expected


def test_moved_lines_count_even_when_the_plan_says_nothing_changed() -> None:
    old = b"".join(b"line %d\n" % i for i in range(400))
    new = b"".join(b"line %d\n" % i for i in reversed(range(400)))
    plan = plan_of({"op": "modify", "path": "src/t.py", "content": new.decode()})
    zeroed = plan.model_copy(
        update={"stats": plan.stats.model_copy(update={"added_lines": 0, "removed_lines": 0})}
    )
    decision = decide(zeroed, pre_images={"src/t.py": old})
    assert decision.risk.level == "MEDIUM"
    assert "unverified-risk" in rules_of(decision)
