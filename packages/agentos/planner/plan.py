"""Assemble a ChangePlan from inputs: detect each format, apply it, pin the result.

``plan_changes`` only reads the workspace. Inputs are applied in the order given, each to the
result of the ones before, and the net difference becomes the changeset. ``PlanLimits`` (plain
values taken from the policy) bound each input, their total and the files they make.

The planner neither judges nor records: the plan it returns has risk ``UNASSESSED`` (LOW, no
reasons) until the pipeline stamps the WriteGate's assessment on it, before it is written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from agentos.clock import Clock, rfc3339, system_clock
from agentos.digest import sha256_hex
from agentos.errors import PatchParseError, UsageError
from agentos.model import (
    PLAN_FORMAT,
    PLAN_ID_PATTERN,
    RESERVED_ID_MARKS,
    UNASSESSED,
    UNSEALED,
    Base,
    ChangePlan,
    ChangeSet,
    FileChange,
    FileStat,
    SecretMark,
    Source,
    Stats,
    WithheldContent,
    changes_checksum,
    seal_plan,
)
from agentos.planner.inputs import PlanInput, check_input_sizes
from agentos.planner.tree import Baseline, FileState, Overlay, PlanLimits
from agentos.workspace import Workspace, git_head

InputFormat = Literal["diff", "codex", "manifest", "edits", "claude", "mcp", "aider"]


@dataclass(frozen=True)
class PlanSpec:
    """Everything ``plan_changes`` needs; the clock is injected for reproducible tests."""

    workspace: Workspace
    inputs: tuple[PlanInput, ...]
    author: str
    intent: str | None = None
    plan_id: str | None = None
    strip: int | None = None
    limits: PlanLimits = field(default_factory=PlanLimits)
    clock: Clock = system_clock
    # Where pre-images are read (default: the workspace's files) and what the plan records
    # as its base (default: the commit the workspace's checkout is at); a plan from git
    # gives a commit's files and that commit.
    baseline: Baseline | None = None
    base: Base | None = None


def detect_format(data: bytes, *, source: str) -> InputFormat:
    """Guess an input's format from its first meaningful lines."""
    return _detect(data, source=source)[0]


def _detect(data: bytes, *, source: str) -> tuple[InputFormat, Any]:
    """The input's format, with the parsed document of a structured input (so it is parsed
    once)."""
    from agentos.planner.aider import looks_like_aider
    from agentos.planner.codex import looks_like_codex
    from agentos.planner.codexshell import looks_like_patch_command

    head = data[:65536]
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        text = head.decode("utf-8", "replace")
    if looks_like_codex(text) or looks_like_patch_command(text):
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
    if looks_like_aider(text):
        return "aider", None
    from agentos.planner.agentinputs import input_format
    from agentos.planner.manifest import is_edits, is_manifest, load_structured

    try:
        doc = load_structured(data, source=source)
    except PatchParseError:
        doc = None
    if is_manifest(doc):
        return "manifest", doc
    agent = input_format(doc, source=source)
    if agent is not None:
        return agent, doc
    if is_edits(doc):
        return "edits", doc
    raise PatchParseError(
        f"{source}: cannot tell what this input is (not a diff, Codex patch, manifest, edit "
        "list, agent tool call or aider SEARCH/REPLACE block); pass --format",
        details={"input": source},
    )


def _text(item: PlanInput, what: str) -> str:
    try:
        return item.data.decode("utf-8")
    except UnicodeDecodeError:
        raise PatchParseError(
            f"{item.name}: {what} must be UTF-8 text", details={"input": item.name}
        ) from None


