"""Properties of the WriteGate's pure decision function ``evaluate(plan, policy, facts)``.

Plans are generated from a pool of interesting paths (safe, forbidden, outside the allowed
paths, always-review, risky, unsafe, case twins) and contents (text, many lines, binary, a
secret), under several policies. The properties (SPEC §6):

- more forbidden paths (in the plan or in the policy) never make the decision less severe;
- a plan of small, secret-free text changes to allowed, safe, non-review paths is ALLOW with
  no findings;
- the decision is the most severe finding, every finding's rule is one of ``RULES`` and
  findings come in rule order;
- ``evaluate`` is deterministic and never touches the disk;
- editing a plan's ``risk`` or lowering its ``stats`` (fields the checksum does not seal)
  never changes the decision, because the gate recomputes them from the changes and the
  pre-images in the facts.
"""

from __future__ import annotations

import contextlib
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentos.digest import sha256_hex
from agentos.governance.facts import WorkspaceFacts, gather_facts
from agentos.governance.policy import Policy
from agentos.governance.policyfile import parse_policy
from agentos.governance.writegate import decide, evaluate
from agentos.model import (
    DECISION_ORDER,
    PLAN_FORMAT,
    RISK_ORDER,
    RULES,
    UNSEALED,
    Base,
    ChangePlan,
    ChangeSet,
    Content,
    CreateChange,
    Decision,
    DeleteChange,
    FileChange,
    FileStat,
    Finding,
    ModifyChange,
    RenameChange,
    Risk,
    RiskLevel,
    Stats,
    changes_checksum,
    seal_plan,
)
from agentos.patterns import PathPatterns
from agentos.planner.manifest import diff_counts
from agentos.textlines import line_count
from helpers import PERMISSIVE_POLICY

Op = Literal["create", "modify", "delete", "rename"]
EXAMPLES = settings(max_examples=60)


@dataclass(frozen=True)
class Spec:
    """One change before it becomes a model: what the file was (``old``) and becomes (``new``)."""

    op: Op
    path: str
    new: bytes | None = None
    old: bytes | None = None
    source: str | None = None


def make_plan(specs: list[Spec], *, risk: Risk | None = None) -> tuple[ChangePlan, WorkspaceFacts]:
    """A plan of ``specs`` with honest stats (as the planner counts them) and matching facts."""
    changes: list[FileChange] = []
    per_file: list[FileStat] = []
    pre_images: dict[str, bytes] = {}
    for spec in specs:
        new, old = spec.new or b"", spec.old or b""
        content = Content.from_bytes(new)
        change: FileChange
        if spec.op == "create":
            change = CreateChange(
                op="create", path=spec.path, mode="100644", content=content, sha256=sha256_hex(new)
            )
            added, removed = line_count(new), 0
        elif spec.op == "delete":
            change = DeleteChange(op="delete", path=spec.path, old_sha256=sha256_hex(old))
            added, removed = 0, line_count(old)
        elif spec.op == "modify":
            change = ModifyChange(
                op="modify",
                path=spec.path,
                old_sha256=sha256_hex(old),
                mode="100644",
                content=content,
                sha256=sha256_hex(new),
            )
            added, removed = diff_counts(old, new)
        else:
            assert spec.source is not None
            change = RenameChange(
                op="rename",
                from_path=spec.source,
                path=spec.path,
                old_sha256=sha256_hex(old),
                mode="100644",
                content=content,
                sha256=sha256_hex(new),
            )
            added, removed = diff_counts(old, new)
        if spec.op != "create":
            pre_images[spec.source or spec.path] = old
        changes.append(change)
        per_file.append(FileStat(path=spec.path, added=added, removed=removed))
    stats = Stats(
        files=len(changes),
        added_lines=sum(f.added for f in per_file),
        removed_lines=sum(f.removed for f in per_file),
        bytes=sum(len(s.new or b"") for s in specs if s.op != "delete"),
        per_file=tuple(per_file),
    )
    plan = seal_plan(
        ChangePlan(
            format=PLAN_FORMAT,
            plan_id="plan-properties",
            intent="property test",
            author="tests",
            created_at="2024-01-01T00:00:00Z",
            base=Base(),
            risk=risk or Risk(level="LOW"),
            stats=stats,
            changeset=ChangeSet(changes=tuple(changes), checksum=changes_checksum(tuple(changes))),
            plan_digest=UNSEALED,
        )
    )
    return plan, WorkspaceFacts(pre_images=pre_images)


