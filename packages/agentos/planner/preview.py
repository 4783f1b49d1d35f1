"""A plan as a git-style unified diff, for review (``agentos show --diff``).

Plans carry only new contents; the old side comes from the workspace, and only while the file
still holds the exact pre-image the plan pinned. Otherwise the diff says so instead of showing
a diff against the wrong text.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from agentos.digest import sha256_hex
from agentos.errors import AgentosError
from agentos.model import ChangePlan, FileChange
from agentos.planner.tree import Baseline
from agentos.textlines import is_binary, split_lines

LineKind = Literal["header", "hunk", "add", "del", "context", "note"]
CONTEXT_LINES = 3


@dataclass(frozen=True)
class DiffLine:
    """One line of the rendered diff and what it is (for colouring)."""

    kind: LineKind
    text: str


def plan_diff(plan: ChangePlan, baseline: Baseline) -> list[DiffLine]:
    """The whole plan as diff lines, file by file in plan order."""
    lines: list[DiffLine] = []
    for change in plan.changeset.changes:
        lines.extend(change_diff(change, baseline))
    return lines


def _pre_image(change: FileChange, baseline: Baseline) -> tuple[bytes | None, str | None, str]:
    """The pinned old contents and mode, or None with the reason they are unavailable."""
    if change.op == "create":
        return b"", None, ""
    old_path = change.from_path if change.op == "rename" else change.path
    try:
        state = baseline.get(old_path)
    except AgentosError as exc:
        return None, None, exc.message
    if state is None:
        return None, None, f"{old_path} no longer exists in the workspace"
    if sha256_hex(state.content) != change.old_sha256:
        return None, None, f"{old_path} changed since this plan was made (the plan is stale)"
    return state.content, state.mode, ""


def change_diff(change: FileChange, baseline: Baseline) -> Iterator[DiffLine]:
    """The diff lines of one change."""
    old_path = change.from_path if change.op == "rename" else change.path
    yield DiffLine("header", f"diff --git a/{old_path} b/{change.path}")
    before, old_mode, problem = _pre_image(change, baseline)
    if change.op == "create":
        yield DiffLine("header", f"new file mode {change.mode}")
    elif change.op == "delete":
        yield DiffLine("header", "deleted file")
    elif change.op == "rename":
        yield DiffLine("header", f"rename from {change.from_path}")
        yield DiffLine("header", f"rename to {change.path}")
    if old_mode is not None and change.op != "delete" and old_mode != change.mode:
        yield DiffLine("header", f"old mode {old_mode}")
        yield DiffLine("header", f"new mode {change.mode}")
    if before is None:
        yield DiffLine("note", f"(no diff: {problem})")
        return
    after = b"" if change.op == "delete" else change.content.to_bytes()
    if before == after:
        return
    if is_binary(before) or is_binary(after):
        yield DiffLine("note", f"Binary file changed ({len(before)} -> {len(after)} bytes)")
        return
    old_name = "/dev/null" if change.op == "create" else f"a/{old_path}"
    new_name = "/dev/null" if change.op == "delete" else f"b/{change.path}"
    old_lines = [line.decode("utf-8", "replace") for line in split_lines(before)]
    new_lines = [line.decode("utf-8", "replace") for line in split_lines(after)]
    diff = difflib.unified_diff(
        old_lines, new_lines, old_name, new_name, n=CONTEXT_LINES, lineterm="\n"
    )
    for text in diff:
        body = text[:-1] if text.endswith("\n") else text
        if text.startswith(("---", "+++")):
            yield DiffLine("header", body)
        elif text.startswith("@@"):
            yield DiffLine("hunk", body)
        elif text.startswith("+"):
            yield DiffLine("add", body)
        elif text.startswith("-"):
            yield DiffLine("del", body)
        else:
            yield DiffLine("context", body)
        if not text.endswith("\n"):
            yield DiffLine("note", "\\ No newline at end of file")
