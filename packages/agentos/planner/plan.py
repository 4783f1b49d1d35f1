"""Assemble a ChangePlan from inputs: detect each format, apply it, pin the result.

``plan_changes`` only reads the workspace. Inputs are applied in the order given, each to the
result of the ones before, and the net difference becomes the changeset.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from agentos.digest import sha256_hex
from agentos.errors import PatchParseError, UsageError
from agentos.faults import fault_point
from agentos.governance.risk import RiskSettings, assess_risk
from agentos.model import (
    PLAN_FORMAT,
    UNSEALED,
    Base,
    ChangePlan,
    ChangeSet,
    Decision,
    FileChange,
    FileStat,
    Source,
    Stats,
    changes_checksum,
    seal_plan,
)
from agentos.planner.tree import Baseline, Overlay
from agentos.workspace import Workspace, ensure_state_dir, git_head

if TYPE_CHECKING:
    from agentos.governance.policyfile import LoadedPolicy

InputFormat = Literal["diff", "codex", "manifest", "edits"]
FormatChoice = Literal["auto", "diff", "codex", "manifest", "edits"]
PLAN_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


@dataclass(frozen=True)
class PlanInput:
    """One input: its name (a path, or ``-`` for stdin), bytes and the format asked for."""

    name: str
    data: bytes
    format: FormatChoice = "auto"


@dataclass(frozen=True)
class PlanRequest:
    """Everything ``plan_changes`` needs; the clock is injected for reproducible tests."""

    workspace: Workspace
    inputs: tuple[PlanInput, ...]
    author: str
    intent: str | None = None
    plan_id: str | None = None
    strip: int | None = None
    risk: RiskSettings = field(default_factory=RiskSettings)
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)


def detect_format(data: bytes, *, source: str) -> InputFormat:
    """Guess an input's format from its first meaningful lines."""
    from agentos.planner.codex import looks_like_codex

    head = data[:65536]
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        text = head.decode("utf-8", "replace")
    if looks_like_codex(text):
        return "codex"
    lines = text.split("\n")
    for index, line in enumerate(lines):
        if line.startswith(("diff --git ", "GIT binary patch")):
            return "diff"
        if (
            line.startswith("--- ")
            and index + 1 < len(lines)
            and lines[index + 1].startswith("+++ ")
        ):
            return "diff"
    from agentos.planner.manifest import is_edits, is_manifest, load_structured

    try:
        doc = load_structured(data, source=source)
    except PatchParseError:
        doc = None
    if is_manifest(doc):
        return "manifest"
    if is_edits(doc):
        return "edits"
    raise PatchParseError(
        f"{source}: cannot tell what this input is (not a git/unified diff, Codex patch, "
        "manifest or edit list); pass --format",
        details={"input": source},
    )


def apply_input(
    item: PlanInput, overlay: Overlay, *, strip: int | None
) -> tuple[InputFormat, str | None]:
    """Apply one input to ``overlay``; returns its format and any intent it declares."""
    fmt: InputFormat = (
        detect_format(item.data, source=item.name) if item.format == "auto" else item.format
    )
    if fmt == "diff":
        from agentos.planner.diff import parse_diff
        from agentos.planner.gitapply import apply_file_patches

        apply_file_patches(
            parse_diff(item.data, source=item.name, strip=strip), overlay, source=item.name
        )
        return fmt, None
    if fmt == "codex":
        from agentos.planner.codex import apply_codex, parse_codex

        try:
            text = item.data.decode("utf-8")
        except UnicodeDecodeError:
            raise PatchParseError(
                f"{item.name}: a Codex patch must be UTF-8 text", details={"input": item.name}
            ) from None
        apply_codex(parse_codex(text, source=item.name), overlay, source=item.name)
        return fmt, None
    from agentos.planner.manifest import (
        apply_edits,
        apply_manifest,
        load_structured,
        manifest_intent,
    )

    doc = load_structured(item.data, source=item.name)
    if fmt == "manifest":
        apply_manifest(doc, overlay, source=item.name)
    else:
        apply_edits(doc, overlay, source=item.name)
    return fmt, manifest_intent(doc)


def default_plan_id(checksum: str, intent: str) -> str:
    """Stable id: the same changes with the same intent always get the same id."""
    return "plan-" + sha256_hex(f"{checksum}\n{intent}".encode())[:16]