def merged(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


def policy_with(update: dict[str, Any]) -> Policy:
    """The shipped default policy with ``update`` merged into it."""
    return Policy.model_validate(merged(Policy().model_dump(mode="json"), update))


PERMISSIVE = parse_policy(PERMISSIVE_POLICY.read_text("utf-8"), source=str(PERMISSIVE_POLICY))
POLICIES: dict[str, Policy] = {
    "default": Policy(),
    "permissive": PERMISSIVE,
    "deny-high-risk": policy_with({"writegate": {"deny_risk": ["HIGH", "CRITICAL"]}}),
    "strict-content": policy_with(
        {"writegate": {"content": {"binary_files": "deny", "max_file_bytes": 64}}}
    ),
    "no-secret-scan-all-paths": policy_with(
        {
            "writegate": {"content": {"detect_secrets": False, "binary_files": "allow"}},
            "executor": {"allowed_paths": ["**"]},
        }
    ),
    "with-health-check": policy_with({"health_checks": [{"name": "t", "command": ["true"]}]}),
    "tight-limits": policy_with(
        {
            "writegate": {
                "size_risk": {
                    "medium_files": 2,
                    "high_files": 4,
                    "medium_lines": 3,
                    "high_lines": 8,
                }
            },
            "executor": {"constraints": {"max_files_touched": 4, "max_patch_lines": 20}},
        }
    ),
}


def cat(*parts: str) -> str:
    """Join pieces at run time, so no planted secret appears whole in this file."""
    return "".join(parts)


SECRET = cat("token = gh", "p_", "A1b2C3d4E5" * 4, "\n").encode()
CONTENTS: list[bytes] = [
    b"",
    b"hello\n",
    b"no newline at end",
    b"".join(b"line %d\n" % i for i in range(400)),
    b"\x00\x01\x02 binary",
    SECRET,
    b"x" * 100,
]
POOL: list[str] = [
    "src/app.py",
    "src/util/helpers.txt",
    "docs/guide.md",
    "README.md",
    "Makefile",
    "other/x.txt",
    "packages/governance/gate.py",
    "agent/policies/default.yaml",
    "src/api_schema.py",
    "src/security/check.py",
    "src/migrations/0002.sql",
    "db/migrations/0001.sql",
    ".github/workflows/ci.yml",
    ".env",
    "src/.env.local",
    "src/certs/server.pem",
    "home/.ssh/id_rsa",
    "../escape.txt",
    ".git/config",
    "src/nul\0name.txt",
    "src/Case.txt",
    "src/case.txt",
]
SEGMENT = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=6)
# Safe names: lower case only (no case twins), ".txt" files in directories without dots (a
# file can never be the directory of another), nothing forbidden, nothing to review.
SAFE_PATH = st.builds(
    lambda dirs, name: "/".join(["src", *dirs, f"{name}.txt"]),
    st.lists(SEGMENT, max_size=2),
    SEGMENT,
)
TEXT = st.lists(st.text("abcxyz ", max_size=12), max_size=6).map(
    lambda lines: "".join(f"{line}\n" for line in lines).encode()
)
ANY_CONTENT = st.one_of(st.sampled_from(CONTENTS), TEXT)
ANY_PATH = st.one_of(st.sampled_from(POOL), SAFE_PATH)


