"""``agentos init``: give a workspace its policy file, its ``.agentos/`` and a .gitignore entry.

Idempotent: what exists is left alone, and a second run reports that nothing changed. The
policy written is the packaged default made a day-one policy (``policy_for``): its
``executor.allowed_paths`` derived from the workspace's top-level entries, so a fresh
repository can change its own files from day one, MEDIUM risk needing no health check (there
are none yet), and its ``# yaml-language-server`` line pointing at ``policy.schema.json``,
written beside it so that editors validate and complete the file offline.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources

from agentos.governance.policyfile import packaged_policy_text
from agentos.statefs import write_atomic
from agentos.workspace import DEFAULT_POLICY_RELPATH, STATE_DIR_NAME, Workspace, ensure_state_dir

GITIGNORE_ENTRY = ".agentos/"
_IGNORED_ENTRIES = {".git", STATE_DIR_NAME}
SCHEMA_NAME = "policy.schema.json"
EXAMPLE_TESTS = "data/policy_tests_example.yaml"
_SCHEMA_LINE = re.compile(r"^# yaml-language-server: \$schema=\S+$", re.MULTILINE)
_ALLOWED_LINE = re.compile(r"^(?P<indent>\s*)allowed_paths:\s*\[.*\]\s*$", re.MULTILINE)
# The packaged policy's require_health_checks_for_risk (with its comment), and what ``init``
# writes instead: a fresh workspace has no health checks, so MEDIUM plans (a deletion, 10+
# files, 300+ lines) would all wait for an approval.
_HEALTH_RISK_BLOCK = re.compile(
    r"^  # Plans at these risk levels need a health check.*?\n"
    r"\s*require_health_checks_for_risk:[^\n]*$",
    re.MULTILINE | re.DOTALL,
)
_DAY_ONE_HEALTH_RISK = (
    "  # Plans at these risk levels need a health check that covers them (see health_checks\n"
    "  # below); without one they need an approval (rule id: unverified-risk). `agentos init`\n"
    "  # left MEDIUM out (the packaged default has it) because this policy has no health checks\n"
    "  # yet: deleting a file, or touching 10+ files or 300+ lines, is MEDIUM. Add MEDIUM once\n"
    "  # health_checks covers your code, so that such plans commit only when the checks pass.\n"
    "  require_health_checks_for_risk: [HIGH, CRITICAL]"
)
_REVIEW_LINES = re.compile(
    r"^(?P<indent>\s*)always_review_categories:\s*\[(?P<items>[^\]]*)\]", re.MULTILINE
)
# Entries never offered as writable: they match the default forbidden_paths.
_SECRET_NAMES = re.compile(r"^(\.env(\..*)?|.*\.pem|.*\.key|id_rsa.*|\.ssh)$")


@dataclass(frozen=True)
class InitReport:
    """What ``init`` created and what it found already in place."""

    created: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    allowed_paths: tuple[str, ...] = ()


def derive_allowed_paths(workspace: Workspace) -> list[str]:
    """``dir/**`` for each top-level directory and the name of each top-level file."""
    allowed: list[str] = []
    for path in sorted(workspace.root.iterdir()):
        name = path.name
        if name in _IGNORED_ENTRIES or _SECRET_NAMES.match(name) or path.is_symlink():
            continue
        allowed.append(f"{name}/**" if path.is_dir() else name)
    # init itself makes sure .gitignore and agent/ exist, so they are writable too.
    for entry in (".gitignore", "agent/**"):
        if entry not in allowed:
            allowed.append(entry)
    return allowed


def policy_for(allowed_paths: list[str]) -> str:
    """The default policy made a fresh workspace's day-one policy: ``allowed_paths`` replaced,
    the schema line pointing at the schema file written beside it, MEDIUM risk not needing a
    health check (the policy has none yet), and no always-review pattern anchored in a
    top-level folder the workspace does not have."""
    text = packaged_policy_text()
    rendered = json.dumps(allowed_paths, ensure_ascii=False)
    text = _SCHEMA_LINE.sub(f"# yaml-language-server: $schema={SCHEMA_NAME}", text, count=1)
    text = _ALLOWED_LINE.sub(
        lambda m: f"{m.group('indent')}allowed_paths: {rendered}", text, count=1
    )
    text = _HEALTH_RISK_BLOCK.sub(lambda _: _DAY_ONE_HEALTH_RISK, text, count=1)

    def review(match: re.Match[str]) -> str:
        patterns = json.loads(f"[{match['items']}]")
        kept = [
            p for p in patterns if p.startswith("**") or f"{p.split('/')[0]}/**" in allowed_paths
        ]
        return f"{match['indent']}always_review_categories: {json.dumps(kept)}"

    return _REVIEW_LINES.sub(review, text, count=1)


def schema_text() -> str:
    """The policy JSON Schema, as written beside an initialised policy for editors."""
    from agentos.governance.policy import policy_json_schema

    return json.dumps(policy_json_schema(), indent=2, sort_keys=True) + "\n"


def init_workspace(workspace: Workspace) -> InitReport:
    """Create what is missing; never overwrite a policy or rewrite an existing entry."""
    created: list[str] = []
    unchanged: list[str] = []
    allowed: list[str] = []
    state_existed = workspace.state_dir.is_dir()
    policy_path = workspace.root / DEFAULT_POLICY_RELPATH
    if policy_path.exists():
        unchanged.append(DEFAULT_POLICY_RELPATH)
    else:
        allowed = derive_allowed_paths(workspace)
        write_atomic(policy_path, policy_for(allowed).encode("utf-8"))
        created.append(DEFAULT_POLICY_RELPATH)
        schema_path = policy_path.with_name(SCHEMA_NAME)
        if not schema_path.exists():
            write_atomic(schema_path, schema_text().encode("utf-8"))
            created.append(schema_path.relative_to(workspace.root).as_posix())
        tests_dir = policy_path.parent / "tests"
        if not tests_dir.exists():
            example = resources.files("agentos").joinpath(EXAMPLE_TESTS).read_bytes()
            write_atomic(tests_dir / "example.yaml", example)
            created.append((tests_dir / "example.yaml").relative_to(workspace.root).as_posix())
    ensure_state_dir(workspace)
    (unchanged if state_existed else created).append(STATE_DIR_NAME + "/")
    gitignore = workspace.root / ".gitignore"
    existing = gitignore.read_text("utf-8") if gitignore.exists() else ""
    entries = {line.strip().rstrip("/").lstrip("/") for line in existing.splitlines()}
    if STATE_DIR_NAME in entries:
        unchanged.append(".gitignore")
    else:
        separator = "" if not existing or existing.endswith("\n") else "\n"
        mode = gitignore.stat().st_mode & 0o777 if gitignore.exists() else 0o644
        write_atomic(gitignore, f"{existing}{separator}{GITIGNORE_ENTRY}\n".encode(), mode=mode)
        created.append(".gitignore entry .agentos/")
    return InitReport(tuple(created), tuple(unchanged), tuple(allowed))
