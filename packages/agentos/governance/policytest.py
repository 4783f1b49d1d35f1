"""``agentos policy test``: YAML cases that pin what the policy decides (like ``opa test``).

A case file holds a list of cases (or ``{cases: [...]}``)::

    - name: an .env file is never written
      changes:
        - {op: create, path: .env, content: "KEY=1\\n"}
      expect: DENY
      expect_rules: [forbidden-path]

Each case becomes a synthetic plan evaluated by the real WriteGate, with no workspace: the
disk facts a case needs are stated in it (``symlinks``, ``existing``). A case passes when the
decision equals ``expect``, every rule in ``expect_rules`` has a finding and no rule in
``absent_rules`` has one.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from agentos.digest import sha256_hex
from agentos.errors import PolicyError, UsageError
from agentos.governance.facts import WorkspaceFacts
from agentos.governance.policy import Policy
from agentos.governance.policyfile import load_yaml_with_lines, validate_located
from agentos.governance.writegate import evaluate
from agentos.model import (
    PLAN_FORMAT,
    UNSEALED,
    Base,
    ChangePlan,
    ChangeSet,
    Content,
    CreateChange,
    DecisionKind,
    DeleteChange,
    FileChange,
    FileMode,
    FileStat,
    Frozen,
    ModifyChange,
    RenameChange,
    Risk,
    RuleId,
    Stats,
    changes_checksum,
    seal_plan,
)
from agentos.textlines import line_count

# The pre-image hash a case's modify/delete/rename pins: cases have no workspace to read.
CASE_PRE_IMAGE = sha256_hex(b"")


class CaseChange(Frozen):
    """One change of a case; contents are optional (empty), or generated with content_lines."""

    op: Literal["create", "modify", "delete", "rename"]
    path: Annotated[str, Field(min_length=1)]
    from_path: str | None = Field(default=None, alias="from")
    content: str | None = None
    content_base64: str | None = None
    content_lines: Annotated[int, Field(ge=0)] | None = None
    old_lines: Annotated[int, Field(ge=0)] = 0
    mode: FileMode = "100644"

    @model_validator(mode="after")
    def _consistent(self) -> CaseChange:
        given = [
            k
            for k in ("content", "content_base64", "content_lines")
            if getattr(self, k) is not None
        ]
        if len(given) > 1:
            raise ValueError(f"give one of content, content_base64, content_lines, not {given}")
        if (self.op == "rename") != (self.from_path is not None):
            raise ValueError("'from' is needed for a rename and only for a rename")
        if self.op == "delete" and given:
            raise ValueError("a delete has no content")
        return self

    def data(self) -> bytes:
        """The new contents this change writes."""
        if self.content_base64 is not None:
            return base64.b64decode(self.content_base64, validate=True)
        if self.content_lines is not None:
            return b"".join(b"line %d\n" % i for i in range(self.content_lines))
        return (self.content or "").encode("utf-8")


class PolicyCase(Frozen):
    """One test case: changes, the disk facts they meet, and the expected decision."""

    name: Annotated[str, Field(min_length=1)]
    description: str = ""
    author: str = "policy-test"
    changes: Annotated[list[CaseChange], Field(min_length=1)]
    symlinks: list[str] = Field(default_factory=list)
    existing: list[str] = Field(default_factory=list)
    expect: DecisionKind
    expect_rules: list[RuleId] = Field(default_factory=list)
    absent_rules: list[RuleId] = Field(default_factory=list)


class CaseFile(Frozen):
    """A case file written as ``{cases: [...]}``."""

    cases: Annotated[list[PolicyCase], Field(min_length=1)]


@dataclass(frozen=True)
class CaseResult:
    """A case's outcome: what was decided and, when it failed, why."""

    file: str
    name: str
    decision: DecisionKind
    rules: tuple[str, ...]
    failures: tuple[str, ...]

    @property
    def passed(self) -> bool:
        """True when every expectation held."""
        return not self.failures