@st.composite
def specs_from(
    draw: st.DrawFn,
    paths: st.SearchStrategy[str],
    contents: st.SearchStrategy[bytes],
    ops: st.SearchStrategy[Op],
) -> list[Spec]:
    """1-6 changes, every path touched once (a rename touches two)."""
    chosen = draw(st.lists(paths, min_size=2, max_size=12, unique=True))
    specs: list[Spec] = []
    free = list(chosen)
    while free and len(specs) < 6:
        path = free.pop()
        op: Op = draw(ops)
        if op == "rename" and not free:
            op = "modify"
        if op == "create":
            specs.append(Spec("create", path, new=draw(contents)))
        elif op == "delete":
            specs.append(Spec("delete", path, old=draw(contents)))
        elif op == "modify":
            specs.append(Spec("modify", path, new=draw(contents), old=draw(contents)))
        else:
            specs.append(
                Spec("rename", free.pop(), new=draw(contents), old=draw(contents), source=path)
            )
    return specs


ALL_OPS: tuple[Op, ...] = ("create", "modify", "delete", "rename")
WRITING_OPS: tuple[Op, ...] = ("create", "modify", "rename")
ANY_SPECS = specs_from(ANY_PATH, ANY_CONTENT, st.sampled_from(ALL_OPS))
# No deletions: a deletion raises the risk to MEDIUM.
SAFE_SPECS = specs_from(SAFE_PATH, TEXT, st.sampled_from(WRITING_OPS))
ANY_POLICY = st.sampled_from(sorted(POLICIES))


def rank(decision: Decision) -> int:
    return DECISION_ORDER.index(decision.decision)


def decide_specs(specs: list[Spec], policy: Policy) -> Decision:
    plan, facts = make_plan(specs)
    return evaluate(plan, policy, facts)


def touched(specs: list[Spec]) -> set[str]:
    return {s.path for s in specs} | {s.source for s in specs if s.source is not None}


FORBIDDEN_BY_DEFAULT = [
    ".env",
    "config/.env.prod",
    "keys/tls.pem",
    "keys/tls.key",
    "home/.ssh/config",
    "deploy/id_rsa",
]


@EXAMPLES
@given(
    specs=ANY_SPECS,
    policy_name=ANY_POLICY,
    extra=st.sampled_from(FORBIDDEN_BY_DEFAULT),
    content=ANY_CONTENT,
)
def test_adding_a_forbidden_path_to_the_plan_never_lowers_the_decision(
    specs: list[Spec], policy_name: str, extra: str, content: bytes
) -> None:
    policy = POLICIES[policy_name]
    if not policy.writegate.forbidden_paths:
        policy = policy_with({"writegate": {"forbidden_paths": FORBIDDEN_BY_DEFAULT}})
    assert PathPatterns(policy.writegate.forbidden_paths).matches(extra)
    if extra in touched(specs):
        return
    before = decide_specs(specs, policy)
    after = decide_specs([*specs, Spec("create", extra, new=content)], policy)
    assert rank(after) >= rank(before)
    assert after.decision == "DENY"
    assert any(f.rule == "forbidden-path" and f.path == extra for f in after.findings)


@EXAMPLES
@given(
    specs=ANY_SPECS,
    policy_name=ANY_POLICY,
    pattern=st.sampled_from(
        ["**", "src/**", "*.txt", "*.md", "**/*.py", "README.md", ".git/**", "nothing-here"]
    ),
)
def test_adding_a_forbidden_pattern_to_the_policy_never_lowers_the_decision(
    specs: list[Spec], policy_name: str, pattern: str
) -> None:
    policy = POLICIES[policy_name]
    stricter = policy_with(
        merged(
            policy.model_dump(mode="json"),
            {"writegate": {"forbidden_paths": [*policy.writegate.forbidden_paths, pattern]}},
        )
    )
    plan, facts = make_plan(specs)
    before = evaluate(plan, policy, facts)
    after = evaluate(plan, stricter, facts)
    assert rank(after) >= rank(before)
    # Nothing the old policy found goes away; only forbidden-path findings are added.
    assert set(before.findings) <= set(after.findings)
    assert {f.rule for f in set(after.findings) - set(before.findings)} <= {"forbidden-path"}
    hit = [p for p in sorted(touched(specs)) if PathPatterns([pattern]).matches(p)]
    if hit:
        assert after.decision == "DENY"
        named = {f.path for f in after.findings if f.rule == "forbidden-path"}
        assert set(hit) <= named


