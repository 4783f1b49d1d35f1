"""The policy model and its loading: defaults, strictness, file:line errors, digest, lint."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from agentos.errors import PolicyError
from agentos.governance.policy import Policy, policy_json_schema
from agentos.governance.policyfile import load_policy, packaged_policy_text, parse_policy
from agentos.governance.policylint import example_path, lint_policy, never_matches
from agentos.workspace import Workspace
from helpers import REPO_ROOT

SHIPPED = REPO_ROOT / "agent" / "policies" / "default.yaml"
SCHEMA_FILE = REPO_ROOT / "docs" / "schemas" / "policy.schema.json"


def problems(text: str, source: str = "p.yaml") -> list[str]:
    """The problems ``parse_policy`` reports for ``text`` (it must fail)."""
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, source=source)
    assert caught.value.exit_code == 2
    return caught.value.problems


# ---------------------------------------------------------------------------------------------
# The shipped policy
# ---------------------------------------------------------------------------------------------


def test_the_shipped_policy_is_the_model_defaults() -> None:
    assert parse_policy(packaged_policy_text(), source="default.yaml") == Policy()


def test_the_shipped_policy_spells_out_every_key() -> None:
    """Every key of every section appears in the file, so it documents all of them."""
    data = yaml.safe_load(SHIPPED.read_text())

    def check(model: Any, value: dict[str, Any], where: str) -> None:
        assert set(value) == set(model.model_fields), where
        for name, field in model.model_fields.items():
            sub = field.annotation
            if isinstance(sub, type) and hasattr(sub, "model_fields"):
                check(sub, value[name], f"{where}.{name}")

    check(Policy, data, "(top)")


def test_the_shipped_policy_comments_every_section_key() -> None:
    """Each key line of the writegate and executor sections has a comment just above it."""
    lines = SHIPPED.read_text().splitlines()
    for index, line in enumerate(lines):
        stripped = line.strip()
        is_key = not stripped.startswith("#") and ":" in stripped
        if line.startswith("  ") and not line.startswith("    ") and is_key:
            assert lines[index - 1].strip().startswith("#"), f"no comment above {stripped!r}"


def test_the_schema_line_points_at_the_published_schema() -> None:
    first = SHIPPED.read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=../../docs/schemas/policy.schema.json"
    assert (SHIPPED.parent / "../../docs/schemas/policy.schema.json").resolve() == SCHEMA_FILE


def test_the_published_schema_is_in_sync_with_the_model() -> None:
    assert json.loads(SCHEMA_FILE.read_text()) == policy_json_schema()


def test_the_schema_forbids_unknown_keys_everywhere() -> None:
    schema = policy_json_schema()
    assert schema["additionalProperties"] is False
    for definition in schema["$defs"].values():
        if definition.get("type") == "object" and "properties" in definition:
            assert definition["additionalProperties"] is False, definition.get("title")


def test_an_empty_policy_is_the_default() -> None:
    assert parse_policy("", source="p.yaml") == Policy()
    assert parse_policy("version: 1\n", source="p.yaml") == Policy()


def test_the_default_policy_lints_clean() -> None:
    assert lint_policy(Policy()) == []


# ---------------------------------------------------------------------------------------------
# Errors: file:line: key: message
# ---------------------------------------------------------------------------------------------


def test_unknown_key_names_file_line_and_the_closest_key() -> None:
    found = problems("version: 1\nwritegate:\n  forbiden_paths: [x]\n")
    assert len(found) == 1
    assert found[0].startswith("p.yaml:3: writegate.forbiden_paths: unknown key")
    assert "did you mean 'forbidden_paths'?" in found[0]


def test_unknown_top_level_key() -> None:
    found = problems("version: 1\nexecuter: {}\n")
    assert found[0].startswith("p.yaml:2: executer: unknown key")
    assert "'executor'" in found[0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("writegate:\n  content: {max_file_bytes: big}\n", "p.yaml:2: writegate.content"),
        ("writegate:\n  content:\n    detect_secrets: 'yes'\n", "p.yaml:3: writegate.content"),
        ("executor:\n  constraints:\n    max_files_touched: 1.5\n", "p.yaml:3: executor"),
        ("executor:\n  durability: sometimes\n", "p.yaml:2: executor.durability: Input"),
        ("writegate:\n  deny_risk: [EXTREME]\n", "p.yaml:2: writegate.deny_risk[0]"),
        ("version: 2\n", "p.yaml:1: version: Input should be 1"),
        ("approvals: {min_approvals: 0}\n", "p.yaml:1: approvals.min_approvals"),
        ("executor:\n  allowed_paths: src/**\n", "p.yaml:2: executor.allowed_paths"),
    ],
)
def test_wrong_types_name_file_line_and_key(text: str, expected: str) -> None:
    found = problems(text)
    assert found[0].startswith(expected), found


def test_every_problem_is_reported_with_its_own_line() -> None:
    found = problems(
        "version: 1\n"
        "writegate:\n"
        "  content: {binary_files: maybe}\n"
        "executor:\n"
        "  backups: {keep: -1}\n"
        "nonsense: 1\n"
    )
    assert [p.split(":")[1] for p in found] == ["3", "5", "6"]


def test_health_check_shapes_are_checked() -> None:
    found = problems(
        "health_checks:\n"
        "  - name: both\n"
        "    command: [x]\n"
        "    http: {url: 'http://127.0.0.1:1/'}\n"
        "  - name: none\n"
        "  - name: bad-retry\n"
        "    command: [x]\n"
        "    retry: {strategy: random}\n"
    )
    assert found[0] == (
        "p.yaml:2: health_checks[0]: needs exactly one of command, http or file "
        "(found: command, http)"
    )
    assert found[1].startswith("p.yaml:5: health_checks[1]: needs exactly one")
    assert found[2].startswith("p.yaml:8: health_checks[2].retry.strategy:")


def test_health_check_names_are_unique() -> None:
    found = problems(
        "health_checks:\n  - {name: t, command: [a]}\n  - {name: t, file: {path: x}}\n"
    )
    assert "two health checks are named 't'" in found[0]


def test_duplicate_keys_are_errors() -> None:
    found = problems("approvals:\n  min_approvals: 1\n  min_approvals: 2\n")
    assert found == ["p.yaml:3: approvals.min_approvals: duplicate key (first at line 2)"]


def test_yaml_syntax_errors_name_the_line() -> None:
    found = problems("version: 1\nwritegate:\n  forbidden_paths: [a, b\n")
    assert found[0].startswith("p.yaml:")
    assert "(yaml)" in found[0]


@pytest.mark.parametrize("before", ["", "note: é ü\n"])  # multi-byte text shifts libyaml's offset
def test_a_control_character_is_one_line_naming_its_line(before: str) -> None:
    found = problems(f'version: 1\n{before}writegate:\n  x: "\x01"\n')
    line = 4 if before else 3
    assert found == [f"p.yaml:{line}: (yaml): character #x0001 is not allowed in YAML"]


@pytest.mark.parametrize("text", ["- a\n- b\n", "just text\n", "42\n"])
def test_a_policy_must_be_a_mapping(text: str) -> None:
    assert "a policy is a mapping" in problems(text)[0]


def test_unsafe_yaml_tags_are_refused() -> None:
    found = problems("version: !!python/object/apply:os.system ['true']\n")
    assert "(yaml)" in found[0]


def test_the_error_message_is_one_line_and_names_the_file() -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy("a: 1\nb: 2\nc: 3\nd: 4\n", source="pol.yaml")
    message = caught.value.message
    assert "\n" not in message
    assert message.startswith("invalid policy: pol.yaml:1: a: unknown key")
    assert "(and 1 more)" in message
    assert "agentos policy validate" in message


def test_strict_floats_accept_integers() -> None:
    policy = parse_policy(
        "executor:\n  constraints: {max_step_time: 5}\n  concurrency: {lock_timeout: 0.5}\n",
        source="p.yaml",
    )
    assert policy.executor.constraints.max_step_time == 5
    assert policy.executor.concurrency.lock_timeout == 0.5


# ---------------------------------------------------------------------------------------------
# Loading: --policy, the workspace's file, the packaged default
# ---------------------------------------------------------------------------------------------


def test_loading_prefers_the_explicit_file_then_the_workspace(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    packaged = load_policy(None, ws)
    assert packaged.path is None
    assert packaged.source == "(packaged default policy)"
    own = tmp_path / "agent" / "policies" / "default.yaml"
    own.parent.mkdir(parents=True)
    own.write_text("approvals: {min_approvals: 2}\n")
    assert load_policy(None, ws).policy.approvals.min_approvals == 2
    explicit = tmp_path / "other.yaml"
    explicit.write_text("approvals: {min_approvals: 3}\n")
    loaded = load_policy(explicit, ws)
    assert loaded.policy.approvals.min_approvals == 3
    assert loaded.source == str(explicit)


def test_a_missing_policy_file_is_a_usage_error(tmp_path: Path) -> None:
    from agentos.errors import UsageError

    with pytest.raises(UsageError, match="does not exist"):
        load_policy(tmp_path / "nope.yaml", None)


def test_a_policy_that_is_not_utf8_is_invalid(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_bytes(b"version: 1\n# \xff\n")
    with pytest.raises(PolicyError, match="not UTF-8"):
        load_policy(path, None)


# ---------------------------------------------------------------------------------------------
# Digest
# ---------------------------------------------------------------------------------------------


def test_the_digest_ignores_comments_order_and_style() -> None:
    block = "# a comment\nversion: 1\napprovals:\n  min_approvals: 2\n"
    flow = "approvals: {min_approvals: 2}   # inline\nversion: 1\n"
    assert parse_policy(block, source="a").digest() == parse_policy(flow, source="b").digest()


def test_the_digest_changes_with_any_value() -> None:
    base = Policy().digest()
    assert base.startswith("sha256:")
    assert parse_policy("approvals: {min_approvals: 2}\n", source="p").digest() != base
    assert parse_policy("writegate: {deny_risk: [CRITICAL]}\n", source="p").digest() != base


# ---------------------------------------------------------------------------------------------
# Lint
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "fragment"),
    [
        ("!keep.txt", "negation"),
        ("src\\\\x", "backslash"),
        ("../up/**", "'..'"),
        ("C:/x", "absolute"),
        (".git/**", "path-safety"),
        ("sub/.agentos/x", "path-safety"),
    ],
)
def test_patterns_that_never_match(pattern: str, fragment: str) -> None:
    why = never_matches(pattern)
    assert why is not None
    assert fragment in why


@pytest.mark.parametrize("pattern", ["src/**", "**/*.py", ".env", "docs/*.md", "/README.md"])
def test_ordinary_patterns_can_match(pattern: str) -> None:
    assert never_matches(pattern) is None


def test_example_paths_are_matched_by_their_pattern() -> None:
    from agentos.patterns import PathPatterns

    for pattern in ["src/**", "**/*.py", "docs/*.md", "a/[bc]/d?.txt", "**/migrations/**"]:
        assert PathPatterns([pattern]).matches(example_path(pattern)), pattern


def test_lint_warns_about_shadowed_review_and_idle_health_checks() -> None:
    policy = parse_policy(
        "writegate:\n"
        "  forbidden_paths: ['secrets/**', '!x']\n"
        "  deny_risk: [HIGH]\n"
        "executor:\n"
        "  allowed_paths: ['src/**', 'secrets/**']\n"
        "  always_review_categories: ['secrets/**', 'vendor/**', '**/*.py']\n"
        "health_checks:\n"
        "  - {name: vendored, command: [x], when_paths: ['vendor/**']}\n"
        "  - {name: never, command: [x], when_paths: ['../x']}\n"
        "  - {name: python, command: [x], when_paths: ['**/*.py']}\n",
        source="p.yaml",
    )
    warnings = {w.key: w.message for w in lint_policy(policy)}
    assert "negation" in warnings["writegate.forbidden_paths[1]"]
    assert "forbidden by 'secrets/**'" in warnings["executor.always_review_categories[0]"]
    assert "executor.always_review_categories[1]" not in warnings
    assert "executor.always_review_categories[2]" not in warnings
    assert "'vendored' never applies" in warnings["health_checks[0]"]
    assert "'never' never applies" in warnings["health_checks[1]"]
    assert "health_checks[2]" not in warnings
    assert "also in writegate.deny_risk" in warnings["writegate.require_approval_for_risk"]
