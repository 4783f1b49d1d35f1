"""Assemble a ChangePlan from inputs: detect each format, apply it, pin the result.

``plan_changes`` only reads the workspace. Inputs are applied in the order given, each to the
result of the ones before, and the net difference becomes the changeset. ``PlanLimits`` (plain
values the CLI takes from the policy) bound each input, their total and the files they make.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from agentos.clock import Clock, rfc3339, system_clock
from agentos.digest import sha256_hex
from agentos.errors import InputTooLargeError, PatchParseError, UsageError
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
from agentos.planner.tree import MAX_INPUT_KEY, Baseline, FileState, Overlay, PlanLimits
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
    limits: PlanLimits = field(default_factory=PlanLimits)
    clock: Clock = system_clock


def input_too_large(
    name: str, limit: int, *, size: int | None = None, total: bool = False
) -> InputTooLargeError:
    """The refusal of an input (``total``: of the inputs up to it) over ``max_input_bytes``;
    ``size`` when it is known (a stream is read no further than the limit)."""
    subject = "the inputs up to this one add up to" if total else "the input is"
    if size is not None:
        reason = f"{subject} {size} bytes, more than {MAX_INPUT_KEY} ({limit})"
    else:
        reason = f"{subject} more than {MAX_INPUT_KEY} ({limit} bytes)"
    return InputTooLargeError(
        f"{name}: {reason}; nothing was planned",
        details={"input": name, "bytes": size, "limit": limit, "key": MAX_INPUT_KEY},
    )


def check_input_sizes(inputs: tuple[PlanInput, ...], limits: PlanLimits) -> None:
    """Each input, and all of them together, within ``limits.max_input_bytes``."""
    total = 0
    for item in inputs:
        size = len(item.data)
        if size > limits.max_input_bytes:
            raise input_too_large(item.name, limits.max_input_bytes, size=size)
        total += size
        if total > limits.max_input_bytes:
            raise input_too_large(item.name, limits.max_input_bytes, size=total, total=True)


def detect_format(data: bytes, *, source: str) -> InputFormat:
    """Guess an input's format from its first meaningful lines."""
    return _detect(data, source=source)[0]


def _detect(data: bytes, *, source: str) -> tuple[InputFormat, Any]:
    """The input's format, with the parsed document of a manifest or edit list (so it is
    parsed once)."""
    from agentos.planner.codex import looks_like_codex

    head = data[:65536]
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        text = head.decode("utf-8", "replace")
    if looks_like_codex(text):
        return "codex", None
    lines = text.split("\n")
    for index, line in enumerate(lines):
        if line.startswith(("diff --git ", "GIT binary patch")):
            return "diff", None
        if (
            line.startswith("--- ")
            and index + 1 < len(lines)
            and lines[index + 1].startswith("+++ ")
        ):
            return "diff", None
    from agentos.planner.manifest import is_edits, is_manifest, load_structured

    try:
        doc = load_structured(data, source=source)
    except PatchParseError:
        doc = None
    if is_manifest(doc):
        return "manifest", doc
    if is_edits(doc):
        return "edits", doc
    raise PatchParseError(
        f"{source}: cannot tell what this input is (not a git/unified diff, Codex patch, "
        "manifest or edit list); pass --format",
        details={"input": source},
    )


def apply_input(
    item: PlanInput, overlay: Overlay, *, strip: int | None
) -> tuple[InputFormat, str | None]:
    """Apply one input to ``overlay``; returns its format and any intent it declares."""
    fmt: InputFormat
    doc: Any = None
    if item.format == "auto":
        fmt, doc = _detect(item.data, source=item.name)
    else:
        fmt = item.format
    if fmt == "diff":
        from agentos.planner.diff import parse_diff
        from agentos.planner.gitapply import apply_file_patches

        patches = parse_diff(item.data, source=item.name, strip=strip, limits=overlay.limits)
        apply_file_patches(patches, overlay, source=item.name)
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

    if doc is None:
        doc = load_structured(item.data, source=item.name)
    if fmt == "manifest":
        apply_manifest(doc, overlay, source=item.name)
    else:
        apply_edits(doc, overlay, source=item.name)
    return fmt, manifest_intent(doc)


def default_plan_id(checksum: str, intent: str) -> str:
    """Stable id: the same changes with the same intent always get the same id."""
    return "plan-" + sha256_hex(f"{checksum}\n{intent}".encode())[:16]


@dataclass(frozen=True)
class _Applied:
    """What applying the inputs left: the net changes, their line counts and new bytes."""

    changes: list[FileChange]
    counts: dict[str, tuple[int, int]]
    sources: list[Source]
    intents: list[str]
    new_bytes: int


def _apply_inputs(request: PlanRequest) -> _Applied:
    """Apply every input to an overlay and take the net changes from it.

    The overlay, with every pre-image it read, is dropped on return: the changes carry the
    new contents on their own, and hashing them is the plan's peak of memory.
    """
    overlay = Overlay(Baseline(request.workspace.root), request.limits)
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
    # Sized from the overlay's bytes: decoding every content again would copy the plan.
    new_bytes = sum(_size(overlay.get(c.path)) for c in changes if c.op != "delete")
    return _Applied(changes, counts, sources, intents, new_bytes)


def plan_changes(request: PlanRequest) -> ChangePlan:
    """Build the plan for ``request.inputs`` against the workspace as it is now."""
    if not request.inputs:
        raise UsageError("no input given; pass a patch, manifest or edit file (or - for stdin)")
    if request.plan_id is not None and not PLAN_ID_PATTERN.fullmatch(request.plan_id):
        raise UsageError(
            f"--plan-id {request.plan_id!r} is not a valid plan id; use 1-128 letters, digits, "
            "'.', '_' or '-', starting with a letter or digit"
        )
    check_input_sizes(request.inputs, request.limits)
    applied = _apply_inputs(request)
    changes = applied.changes
    checksum = changes_checksum(tuple(changes))
    intent = request.intent if request.intent is not None else "; ".join(applied.intents)
    per_file = tuple(
        FileStat(path=p, added=a, removed=r) for p, (a, r) in sorted(applied.counts.items())
    )
    added = sum(f.added for f in per_file)
    removed = sum(f.removed for f in per_file)
    stats = Stats(
        files=len(changes),
        added_lines=added,
        removed_lines=removed,
        bytes=applied.new_bytes,
        per_file=per_file,
    )
    return seal_plan(
        ChangePlan(
            format=PLAN_FORMAT,
            plan_id=request.plan_id or default_plan_id(checksum, intent),
            intent=intent,
            author=request.author,
            created_at=rfc3339(request.clock()),
            base=Base(git_head=git_head(request.workspace.root)),
            risk=assess_risk(tuple(changes), added + removed, request.risk),
            stats=stats,
            sources=tuple(applied.sources),
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


def _size(state: FileState | None) -> int:
    return len(state.content) if state is not None else 0


def _summary(change: FileChange) -> dict[str, str]:
    item = {"op": change.op, "path": change.path}
    if change.op == "rename":
        item["from"] = change.from_path
    if change.op != "delete":
        item["sha256"] = change.sha256
    if change.op != "create":
        item["old_sha256"] = change.old_sha256
    return item