def _apply_codex(item: PlanInput, overlay: Overlay, doc: Any) -> None:
    """A Codex patch as it arrives: an envelope, a heredoc script, an argv or a tool call."""
    from agentos.planner.agentinputs import apply_agent_input, is_tool_input
    from agentos.planner.codexshell import apply_patch_call, argv_call, text_call
    from agentos.planner.manifest import load_structured

    if doc is None:
        text = _text(item, "a Codex patch")
        if text.lstrip()[:1] in ("{", "["):
            try:
                doc = load_structured(item.data, source=item.name)
            except PatchParseError:
                doc = None
            if isinstance(doc, list) and doc and all(isinstance(arg, str) for arg in doc):
                call = argv_call(doc, source=item.name)
                apply_patch_call(call, overlay, source=item.name)
                return
            if not is_tool_input(doc):
                doc = None
        if doc is None:
            apply_patch_call(text_call(text, source=item.name), overlay, source=item.name)
            return
    apply_agent_input(doc, overlay, source=item.name, fmt="codex")


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
        _apply_codex(item, overlay, doc)
        return fmt, None
    if fmt == "aider":
        from agentos.planner.aider import apply_blocks, parse_blocks

        text = _text(item, "an aider message")
        apply_blocks(parse_blocks(text, source=item.name), overlay, source=item.name)
        return fmt, None
    from agentos.planner.manifest import (
        apply_edits,
        apply_manifest,
        load_structured,
        manifest_intent,
    )

    if doc is None:
        doc = load_structured(item.data, source=item.name)
    if fmt in ("claude", "mcp"):
        from agentos.planner.agentinputs import apply_agent_input

        apply_agent_input(doc, overlay, source=item.name, fmt=fmt)
        return fmt, None
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


def _apply_inputs(request: PlanSpec) -> _Applied:
    """Apply every input to an overlay and take the net changes from it.

    The overlay, with every pre-image it read, is dropped on return: the changes carry the
    new contents on their own (hashed, and later written, one change at a time).
    """
    baseline = request.baseline
    if baseline is None:
        baseline = Baseline(request.workspace.root)
    overlay = Overlay(baseline, request.limits)
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


def check_chosen_id(plan_id: str) -> None:
    """A ``UsageError`` when a plan id chosen by hand starts with a mark agentos keeps for
    the ids it makes (``plan-``, ``exec-``): such an id could pass for one of them, and a
    short prefix of a real plan's id would then name it instead."""
    mark = next((m for m in RESERVED_ID_MARKS if plan_id.lower().startswith(m)), None)
    if mark is not None:
        raise UsageError(
            f"--plan-id {plan_id!r} starts with {mark!r}, which agentos keeps for the ids it "
            "makes (so that a prefix of one always names that plan); choose an id without it, "
            "e.g. 'pr-42', or leave --plan-id out"
        )


def plan_changes(request: PlanSpec) -> ChangePlan:
    """Build the plan for ``request.inputs`` against the workspace as it is now."""
    if not request.inputs:
        raise UsageError(
            "no input given; pass a patch, manifest or edit file (or - for stdin), or plan "
            "from git with --git A..B or --staged"
        )
    if request.plan_id is not None and not PLAN_ID_PATTERN.fullmatch(request.plan_id):
        raise UsageError(
            f"--plan-id {request.plan_id!r} is not a valid plan id; use 1-128 letters, digits, "
            "'.', '_' or '-', starting with a letter or digit"
        )
    if request.plan_id is not None:
        check_chosen_id(request.plan_id)
    check_input_sizes(request.inputs, request.limits)
    root = request.workspace.root
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
            base=request.base if request.base is not None else Base(git_head=git_head(root)),
            risk=UNASSESSED,
            stats=stats,
            sources=tuple(applied.sources),
            changeset=ChangeSet(changes=tuple(changes), checksum=checksum),
            plan_digest=UNSEALED,
        )
    )


def withhold_contents(
    plan: ChangePlan, secrets: Mapping[str, tuple[SecretMark, ...]], *, keep_id: bool
) -> ChangePlan:
    """``plan`` with the new contents of the paths in ``secrets`` replaced by a
    ``WithheldContent`` marker, so that no detected secret is ever written to a plan file.

    The checksum is computed anew over the changes as they will be stored (and a default
    ``plan_id`` with it, unless ``keep_id``: the caller set the id); the ``sha256`` of each
    withheld change still names the contents as planned.
    """
    changes: list[FileChange] = []
    for change in plan.changeset.changes:
        marks = secrets.get(change.path)
        if change.op == "delete" or not marks or change.content.encoding == "withheld":
            changes.append(change)
            continue
        size = len(change.content.to_bytes())
        marker = WithheldContent(encoding="withheld", reason="secret", bytes=size, secrets=marks)
        changes.append(change.model_copy(update={"content": marker}))
    checksum = changes_checksum(tuple(changes))
    plan_id = plan.plan_id if keep_id else default_plan_id(checksum, plan.intent)
    changeset = ChangeSet(changes=tuple(changes), checksum=checksum)
    return seal_plan(plan, plan_id=plan_id, changeset=changeset)


def _size(state: FileState | None) -> int:
    return len(state.content) if state is not None else 0