def plan_changes(request: PlanRequest) -> ChangePlan:
    """Build the plan for ``request.inputs`` against the workspace as it is now."""
    if not request.inputs:
        raise UsageError("no input given; pass a patch, manifest or edit file (or - for stdin)")
    if request.plan_id is not None and not PLAN_ID_PATTERN.fullmatch(request.plan_id):
        raise UsageError(
            f"--plan-id {request.plan_id!r} is not a valid plan id; use 1-128 letters, digits, "
            "'.', '_' or '-', starting with a letter or digit"
        )
    overlay = Overlay(Baseline(request.workspace.root))
    sources: list[Source] = []
    intents: list[str] = []
    for item in request.inputs:
        fmt, declared = apply_input(item, overlay, strip=request.strip)
        sources.append(
            Source(name=item.name, format=fmt, sha256=sha256_hex(item.data), bytes=len(item.data))
        )
        if declared:
            intents.append(declared)
    changes, counts = overlay.changes()
    if not changes:
        raise UsageError(
            "the inputs change nothing: every file they touch already has the result; "
            "nothing to plan"
        )
    checksum = changes_checksum(tuple(changes))
    intent = request.intent if request.intent is not None else "; ".join(intents)
    per_file = tuple(FileStat(path=p, added=a, removed=r) for p, (a, r) in sorted(counts.items()))
    added = sum(f.added for f in per_file)
    removed = sum(f.removed for f in per_file)
    new_bytes = sum(len(c.content.to_bytes()) if c.op != "delete" else 0 for c in changes)
    stats = Stats(
        files=len(changes),
        added_lines=added,
        removed_lines=removed,
        bytes=new_bytes,
        per_file=per_file,
    )
    return seal_plan(
        ChangePlan(
            format=PLAN_FORMAT,
            plan_id=request.plan_id or default_plan_id(checksum, intent),
            intent=intent,
            author=request.author,
            created_at=request.clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            base=Base(git_head=git_head(request.workspace.root)),
            risk=assess_risk(tuple(changes), added + removed, request.risk),
            stats=stats,
            sources=tuple(sources),
            changeset=ChangeSet(changes=tuple(changes), checksum=checksum),
            plan_digest=UNSEALED,
        )
    )


@dataclass(frozen=True)
class PlanResult:
    """A plan as written: the plan, where its file is, and the WriteGate's decision on it."""

    plan: ChangePlan
    plan_file: Path
    decision: Decision


def plan(request: PlanRequest, policy: LoadedPolicy, *, output: Path | None = None) -> PlanResult:
    """Plan, preview the WriteGate's decision, write the plan file, record both.

    The plan file is written whatever the decision (SPEC §3), so a DENY can be reviewed; the
    default place is ``.agentos/plans/<plan_id>.json``.
    """
    from agentos.audit.trail import AuditTrail
    from agentos.governance.facts import relative_inside
    from agentos.governance.gate import decide_plan, record_decision
    from agentos.governance.writegate import risk_settings
    from agentos.planner.planfile import write_plan

    workspace = request.workspace
    settings = risk_settings(
        policy.policy, policy_path=relative_inside(policy.path, workspace.root)
    )
    built = plan_changes(replace(request, risk=settings))
    decision = decide_plan(built, workspace, policy)
    # The gate may count more changed lines than the hunks did; the plan shows its risk.
    built = seal_plan(built, risk=decision.risk)
    fault_point("plan.before_write")
    ensure_state_dir(workspace)
    target = output if output is not None else workspace.plans_dir / f"{built.plan_id}.json"
    write_plan(built, target)
    AuditTrail(workspace.audit_dir, clock=request.clock).append(
        "plan.created",
        actor=request.author,
        plan_id=built.plan_id,
        data={
            "checksum": built.changeset.checksum,
            "plan_file": str(target),
            "intent": built.intent,
            "risk": built.risk.level,
            "files": [_summary(c) for c in built.changeset.changes],
            "sources": [s.model_dump(mode="json") for s in built.sources],
            "stats": {
                "files": built.stats.files,
                "added_lines": built.stats.added_lines,
                "removed_lines": built.stats.removed_lines,
                "bytes": built.stats.bytes,
            },
        },
    )
    record_decision(workspace, decision, actor=request.author, command="plan", policy=policy)
    return PlanResult(plan=built, plan_file=target, decision=decision)


def _summary(change: FileChange) -> dict[str, str]:
    item = {"op": change.op, "path": change.path}
    if change.op == "rename":
        item["from"] = change.from_path
    if change.op != "delete":
        item["sha256"] = change.sha256
    if change.op != "create":
        item["old_sha256"] = change.old_sha256
    return item
