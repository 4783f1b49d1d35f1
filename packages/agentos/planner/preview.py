"""A plan, or what an execution changed, as a git-style unified diff, for review (``agentos
show --diff``, agents' previews).

Plans carry only new contents and pin the old ones by hash. The old side comes from the
workspace while a file still holds the exact pre-image the plan pinned; otherwise from
``kept``, by hash: the blob of the plan's base commit for a plan made from git, or the backup
agentos kept of it when it applied the plan, with a note saying why (already applied, or the
plan is stale). Without either, the diff says so instead
of showing a diff against the wrong text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from agentos.digest import sha256_hex
from agentos.errors import AgentosError
from agentos.linediff import matching_blocks
from agentos.model import ChangePlan, FileChange
from agentos.planner.tree import Baseline
from agentos.textlines import is_binary, split_lines

LineKind = Literal["header", "hunk", "add", "del", "context", "note"]
Op = Literal["create", "modify", "delete", "rename"]
CONTEXT_LINES = 3


@dataclass(frozen=True)
class DiffLine:
    """One line of the rendered diff and what it is (for colouring)."""

    kind: LineKind
    text: str


@dataclass(frozen=True)
class Side:
    """One side of a file's diff: its bytes and git mode (None when unknown). ``origin``
    names where a pre-image found outside the workspace came from when it is not a backup
    (the plan's own base commit, for a plan made from git)."""

    content: bytes
    mode: str | None = None
    origin: str | None = None


# The bytes with this sha256 that agentos kept for this path (a backup), or None.
KeptImages = Callable[[str, str], Side | None]


def plan_diff(
    plan: ChangePlan, baseline: Baseline, *, kept: KeptImages | None = None
) -> list[DiffLine]:
    """The whole plan as diff lines, file by file in plan order."""
    lines: list[DiffLine] = []
    for change in plan.changeset.changes:
        lines.extend(change_diff(change, baseline, kept))
    return lines


def _state(baseline: Baseline, path: str) -> Side | None:
    """What the workspace holds at ``path`` (None: nothing; ``AgentosError``: not a file)."""
    state = baseline.get(path)
    return None if state is None else Side(state.content, state.mode)


def holds_result(change: FileChange, baseline: Baseline) -> bool:
    """Whether the workspace holds what ``change`` makes (it was applied)."""
    try:
        if change.op == "delete":
            return _state(baseline, change.path) is None
        now = _state(baseline, change.path)
        if now is None or sha256_hex(now.content) != change.sha256:
            return False
        return change.op != "rename" or _state(baseline, change.from_path) is None
    except AgentosError:
        return False


def _pre_image(
    change: FileChange, baseline: Baseline, kept: KeptImages | None
) -> tuple[Side | None, str]:
    """The pinned old contents, and a note: where they came from, or why there are none."""
    applied = holds_result(change, baseline)
    if change.op == "create":
        return Side(b""), "(already applied: the workspace holds this change)" if applied else ""
    old_path = change.from_path if change.op == "rename" else change.path
    try:
        state = _state(baseline, old_path)
    except AgentosError as exc:
        state, why = None, exc.message
    else:
        if state is not None and sha256_hex(state.content) == change.old_sha256:
            return state, ""
        if applied:
            why = "already applied: the workspace holds this change"
        elif state is None:
            why = f"{old_path} no longer exists in the workspace"
        else:
            why = f"{old_path} changed since this plan was made (the plan is stale)"
    found = kept(old_path, change.old_sha256) if kept is not None else None
    if found is None:
        return None, f"(no diff: {why}; no backup of its pre-image is kept)"
    if found.origin is not None:
        # The plan's own base (a plan from git shown in a checkout that holds its change, as
        # a pull request's): the diff is the one git shows, nothing to explain.
        return found, "" if applied else f"({why}; the old side is {found.origin})"
    return found, f"({why}; the old side is the backup agentos kept of its pre-image)"


def change_diff(
    change: FileChange, baseline: Baseline, kept: KeptImages | None = None
) -> Iterator[DiffLine]:
    """The diff lines of one change of a plan."""
    old_path = change.from_path if change.op == "rename" else change.path
    if change.op != "delete" and change.content.encoding == "withheld":
        found = ", ".join(f"{m.pattern} on line {m.line}" for m in change.content.secrets)
        note = (
            f"(no diff: the new content, {change.content.bytes} bytes, was withheld from the "
            f"plan file: it holds a secret — {found})"
        )
        return file_diff(change.op, old_path, change.path, None, None, note=note)
    before, note = _pre_image(change, baseline, kept)
    after = None if change.op == "delete" else Side(change.content.to_bytes(), change.mode)
    return file_diff(change.op, old_path, change.path, before, after, note=note)


def file_diff(
    op: Op,
    old_path: str,
    new_path: str,
    before: Side | None,
    after: Side | None,
    *,
    note: str = "",
) -> Iterator[DiffLine]:
    """The diff lines of one file: ``before`` / ``after`` None where that side is unknown
    (a delete has no after), then ``note`` says why there is no diff."""
    yield DiffLine("header", f"diff --git a/{old_path} b/{new_path}")
    if op == "create":
        yield DiffLine("header", f"new file mode {after.mode if after else ''}".rstrip())
    elif op == "delete":
        yield DiffLine("header", "deleted file")
    elif op == "rename":
        yield DiffLine("header", f"rename from {old_path}")
        yield DiffLine("header", f"rename to {new_path}")
    old_mode = before.mode if before is not None and op != "create" else None
    new_mode = after.mode if after is not None else None
    if old_mode and new_mode and old_mode != new_mode:
        yield DiffLine("header", f"old mode {old_mode}")
        yield DiffLine("header", f"new mode {new_mode}")
    if note:
        yield DiffLine("note", note)
    if before is None or (after is None and op != "delete"):
        return
    new = b"" if after is None else after.content
    if before.content == new:
        return
    if is_binary(before.content) or is_binary(new):
        yield DiffLine("note", f"Binary file changed ({len(before.content)} -> {len(new)} bytes)")
        return
    old_name = "/dev/null" if op == "create" else f"a/{old_path}"
    new_name = "/dev/null" if op == "delete" else f"b/{new_path}"
    old_lines = [line.decode("utf-8", "replace") for line in split_lines(before.content)]
    new_lines = [line.decode("utf-8", "replace") for line in split_lines(new)]
    diff = unified_diff(old_lines, new_lines, old_name, new_name, context=CONTEXT_LINES)
    for number, text in enumerate(diff):
        body = text[:-1] if text.endswith("\n") else text
        # The file names are the first two lines; a removed "-- x" line is "--- x" too.
        if number < 2 and text.startswith(("---", "+++")):
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


Opcode = tuple[Literal["equal", "replace", "delete", "insert"], int, int, int, int]


def unified_diff(
    old: Sequence[str], new: Sequence[str], old_name: str, new_name: str, *, context: int
) -> Iterator[str]:
    """``difflib.unified_diff(old, new, old_name, new_name, n=context, lineterm="\\n")``,
    in near-linear time on large files (``linediff.matching_blocks``)."""
    started = False
    for group in _groups(_opcodes(matching_blocks(old, new)), context):
        if not started:
            started = True
            yield f"--- {old_name}\n"
            yield f"+++ {new_name}\n"
        first, last = group[0], group[-1]
        old_range = _range(first[1], last[2])
        new_range = _range(first[3], last[4])
        yield f"@@ -{old_range} +{new_range} @@\n"
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                yield from (" " + line for line in old[i1:i2])
                continue
            if tag in ("replace", "delete"):
                yield from ("-" + line for line in old[i1:i2])
            if tag in ("replace", "insert"):
                yield from ("+" + line for line in new[j1:j2])


def _opcodes(blocks: list[tuple[int, int, int]]) -> list[Opcode]:
    """The edit operations between matching blocks (``SequenceMatcher.get_opcodes``)."""
    codes: list[Opcode] = []
    i = j = 0
    for a, b, size in blocks:
        if i < a and j < b:
            codes.append(("replace", i, a, j, b))
        elif i < a:
            codes.append(("delete", i, a, j, b))
        elif j < b:
            codes.append(("insert", i, a, j, b))
        i, j = a + size, b + size
        if size:
            codes.append(("equal", a, i, b, j))
    return codes


def _groups(codes: list[Opcode], context: int) -> Iterator[list[Opcode]]:
    """The operations in hunks with ``context`` lines around each change
    (``SequenceMatcher.get_grouped_opcodes``)."""
    if not codes:
        codes = [("equal", 0, 1, 0, 1)]
    if codes[0][0] == "equal":
        tag, i1, i2, j1, j2 = codes[0]
        codes[0] = (tag, max(i1, i2 - context), i2, max(j1, j2 - context), j2)
    if codes[-1][0] == "equal":
        tag, i1, i2, j1, j2 = codes[-1]
        codes[-1] = (tag, i1, min(i2, i1 + context), j1, min(j2, j1 + context))
    span = context + context
    group: list[Opcode] = []
    for tag, first_old, i2, first_new, j2 in codes:
        i1, j1 = first_old, first_new
        # A long run of equal lines ends one hunk and starts the next.
        if tag == "equal" and i2 - i1 > span:
            group.append((tag, i1, min(i2, i1 + context), j1, min(j2, j1 + context)))
            yield group
            group = []
            i1, j1 = max(i1, i2 - context), max(j1, j2 - context)
        group.append((tag, i1, i2, j1, j2))
    if group and not (len(group) == 1 and group[0][0] == "equal"):
        yield group


def _range(start: int, stop: int) -> str:
    """A hunk header's range, as unified diffs write it (``difflib``'s format)."""
    beginning = start + 1
    length = stop - start
    if length == 1:
        return f"{beginning}"
    if not length:
        beginning -= 1
    return f"{beginning},{length}"