@EXAMPLES
@given(specs=SAFE_SPECS, policy_name=st.sampled_from(["default", "permissive"]))
def test_small_safe_text_changes_in_allowed_paths_are_allowed(
    specs: list[Spec], policy_name: str
) -> None:
    policy = POLICIES[policy_name]
    forbidden = PathPatterns(policy.writegate.forbidden_paths)
    allowed = PathPatterns(policy.executor.allowed_paths)
    review = PathPatterns(policy.executor.always_review_categories)
    for path in touched(specs):
        assert allowed.matches(path), path
        assert not forbidden.matches(path), path
        assert not review.matches(path), path
    plan, facts = make_plan(specs)
    decision = evaluate(plan, policy, facts)
    assert decision.risk == Risk(level="LOW")
    assert decision.findings == ()
    assert decision.decision == "ALLOW"


@EXAMPLES
@given(specs=ANY_SPECS, policy_name=ANY_POLICY)
def test_decision_is_the_most_severe_finding_and_rules_are_known(
    specs: list[Spec], policy_name: str
) -> None:
    policy = POLICIES[policy_name]
    plan, facts = make_plan(specs)
    decision = evaluate(plan, policy, facts)
    severities = [DECISION_ORDER.index(f.severity) for f in decision.findings]
    assert decision.decision == DECISION_ORDER[max(severities, default=0)]
    assert decision.decision == decide(decision.findings)
    assert (decision.decision == "ALLOW") == (decision.findings == ())
    assert all(f.rule in RULES for f in decision.findings)
    order = [RULES.index(f.rule) for f in decision.findings]
    assert order == sorted(order), "findings come in the order the rules are evaluated"
    assert decision.plan_id == plan.plan_id
    assert decision.checksum == plan.changeset.checksum
    assert decision.policy_digest == policy.digest()


def test_decide_picks_the_most_severe_severity() -> None:
    review = Finding(rule="always-review", path="a", severity="NEED_APPROVAL", message="m")
    deny = Finding(rule="path-safety", path="b", severity="DENY", message="m")
    assert decide([]) == "ALLOW"
    assert decide([review]) == "NEED_APPROVAL"
    assert decide([review, deny, review]) == "DENY"
    assert decide((deny, review)) == "DENY"


DISK_CALLS = (
    "builtins.open",
    "io.open",
    "os.open",
    "os.stat",
    "os.lstat",
    "os.scandir",
    "os.listdir",
    "os.readlink",
)