def case_plan(case: PolicyCase) -> ChangePlan:
    """The synthetic plan a case stands for."""
    changes: list[FileChange] = []
    per_file: list[FileStat] = []
    for item in case.changes:
        data = item.data()
        content = Content.from_bytes(data)
        digest = sha256_hex(data)
        added = line_count(data) if item.op != "delete" else 0
        change: FileChange
        if item.op == "create":
            change = CreateChange(
                op="create", path=item.path, mode=item.mode, content=content, sha256=digest
            )
        elif item.op == "modify":
            change = ModifyChange(
                op="modify",
                path=item.path,
                old_sha256=CASE_PRE_IMAGE,
                mode=item.mode,
                content=content,
                sha256=digest,
            )
        elif item.op == "delete":
            change = DeleteChange(op="delete", path=item.path, old_sha256=CASE_PRE_IMAGE)
        else:
            change = RenameChange(
                op="rename",
                from_path=item.from_path or "",
                path=item.path,
                old_sha256=CASE_PRE_IMAGE,
                mode=item.mode,
                content=content,
                sha256=digest,
            )
        changes.append(change)
        per_file.append(FileStat(path=item.path, added=added, removed=item.old_lines))
    stats = Stats(
        files=len(changes),
        added_lines=sum(f.added for f in per_file),
        removed_lines=sum(f.removed for f in per_file),
        bytes=sum(len(c.data()) for c in case.changes),
        per_file=tuple(per_file),
    )
    return seal_plan(
        ChangePlan(
            format=PLAN_FORMAT,
            plan_id="policy-test",
            intent=case.name,
            author=case.author,
            created_at="1970-01-01T00:00:00Z",
            base=Base(),
            risk=Risk(level="LOW"),
            stats=stats,
            changeset=ChangeSet(changes=tuple(changes), checksum=changes_checksum(tuple(changes))),
            plan_digest=UNSEALED,
        )
    )


def case_facts(case: PolicyCase) -> WorkspaceFacts:
    """The disk facts a case states: symlinks, and files that exist (for name collisions)."""
    siblings: dict[str, set[str]] = {}
    for path in case.existing:
        parts = path.split("/")
        for end in range(1, len(parts) + 1):
            siblings.setdefault("/".join(parts[: end - 1]), set()).add(parts[end - 1])
    return WorkspaceFacts(
        symlinks=frozenset(case.symlinks),
        siblings={k: frozenset(v) for k, v in siblings.items()},
    )


def run_case(case: PolicyCase, policy: Policy, *, file: str) -> CaseResult:
    """Evaluate one case and compare with its expectations."""
    decision = evaluate(case_plan(case), policy, case_facts(case))
    rules = tuple(dict.fromkeys(f.rule for f in decision.findings))
    failures = []
    if decision.decision != case.expect:
        why = "; ".join(f"{f.rule}: {f.message}" for f in decision.findings) or "no findings"
        failures.append(f"expected {case.expect}, got {decision.decision} ({why})")
    missing = [r for r in case.expect_rules if r not in rules]
    if missing:
        failures.append(
            f"expected findings from {', '.join(missing)}; got {', '.join(rules) or 'none'}"
        )
    unwanted = [r for r in case.absent_rules if r in rules]
    if unwanted:
        failures.append(f"expected no findings from {', '.join(unwanted)}")
    return CaseResult(file, case.name, decision.decision, rules, tuple(failures))


def load_cases(path: Path) -> list[PolicyCase]:
    """The cases of one YAML file, validated (``file:line: key: message`` on errors)."""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise PolicyError(
            [f"{path}: the file is not UTF-8 text"], source=str(path), subject="policy test file"
        ) from None
    except OSError as exc:
        raise UsageError(f"cannot read policy test file {str(path)!r}: {exc.strerror}") from None
    try:
        data, lines = load_yaml_with_lines(text, source=str(path))
        wrapped: Any = {"cases": data} if isinstance(data, list) else data
        if isinstance(data, list):
            lines = {("cases", *key): line for key, line in lines.items()}
        return validate_located(CaseFile, wrapped, lines, source=str(path)).cases
    except PolicyError as exc:
        raise PolicyError(
            exc.problems,
            source=str(path),
            subject="policy test file",
            advice="fix the case file (see docs/policy.md, 'Policy tests')",
        ) from None


def case_files(target: Path) -> list[Path]:
    """The case files ``target`` names: itself, or the ``*.yaml`` / ``*.yml`` files in it."""
    if target.is_file():
        return [target]
    if not target.is_dir():
        raise UsageError(
            f"policy tests {str(target)!r} do not exist; pass a directory of YAML cases "
            "(default: agent/policies/tests/)"
        )
    files = sorted([*target.glob("*.yaml"), *target.glob("*.yml")])
    if not files:
        raise UsageError(f"no *.yaml policy test files in {str(target)!r}")
    return files


def run_policy_tests(target: Path, policy: Policy) -> list[CaseResult]:
    """Every case under ``target``, in file and case order."""
    results = []
    for path in case_files(target):
        names: set[str] = set()
        for case in load_cases(path):
            if case.name in names:
                raise PolicyError(
                    [f"{path}: two cases are named {case.name!r}; names must differ"],
                    source=str(path),
                    subject="policy test file",
                    advice="rename one of them",
                )
            names.add(case.name)
            results.append(run_case(case, policy, file=str(path)))
    return results