@contextlib.contextmanager
def no_disk() -> Iterator[None]:
    """Any file-system call inside the block fails the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"touched the disk: {args!r}")

    with contextlib.ExitStack() as stack:
        for target in DISK_CALLS:
            stack.enter_context(mock.patch(target, side_effect=refuse))
        yield


def test_no_disk_guard_catches_real_disk_reads(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    plan, _ = make_plan([Spec("create", "src/a.txt", new=b"a\n")])
    with no_disk(), pytest.raises(AssertionError, match="touched the disk"):
        gather_facts(plan, tmp_path)
    with no_disk(), pytest.raises(AssertionError, match="touched the disk"):
        (tmp_path / "src").exists()


def test_evaluate_takes_no_path() -> None:
    hints = typing.get_type_hints(evaluate)
    assert set(hints) == {"plan", "policy", "facts", "return"}
    assert Path not in hints.values()
    assert hints["facts"] is WorkspaceFacts


@EXAMPLES
@given(specs=ANY_SPECS, policy_name=ANY_POLICY)
def test_evaluate_is_deterministic_and_never_touches_the_disk(
    specs: list[Spec], policy_name: str
) -> None:
    policy = POLICIES[policy_name]
    plan, facts = make_plan(specs)
    first = evaluate(plan, policy, facts)
    twin = ChangePlan.model_validate_json(plan.model_dump_json())
    with no_disk():
        again = evaluate(plan, policy, facts)
        from_copy = evaluate(twin, policy, WorkspaceFacts(pre_images=dict(facts.pre_images)))
    assert again == first
    assert from_copy == first


def lower_risk(level: RiskLevel) -> st.SearchStrategy[Risk]:
    return st.sampled_from(RISK_ORDER[: RISK_ORDER.index(level) + 1]).map(
        lambda lowered: Risk(level=lowered)
    )


@EXAMPLES
@given(specs=ANY_SPECS, policy_name=ANY_POLICY, data=st.data())
def test_editing_the_plan_risk_down_changes_nothing(
    specs: list[Spec], policy_name: str, data: st.DataObject
) -> None:
    policy = POLICIES[policy_name]
    plan, facts = make_plan(specs)
    honest = evaluate(plan, policy, facts)
    stated = plan.model_copy(update={"risk": honest.risk})
    assert evaluate(stated, policy, facts) == honest
    edited = plan.model_copy(update={"risk": data.draw(lower_risk(honest.risk.level))})
    assert evaluate(edited, policy, facts) == honest


@st.composite
def line_edit(draw: st.DrawFn) -> tuple[bytes, bytes]:
    """Old and new contents of distinct lines where new only drops and inserts lines.

    For such edits every diff counts exactly the lines the multisets differ by, so the gate's
    recount equals the honest stats (moved lines: see test_zeroed_stats_cannot_hide_moved_lines).
    """
    old = draw(st.lists(st.integers(0, 50), unique=True, max_size=8).map(sorted))
    kept = [n for n in old if draw(st.booleans())]
    new: list[str] = [f"old {n}" for n in kept]
    for fresh in range(draw(st.integers(0, 5))):
        new.insert(draw(st.integers(0, len(new))), f"new {fresh}")
    return (
        "".join(f"old {n}\n" for n in old).encode(),
        "".join(f"{line}\n" for line in new).encode(),
    )


@st.composite
def countable_specs(draw: st.DrawFn) -> list[Spec]:
    """Changes whose honest line counts the gate can recompute from the changes alone."""
    paths = draw(
        st.lists(
            st.one_of(st.sampled_from(POOL[:12]), SAFE_PATH), min_size=1, max_size=5, unique=True
        )
    )
    specs: list[Spec] = []
    for index, path in enumerate(paths):
        op = draw(st.sampled_from(ALL_OPS))
        old, new = draw(line_edit())
        if op == "create":
            specs.append(Spec("create", path, new=new))
        elif op == "delete":
            specs.append(Spec("delete", path, old=old))
        elif op == "modify":
            specs.append(Spec("modify", path, new=new, old=old))
        else:
            specs.append(Spec("rename", f"moved/{index}.txt", new=new, old=old, source=path))
    return specs


@EXAMPLES
@given(specs=countable_specs(), policy_name=ANY_POLICY, data=st.data())
def test_lowering_the_plan_stats_changes_nothing(
    specs: list[Spec], policy_name: str, data: st.DataObject
) -> None:
    policy = POLICIES[policy_name]
    plan, facts = make_plan(specs)
    honest = evaluate(plan, policy, facts)
    stats = plan.stats

    def lowered(value: int) -> int:
        return data.draw(st.integers(0, value))

    fewer = Stats(
        files=lowered(stats.files),
        added_lines=lowered(stats.added_lines),
        removed_lines=lowered(stats.removed_lines),
        bytes=lowered(stats.bytes),
    )
    edited = plan.model_copy(update={"stats": fewer, "risk": Risk(level="LOW")})
    assert evaluate(edited, policy, facts) == honest


def test_zeroed_stats_cannot_hide_moved_lines() -> None:
    old = b"".join(b"line %d\n" % i for i in range(400))
    new = b"".join(b"line %d\n" % i for i in reversed(range(400)))
    plan, facts = make_plan([Spec("modify", "src/big.txt", new=new, old=old)])
    policy = POLICIES["default"]
    honest = evaluate(plan, policy, facts)
    assert plan.stats.added_lines + plan.stats.removed_lines >= 300
    assert honest.risk.level == "MEDIUM"
    assert honest.decision == "NEED_APPROVAL"
    zeroed = Stats(files=1, added_lines=0, removed_lines=0, bytes=0)
    edited = plan.model_copy(update={"stats": zeroed, "risk": Risk(level="LOW")})
    assert evaluate(edited, policy, facts) == honest
